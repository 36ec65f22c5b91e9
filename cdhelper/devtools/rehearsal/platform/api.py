"""`Platform`: the sample platform as one object (for tests and the rehearsal).

    with Platform(tmp_dir, bad_versions=["0.1.2"]) as platform:
        platform.deploy("1.0.0", app="shop")                    # serves 100%: nothing else does
        platform.deploy("1.1.0", app="shop")                    # beside it, no traffic
        with platform.load("shop", rate=50):
            platform.weight(10, app="shop")                     # 10% to 1.1.0, 90% to 1.0.0
            platform.error_rate("shop", "1.1.0")                # PromQL, evaluated by Prometheus
        platform.requests("shop", since=t)                      # {"1.0.0": 90, "1.1.0": 10}, from nginx's log

It starts the supervisor (which starts nginx, Prometheus and the services) in a session of its
own, not as a child of any hook, and `stop()` ends it all and checks that nothing of it runs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from . import control
from . import prometheus as prom
from . import splitter as nginx
from .common import PlatformError, in_session, wait_until
from .load import Load
from .supervisor import PACKAGE_ROOT, STATE

APT = "apt-get install nginx-light prometheus"
PIP = "pip install 'cdhelper[samples]' (in a cdhelper checkout: pip install -e '.[rehearse,samples]')"


def missing(python: str | None = None, *, flags: bool = False) -> list[str]:
    """What the platform needs and cannot find, each with the command that installs it (`flags`: the
    sample app evaluates a flag file, with the OpenFeature SDK and its flagd provider)."""
    out = []
    if flags and not _importable("openfeature.contrib.provider.flagd"):
        out.append(f"the Python packages openfeature-sdk and openfeature-provider-flagd are not installed (the sample "
                   f"app's feature flags): {PIP}")
    if not nginx.binary():
        out.append("nginx is not installed (the traffic splitter): apt-get install nginx-light")
    if not prom.binary():
        out.append("prometheus is not installed (the metrics): apt-get install prometheus")
    if python and python != sys.executable:
        found = subprocess.run([python, "-c", "import prometheus_client"], capture_output=True).returncode == 0
    else:
        found = importlib.util.find_spec("prometheus_client") is not None
    if not found:
        out.append(f"the Python package prometheus_client is not installed (the sample service's metrics): {PIP}")
    return out


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


class Platform:
    """A running sample platform in `directory` (a new temporary folder when None)."""

    def __init__(self, directory: str | Path | None = None, *, bad_versions: Iterable[str] = (),
                 bad_error_rate: float = 0.5, scrape_interval: float = 1.0, python: str | None = None,
                 wait_discovery: bool = True):
        self.directory = Path(directory or tempfile.mkdtemp(prefix="cdhelper-platform-")).resolve()
        self.bad_versions = list(bad_versions)
        self.bad_error_rate = bad_error_rate
        self.scrape_interval = scrape_interval
        self.python = python or sys.executable
        self.wait_discovery = wait_discovery  # start() waits until Prometheus knows the service ports (~5 s)
        self.proc: subprocess.Popen | None = None
        self._state: dict = {}
        self.timings: dict[str, float] = {}

    missing = staticmethod(missing)

    # --- life -----------------------------------------------------------------------------------------

    def start(self, *, timeout: float = 90.0) -> Platform:
        """Start the supervisor, nginx and Prometheus; returns when all answer. PlatformError (with
        the install commands) when a part is missing."""
        lacking = missing(self.python)
        if lacking:
            raise PlatformError("the sample platform cannot start: " + "; ".join(lacking))
        self.directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(control.NotRunning, PlatformError, OSError):
            control.request(self.directory, "status", timeout=2)
            raise PlatformError(f"a platform is already running in {self.directory}")
        for name in (STATE, "supervisor.failed"):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()
        self._write_ctl()
        began = time.monotonic()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, *filter(None, [env.get("PYTHONPATH")])])
        argv = [self.python, "-m", "cdhelper.devtools.rehearsal.platform", "supervise", "--platform", str(self.directory),
                "--owner", str(os.getpid()), "--scrape-interval", str(self.scrape_interval),
                "--bad-versions", ",".join(self.bad_versions), "--bad-error-rate", str(self.bad_error_rate),
                *([] if self.wait_discovery else ["--no-wait-discovery"])]
        with open(self.directory / "supervisor.log", "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)  # not in our session: a hook's end cannot touch it

        def ready() -> dict | None:
            if self.proc.poll() is not None:
                raise PlatformError(f"the platform's supervisor exited with status {self.proc.returncode}: "
                                    f"{self._log_tail()}")
            path = self.directory / STATE
            return json.loads(path.read_text()) if path.exists() else None
        try:
            self._state = wait_until("the platform to start", ready, timeout=timeout, interval=0.05)
        except BaseException:
            self.stop()
            raise
        self.timings = dict(self._state.get("timings", {}), start_s=round(time.monotonic() - began, 3))
        return self

    def stop(self, *, timeout: float = 20.0) -> None:
        """Stop everything (services, nginx, Prometheus, the supervisor); PlatformError if anything
        of it is still running afterwards."""
        if self.proc is None:
            return
        sid = self.proc.pid
        if self.proc.poll() is None:
            with contextlib.suppress(PlatformError, OSError):
                control.request(self.directory, "shutdown", timeout=5)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        for pid in in_session(sid):  # anything the supervisor could not stop
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.proc = None
        try:
            wait_until("the platform's processes to end", lambda: not in_session(sid), timeout=5)
        except PlatformError:
            raise PlatformError(f"still running after stop: pids {sorted(in_session(sid))}") from None

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log_tail(self) -> str:
        path = self.directory / "supervisor.log"
        return path.read_text(errors="replace")[-2000:].strip() if path.exists() else "(no log)"

    def _write_ctl(self) -> None:
        """DIR/ctl: the control CLI bound to this platform and Python, for hooks whatever their PATH."""
        script = self.directory / "ctl"
        script.write_text("#!/bin/sh\n# The sample platform's control CLI (written by Platform.start).\n"
                          f"PYTHONPATH={shlex.quote(PACKAGE_ROOT)}${{PYTHONPATH:+:$PYTHONPATH}} exec "
                          f"{shlex.quote(self.python)} -m cdhelper.devtools.rehearsal.platform ctl "
                          f"--platform {shlex.quote(str(self.directory))} \"$@\"\n")
        script.chmod(0o755)

    # --- what it is -----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The supervisor's pid (also the session id of everything the platform runs)."""
        return self.proc.pid if self.proc else None

    @property
    def url(self) -> str:
        """The splitter (nginx): http://127.0.0.1:PORT."""
        return self._state["url"]

    @property
    def prometheus_url(self) -> str:
        return self._state["prometheus"]

    @property
    def ctl(self) -> Path:
        """The control CLI for this platform: `DIR/ctl deploy --app A --version V`."""
        return self.directory / "ctl"

    @property
    def access_log(self) -> Path:
        return self.directory / "nginx" / "access.log"

    def app_url(self, app: str = "app") -> str:
        """The app's live traffic: weighted between versions, or the live slot."""
        return f"{self.url}/{app}/"

    def slot_url(self, app: str, slot: str) -> str:
        return f"{self.url}/{app}/_slot/{slot}/"

    def version_url(self, app: str, version: str) -> str:
        return f"{self.url}/{app}/_version/{version}/"

    def env(self, app: str | None = None) -> dict[str, str]:
        """The variables the sample hooks read."""
        return {"CDHELPER_PLATFORM": str(self.directory), **({"CDHELPER_PLATFORM_APP": app} if app else {})}

    def processes(self) -> set[int]:
        """Every running process of the platform (its session, from /proc)."""
        return in_session(self.proc.pid) if self.proc else set()

    # --- what it does (the control CLI's commands) ----------------------------------------------------

    def request(self, command: str, **args: object) -> dict:
        return control.request(self.directory, command, **args)

    def deploy(self, version: str, *, app: str = "app", slot: str = "", error_rate: float | None = None,
               replace: bool = False, wait_scraped: bool = False, flags: str = "", latency: float | None = None) -> dict:
        """Start `version` beside the others (no traffic while another version serves, all of it
        when none does), or in `slot` (live when no slot is), or with `replace` instead of all of
        them. Without `error_rate`, a bad version (bad_versions) gets bad_error_rate, others 0.
        `flags`: a flagd JSON flag file the service evaluates per request (service.py says how).
        `latency`: seconds added to each of its answers (a slower version). `wait_scraped`: return once Prometheus holds its metrics (about one scrape interval)."""
        result = self.request("deploy", app=app, version=version, slot=slot, error_rate=error_rate, replace=replace,
                              flags=str(Path(flags).resolve()) if flags else "", latency=latency)
        if wait_scraped:
            result["scraped_after_s"] = round(self.wait_scraped(app, version=version, slot=slot), 3)
        return result

    def weight(self, percent: int, *, app: str = "app", version: str = "") -> dict:
        """`percent` of the live traffic to `version` (default: the canary), the rest to the stable one."""
        return self.request("weight", app=app, percent=percent, version=version)

    def switch(self, slot: str, *, app: str = "app") -> dict:
        return self.request("switch", app=app, slot=slot)

    def teardown(self, *, app: str = "app", version: str = "", slot: str = "", force: bool = False) -> dict:
        return self.request("teardown", app=app, version=version, slot=slot, force=force)

    def remove(self, app: str) -> dict:
        """Stop everything of `app` and forget it."""
        return self.request("remove", app=app)

    def status(self, app: str = "") -> dict:
        return self.request("status", app=app)

    def configure(self, *, bad_versions: Iterable[str] | None = None, bad_error_rate: float | None = None) -> dict:
        return self.request("configure", bad_versions=None if bad_versions is None else list(bad_versions),
                            bad_error_rate=bad_error_rate)

    def send_load(self, app: str = "app", rate: float = 50.0) -> dict:
        """A steady load sent by the supervisor (lives as long as the platform); rate 0 stops it."""
        return self.request("load", app=app, rate=rate)

    def load(self, app: str = "app", *, rate: float = 50.0) -> Load:
        """A steady load sent by a thread of this process: `with platform.load("shop"):`."""
        return Load(self.app_url(app), rate=rate)

    # --- what it saw ----------------------------------------------------------------------------------

    def requests(self, app: str = "app", *, since: float | None = None, route: str | None = "live") -> dict[str, int]:
        """Requests each version answered (nginx's access log), started at or after Unix time `since`."""
        return nginx.requests_per_version(self.access_log, app=app, since=since, route=route, url=self.url)

    def query(self, promql: str) -> list[dict]:
        return prom.query(self.prometheus_url, promql)

    def value(self, promql: str) -> float | None:
        return prom.value(self.prometheus_url, promql)

    def error_rate(self, app: str, version: str | None = None, *, window: str = "10s") -> float | None:
        """Share of 5xx answers over `window`, for one version or the whole app (PromQL)."""
        sel = f'app="{app}"' + (f',version="{version}"' if version else "")
        return self.value(f'sum(rate(http_requests_total{{{sel},code=~"5.."}}[{window}])) '
                          f'/ sum(rate(http_requests_total{{{sel}}}[{window}]))')

    def wait_scraped(self, app: str, *, version: str = "", slot: str = "", timeout: float = 30.0) -> float:
        """Wait until Prometheus has scraped that instance; seconds waited."""
        for i in self.status(app)["apps"][app]["instances"]:
            if (i["version"] == version or not version) and (i["slot"] == slot or not slot):
                return prom.wait_scraped(self.prometheus_url, f"127.0.0.1:{i['port']}", app=app, version=i["version"],
                                         timeout=timeout)
        raise PlatformError(f"{app} runs no {version or slot}")
