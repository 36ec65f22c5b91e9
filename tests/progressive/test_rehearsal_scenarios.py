"""`cdhelper rehearse --scenario`: the template pipeline under act, production on the real nginx +
Prometheus platform, as a user runs it (a subprocess, JSON out). Each scenario is several runs of
the pipeline; these check what the records say and what production served afterwards, by nginx's
access log."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cdhelper.cli import main as cli
from cdhelper.devtools.rehearsal.platform import Platform

from .conftest import require_platform

# The split layout: the rollout's steps reach the record through the record job, labelled as such.
REPORTED = " (reported by the deploy job)"

pytestmark = pytest.mark.act


def _rehearse(*args: str) -> tuple[int, dict, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "CD_", "RUNNER_"))}
    proc = subprocess.run([sys.executable, "-m", "cdhelper", "rehearse", *args, "--json"], capture_output=True,
                          text=True, env=env, timeout=400)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"no JSON from the rehearsal (exit {proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-3000:]}")
    return proc.returncode, result, proc.stderr


def _records(run: dict) -> tuple[dict, dict | None]:
    promotion = next(r for r in run["records"] if not r["rollback_of"])
    rollback = next((r for r in run["records"] if r["rollback_of"]), None)
    return promotion, rollback


def test_canary_in_deployment_mode_holds_soaks_and_resumes_to_full_traffic():
    """Deployment mode skips the gate job; the soak job must still run (a skipped job upstream
    skips a job whose `if` has no status function, on GitHub as under act)."""
    require_platform()
    code, result, stderr = _rehearse("--scenario", "canary", "--mode", "deployment")
    assert code == 0, stderr[-3000:]
    for run in result["runs"]:
        promotion, rollback = _records(run)
        assert run["act_exit"] == 0 and rollback is None
        assert promotion["state"] == "success", promotion
        assert [s.split(": ", 2)[:2] for s in promotion["steps"][1:3]] == [["canary 1/4", "20% - errors passed"],
                                                                          ["canary 2/4", "50% - errors passed"]]
        assert all(s.endswith(REPORTED) for s in promotion["steps"][1:3])  # each with its values between
        assert promotion["steps"][3].startswith("canary 3/4: paused; a later job resumes it; may resume after ")
        assert promotion["steps"][3].endswith(REPORTED)
        assert promotion["steps"][-1] == f"canary 4/4: 100%{REPORTED}"
        assert any(s.startswith(f"Resuming {run['version']} in production after the hold") for s in promotion["steps"])
        assert set(run["served_after"]) == {run["version"]}, run["served_after"]  # all traffic on the new version


def test_a_bad_canary_is_rolled_back_by_itself_and_serves_nothing_after():
    require_platform()
    code, result, stderr = _rehearse("--scenario", "canary-rollback", "--mode", "deployment")
    assert code == 0, stderr[-3000:]
    good, bad = result["runs"]
    assert _records(good)[0]["state"] == "success" and good["act_exit"] == 0
    promotion, rollback = _records(bad)
    assert bad["act_exit"] != 0  # the production job fails: a rollback is not a success
    assert promotion["state"] == "failure"
    assert promotion["steps"][1].startswith("canary 1/3: 20% - lenient passed: ")
    # The report names every analysis it uses: the bad version passing at 20% is the lenient one's doing.
    assert set(result["analyses"]) == {"lenient", "errors"} and "0.9" in result["analyses"]["lenient"]
    assert any(d.startswith("step 1: analysis at 20%: passed - lenient passed") for d in bad["decisions"])
    assert any(d.startswith("step 2: analysis at 50%: failed - errors failed") for d in bad["decisions"])
    assert promotion["steps"][-1].startswith("analysis errors failed at 50%")
    assert rollback["state"] == "success" and rollback["rollback_of"] == promotion["deployment_id"]
    assert rollback["version"] == good["version"]
    assert bad["served_after"].get(bad["version"], 0) == 0 and bad["served_after"].get(good["version"], 0) > 0


def test_blue_green_switches_and_switches_back_from_a_bad_version():
    require_platform()
    code, result, stderr = _rehearse("--scenario", "blue-green")  # delivery mode: approved by the reviewer
    assert code == 0, stderr[-3000:]
    first, second, bad = result["runs"]
    assert [s for s in _records(first)[0]["steps"] if "switched" in s] == [
        f"blue-green 2/2: switched to blue (previous: none){REPORTED}"]
    # The idle slot is analysed before the switch, as the strategy table says, and the report shows it.
    assert "smoke" in result["analyses"]
    for run, idle in ((first, "blue"), (second, "green"), (bad, "blue")):
        assert any(s.startswith(f"blue-green 1/2: {idle} deployed - smoke passed: 200, 200")
                   for s in _records(run)[0]["steps"]), _records(run)[0]["steps"]
        assert any(d.startswith(f"step 1: analysis of the idle slot {idle}: passed - smoke passed") for d in run["decisions"])
    assert [s for s in _records(second)[0]["steps"] if "switched" in s] == [
        f"blue-green 2/2: switched to green (previous: blue){REPORTED}"]
    assert set(second["served_after"]) == {second["version"]}
    promotion, rollback = _records(bad)
    assert promotion["state"] == "failure" and "switched to blue (previous: green)" in " ".join(promotion["steps"])
    assert rollback["state"] == "success" and rollback["version"] == second["version"]
    assert bad["served_after"].get(bad["version"], 0) == 0 and bad["served_after"].get(second["version"], 0) > 0


def test_a_canary_judged_against_its_baseline_rolls_back_a_slower_version_and_passes_an_equal_one():
    """No fixed latency threshold anywhere: every version answers in 50 ms but 0.1.3 in 65 ms, and the
    `compare` analysis judges each canary against the stable version it runs beside."""
    require_platform()
    code, result, stderr = _rehearse("--scenario", "canary-judge", "--mode", "deployment")
    assert code == 0, stderr[-3000:]
    assert list(result["analyses"]) == ["latency-vs-stable"] and "no fixed threshold" in result["analyses"]["latency-vs-stable"]
    first, equal, slow = result["runs"]
    assert (first["latency"], equal["latency"], slow["latency"]) == (0.05, 0.05, 0.065)
    # The first release has no stable version: passed by `without-baseline: pass`, which it says.
    assert _records(first)[0]["state"] == "success"
    assert any("no stable version to compare with" in d for d in first["decisions"]), first["decisions"]
    # The equal version passes: its score is 100 at both samples, its medians beside the baseline's.
    promotion, rollback = _records(equal)
    assert promotion["state"] == "success" and rollback is None and equal["act_exit"] == 0
    assert any(s.startswith("canary 1/2: 50% - latency-vs-stable passed: 100, 100") for s in promotion["steps"])
    assert any(d.startswith("step 1: analysis at 50%: passed - latency-vs-stable passed") for d in equal["decisions"])
    samples = [d for d in equal["decisions"] if d.startswith("latency-vs-stable: score 100")]
    assert len(samples) == 2 and all("vs baseline" in d and ": pass)" in d for d in samples), equal["decisions"]
    # The slower one is rolled back, judged high against 0.1.2, and serves nothing afterwards.
    promotion, rollback = _records(slow)
    assert promotion["state"] == "failure" and slow["act_exit"] != 0
    assert promotion["steps"][-1].startswith("analysis latency-vs-stable failed at 50%: 0 - ")
    assert any(d.startswith("latency-vs-stable: score 0 < marginal 75") and ": high)" in d for d in slow["decisions"])
    assert any(d.startswith("step 1: analysis at 50%: failed - latency-vs-stable failed") for d in slow["decisions"])
    assert rollback["state"] == "success" and rollback["version"] == "0.1.2"
    assert slow["served_after"].get("0.1.3", 0) == 0 and slow["served_after"].get("0.1.2", 0) > 0


def test_a_flag_flip_changes_what_production_answers_without_a_new_version():
    """Deploying is not releasing: the pipeline ships 0.1.1 with new-greeting off; `flags set` (its own
    approved record, task release:flags) turns it on, and the sample app's real OpenFeature evaluation
    answers differently, same version."""
    require_platform()
    from .conftest import require_flag_packages
    require_flag_packages()
    code, result, stderr = _rehearse("--scenario", "flag-flip")
    assert code == 0, stderr[-3000:]
    assert (result["pipeline_act_exit"], result["flip_exit"]) == (0, 0)
    assert (result["served_before"], result["served_after"]) == ("false", "true")
    flip = result["flip"]
    assert (flip["task"], flip["flag"], flip["old"], flip["new"], flip["state"]) == (
        "release:flags", "new-greeting", "off", "on", "success")
    assert flip["approver"] == "rehearsal-reviewer" and flip["kill_switch"] is False


def test_a_scenario_without_its_real_parts_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(Platform, "missing", staticmethod(lambda python=None, flags=False: [
        "nginx is not installed (the traffic splitter): apt-get install nginx-light"]))
    assert cli.main(["rehearse", "--scenario", "canary"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "canary scenario cannot run here" in err[0] and "apt-get install nginx-light" in err[0]
    assert "without --scenario" in err[0]


def test_a_scenario_refuses_options_it_cannot_honour(capsys):
    assert cli.main(["rehearse", "--scenario", "canary", "--reject"]) == 2
    assert "cannot be combined with --reject" in capsys.readouterr().err
