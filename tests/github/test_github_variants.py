"""GitHub as it really is: the helper never depends on one unconfirmed behaviour. The pipeline runs
against the double emulating each reading (docs/github-double.md, "Variants"), in both modes; the
records, the approvers and the requests are asserted. Budget: 12 requests for release, staging and
production; at most one more per promotion in a degraded variant."""

from __future__ import annotations

import pytest

from cdhelper.deploy.gate import DEFAULT_GATE_JOB

REVIEWER, ACTOR = "alice", "bob"
# variant -> extra requests per promotion it costs, (staging, production) in delivery mode
VARIANTS = {
    "default": (0, 0),
    "status-mutation-refused": (1, 1),  # undefined field: the schema says so in the first read
    "status-mutation-refused:preview-required": (0, 0),  # cdhelper sends the preview's media type
    "run-resource-null": (0, 1),  # only the gated promotion reads the run's reviews
    "run-resource-forbidden": (0, 1),
    "run-resource-forbidden:not-found": (0, 1),
    "approvals-any-order": (0, 0),
    "approvals-any-order:shuffled": (0, 0),
    "ghes": (1, 1),  # the job's own record is deleted
}


def _job(double, run_id: int, name: str, environment: str | None = None, conclusion: str | None = None) -> int:
    """A job of the run, as GitHub knows it (the rehearsal reports them from act)."""
    status = "completed" if conclusion else "in_progress"
    return double.add_job("acme/app", run_id, name, environment=environment, status=status, conclusion=conclusion)


