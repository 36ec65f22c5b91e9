"""Started without the launcher (the console script `cdhelper`, `python -m cdhelper`) in a workflow
step, cdhelper still hands its secrets over before any user command runs (credentials.start): a
deploy command finds the token neither in its own environment nor in the helper's /proc/<pid>/environ."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import SENTINEL

from .test_isolation import PROBE, ROOT, _release, deps_cache, job  # noqa: F401 - fixtures

CONSOLE_SCRIPT = Path(sys.executable).parent / "cdhelper"
STARTS = {"console script": [str(CONSOLE_SCRIPT)], "python -m cdhelper": [sys.executable, "-m", "cdhelper"]}
SECRETS = {"INPUT_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN", "INPUT_REGISTRY_PASSWORD"}


def _promote_without_the_launcher(job,  # noqa: F811 - a Job
                                   start: list[str], where: Path) -> tuple[object, dict]:
    where.mkdir(parents=True)
    sentinel_file, report, probe = where / "sentinel", where / "report.json", where / "probe.py"
    sentinel_file.write_text(SENTINEL)
    probe.write_text(PROBE.format(sentinel_file=str(sentinel_file), report=str(report)))
    files = Path(tempfile.mkdtemp(prefix="step-", dir=job.home))
    env = {**job.runner_env(ROOT, files), "GITHUB_TOKEN": SENTINEL}
    deploy = f"{shlex.quote(sys.executable)} -I {shlex.quote(str(probe))}"
    # `exec`, as the actions' launch line does: a shell that lingers as the parent holds what the runner gave it
    script = "exec " + shlex.join([*start, "promote", "--environment", "staging", "--version", "1.0.0", "--mode", "deployment",
                         "--run", deploy])
    step = job._bash(script, env, files, "run", 300)
    return step, (json.loads(report.read_text()) if report.exists() else {})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
@pytest.mark.parametrize("how", STARTS)
def test_a_deploy_command_finds_no_token_when_cdhelper_is_started_without_the_launcher(job, tmp_path, how):  # noqa: F811 - the fixture
    if how == "console script" and not CONSOLE_SCRIPT.exists():
        pytest.skip(f"no console script at {CONSOLE_SCRIPT}")
    _release(job, tmp_path / "dist")
    step, report = _promote_without_the_launcher(job, STARTS[how], tmp_path / "probe")
    assert step.code == 0 and report, step.out + step.err
    assert [f for f in report["found"] if f != "parent memory"] == [], report  # root may read memory: see test_isolation
    assert report["parent_environ"] is not None and "GITHUB_REPOSITORY" in report["parent_environ"], report
    assert not SECRETS & set(report["parent_environ"]), report
    assert not (SECRETS | {"CDHELPER_SECRETS_FD"}) & set(report["own_environ"]), report


def test_a_handed_over_pipe_from_another_cdhelper_is_refused_unread(tmp_path):
    """The re-executed image reads the secrets only if it is the cdhelper that handed them over."""
    read_end, write_end = os.pipe()
    os.write(write_end, json.dumps({"GITHUB_TOKEN": SENTINEL}).encode())
    os.close(write_end)
    env = {"PATH": "/usr/bin:/bin", "GITHUB_ACTIONS": "true", "CDHELPER_SECRETS_FD": str(read_end),
           "CDHELPER_HANDED_OVER_BY": str(tmp_path / "elsewhere" / "cdhelper")}
    proc = subprocess.run([sys.executable, "-m", "cdhelper", "--help"], env=env, pass_fds=(read_end,),
                          capture_output=True, text=True, cwd=tmp_path)
    os.close(read_end)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "not " + str(tmp_path / "elsewhere" / "cdhelper") in proc.stderr
    assert "Traceback" not in proc.stderr and SENTINEL not in proc.stdout + proc.stderr
