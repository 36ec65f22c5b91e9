"""The approver's view: what the job before the gate writes for the reviewer."""

from __future__ import annotations


def _commit(pipeline, double, subject: str) -> str:
    pipeline.sha = double.world.add_commit(double.repo("acme/app"), subject, branch="main")
    return pipeline.sha


def test_the_brief_lists_what_production_would_get_and_the_way_back(pipeline, double):
    assert pipeline.release("1.0.0").code == 0
    assert pipeline.promote("staging", "1.0.0").code == 0 and pipeline.promote("production", "1.0.0").code == 0
    first = _commit(pipeline, double, "Add the export button (#12)")
    _commit(pipeline, double, "Merge pull request #13 from acme/fix-login\n\nFix the login redirect")
    last = _commit(pipeline, double, "Tidy the README")
    (pipeline.artifact / "app.txt").write_text("v1.1\n")
    assert pipeline.release("1.1.0").code == 0 and pipeline.promote("staging", "1.1.0", mode="delivery").code == 0
    double.reset_log()
    out = pipeline.run("brief", "--environment", "production", "--version", "1.1.0", "--mode", "delivery", "--json")
    assert out.code == 0, out.out + out.err
    b = out.data
    assert (b["version"], b["commit"], b["gated"], b["gate_environment"]) == ("1.1.0", last, True, "production-approval")
    assert b["rollback_target"]["version"] == "1.0.0" and b["staged"]["state"] == "success"
    assert b["total_changes"] == 3 and b["compared"] is True
    assert [(c["sha"], c["pull"]) for c in b["changes"]] == [(last, None), (b["changes"][1]["sha"], 13), (first, 12)]
    assert b["changes"][1]["subject"] == "Merge pull request #13 from acme/fix-login"
    assert double.total_requests() == 2, double.counts()  # the ledger and one comparison
    summary = out.summary.replace("\\", "")
    assert "## Approval request: 1.1.0 to production" in summary
    assert "Approving production-approval promotes it to production." in summary
    assert "roll back to 1.0.0" in summary and "3 commit(s) since 1.0.0" in summary
    assert "[#12](<https://github.example/acme/app/pull/12>)" in summary


def test_a_first_deployment_has_nothing_to_compare_and_costs_one_request(pipeline, double):
    assert pipeline.release("1.0.0").code == 0 and pipeline.promote("staging", "1.0.0").code == 0
    double.reset_log()
    out = pipeline.run("brief", "--environment", "production", "--version", "1.0.0", "--json")
    assert out.code == 0, out.err
    assert out.data["rollback_target"] is None and out.data["compared"] is False
    assert double.total_requests() == 1
    assert "nothing to roll back to" in out.summary and "First deployment to production" in out.summary


def test_a_brief_of_a_version_never_released_is_one_line(pipeline, double):
    out = pipeline.run("brief", "--environment", "production", "--version", "9.9.9")
    assert out.code == 4 and "release candidate tag 'v9.9.9' does not exist" in out.out
    assert "Traceback" not in out.out + out.err


def test_after_the_decision_the_production_summary_names_the_approver_and_their_comment(pipeline, double):
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    double.create_run("acme/app", run_id=4242, actor="bob", waiting_on=["production-approval"])
    pipeline.release()
    pipeline.promote("staging", mode="delivery")
    double.review("acme/app", 4242, "production-approval", "alice", comment="ship it")
    done = pipeline.promote("production", mode="delivery")
    assert done.code == 0, done.out
    assert 'approved on production-approval by alice ("ship it")' in done.summary.replace("\\", "")