@pytest.mark.parametrize("mode", ["delivery", "deployment"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_pipeline_ends_alike_whichever_way_github_behaves(pipeline, double, variant, mode):
    if variant != "default":
        double.set_variants(variant)
    double.set_environment("acme/app", "production-approval", reviewers=[REVIEWER], prevent_self_review=True)
    double.create_run("acme/app", run_id=pipeline.run_id, actor=ACTOR,
                      waiting_on=["production-approval"] if mode == "delivery" else [])
    double.reset_log()
    assert pipeline.release(GITHUB_ACTOR=ACTOR).code == 0
    _job(double, pipeline.run_id, "Staging", environment="staging")
    staging = pipeline.promote("staging", mode=mode, GITHUB_ACTOR=ACTOR)
    assert staging.code == 0, staging.out
    if mode == "delivery":
        double.review("acme/app", pipeline.run_id, "production-approval", REVIEWER, comment="ship it")
        _job(double, pipeline.run_id, DEFAULT_GATE_JOB, conclusion="success")
    _job(double, pipeline.run_id, "Production", environment="production")
    production = pipeline.promote("production", "1.0.0", "--gated", mode=mode, GITHUB_ACTOR=ACTOR)
    assert production.code == 0, production.out

    extra = VARIANTS[variant]
    budget = 12 + extra[0] + (extra[1] if mode == "delivery" or variant.startswith(("status", "ghes")) else 0)
    assert double.total_requests() <= budget, double.counts()
    for env in ("staging", "production"):
        [record] = pipeline.deployments(env)  # one record per promotion, on GHES too
        assert pipeline.states(record["id"]) == ["queued", "in_progress", "success"], (env, variant)
        assert record["payload"]["version"] == "1.0.0" and record["payload"]["mode"] == mode
    gate = pipeline.deployments("production")[0]["payload"]["gate"]
    if mode == "delivery":
        assert gate["approvers"] == [{"login": REVIEWER, "comment": "ship it"}]
    else:
        assert gate == {"required": False, "environment": "production-approval"}


def test_the_status_mutation_is_asked_for_once_per_process_then_rest(double):
    """A FORBIDDEN answer can only be found by trying: one attempt, then REST for the process."""
    from cdhelper.core.context import RunContext
    from cdhelper.deploy.records import queue_and_read
    from cdhelper.github.client import GitHubClient
    double.set_variants("status-mutation-refused:forbidden")
    repo = double.repo("acme/app")
    ids = double.seed_deployments("acme/app", 2, ["staging"], state="success")
    ctx = RunContext.from_environ({"GITHUB_API_URL": double.url, "GITHUB_REPOSITORY": "acme/app"}, token="t")
    client = GitHubClient(ctx, backoff=0)
    for dep_id in ids:
        double.reset_log()
        records = queue_and_read(client, ctx, dep_id, repo_node(dep_id), "staging", log_url="", environment_url="",
                                 description="Queued")
        assert [r.id for r in records] == list(reversed(ids))
        assert repo.statuses[dep_id][-1]["state"] == "queued"
        graphql = double.counts()["POST /graphql"]
        assert graphql == (2 if dep_id == ids[0] else 1), double.counts()  # the refused try, then only the read


def repo_node(dep_id: int) -> str:
    from cdhelper.devtools.double.rest import node_id
    return node_id("DE", dep_id)


# --- re-runs: GitHub gives reviews no order and no time ---------------------------------------------

def _rerun_history(pipeline, double, first: str, second: str, *, gate_job_of_second: str | None):
    double.set_variants("approvals-any-order:shuffled")
    double.set_environment("acme/app", "production-approval", reviewers=[REVIEWER, "carol"], prevent_self_review=True)
    double.create_run("acme/app", run_id=pipeline.run_id, actor=ACTOR, waiting_on=["production-approval"])
    assert pipeline.release().code == 0
    assert pipeline.promote("staging", mode="delivery", GITHUB_ACTOR=ACTOR).code == 0
    double.review("acme/app", pipeline.run_id, "production-approval", REVIEWER, state=first, comment="attempt 1")
    _job(double, pipeline.run_id, DEFAULT_GATE_JOB, conclusion="success" if first == "approved" else "failure")
    double.rerun("acme/app", pipeline.run_id)
    pipeline.attempt = 2
    double.review("acme/app", pipeline.run_id, "production-approval", "carol", state=second, comment="attempt 2")
    if gate_job_of_second:
        _job(double, pipeline.run_id, DEFAULT_GATE_JOB, conclusion=gate_job_of_second)
    return pipeline.promote("production", mode="delivery", GITHUB_ACTOR=ACTOR)


def test_rejected_in_one_attempt_then_approved_in_the_next_goes_to_production(pipeline, double):
    done = _rerun_history(pipeline, double, "rejected", "approved", gate_job_of_second="success")
    assert done.code == 0, done.out
    assert done.outputs["approved-by"] == "carol"


def test_approved_in_one_attempt_then_rejected_in_the_next_is_refused(pipeline, double):
    refused = _rerun_history(pipeline, double, "approved", "rejected", gate_job_of_second="failure")
    assert refused.code == 6 and "rejected production-approval" in refused.out
    assert pipeline.deployments("production") == []


def test_both_answers_and_no_gate_job_to_tell_them_apart_is_refused(pipeline, double):
    refused = _rerun_history(pipeline, double, "rejected", "approved", gate_job_of_second=None)
    assert refused.code == 6 and "gate-job" in refused.out
    assert pipeline.deployments("production") == []


# --- GitHub Enterprise Server ------------------------------------------------------------------------

def test_on_ghes_the_record_github_made_for_the_job_is_deleted_and_others_are_kept(pipeline, double):
    double.set_variants("ghes")
    double.create_run("acme/app", run_id=pipeline.run_id, actor=ACTOR)
    double.create_run("acme/app", run_id=777, actor=ACTOR)
    other_run = _job(double, 777, "Staging", environment="staging")  # another run's job, still running
    assert pipeline.release().code == 0
    _job(double, pipeline.run_id, "Staging", environment="staging")
    assert len(pipeline.deployments("staging")) == 2  # GitHub's, one per job
    done = pipeline.promote("staging")
    assert done.code == 0, done.out
    remaining = pipeline.deployments("staging")
    assert len(remaining) == 2 and sum(1 for d in remaining if d["payload"].get("cdhelper") == 1) == 1
    [kept] = [d for d in remaining if not d["payload"].get("cdhelper")]
    assert kept["id"] == double.repo("acme/app").jobs[other_run]["deployment_id"]  # another run's job's record stays
