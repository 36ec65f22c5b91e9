"""The template pipeline, under act, against the double emulating each reading of GitHub's
unconfirmed behaviours, in both modes: the same records and approver every time, and at most one
requests more per promotion (one; three on GHES) than the 12 the whole pipeline takes (acceptance and gate included)."""

from __future__ import annotations

import pytest

from cdhelper.devtools.rehearsal import REPOSITORY, REVIEWER

from .test_act_pipeline import _deployments, _states, rehearsal_factory  # noqa: F401 - fixture

pytestmark = pytest.mark.act

# variant -> extra requests: (per promotion in any mode, for the gated production promotion only)
VARIANTS = {
    "default": (0, 0),
    "status-mutation-refused": (1, 0),
    "run-resource-null": (0, 1),
    "run-resource-forbidden": (0, 1),
    "approvals-any-order": (0, 0),
    # GHES has no `deployment: false`: the deploy job's own record is found by the record job (a read:
    # the open job cannot know it, the deploy job's token cannot read records), made inactive (GHES
    # deletes only inactive records) and deleted.
    "ghes": (3, 0),
}


@pytest.mark.parametrize("mode", ["delivery", "deployment"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_template_pipeline_under_each_variant(rehearsal_factory, variant, mode):  # noqa: F811
    r = rehearsal_factory(mode, variants=() if variant == "default" else (variant,))
    r.plan_run()
    assert r.act() == 0, r.output()[-3000:]
    jobs = {"doctor": "success", "build": "success", "release": "success", "staging": "success",
            "staging-record": "success", "acceptance": "success", "production-open": "success",
            "production": "success", "production-record": "success",
            } | ({"gate": "success"} if mode == "delivery" else {})  # act: no line for a skip
    assert {j: rec.result for j, rec in r.jobs.items()} == jobs
    for env in ("staging", "production"):
        [record] = _deployments(r, env)  # one record per promotion, GHES included
        assert _states(r, record) == ["queued", "in_progress", "success"], (env, variant, mode)
        assert record["payload"]["version"] == "0.1.1" and record["payload"]["mode"] == mode
    gate = _deployments(r, "production")[0]["payload"]["gate"]
    if mode == "delivery":
        assert [a["login"] for a in gate["approvers"]] == [REVIEWER]
    else:
        assert gate["required"] is False
    per_promotion, gated = VARIANTS[variant]
    doctor = 2  # the doctor job's settings reads: the environments, the CD_MODE variable
    brief = 2 if mode == "delivery" else 0  # the approver's view: the ledger, the comparison with production
    assert r.double.total_requests() <= 12 + doctor + brief + 2 * per_promotion + (gated if mode == "delivery" else 0), \
        r.double.counts()
    assert r.double.repo(REPOSITORY).check_runs  # the acceptance job's check run was the evidence
