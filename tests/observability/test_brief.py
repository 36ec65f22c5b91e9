"""The approver's view: what the job before the gate writes for the reviewer."""

from __future__ import annotations

import re


def _commit(pipeline, double, subject: str) -> str:
    pipeline.sha = double.world.add_commit(double.repo("acme/app"), subject, branch="main")
    return pipeline.sha


def test_the_brief_lists_what_production_would_get_and_the_way_back(pipeline, double):
    assert pipeline.release("1.0.0").code == 0
    assert pipeline.promote("staging", "1.0.0").code == 0 and pipeline.promote("production", "1.0.0").code == 0
    first = _commit(pipeline, double, "Add the export button (#12)")
    model = double.repo("acme/app")
    topic = double.world.add_commit(model, "Fix the login redirect", parent=first, branch="fix-login")
    double.world.add_commit(model, "Merge pull request #13 from acme/fix-login\n\nFix the login redirect",
                            branch="main", merge=topic)
    last = _commit(pipeline, double, "Tidy the README")
    (pipeline.artifact / "app.txt").write_text("v1.1\n")
    assert pipeline.release("1.1.0").code == 0 and pipeline.promote("staging", "1.1.0", mode="delivery").code == 0
    double.reset_log()
    out = pipeline.run("brief", "--environment", "production", "--version", "1.1.0", "--mode", "delivery", "--json")
    assert out.code == 0, out.out + out.err
    b = out.data
    assert (b["version"], b["commit"], b["gated"], b["gate_environment"]) == ("1.1.0", last, True, "production-approval")
    assert b["rollback_target"]["version"] == "1.0.0" and b["staged"]["state"] == "success"
    assert b["total_changes"] == 4 and b["compared"] is True
    # Only a merge commit (two parents) names its pull request; `(#12)` is text anyone can write.
    assert [(c["sha"], c["pull"]) for c in b["changes"][:2]] == [(last, None), (b["changes"][1]["sha"], 13)]
    assert {(c["sha"], c["pull"]) for c in b["changes"][2:]} == {(topic, None), (first, None)}
    assert b["changes"][1]["subject"] == "Merge pull request #13 from acme/fix-login"
    assert double.total_requests() == 2, double.counts()  # the ledger and one comparison
    summary = out.summary.replace("\\", "")
    assert "## Approval request: 1.1.0 to production" in summary
    assert "Approving production-approval promotes it to production." in summary
    assert "roll back to 1.0.0" in summary and "4 commit(s) since 1.0.0" in summary
    assert "[#13](<https://github.example/acme/app/pull/13>)" in summary and "/pull/12" not in summary


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


def _to_production(pipeline, version: str = "1.0.0") -> None:
    assert pipeline.release(version).code == 0
    assert pipeline.promote("staging", version).code == 0 and pipeline.promote("production", version).code == 0


def _candidate(pipeline, version: str) -> None:
    """Release `version` from pipeline.sha with new content and pass it through staging."""
    (pipeline.artifact / "app.txt").write_text(f"v{version}\n")
    assert pipeline.release(version).code == 0 and pipeline.promote("staging", version).code == 0


def _brief(pipeline, version: str):
    out = pipeline.run("brief", "--environment", "production", "--version", version, "--mode", "delivery", "--json")
    assert out.code == 0, out.out + out.err
    return out


def test_over_250_commits_the_brief_shows_the_newest_and_says_exactly_what_is_not_shown(pipeline, double):
    _to_production(pipeline)
    for i in range(312):
        _commit(pipeline, double, f"Change {i}")
    _candidate(pipeline, "1.1.0")
    out = _brief(pipeline, "1.1.0")
    assert out.data["total_changes"] == 312
    assert [c["subject"] for c in out.data["changes"]] == [f"Change {i}" for i in range(311, 261, -1)]  # newest first
    summary = out.summary.replace("\\", "")
    assert "showing the 50 newest of 312; 262 older not shown (GitHub lists at most 250: see the compare link)" in summary
    assert "(<https://github.example/acme/app/compare/" in summary and "Change 261" not in summary


def test_a_candidate_lacking_a_hotfix_production_runs_says_approving_removes_it(pipeline, double):
    _to_production(pipeline)
    model = double.repo("acme/app")
    released = pipeline.sha
    hotfix = double.world.add_commit(model, "Stop the crash on login", parent=released, branch="hotfix")
    pipeline.sha = hotfix
    _candidate(pipeline, "1.0.1")
    assert pipeline.promote("production", "1.0.1").code == 0
    _commit(pipeline, double, "Add the export button")  # main never got the hotfix
    _candidate(pipeline, "1.1.0")
    double.reset_log()
    out = _brief(pipeline, "1.1.0")
    assert [c["sha"] for c in out.data["removed"]] == [hotfix] and out.data["total_removed"] == 1
    assert [c["subject"] for c in out.data["changes"]] == ["Add the export button"]
    assert double.total_requests() == 3, double.counts()  # the ledger and a comparison each way
    summary = out.summary.replace("\\", "")
    assert "Approving removes 1 commit(s) that production runs" in summary
    assert "Stop the crash on login" in summary


