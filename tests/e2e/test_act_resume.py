"""The scheduled resume (workflows-templates/cd-resume.yml) under act against the double: the
pipeline pauses a canary at a `{pause: hold, soak: 1h}` step; its soak job, started at once (act holds
no job, and no wait timer is needed), leaves the hold to the schedule; once the hold's recorded time
has passed (the paused status rewritten with a past time in the double), a scheduled run finds it
(`--due`), opens the resume, runs the hooks in a job that writes nothing, and records the end on the
same record."""

from __future__ import annotations

import re

import pytest

from cdhelper.devtools.rehearsal import REPOSITORY

from .test_act_pipeline import _deployments, _states, rehearsal_factory  # noqa: F401 - fixture

pytestmark = pytest.mark.act

RESUME_RUN = 6161
SHIFT = 'echo "$CD_WEIGHT" >> "$CDHELPER_REHEARSAL_TARGETS/weights-$CD_VERSION"\n'
CD_YML = """version: 1
environments:
  - name: staging
    url: https://staging.acme.example
  - name: production
    url: https://acme.example
    required-contexts: [Acceptance]
    strategy: {canary: {steps: [{weight: 50}, {pause: hold, soak: 1h}, {weight: 100}]}}
    hooks:
      deploy: ./deploy.sh
      shift-traffic: ./shift.sh
gate:
  environment: production-approval
"""


def pause_a_canary(r) -> dict:
    """The template pipeline, deployment mode, with a canary that holds at 50% for an hour: its record."""
    (r.repo_dir / "shift.sh").write_text(SHIFT)
    (r.repo_dir / "shift.sh").chmod(0o755)
    r.commit("A canary that soaks an hour", {".github/cd.yml": CD_YML})
    r.plan_run()
    assert r.act() == 0, r.output()[-3000:]
    [record] = _deployments(r, "production")
    return record


def test_the_scheduled_resume_continues_a_due_hold_on_the_same_record(rehearsal_factory):  # noqa: F811
    r = rehearsal_factory("deployment")
    record = pause_a_canary(r)
    statuses = r.double.repo(REPOSITORY).statuses[record["id"]]
    assert statuses[-1]["state"] == "in_progress" and "may resume after" in statuses[-1]["description"]
    assert r.jobs["soak"].result == "success" and "production-resume" not in {
        j for j, rec in r.jobs.items() if rec.result == "success"}  # left to the schedule
    weights = r.targets / f"weights-{record['payload']['version']}"
    assert weights.read_text().split() == ["50"]

    # a scheduled run before its time: nothing due
    r.jobs.clear()
    assert r.act(event="schedule", workflow="cd-resume.yml", run_id=RESUME_RUN) == 0, r.output()[-3000:]
    assert r.jobs["find"].result == "success"
    assert r.jobs["resume-open"].result == "skipped" if "resume-open" in r.jobs else True
    assert _states(r, record)[-1] == "in_progress"

    # the hold's time has passed: its paused status says so (as written an hour ago)
    statuses[-1]["description"] = re.sub(r"after \S+Z", "after 2020-01-01T00:00:00Z", statuses[-1]["description"])
    r.jobs.clear()
    assert r.act(event="schedule", workflow="cd-resume.yml", run_id=RESUME_RUN + 1) == 0, r.output()[-3000:]
    results = {j: rec.result for j, rec in r.jobs.items()}
    assert results.pop("gate", "skipped") == "skipped", results  # deployment mode: no reviewer
    assert results == {"find": "success", "resume-open": "success", "resume": "success", "resume-record": "success"}, results
    assert weights.read_text().split() == ["50", "100"]
    assert [d["id"] for d in _deployments(r, "production")] == [record["id"]]  # the same record went on
    assert _states(r, record)[-1] == "success"
