"""The rehearsal report's rollouts, read back from the double's records and statuses: each record
with every status in order, rollbacks and flag changes told apart, the approvals. Records made by
the real CLI in-process (tests/progressive's rollouts), so the statuses are the ones a run writes."""

from __future__ import annotations

from cdhelper.devtools.rehearsal import records
from tests.progressive.test_rollouts import rollouts  # noqa: F401 - the fixture


def test_a_canary_and_its_rollback_are_shown_step_by_step_with_the_reason(pipeline, rollouts):  # noqa: F811
    configure, release, _ = rollouts
    configure(bad="6.6.6")
    release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    release("6.6.6")
    assert pipeline.promote("production", "6.6.6").code == 11  # rolled back after a failed analysis
    found = records.rollouts(pipeline.double.repo("acme/app"), ["production"])
    assert [(r["kind"], r["version"], r["state"]) for r in found] == [
        ("promotion", "1.0.0", "success"), ("promotion", "6.6.6", "failure"), ("rollback", "1.0.0", "success")]
    good, bad, back = found
    assert [s["description"] for s in good["steps"] if s["description"].startswith("canary")] == [
        "canary 1/2: 10% - healthy passed: 0", "canary 2/2: 100% - healthy passed: 0"]  # with the measured values
    assert back["rollback_of"] == bad["deployment_id"]
    text = "\n".join(records.rollout_lines(found))
    assert f"deployment {back['deployment_id']} (rollback, back to 1.0.0, rolling back deployment {bad['deployment_id']}): success" in text
    assert f"    failure      {bad['steps'][-1]['description']}" in text and "healthy" in bad["steps"][-1]["description"]
    assert all(r["gate"] == "" for r in found), "no gate in deployment mode: nothing to say"


def test_the_approval_a_gated_record_keeps_is_shown(pipeline, rollouts):  # noqa: F811
    configure, release, _ = rollouts
    configure()
    pipeline.double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    release("1.0.0")
    pipeline.double.create_run("acme/app", run_id=pipeline.run_id, actor="bob", waiting_on=["production-approval"])
    pipeline.double.review("acme/app", pipeline.run_id, "production-approval", "alice", comment="ship it")
    assert pipeline.promote("production", "1.0.0", mode="delivery").code == 0
    repo = pipeline.double.repo("acme/app")
    found = records.rollouts(repo, ["production"])
    assert found[0]["gate"] == 'approved on production-approval by alice ("ship it")'
    text = "\n".join(records.rollout_lines(found))
    assert f'deployment {found[0]["deployment_id"]} (promotion, 1.0.0): success; approved on production-approval ' \
           'by alice ("ship it")' in text