def test_commit_authors_and_subjects_cannot_pass_for_accounts_pull_requests_or_other_text(pipeline, double):
    _to_production(pipeline)
    model = double.repo("acme/app")
    linked = double.world.add_commit(model, "Add the export button", branch="main",
                                     author=("Alice Liddell", "1+alice@users.noreply.github.com"))
    forged = double.world.add_commit(model, "Fix the crash (#7) \u202eexe.gnp", branch="main",
                                     author=("octocat-admin", "someone@example.com"))
    pipeline.sha = forged
    _candidate(pipeline, "1.1.0")
    out = _brief(pipeline, "1.1.0")
    by_sha = {c["sha"]: c for c in out.data["changes"]}
    assert (by_sha[linked]["login"], by_sha[linked]["git_author"]) == ("alice", "Alice Liddell")
    assert (by_sha[forged]["login"], by_sha[forged]["git_author"], by_sha[forged]["pull"]) == (None, "octocat-admin", None)
    assert "\u202e" not in out.summary and "/pull/7" not in out.summary
    summary = out.summary.replace("\\", "")
    assert "Fix the crash (#7) u202eexe.gnp" in summary  # shown as an escape, not obeyed
    assert "[@alice](<https://github.example/alice>)" in summary
    assert "octocat-admin (git name, no GitHub account linked)" in summary and "@octocat-admin" not in summary


def test_a_version_that_failed_in_production_is_flagged_and_promoting_it_again_needs_an_acknowledgement(pipeline, double):
    _to_production(pipeline)
    _candidate(pipeline, "1.1.0")
    assert pipeline.promote("production", "1.1.0", "--run", "exit 3").code == 10
    failed = max(d["id"] for d in pipeline.deployments("production"))
    pipeline.new_run(5151)  # another run promotes it again, as if it were new
    out = _brief(pipeline, "1.1.0")
    assert out.data["failure"]["deployment_id"] == failed and out.data["failure"]["how"] == "failed", out.data["failure"]
    assert re.search(r"1\.1\.0 failed in production on \d{4}-\d\d-\d\d \d\d:\d\d UTC: deployment "
                     rf"{failed} ended in failure \(the deploy hook exited with status 3\)", out.summary.replace("\\", ""))  # the status's words
    before = len(pipeline.deployments("production"))
    dry = pipeline.promote("production", "1.1.0", "--dry-run")
    refused = pipeline.promote("production", "1.1.0")
    assert dry.code == refused.code == 7, refused.out
    headline = next(line for line in refused.out.splitlines() if line.startswith("::error"))
    assert headline == next(line for line in dry.out.splitlines() if line.startswith("::error"))
    assert "failed in production on" in headline and "--acknowledge-failure" in headline and "Traceback" not in refused.err
    assert len(pipeline.deployments("production")) == before
    why = "the crash was the feature flag, turned off since"
    dry = pipeline.promote("production", "1.1.0", "--acknowledge-failure", why, "--dry-run")
    assert dry.code == 0, dry.out
    predicted = dry.data["would"]["writes"][0]["payload"]
    done = pipeline.promote("production", "1.1.0", "--acknowledge-failure", why)
    assert done.code == 0, done.out
    record = max(pipeline.deployments("production"), key=lambda d: d["id"])
    assert record["payload"]["acknowledged_failure"] == {"deployment_id": failed, "reason": why}
    assert record["payload"] == predicted
    pipeline.new_run(5252)  # it succeeded since: promoting it again is no longer a repeat of a failure
    assert pipeline.promote("production", "1.1.0", "--dry-run").code == 0


def test_a_rolled_back_version_needs_the_acknowledgement_but_a_rollback_to_it_does_not(pipeline, double):
    _to_production(pipeline)
    _candidate(pipeline, "1.1.0")
    assert pipeline.promote("production", "1.1.0").code == 0
    pipeline.new_run(5151)
    assert pipeline.promote("production", "1.0.0", "--rollback").code == 0
    pipeline.new_run(5252)
    again = pipeline.promote("production", "1.1.0")
    assert again.code == 7 and "1.1.0 cannot be promoted to production again" in again.out
    assert "rolled back in production on" in again.out
    back = pipeline.promote("production", "1.1.0", "--rollback")  # rollbacks go to known-good states
    assert back.code == 0, back.out
