"""Under act, each job's token has exactly the job's permissions (issue 22 item 1): a job that
reports a commit status with `statuses: write` passes; the same job with `statuses: read` fails as
on GitHub, and the rehearsal names the job and the permission. Each job's token is also where a
dump of the runner's memory would hand it to any step: $RUNNER_TEMP/.cdhelper-rehearsal-job-token."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cdhelper.devtools.rehearsal import JOB_TOKEN_FILE, TOKEN
from cdhelper.devtools.rehearsal.own_workflow import prepare

pytestmark = pytest.mark.act

WORKFLOW = """name: Check
on: push
permissions: {{}}
jobs:
  acceptance:
    name: Acceptance
    runs-on: ubuntu-latest
    permissions:
      statuses: {level}
    steps:
      - uses: cdhelper/cdhelper/actions/report-check@v0
        with:
          context: acceptance
      - name: What a memory dump would hand a step
        run: cp "$RUNNER_TEMP/{dump}" "$CDHELPER_REHEARSAL_TARGETS/acceptance-token"
  build:
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
      - run: cp "$RUNNER_TEMP/{dump}" "$CDHELPER_REHEARSAL_TARGETS/build-token"
"""


def checkout(tmp_path: Path, level: str) -> Path:
    root = tmp_path / "checkout"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "cd.yml").write_text("version: 1\nenvironments:\n  - name: staging\n")
    (root / ".github" / "workflows" / "check.yml").write_text(WORKFLOW.format(level=level, dump=JOB_TOKEN_FILE))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["-c", "user.name=dev", "-c", "user.email=dev@x",
                                                                "commit", "-q", "-m", "ours"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    return root


def test_a_job_with_statuses_write_reports_a_commit_status_with_its_own_token(tmp_path):
    r = prepare(checkout(tmp_path, "write"), ".github/workflows/check.yml", mode="deployment", workdir=tmp_path / "r")
    try:
        result = r.run()
        assert result["act_exit"] == 0, r.output()[-3000:]
        assert result["refused"] == []
        repo = r.double.repo(r.repository)
        [[status]] = repo.commit_statuses.values()
        assert (status["context"], status["state"]) == ("acceptance", "success")
        acceptance = (r.targets / "acceptance-token").read_text()
        build = (r.targets / "build-token").read_text()
        assert acceptance != build, "each job has a token of its own"
        assert r.double.app.tokens[acceptance].permissions["statuses"] == "write"
        assert r.double.app.tokens[build].permissions == {**r.double.app.tokens[build].permissions, "statuses": "none",
                                                          "contents": "read"}
        assert acceptance not in r.output() and TOKEN not in r.output(), "the tokens are masked in the log"
    finally:
        r.close(keep=True)


def test_the_same_job_with_statuses_read_fails_naming_the_job_and_the_permission(tmp_path):
    r = prepare(checkout(tmp_path, "read"), ".github/workflows/check.yml", mode="deployment", workdir=tmp_path / "r")
    try:
        result = r.run()
        assert result["act_exit"] != 0 and result["jobs"]["acceptance"] == "failure"
        assert r.double.repo(r.repository).commit_statuses == {}
        [line] = result["refused"]
        assert line.startswith("job Acceptance (acceptance in check.yml) lacks `statuses: write` (POST "
                               "/repos/{owner}/{repo}/statuses/{sha} was refused"), line
        assert line.endswith("Fix: add `statuses: write` under the job's `permissions:`")
    finally:
        r.close(keep=True)
