"""The sample platform itself: nginx honours the weights (counted from its access log), weight 0
sends nothing, slots switch, Prometheus sees a bad version's error rate, teardown stops processes,
missing parts are named with their install command, and nothing outlives the platform."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cdhelper import hooks
from cdhelper.devtools.rehearsal.platform import Platform, PlatformError, api, service
from cdhelper.devtools.rehearsal.platform import prometheus as prom
from cdhelper.devtools.rehearsal.platform.common import alive, http_get, in_session, wait_until

from .conftest import require_platform

HOOKS = Path(__file__).resolve().parents[2] / "cdhelper" / "devtools" / "rehearsal" / "platform" / "hooks"


def send(url: str, n: int) -> Counter:
    """n sequential requests; (status, X-Version) of each."""
    out: Counter = Counter()
    for _ in range(n):
        status, headers, _ = http_get(url)
        out[(status, headers.get("x-version", ""))] += 1
    return out


def versions(answers: Counter) -> dict[str, int]:
    out: Counter = Counter()
    for (_, version), n in answers.items():
        out[version] += n
    return dict(out)


def test_error_share_is_exact_and_spread():
    errors = service.Errors(0.2)
    fails = [errors.next_fails() for _ in range(100)]
    assert sum(fails) == 20
    assert all(sum(fails[i:i + 5]) == 1 for i in range(0, 100, 5))  # every 5th, not 20 in a row
    assert sum(service.Errors(0.0).next_fails() for _ in range(50)) == 0
    with pytest.raises(ValueError):
        service.Errors(1.5)


def test_weights_are_honoured_by_nginx(platform, app):
    first = platform.deploy("1.0.0", app=app)
    assert first["weights"] == {"1.0.0": 100}  # nothing else served: it does
    beside = platform.deploy("1.1.0", app=app)
    assert beside["weights"] == {"1.0.0": 100, "1.1.0": 0} and beside["canary"] == "1.1.0"
    for percent in (10, 50, 90):
        platform.weight(percent, app=app)
        since = time.time()
        answered = send(platform.app_url(app), 200)  # right after weight(): it is in effect already
        expected = {"1.0.0": 2 * (100 - percent), "1.1.0": 2 * percent}
        assert versions(answered) == expected, f"{percent}%: {answered}"
        assert platform.requests(app, since=since) == expected  # nginx's own record agrees
    assert set(answered) == {(200, "1.0.0"), (200, "1.1.0")}


def test_weight_zero_means_no_request(platform, app):
    platform.deploy("1.0.0", app=app)
    platform.deploy("2.0.0", app=app)
    platform.weight(30, app=app)
    assert platform.weight(0, app=app)["weights"] == {"1.0.0": 100, "2.0.0": 0}
    since = time.time()
    assert versions(send(platform.app_url(app), 150)) == {"1.0.0": 150}
    platform.weight(100, app=app)  # the stable one at 0 now
    assert versions(send(platform.app_url(app), 150)) == {"2.0.0": 150}
    assert platform.requests(app, since=since) == {"1.0.0": 150, "2.0.0": 150}
    conf = (platform.directory / "nginx" / "nginx.conf").read_text()
    live = conf.split(f"location /{app}/ {{")[1].split("}")[0]
    upstream = live.split("proxy_pass http://")[1].split("/;")[0]
    servers = conf.split(f"upstream {upstream} {{")[1].split("}")[0]
    assert servers.count("server ") == 1  # weight 0 is left out: nginx weights cannot be 0
    # the canary's own URL still reaches it (a smoke test), and is not live traffic
    status, headers, body = http_get(platform.version_url(app, "1.0.0"))
    assert (status, headers["x-version"], body) == (200, "1.0.0", f"{app} version 1.0.0\n".encode())
    assert platform.requests(app, since=since) == {"1.0.0": 150, "2.0.0": 150}
    assert platform.requests(app, since=since, route="version") == {"1.0.0": 1}


def test_blue_green_switch(platform, app):
    assert platform.deploy("1.0.0", app=app, slot="blue")["live"] == "blue"  # nothing was live
    green = platform.deploy("2.0.0", app=app, slot="green")
    assert green["live"] == "blue" and green["slots"] == {"blue": "1.0.0", "green": "2.0.0"}
    assert versions(send(platform.app_url(app), 20)) == {"1.0.0": 20}
    assert versions(send(platform.slot_url(app, "green"), 5)) == {"2.0.0": 5}  # the idle slot, for its analysis
    platform.switch("green", app=app)
    assert versions(send(platform.app_url(app), 20)) == {"2.0.0": 20}
    with pytest.raises(PlatformError, match="slot green is live"):
        platform.teardown(app=app, slot="green")
    platform.switch("blue", app=app)  # the switch back of a rollback: blue stayed warm
    assert versions(send(platform.app_url(app), 20)) == {"1.0.0": 20}
    with pytest.raises(PlatformError, match="runs slots: use switch"):
        platform.weight(50, app=app)


def test_prometheus_sees_the_error_rate_of_a_bad_version(platform, app):
    platform.deploy("1.0.0", app=app)
    platform.deploy("1.1.0", app=app, error_rate=0.2, wait_scraped=True)
    platform.weight(50, app=app)
    with platform.load(app, rate=50) as load:
        shifted = time.monotonic()
        seen = wait_until("the bad version's error rate", lambda: _near(platform.error_rate(app, "1.1.0"), 0.2),
                          timeout=30, interval=0.25)
        lag = time.monotonic() - shifted
        overall = wait_until("the app's error rate", lambda: _near(platform.error_rate(app), 0.1, 0.03),
                             timeout=30, interval=0.25)
    print(f"error rate of 1.1.0 seen after {lag:.2f}s: {seen:.3f}; app {overall:.3f}")
    assert platform.error_rate(app, "1.0.0") == 0.0
    assert load.summary()["by_status"].get("500", 0) > 0
    assert platform.query(f'sum by (code) (http_requests_total{{app="{app}",version="1.1.0"}})')


def test_each_version_answers_as_slowly_as_it_is_told_and_prometheus_sees_it(platform, app, monkeypatch):
    """CDHELPER_PLATFORM_LATENCY, through the sample deploy hook: 1.0.0 adds 50 ms, 1.1.0 65 ms."""
    monkeypatch.setenv("CDHELPER_PLATFORM_LATENCY", "1.0.0=0.05 1.1.0=0.065")
    for version in ("1.0.0", "1.1.0"):
        assert run_hook("deploy.sh", platform, app, CD_STRATEGY="canary", CD_VERSION=version) == 0
    platform.weight(50, app=app)
    mean = ('sum(rate(http_request_duration_seconds_sum{{app="{app}",version="{v}"}}[5s])) / '
            'sum(rate(http_request_duration_seconds_count{{app="{app}",version="{v}"}}[5s]))')
    with platform.load(app, rate=40):
        fast = wait_until("1.0.0's latency", lambda: platform.value(mean.format(app=app, v="1.0.0")), timeout=30)
        slow = wait_until("1.1.0's latency", lambda: platform.value(mean.format(app=app, v="1.1.0")), timeout=30)
    assert 0.05 <= fast < 0.06 and 0.065 <= slow < 0.075, (fast, slow)
    instances = platform.status(app)["apps"][app]["instances"]
    assert {i["version"]: i["latency"] for i in instances} == {"1.0.0": 0.05, "1.1.0": 0.065}


def _near(value: float | None, target: float, tolerance: float = 0.04) -> float | None:
    return value if value is not None and abs(value - target) <= tolerance else None


def test_after_the_rollback_no_request_reaches_the_bad_version(platform, app):
    platform.deploy("1.0.0", app=app)
    platform.deploy("6.6.6", app=app, error_rate=1.0)
    with platform.load(app, rate=50) as load:
        platform.weight(50, app=app)
        wait_until("traffic to the bad version", lambda: platform.requests(app).get("6.6.6", 0) >= 10, timeout=10)
        platform.weight(0, app=app)
        rolled_back = time.time()
        wait_until("two seconds of load", lambda: len(load.since(rolled_back)) >= 100, timeout=10)
    after = platform.requests(app, since=rolled_back)
    assert after.get("1.0.0", 0) >= 100 and "6.6.6" not in after, after
    assert {a.version for a in load.since(rolled_back)} == {"1.0.0"}


def test_teardown_stops_the_process(platform, app):
    platform.deploy("1.0.0", app=app)
    deployed = platform.deploy("1.1.0", app=app)
    pid = next(i["pid"] for i in deployed["instances"] if i["version"] == "1.1.0")
    platform.weight(20, app=app)
    with pytest.raises(PlatformError, match="carries 20% of the traffic"):
        platform.teardown(app=app, version="1.1.0")
    platform.weight(0, app=app)
    done = platform.teardown(app=app, version="1.1.0")
    assert done["versions"] == ["1.0.0"] and done["weights"] == {"1.0.0": 100}
    assert not alive(pid)
    status, _, body = http_get(platform.version_url(app, "1.1.0"))
    assert (status, body) == (404, f"{app} runs no such version\n".encode())  # never the live traffic
    assert platform.teardown(app=app, version="1.1.0")["changed"] is False  # again: nothing to do
    assert platform.teardown(app=f"{app}-never", version="1.1.0")["changed"] is False


def test_all_at_once_replaces(platform, app):
    old = platform.deploy("1.0.0", app=app)["instances"][0]["pid"]
    new = platform.deploy("1.0.1", app=app, replace=True)
    assert new["weights"] == {"1.0.1": 100} and new["versions"] == ["1.0.1"]
    assert not alive(old)
    assert versions(send(platform.app_url(app), 10)) == {"1.0.1": 10}
    again = platform.deploy("1.0.1", app=app, replace=True)
    assert again["changed"] is False


def run_hook(name: str, platform: Platform, app: str, **cd: str) -> int:
    """A sample hook run exactly as cdhelper runs hooks: whatever it leaves running is killed."""
    env = hooks.environment(os.environ, {**platform.env(app), "CD_ENVIRONMENT": "production", **cd})
    return hooks.run(f'bash "{HOOKS / name}"', env)


def test_sample_hooks_canary_and_rollback(platform, app, monkeypatch):
    """The hooks deploy through the supervisor: the services outlive the hook (a hook's leftovers
    are killed), and the bad version is chosen by CDHELPER_PLATFORM_BAD_VERSIONS."""
    monkeypatch.setenv("CDHELPER_PLATFORM_BAD_VERSIONS", "v1.1.0")
    assert run_hook("deploy.sh", platform, app, CD_STRATEGY="canary", CD_VERSION="1.0.0") == 0
    assert run_hook("deploy.sh", platform, app, CD_STRATEGY="canary", CD_VERSION="1.1.0",
                    CD_PREVIOUS_VERSION="1.0.0", CD_WEIGHT="0") == 0
    monkeypatch.delenv("CDHELPER_PLATFORM_BAD_VERSIONS")
    status = platform.status(app)["apps"][app]
    assert {i["version"]: (i["running"], i["error_rate"]) for i in status["instances"]} == {
        "1.0.0": (True, 0.0), "1.1.0": (True, 0.5)}
    assert run_hook("shift-traffic.sh", platform, app, CD_STRATEGY="canary", CD_VERSION="1.1.0", CD_WEIGHT="25") == 0
    assert platform.status(app)["apps"][app]["weights"] == {"1.0.0": 75, "1.1.0": 25}
    rollback = {"CD_STRATEGY": "canary", "CD_VERSION": "1.1.0", "CD_PREVIOUS_VERSION": "1.0.0", "CD_ROLLBACK": "true"}
    assert run_hook("shift-traffic.sh", platform, app, CD_WEIGHT="0", **rollback) == 0
    assert run_hook("teardown.sh", platform, app, **rollback) == 0
    status = platform.status(app)["apps"][app]
    assert status["versions"] == ["1.0.0"] and status["weights"] == {"1.0.0": 100}
    # a successful canary: 100%, then the previous version torn down
    ok = {"CD_STRATEGY": "canary", "CD_VERSION": "1.2.0", "CD_PREVIOUS_VERSION": "1.0.0"}
    assert run_hook("deploy.sh", platform, app, CD_WEIGHT="0", **ok) == 0
    assert run_hook("shift-traffic.sh", platform, app, CD_WEIGHT="100", **ok) == 0
    assert run_hook("teardown.sh", platform, app, **ok) == 0
    assert platform.status(app)["apps"][app]["weights"] == {"1.2.0": 100}
    assert versions(send(platform.app_url(app), 5)) == {"1.2.0": 5}


def test_sample_hooks_blue_green_and_all_at_once(platform, app):
    bg = {"CD_STRATEGY": "blue-green"}
    assert run_hook("deploy.sh", platform, app, CD_VERSION="1.0.0", CD_SLOT="blue", **bg) == 0
    assert run_hook("deploy.sh", platform, app, CD_VERSION="2.0.0", CD_SLOT="green", CD_PREVIOUS_SLOT="blue", **bg) == 0
    assert run_hook("switch.sh", platform, app, CD_VERSION="2.0.0", CD_SLOT="green", **bg) == 0
    assert run_hook("teardown.sh", platform, app, CD_VERSION="2.0.0", **bg) == 0  # blue stays warm
    status = platform.status(app)["apps"][app]
    assert status["live"] == "green" and status["slots"] == {"blue": "1.0.0", "green": "2.0.0"}
    assert run_hook("switch.sh", platform, app, CD_VERSION="2.0.0", CD_SLOT="blue", CD_ROLLBACK="true", **bg) == 0
    assert versions(send(platform.app_url(app), 5)) == {"1.0.0": 5}
    # a refused command fails the hook, with the reason on stderr
    assert run_hook("deploy.sh", platform, app, CD_VERSION="3.0.0", CD_STRATEGY="all-at-once") != 0
    platform.remove(app)
    for version in ("3.0.0", "3.0.1"):
        assert run_hook("deploy.sh", platform, app, CD_VERSION=version, CD_STRATEGY="all-at-once") == 0
    assert platform.status(app)["apps"][app]["weights"] == {"3.0.1": 100}


def test_control_cli(platform, app):
    def ctl(*args: str, code: int = 0) -> dict:
        run = subprocess.run([str(platform.ctl), "--app", app, *args], capture_output=True, text=True, timeout=60)
        assert run.returncode == code, run.stderr
        return json.loads(run.stdout) if run.stdout else {"stderr": run.stderr}

    assert ctl("deploy", "--version", "1.0.0")["weights"] == {"1.0.0": 100}
    assert ctl("deploy", "--version", "1.1.0", "--error-rate", "0.3")["weights"] == {"1.0.0": 100, "1.1.0": 0}
    assert ctl("weight", "--percent", "40")["weights"] == {"1.0.0": 60, "1.1.0": 40}
    status = ctl("status")
    mine = status["apps"][app]
    assert mine["url"] == platform.app_url(app) and status["prometheus"] == platform.prometheus_url
    assert {i["version"]: (i["weight"], i["error_rate"]) for i in mine["instances"]} == {
        "1.0.0": (60, 0.0), "1.1.0": (40, 0.3)}
    assert all(isinstance(i["port"], int) for i in mine["instances"])
    send(platform.app_url(app), 10)
    assert ctl("requests") == {"1.0.0": 6, "1.1.0": 4}
    assert "runs versions: use weight" in ctl("switch", "--slot", "blue", code=1)["stderr"]
    assert "carries 40% of the traffic" in ctl("teardown", "--version", "1.1.0", code=1)["stderr"]
    assert "a percentage, 0..100" in ctl("weight", "--percent", "101", code=1)["stderr"]
    assert ctl("status")["apps"][app]["weights"] == {"1.0.0": 60, "1.1.0": 40}  # refusals change nothing
    gone = subprocess.run([sys.executable, "-m", "cdhelper.devtools.rehearsal.platform", "ctl", "--platform",
                           str(platform.directory / "nowhere"), "status"], capture_output=True, text=True)
    assert gone.returncode == 3 and "no platform is running" in gone.stderr


def test_missing_names_each_part_with_its_install_command(monkeypatch):
    monkeypatch.setattr(api.nginx, "binary", lambda: None)
    monkeypatch.setattr(api.prom, "binary", lambda: None)
    monkeypatch.setattr(api.importlib.util, "find_spec", lambda name: None)
    lacking = Platform.missing()
    assert len(lacking) == 3
    assert "nginx" in lacking[0] and "apt-get install nginx-light" in lacking[0]
    assert "prometheus" in lacking[1] and "apt-get install prometheus" in lacking[1]
    assert "prometheus_client" in lacking[2] and "pip install 'cdhelper[samples]'" in lacking[2]
    assert "pip install -e '.[rehearse,samples]'" in lacking[2]
    flags = Platform.missing(flags=True)  # the flag-flip scenario's sample app: its own packages
    assert len(flags) == 4 and "openfeature-sdk and openfeature-provider-flagd" in flags[0]
    assert "'.[rehearse,samples]'" in flags[0]
    with pytest.raises(PlatformError, match="apt-get install nginx-light"):
        Platform("/nonexistent/never-created").start()


def test_a_missing_part_skips_or_fails_as_asked(monkeypatch):
    monkeypatch.setattr(Platform, "missing", staticmethod(lambda: ["nginx is not installed: apt-get install nginx-light"]))
    monkeypatch.delenv("CDHELPER_REQUIRE_PROGRESSIVE", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install nginx-light"):
        require_platform()
    monkeypatch.setenv("CDHELPER_REQUIRE_PROGRESSIVE", "1")
    with pytest.raises(pytest.fail.Exception, match="apt-get install nginx-light"):
        require_platform()


def test_a_failed_change_leaves_the_platform_as_it_was(platform, app):
    """nginx refuses the new configuration after the new version started: the version is stopped
    again and the platform says (and routes) what it did before."""
    platform.deploy("1.0.0", app=app)
    tmp = platform.directory / "nginx" / "tmp"
    tmp.rename(tmp.with_name("tmp.away"))
    tmp.write_text("not a directory: nginx -t fails\n")
    try:
        with pytest.raises(PlatformError, match="nginx refused the configuration"):
            platform.deploy("1.1.0", app=app)
    finally:
        tmp.unlink()
        tmp.with_name("tmp.away").rename(tmp)
    status = platform.status(app)["apps"][app]
    assert status["versions"] == ["1.0.0"] and status["weights"] == {"1.0.0": 100}
    assert not [pid for pid in platform.processes() if f"{app}\x00--slot" in _cmdline(pid) and "1.1.0" in _cmdline(pid)]
    assert platform.weight(0, app=app, version="1.0.0")["weights"] == {"1.0.0": 0}  # nginx takes changes again
    assert versions(send(platform.app_url(app), 2)) == {"": 2}  # 503: nothing serves


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def test_nothing_outlives_the_platform(tmp_path):
    """Stopped, or its owner killed: every process of it ends (checked in /proc)."""
    require_platform()
    code = f"""
import os, sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from cdhelper.devtools.rehearsal.platform import Platform
p = Platform({str(tmp_path / "p")!r}, wait_discovery=False).start()
p.deploy("1.0.0", app="a"); p.deploy("2.0.0", app="a"); p.deploy("1.0.0", app="b", slot="blue")
p.send_load("a", rate=20)
print(p.pid, flush=True)
time.sleep(600)
"""
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as owner:
        try:
            sid = int(owner.stdout.readline())
            running = in_session(sid)
            assert len(running) >= 6  # supervisor, nginx master + worker, Prometheus, three services
            owner.send_signal(signal.SIGKILL)  # the owner dies without a word: the supervisor notices
            owner.wait()
            wait_until("the platform to stop by itself", lambda: not any(alive(p) for p in running), timeout=20)
        finally:
            owner.kill()
    with Platform(tmp_path / "q", wait_discovery=False) as p:
        p.deploy("1.0.0")
        p.deploy("1.0.0", app="other", slot="green")
        running = p.processes()
        assert len(running) >= 6
    assert not any(alive(pid) for pid in running)
    assert prom.binary() and not list((tmp_path / "q").glob("control.sock"))
