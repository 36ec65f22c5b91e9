"""The operations template (workflows-templates/cd-rollout.yml) under act against the double: from
GitHub's UI a paused canary is aborted (traffic back at 0%, the record says so), the aborted version is
retried (a new record, the acknowledgement recorded, paused again at its hold) and then promoted
fully (100% at once, the same record ends success). Each operation's hooks run in the job whose
token writes nothing; the open and record jobs write."""

from __future__ import annotations

import pytest

from cdhelper.devtools.rehearsal import REPOSITORY

from .test_act_pipeline import _deployments, _states, rehearsal_factory  # noqa: F401 - fixture
from .test_act_resume import pause_a_canary

pytestmark = pytest.mark.act

OPERATIONS = "cd-rollout.yml"


def _operate(r, operation: str, run_id: int, *extra: str) -> int:
    r.jobs.clear()
    return r.act("--input", f"operation={operation}", "--input", "environment=production", *extra,
                 event="workflow_dispatch", workflow=OPERATIONS, run_id=run_id)


def test_a_paused_canary_is_aborted_retried_and_promoted_fully_from_the_operations_workflow(rehearsal_factory):  # noqa: F811
    r = rehearsal_factory("deployment")
    paused = pause_a_canary(r)
    version = paused["payload"]["version"]
    weights = r.targets / f"weights-{version}"
    assert weights.read_text().split() == ["50"] and _states(r, paused)[-1] == "in_progress"

    # abort: no gate, the canary's traffic back to 0%, the record ends failure saying who and why
    assert _operate(r, "abort", 7001, "--input", "reason=latency looks off") == 0, r.output()[-3000:]
    results = {j: rec.result for j, rec in r.jobs.items()}
    assert results.pop("gate", "skipped") == "skipped" and results.pop("undo", "skipped") == "skipped", results
    assert results == {"open": "success", "deploy": "success", "record": "success"}, results
    assert weights.read_text().split() == ["50", "0"]
    last = r.double.repo(REPOSITORY).statuses[paused["id"]][-1]
    assert last["state"] == "failure" and "aborted by" in last["description"] and "latency looks off" in last["description"]
    assert len(_deployments(r, "production")) == 1  # a first release: nothing to record as live again

    # aborting again writes nothing
    before = len(r.double.repo(REPOSITORY).statuses[paused["id"]])
    assert _operate(r, "abort", 7002) == 0, r.output()[-3000:]
    assert len(r.double.repo(REPOSITORY).statuses[paused["id"]]) == before and "already aborted" in r.output()

    # retry: the same digest in a new record, the acknowledgement recorded; it holds again at its soak
    assert _operate(r, "retry", 7003, "--input", "reason=fixed the load balancer") == 0, r.output()[-3000:]
    [_, retried] = _deployments(r, "production")
    assert retried["payload"]["digest"] == paused["payload"]["digest"]
    acknowledged = str(retried["payload"].get("acknowledged_failure"))
    assert f"retry of deployment {paused['id']}" in acknowledged and "fixed the load balancer" in acknowledged
    assert weights.read_text().split() == ["50", "0", "50"] and _states(r, retried)[-1] == "in_progress"

    # promote-full: the remaining steps skipped at once (no soak wait), the same record ends success
    assert _operate(r, "promote-full", 7004) == 0, r.output()[-3000:]
    assert weights.read_text().split() == ["50", "0", "50", "100"]
    assert [d["id"] for d in _deployments(r, "production")] == [paused["id"], retried["id"]]
    assert _states(r, retried)[-1] == "success"
    assert any("promoted fully by" in s["description"] for s in r.double.repo(REPOSITORY).statuses[retried["id"]])
