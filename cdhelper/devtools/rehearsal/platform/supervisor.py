"""The supervisor: the long-running process that owns what runs on the platform.

cdhelper kills whatever a hook leaves running when the hook ends (cdhelper/hooks.py), exactly as a
CI job cannot leave daemons behind; so the services are started here, by a process that is not the
hook's child, as a real platform would start them. The supervisor owns nginx (the splitter),
Prometheus and one process per deployed version or slot; hooks and tests talk to it over a unix
socket in the platform folder (one JSON request, one JSON answer per connection; the control CLI
and `Platform` are the clients). Requests are handled one at a time.

Everything it starts stays in its session; it stops them all when told to, on SIGTERM, or when the
process that started it (its owner) is gone, so nothing outlives a test run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import select
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from . import prometheus as prom
from .common import PlatformError, alive, http_get, wait_until
from .control import SOCKET
from .load import Load
from .prometheus import Prometheus
from .splitter import Route, Splitter

APP_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
SLOTS = ("blue", "green")
STATE = "supervisor.json"
PACKAGE_ROOT = str(Path(__file__).resolve().parents[4])  # the folder holding cdhelper/


def normalize(version: str) -> str:
    return version[1:] if version[:1] in "vV" and version[1:2].isdigit() else version


def parse_versions(text: str) -> list[str]:
    return [v for v in re.split(r"[\s,]+", text or "") if v]


def parse_latencies(text: str) -> dict[str, float]:
    """"0.1.1=0.05 0.1.3=0.065" -> {version: seconds added to each answer}; PlatformError names a bad entry."""
    out = {}
    for entry in parse_versions(text):
        version, _, seconds = entry.partition("=")
        try:
            out[version] = float(seconds)
        except ValueError:
            raise PlatformError(f"latency entry {entry!r}: write VERSION=SECONDS, e.g. 0.1.3=0.065") from None
    return out


class PortPool:
    """Loopback ports held by the supervisor (bound, not listening: a connection is refused) and
    listed once in Prometheus' targets file. A service gets one of these sockets (inherited) and
    listens on it, so Prometheus scrapes it within a scrape interval: adding a target to file-based
    discovery would take 2.5-5.5 s in Prometheus 2.42 (its discovery and scrape managers each apply
    changes on a 5 s tick). Held, the ports cannot be taken by anyone else meanwhile, nor by another
    platform's services."""

    def __init__(self, size: int = 32):
        self.free: dict[int, socket.socket] = {}
        self.ports: list[int] = []
        self.grow(size)

    def grow(self, n: int) -> None:
        for _ in range(n):
            s = self._bind(0)
            port = s.getsockname()[1]
            self.free[port] = s
            self.ports.append(port)

    @staticmethod
    def _bind(port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return s

    def take(self) -> tuple[int, socket.socket]:
        if not self.free:
            self.grow(16)
        port = next(iter(self.free))
        return port, self.free.pop(port)

    def give_back(self, port: int) -> None:
        """The service on `port` ended: hold the port again (a fresh socket, not listening)."""
        try:
            self.free[port] = self._bind(port)
        except OSError:  # taken meanwhile: Prometheus keeps trying it, harmlessly; the pool grows instead
            pass

    def close(self) -> None:
        for s in self.free.values():
            s.close()
        self.free.clear()


@dataclass
class Instance:
    app: str
    version: str
    slot: str
    error_rate: float
    port: int
    proc: subprocess.Popen
    sock: socket.socket | None = None  # the pool's socket it listens on (closed here once it listens)
    flags: str = ""  # the flagd JSON flag file it evaluates (absolute path), or none
    latency: float = 0.0  # seconds added to each answer
    started: float = field(default_factory=time.time)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc.poll() is None


@dataclass
class App:
    name: str
    mode: str = ""  # "versions" (canary, rolling, all-at-once) or "slots" (blue-green); "" before the first deploy
    instances: dict[str, Instance] = field(default_factory=dict)  # by version, or by slot
    weights: dict[str, int] = field(default_factory=dict)  # versions mode: percent of the live traffic
    stable: str = ""  # versions mode: the version a canary shares the traffic with
    canary: str = ""  # versions mode: the newest version deployed beside another
    live: str = ""  # slots mode: the slot serving the live traffic


class Supervisor:
    def __init__(self, directory: Path, *, owner: int = 0, scrape_interval: float = 1.0,
                 bad_versions: list[str] = (), bad_error_rate: float = 0.5, python: str = sys.executable,
                 wait_discovery: bool = True):
        self.dir = Path(directory).resolve()
        self.wait_discovery = wait_discovery
        self.owner, self.python = owner, python
        self.bad_versions, self.bad_error_rate = list(bad_versions), bad_error_rate
        self.splitter = Splitter(self.dir / "nginx")
        self.prometheus = Prometheus(self.dir / "prometheus", scrape_interval=scrape_interval)
        self.apps: dict[str, App] = {}
        self.pool: PortPool | None = None
        self.loads: dict[str, Load] = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.timings: dict[str, float] = {}

    # --- life -----------------------------------------------------------------------------------------

    def start(self) -> None:
        began = time.monotonic()
        (self.dir / "services").mkdir(parents=True, exist_ok=True)
        self.pool = PortPool()
        self._publish_pool()
        self.prometheus.start()  # the slow one first; nginx starts meanwhile
        self.timings["nginx_ready_s"] = round(self.splitter.start(self._routes()), 3)
        self.prometheus.wait_ready()
        self.timings["prometheus_ready_s"] = round(time.monotonic() - began, 3)
        # Discovery applies its first targets a few seconds after start: until then nothing is scraped.
        pool = {f"127.0.0.1:{p}" for p in self.pool.ports}
        if self.wait_discovery:
            wait_until("Prometheus to discover the service ports", timeout=30, interval=0.1,
                       check=lambda: pool <= {t["labels"].get("instance") for t in prom.targets(self.prometheus.url)})
            self.timings["prometheus_targets_s"] = round(time.monotonic() - began, 3)
        self.timings["ready_s"] = round(time.monotonic() - began, 3)

    def stop(self) -> None:
        for load in self.loads.values():
            load.stop()
        for app in self.apps.values():
            for instance in app.instances.values():
                with contextlib.suppress(ProcessLookupError):
                    instance.proc.terminate()
        self.splitter.stop()
        self.prometheus.stop()
        for app in self.apps.values():
            for instance in app.instances.values():
                self._stop(instance)
        if self.pool:
            self.pool.close()

    def state(self) -> dict:
        return {"pid": os.getpid(), "url": self.splitter.url, "prometheus": self.prometheus.url,
                "socket": str(self.dir / SOCKET), "timings": self.timings,
                "nginx_pid": self.splitter.proc.pid if self.splitter.proc else None,
                "prometheus_pid": self.prometheus.proc.pid if self.prometheus.proc else None}

    # --- requests -------------------------------------------------------------------------------------

    def handle(self, request: dict) -> dict:
        command = request.get("command")
        handlers = {"deploy": self.deploy, "weight": self.weight, "switch": self.switch, "teardown": self.teardown,
                    "status": self.status, "configure": self.configure, "load": self.load, "remove": self.remove,
                    "shutdown": self.shutdown}
        if command not in handlers:
            raise PlatformError(f"unknown command {command!r} (one of: {', '.join(handlers)})")
        args = {k: v for k, v in request.items() if k != "command"}
        with self.lock:
            saved = {name: (a.mode, dict(a.instances), dict(a.weights), a.stable, a.canary, a.live)
                     for name, a in self.apps.items()}
            try:
                return handlers[command](**args)
            except BaseException:
                self._restore(saved)
                raise

    def _restore(self, saved: dict) -> None:
        """A command failed half-way (nginx refused, a service did not start): back to the state
        before it, stopping what it started, so that what the platform says is what runs."""
        kept = {id(i) for state in saved.values() for i in state[1].values()}
        for name in list(self.apps):
            for instance in self.apps[name].instances.values():
                if id(instance) not in kept:
                    self._stop(instance)
            if name not in saved:
                del self.apps[name]
        for name, (mode, instances, weights, stable, canary, live) in saved.items():
            a = self.apps.setdefault(name, App(name))
            a.mode, a.instances, a.weights, a.stable, a.canary, a.live = mode, instances, weights, stable, canary, live
        with contextlib.suppress(Exception):
            self._publish()

    def _app(self, name: str, *, create: bool = False) -> App:
        if not APP_RE.match(name or ""):
            raise PlatformError(f"app name {name!r}: use lower-case letters, digits and '-' (at most 63)")
        if name not in self.apps:
            if not create:
                raise PlatformError(f"no app {name!r} on this platform (deploy a version first)")
            self.apps[name] = App(name)
        return self.apps[name]

    def deploy(self, app: str, version: str, slot: str = "", error_rate: float | None = None, replace: bool = False,
               bad_versions: list[str] = (), flags: str = "", latency: float | None = None,
               latencies: dict[str, float] | None = None) -> dict:
        """Start `version` (beside the others, or in `slot`), evaluating the flag file `flags` if
        given, each answer taking `latency` seconds more (default: the version's entry in `latencies`,
        else none). A version or slot already running with the same version, error rate, latency and
        flag file is left as it is (deploys are retried)."""
        if not VERSION_RE.match(version or ""):
            raise PlatformError(f"version {version!r}: use letters, digits and . _ + - (at most 128)")
        if slot and slot not in SLOTS:
            raise PlatformError(f"slot {slot!r}: blue or green")
        if slot and replace:
            raise PlatformError("--replace is for versions; a slot goes live with switch")
        if flags and not (Path(flags).is_absolute() and Path(flags).is_file()):
            raise PlatformError(f"flag file {flags!r}: give the absolute path of an existing file")
        a = self._app(app, create=True)
        mode = "slots" if slot else "versions"
        if a.mode and a.mode != mode and any(i.running for i in a.instances.values()):
            raise PlatformError(f"{app} runs {a.mode}; stop them all (teardown) before deploying "
                                + ("to a slot" if slot else "without a slot"))
        if a.mode != mode:
            self._forget(a)
            a.mode = mode
        if error_rate is None:
            bad = {normalize(v) for v in [*self.bad_versions, *bad_versions]}
            error_rate = self.bad_error_rate if normalize(version) in bad else 0.0
        error_rate = float(error_rate)
        if not 0.0 <= error_rate <= 1.0:
            raise PlatformError(f"error rate {error_rate}: between 0 and 1")
        if latency is None:
            latency = {normalize(v): float(t) for v, t in (latencies or {}).items()}.get(normalize(version), 0.0)
        latency = float(latency)
        if not 0.0 <= latency <= 10.0:
            raise PlatformError(f"latency {latency}: between 0 and 10 seconds")
        key = slot or version
        old = a.instances.get(key)
        same = (old is not None and old.running and old.version == version and old.error_rate == error_rate
                and old.flags == flags and old.latency == latency)
        began = time.monotonic()
        others = {k: i for k, i in a.instances.items() if k != key}
        if same and not (replace and (others or a.weights.get(key) != 100)):
            return self._app_status(a, changed=False)
        new = old if same else self._spawn(a.name, version, slot, error_rate, flags, latency)
        a.instances[key] = new
        doomed = [old] if old is not None and old is not new else []
        if slot:
            if a.live not in a.instances or not a.instances[a.live].running:
                a.live = slot  # nothing serves: the new slot does
        elif replace:  # all at once: it takes all the traffic, the others stop
            doomed += [a.instances.pop(k) for k in others]
            a.weights, a.stable, a.canary = {version: 100}, version, ""
        elif old is None or not old.running:
            serving = {v: w for v, w in a.weights.items() if w > 0 and v in others and others[v].running}
            if serving:  # beside the version(s) serving: no traffic yet
                a.weights[version] = 0
                a.stable = max(serving, key=lambda v: (serving[v], others[v].started))
                a.canary = version
            else:  # nothing serves: it does
                a.weights = {v: 0 for v in a.weights} | {version: 100}
                a.stable, a.canary = version, ""
        # else: the same version again with another error rate: the new process takes the old one's place
        took = self._publish()
        for instance in doomed:
            self._stop(instance)
        return self._app_status(a, changed=True, seconds=round(time.monotonic() - began, 3), reload_s=took)

    def weight(self, app: str, percent: int, version: str = "") -> dict:
        """Send `percent` of the live traffic to `version` (default: the canary, else the newest
        version); the rest to the stable version. Weight 0: no request reaches it."""
        a = self._app(app)
        if a.mode != "versions":
            raise PlatformError(f"{app} runs slots: use switch" if a.mode else f"{app} runs nothing yet")
        percent = int(percent)
        if not 0 <= percent <= 100:
            raise PlatformError(f"weight {percent}: a percentage, 0..100")
        running = {v: i for v, i in a.instances.items() if i.running}
        if not version:
            version = a.canary if a.canary in running else max(running, key=lambda v: running[v].started, default="")
        if version not in running:
            raise PlatformError(f"{app} {version or '(no version)'} is not running (running: {', '.join(running) or 'none'})")
        others = [v for v in running if v != version]
        if a.stable in others:
            rest = a.stable
        elif others:
            rest = max(others, key=lambda v: (a.weights.get(v, 0), running[v].started))
        else:
            rest = ""
        began = time.monotonic()
        weights = {v: 0 for v in a.instances}
        if rest:
            weights[version], weights[rest] = percent, 100 - percent
            if a.stable != rest or a.canary != version:
                a.stable, a.canary = rest, version
        else:
            weights[version] = 100 if percent > 0 else 0  # nothing else to send the rest to
        a.weights = weights
        took = self._publish()
        return self._app_status(a, changed=True, seconds=round(time.monotonic() - began, 3), reload_s=took)

    def switch(self, app: str, slot: str) -> dict:
        a = self._app(app)
        if a.mode != "slots":
            raise PlatformError(f"{app} runs versions: use weight" if a.mode else f"{app} runs nothing yet")
        if slot not in SLOTS:
            raise PlatformError(f"slot {slot!r}: blue or green")
        instance = a.instances.get(slot)
        if instance is None or not instance.running:
            raise PlatformError(f"{app} has nothing running in slot {slot}: deploy to it first")
        began = time.monotonic()
        changed = a.live != slot
        a.live = slot
        took = self._publish()
        return self._app_status(a, changed=changed, seconds=round(time.monotonic() - began, 3), reload_s=took)

    def teardown(self, app: str, version: str = "", slot: str = "", force: bool = False) -> dict:
        """Stop a version (or a slot). Refused while it carries live traffic, unless `force`.
        Nothing of that name running (or no such app): nothing to do, not an error."""
        if bool(version) == bool(slot):
            raise PlatformError("teardown: name a --version or a --slot")
        if APP_RE.match(app or "") and app not in self.apps:
            return {"app": app, "mode": "", "instances": [], "versions": [], "changed": False}
        a = self._app(app)
        if slot:
            keys = [slot] if slot in a.instances else []
        else:
            keys = [k for k, i in a.instances.items() if i.version == version]
        if not keys:
            return self._app_status(a, changed=False)
        serving = [k for k in keys if (a.live == k if a.mode == "slots" else a.weights.get(k, 0) > 0)]
        if serving and not force:
            what = f"slot {serving[0]} is live: switch to the other slot first" if a.mode == "slots" else \
                f"{serving[0]} carries {a.weights[serving[0]]}% of the traffic: weight --version {serving[0]} --percent 0 first"
            raise PlatformError(f"not tearing down {app} {version or slot}: {what} (or --force)")
        began = time.monotonic()
        doomed = [a.instances.pop(k) for k in keys]
        for k in keys:
            a.weights.pop(k, None)
            if a.live == k:
                a.live = ""
            if a.stable == k:
                a.stable = ""
            if a.canary == k:
                a.canary = ""
        if a.mode == "versions" and serving and a.instances and not any(a.weights.values()):
            newest = max(a.instances, key=lambda v: a.instances[v].started)  # forced: the newest takes the traffic
            a.weights[newest] = 100
        self._publish()
        for instance in doomed:
            self._stop(instance)
        return self._app_status(a, changed=True, seconds=round(time.monotonic() - began, 3))

    def remove(self, app: str) -> dict:
        """Stop everything of `app` (its load too) and forget it: its URL answers 404 again."""
        a = self._app(app)
        load = self.loads.pop(app, None)
        if load:
            load.stop()
        doomed = list(a.instances.values())
        del self.apps[app]
        self._publish()
        for instance in doomed:
            self._stop(instance)
        return {"app": app, "removed": [i.version for i in doomed]}

    def configure(self, bad_versions: list[str] | None = None, bad_error_rate: float | None = None) -> dict:
        if bad_versions is not None:
            self.bad_versions = list(bad_versions)
        if bad_error_rate is not None:
            if not 0.0 <= float(bad_error_rate) <= 1.0:
                raise PlatformError(f"error rate {bad_error_rate}: between 0 and 1")
            self.bad_error_rate = float(bad_error_rate)
        return {"bad_versions": self.bad_versions, "bad_error_rate": self.bad_error_rate}

    def load(self, app: str, rate: float = 50.0) -> dict:
        """Start (rate > 0), change or stop (rate 0) a steady load on the app's live URL, sent by the
        supervisor itself (it lives as long as the platform)."""
        self._app(app, create=True)
        previous = self.loads.pop(app, None)
        summary = previous.summary() if previous else None
        if previous:
            previous.stop()
        if rate and float(rate) > 0:
            self.loads[app] = Load(f"{self.splitter.url}/{app}/", rate=float(rate)).start()
        return {"app": app, "rate": float(rate or 0), "previous": summary}

    def shutdown(self) -> dict:
        self.done.set()
        return {"stopping": True}

    def status(self, app: str = "") -> dict:
        apps = [self._app(app)] if app else list(self.apps.values())
        return {"platform": str(self.dir), "pid": os.getpid(), "url": self.splitter.url,
                "prometheus": self.prometheus.url, "generation": self.splitter.generation,
                "bad_versions": self.bad_versions, "bad_error_rate": self.bad_error_rate, "timings": self.timings,
                "reload_s": self.splitter.reload_seconds[-20:],
                "apps": {a.name: self._app_status(a) for a in apps}}

    def _app_status(self, a: App, **extra: object) -> dict:
        base = f"{self.splitter.url}/{a.name}/"
        instances = []
        for key, i in sorted(a.instances.items(), key=lambda kv: kv[1].started):
            instances.append({"version": i.version, "slot": i.slot, "port": i.port, "pid": i.proc.pid,
                              "running": i.running, "error_rate": i.error_rate, "latency": i.latency, "started": i.started,
                              "flags": i.flags,
                              "weight": a.weights.get(key, 0) if a.mode == "versions" else (100 if a.live == key else 0),
                              "url": f"{base}_slot/{i.slot}/" if i.slot else f"{base}_version/{i.version}/"})
        out: dict = {"app": a.name, "url": base, "mode": a.mode, "instances": instances,
                     "versions": sorted({i.version for i in a.instances.values()})}
        if a.mode == "versions":
            out |= {"weights": {k: w for k, w in a.weights.items() if k in a.instances},
                    "stable": a.stable, "canary": a.canary}
        if a.mode == "slots":
            out |= {"slots": {s: (a.instances[s].version if s in a.instances else None) for s in SLOTS}, "live": a.live}
        if a.name in self.loads:
            out["load"] = self.loads[a.name].summary()
        return out | extra

    # --- the parts ------------------------------------------------------------------------------------

    def _forget(self, a: App) -> None:
        for instance in a.instances.values():
            self._stop(instance)
        a.instances.clear()
        a.weights.clear()
        a.stable = a.canary = a.live = ""

    def _spawn(self, app: str, version: str, slot: str, error_rate: float, flags: str = "",
               latency: float = 0.0) -> Instance:
        log = self.dir / "services" / f"{app}-{slot or 'v'}-{version}.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, *filter(None, [env.get("PYTHONPATH")])])
        port, sock = self.pool.take()
        with open(log, "ab") as err:
            proc = subprocess.Popen([self.python, "-m", "cdhelper.devtools.rehearsal.platform.service", "--version", version,
                                     "--app", app, "--slot", slot, "--error-rate", repr(error_rate),
                                     "--fd", str(sock.fileno()), *(["--flags", flags] if flags else []),
                                     *(["--latency", repr(latency)] if latency else [])],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env,
                                    pass_fds=(sock.fileno(),))
        instance = Instance(app, version, slot, error_rate, port, proc, sock, flags, latency)
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            line = proc.stdout.readline().decode(errors="replace").strip() if ready else ""
            if line != f"listening {port}":
                raise PlatformError(f"{app} {version} did not start: {log.read_text(errors='replace')[-800:].strip()}")
            if http_get(f"http://127.0.0.1:{port}/healthz", timeout=5)[0] != 200:
                raise PlatformError(f"{app} {version} does not answer /healthz")
        except BaseException:
            self._stop(instance)
            raise
        finally:
            proc.stdout.close()
        sock.close()  # the service holds it now: when it ends, the port is refused at once (not queued)
        return instance

    def _stop(self, instance: Instance) -> None:
        _stop(instance.proc)
        if instance.sock is not None and self.pool is not None:
            instance.sock.close()
            self.pool.give_back(instance.port)
            instance.sock = None

    _published_pool = 0

    def _publish_pool(self) -> None:
        self._published_pool = len(self.pool.ports)
        self.prometheus.set_targets([{"targets": [f"127.0.0.1:{p}" for p in self.pool.ports],
                                      "labels": {"pool": "services"}}])

    def _routes(self) -> list[Route]:
        routes = []
        for a in self.apps.values():
            running = {k: i for k, i in a.instances.items() if i.running}
            if a.mode == "slots":
                live = [(running[a.live].address, 1)] if a.live in running else []
            else:
                live = [(running[k].address, w) for k, w in sorted(a.weights.items()) if w > 0 and k in running]
            routes.append(Route(a.name, "", "live", live))
            seen = set()
            for _key, i in sorted(running.items()):
                if i.slot:
                    routes.append(Route(a.name, f"_slot/{i.slot}", "slot", [(i.address, 1)]))
                if i.version not in seen:
                    seen.add(i.version)
                    routes.append(Route(a.name, f"_version/{i.version}", "version", [(i.address, 1)]))
        return routes

    def _publish(self, *, reload: bool = True) -> float | None:
        """Tell Prometheus and nginx what runs now; returns once nginx routes that way."""
        if len(self.pool.free) < 8:  # grow ahead: new ports take Prometheus a few seconds to discover
            self.pool.grow(16)
        if len(self.pool.ports) != self._published_pool:
            self._publish_pool()
        routes = self._routes()
        if reload and routes != self.splitter.routes:
            return round(self.splitter.apply(routes), 4)
        return None


def _stop(proc: subprocess.Popen, timeout: float = 3.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Handler(socketserver.StreamRequestHandler):
    supervisor: Supervisor

    def handle(self) -> None:
        try:
            request = json.loads(self.rfile.readline(1 << 20) or b"{}")
            answer = {"ok": True, "result": self.server.supervisor.handle(request)}
        except PlatformError as exc:
            answer = {"ok": False, "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 (the client is told; the supervisor goes on)
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        with contextlib.suppress(OSError):
            self.wfile.write(json.dumps(answer).encode() + b"\n")


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def serve(args: argparse.Namespace) -> int:
    directory = Path(args.platform).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / SOCKET
    if len(str(sock).encode()) > 107:
        print(f"the platform folder's path is too long for a unix socket: {sock}", file=sys.stderr)
        return 2
    supervisor = Supervisor(directory, owner=args.owner, scrape_interval=args.scrape_interval,
                            bad_versions=parse_versions(args.bad_versions), bad_error_rate=args.bad_error_rate,
                            wait_discovery=not args.no_wait_discovery)
    signal.signal(signal.SIGTERM, lambda *_: supervisor.done.set())
    signal.signal(signal.SIGINT, lambda *_: supervisor.done.set())
    server = None
    try:
        supervisor.start()
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        server = _Server(str(sock), _Handler)
        os.chmod(sock, 0o600)
        server.supervisor = supervisor
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        tmp = directory / (STATE + ".tmp")
        tmp.write_text(json.dumps(supervisor.state(), indent=1))
        os.replace(tmp, directory / STATE)
        print(f"platform ready in {supervisor.timings['ready_s']}s: {supervisor.splitter.url} "
              f"(Prometheus {supervisor.prometheus.url})", flush=True)
        while not supervisor.done.wait(0.5):
            if args.owner and not alive(args.owner):
                print(f"the owner (pid {args.owner}) is gone: stopping", flush=True)
                break
        return 0
    except Exception as exc:  # noqa: BLE001 (said, then everything started is stopped)
        (directory / "supervisor.failed").write_text(f"{exc}\n")
        print(f"the platform did not start: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        with supervisor.lock:
            supervisor.stop()
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        with contextlib.suppress(FileNotFoundError):
            (directory / STATE).unlink()
