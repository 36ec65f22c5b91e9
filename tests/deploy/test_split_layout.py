"""The split layout (issue 20): open (checks, the record) -> deploy (repository code, writes nothing)
-> close (what the deploy job reported, labelled; the end from GitHub's result of that job)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.progressive.test_rollouts import CANARY, CONFIG, HOOK

READ_ONLY = "ghs_deploy_job_contents_read"


@pytest.fixture
def split(pipeline, double, tmp_path):
    """Runs one promotion as the three jobs of the split layout; the deploy job's token can only read contents."""
    double.register_token(pipeline.token)  # unrestricted, as the open and record jobs' tokens are for what they do
    double.register_token(READ_ONLY, permissions={"contents": "read", "metadata": "read"})
    log = tmp_path / "hooks.log"
    log.write_text("")

    def configure(strategy: str = "all-at-once", bad: str = "6.6.6") -> None:
        (pipeline.tmp / ".github").mkdir(exist_ok=True)
        (pipeline.tmp / ".github" / "cd.yml").write_text(CONFIG.format(strategy=strategy, hook=HOOK.format(log=log),
                                                                      bad=bad))

    def promote(environment: str, version: str, *extra: str, job_result: str | None = None,
                report: str | None = None, resume: str = ""):
        opened = pipeline.promote(environment, version, "--phase", "open", *extra,
                                  *(["--resume-step", resume] if resume else []))
        if opened.code:
            return opened, None, None
        handoff = opened.outputs["handoff"]
        writes, requests = double.writes(), double.total_requests()
        deployed = pipeline.promote(environment, version, "--phase", "deploy", "--handoff", handoff,
                                    "--artifact", str(pipeline.artifact), GITHUB_TOKEN=READ_ONLY)
        assert (double.writes(), double.total_requests()) == (writes, requests), "the deploy phase spoke to GitHub"
        closed = pipeline.promote(environment, version, "--phase", "close", "--handoff", handoff, "--job-result",
                                  job_result or ("success" if deployed.code == 0 else "failure"),
                                  "--report", deployed.outputs.get("report", "") if report is None else report)
        return opened, deployed, closed

    def release(version: str) -> None:
        (pipeline.artifact / "app.txt").write_text(f"build {version}\n")
        assert pipeline.release(version).code == 0
        pipeline.new_run(pipeline.run_id + 1)
    return configure, release, promote, log


def descriptions(double, deployment_id: int) -> list[tuple[str, str]]:
    return [(s["state"], s["description"]) for s in double.repo("acme/app").statuses[deployment_id]]


def test_a_split_promotion_records_as_one_job_did_in_as_many_requests(pipeline, double, split):
    configure, release, promote, _ = split
    configure()
    double.reset_log()
    release("1.0.0")
    for environment in ("staging", "production"):
        opened, deployed, closed = promote(environment, "1.0.0")
        assert (opened.code, deployed.code, closed.code) == (0, 0, 0), (opened.out, deployed.out, closed.out)
        assert opened.outputs["state"] == "open" and closed.outputs["state"] == "success"
    assert double.total_requests() <= 12, double.counts()  # the single-job layout's budget
    [stg], [prd] = pipeline.deployments("staging"), pipeline.deployments("production")
    assert pipeline.states(prd["id"]) == ["queued", "in_progress", "success"]
    assert prd["payload"]["layout"] == "split" and prd["payload"]["promoted_from"]["deployment_id"] == stg["id"]
    assert descriptions(double, prd["id"])[-1] == ("success", "1.0.0 is live in production")


def test_the_deploy_phase_runs_the_rollout_and_the_record_job_posts_its_steps_labelled(pipeline, double, split):
    configure, release, promote, log = split
    configure(strategy=CANARY)
    release("1.0.0")
    promote("staging", "1.0.0")
    log.write_text("")
    _, deployed, closed = promote("production", "1.0.0")
    assert deployed.code == 0 and closed.code == 0, deployed.out
    assert log.read_text().splitlines() == ["deploy version=1.0.0 weight=0 slot= rollback=false",
                                            "shift-traffic version=1.0.0 weight=10 slot= rollback=false",
                                            "shift-traffic version=1.0.0 weight=100 slot= rollback=false"]
    [record] = pipeline.deployments("production")
    steps = [d for s, d in descriptions(double, record["id"]) if "reported by the deploy job" in d]
    assert steps == ["canary 1/2: 10% - healthy passed: 0 (reported by the deploy job)",
                     "canary 2/2: 100% - healthy passed: 0 (reported by the deploy job)"]
    assert "healthy passed" in deployed.summary and "writes nothing to GitHub" in deployed.summary


def test_a_rollback_the_deploy_job_reports_gets_its_record_labelled(pipeline, double, split):
    configure, release, promote, log = split
    configure(strategy=CANARY, bad="2.0.0")
    release("1.0.0")
    promote("staging", "1.0.0")
    promote("production", "1.0.0")
    release("2.0.0")
    promote("staging", "2.0.0")
    _, deployed, closed = promote("production", "2.0.0")
    assert deployed.code == 11 and closed.code == 0, deployed.out
    assert json.loads(deployed.outputs["report"])["state"] == "rolled-back"
    first, bad, rollback = pipeline.deployments("production")
    assert descriptions(double, bad["id"])[-1][0] == "failure"
    failed = descriptions(double, bad["id"])[-1][1]
    assert failed.startswith("analysis healthy failed at 10%: 1 - ")  # the value first
    # Never cut mid-text (old code: `... values: ` then nothing): cut at a word, marked, the label whole.
    assert len(failed) <= 140 and failed.endswith("… (reported by the deploy job)"), failed
    assert rollback["payload"]["rollback_of"] == bad["id"] and rollback["payload"]["version"] == "1.0.0"
    assert rollback["payload"]["reported_by"] == f"the deploy job of run {pipeline.run_id}"
    assert "reported by the deploy job" in rollback["description"]
    assert closed.outputs["rollback-deployment-id"] == str(rollback["id"])


@pytest.mark.parametrize("forged", [
    '{"v": 1, "deployment_id": ID, "state": "success", "statuses": ["all good"]}',
    '{"v": 1, "deployment_id": ID, "state": "paused", "paused_at": 1, "statuses": []}',
])
def test_the_record_ends_from_the_jobs_result_whatever_the_report_claims(pipeline, double, split, forged):
    configure, release, promote, _ = split
    configure()
    release("1.0.0")
    promote("staging", "1.0.0")
    opened = pipeline.promote("production", "1.0.0", "--phase", "open")
    ident = opened.outputs["deployment-id"]
    closed = pipeline.promote("production", "1.0.0", "--phase", "close", "--handoff", opened.outputs["handoff"],
                              "--job-result", "failure", "--report", forged.replace("ID", ident))
    assert closed.code == 0 and closed.outputs["state"] == "failure" and closed.outputs["paused"] == "false"
    assert pipeline.states(int(ident))[-1] == "failure"


def test_a_report_that_claims_a_rollback_never_names_what_runs(pipeline, double, split):
    """A rollback record is built from the open job's handoff (what ran before), never from the report."""
    configure, release, promote, _ = split
    configure()
    release("1.0.0")
    promote("staging", "1.0.0")
    promote("production", "1.0.0")
    release("2.0.0")
    promote("staging", "2.0.0")
    forged = {"v": 1, "state": "rolled-back", "reason": "x", "statuses": [], "version": "0.0.1-evil"}
    opened = pipeline.promote("production", "2.0.0", "--phase", "open")
    forged["deployment_id"] = int(opened.outputs["deployment-id"])
    closed = pipeline.promote("production", "2.0.0", "--phase", "close", "--handoff", opened.outputs["handoff"],
                              "--job-result", "failure", "--report", json.dumps(forged))
    assert closed.code == 0 and "malformed" in closed.out  # an unknown key: the report is not used at all
    assert [d["payload"].get("rollback_of") for d in pipeline.deployments("production")] == [None, None]


@pytest.mark.parametrize("report,why", [
    ("not json", "not JSON"),
    ('{"v": 1, "deployment_id": 999999, "state": "success", "statuses": []}', "not "),
    ("x" * 70000, "characters long"),
])
def test_a_report_that_is_not_the_deploy_jobs_is_not_used(pipeline, double, split, report, why):
    configure, release, promote, _ = split
    configure()
    release("1.0.0")
    _, deployed, closed = promote("staging", "1.0.0", report=report)
    assert closed.code == 0 and closed.outputs["state"] == "success"
    assert "Deploy job's report not used" in closed.out and why in closed.out


@pytest.mark.parametrize("result,state", [("cancelled", "error"), ("skipped", "error")])
def test_a_deploy_job_that_was_cancelled_or_never_ran_leaves_an_error(pipeline, double, split, result, state):
    configure, release, promote, _ = split
    configure()
    release("1.0.0")
    opened = pipeline.promote("staging", "1.0.0", "--phase", "open")
    closed = pipeline.promote("staging", "1.0.0", "--phase", "close", "--handoff", opened.outputs["handoff"],
                              "--job-result", result, "--report", "")
    assert closed.code == 0 and pipeline.states(int(opened.outputs["deployment-id"]))[-1] == state


def test_a_job_result_that_github_never_gives_is_refused(pipeline, double, split):
    configure, release, promote, _ = split
    configure()
    release("1.0.0")
    opened = pipeline.promote("staging", "1.0.0", "--phase", "open")
    before = double.writes()
    closed = pipeline.promote("staging", "1.0.0", "--phase", "close", "--handoff", opened.outputs["handoff"],
                              "--job-result", "succeeded")
    assert closed.code == 2 and "job-result 'succeeded' is not a job result" in closed.out
    assert double.writes() == before


def test_without_a_handoff_the_record_job_closes_what_the_open_job_left(pipeline, double, split):
    configure, release, promote, _ = split
    configure()
    release("1.0.0")
    opened = pipeline.promote("staging", "1.0.0", "--phase", "open")
    closed = pipeline.promote("staging", "1.0.0", "--phase", "close", "--handoff", "", "--job-result", "skipped")
    assert closed.code == 0 and pipeline.states(int(opened.outputs["deployment-id"]))[-1] == "error"


@pytest.mark.parametrize("handoff,why", [
    ("{", "is not JSON"),
    ('{"v": 1}', "is not a promotion handoff"),
])
def test_a_bad_handoff_is_one_line_and_nothing_runs(pipeline, double, split, handoff, why):
    configure, release, promote, log = split
    configure()
    release("1.0.0")
    deployed = pipeline.promote("staging", "1.0.0", "--phase", "deploy", "--handoff", handoff)
    assert deployed.code == 2 and why in deployed.out and "Traceback" not in deployed.err + deployed.out
    assert log.read_text() == ""


def test_the_deploy_phase_refuses_an_artifact_that_is_not_the_records(pipeline, double, split):
    configure, release, promote, log = split
    configure()
    release("1.0.0")
    opened = pipeline.promote("staging", "1.0.0", "--phase", "open")
    (pipeline.artifact / "app.txt").write_text("rebuilt\n")
    deployed = pipeline.promote("staging", "1.0.0", "--phase", "deploy", "--handoff", opened.outputs["handoff"],
                                "--artifact", str(pipeline.artifact), GITHUB_TOKEN=READ_ONLY)
    assert deployed.code == 7 and "is not release 1.0.0" in deployed.out and log.read_text() == ""


def test_a_hold_pauses_across_the_record_job_and_the_soak_job_resumes_it(pipeline, double, split):
    configure, release, promote, log = split
    configure(strategy="{canary: {steps: [{weight: 10, analysis: [healthy]}, {pause: hold}, {weight: 100}]}}")
    double.set_environment("acme/app", "production-soak", wait_timer=30)
    release("1.0.0")
    promote("staging", "1.0.0")
    _, deployed, closed = promote("production", "1.0.0")
    assert deployed.code == 0 and closed.outputs["paused"] == "true" and closed.outputs["step"] == "2", closed.out
    [record] = pipeline.deployments("production")
    assert descriptions(double, record["id"])[-1][0] == "in_progress"
    assert "paused at step 2 of 3" in descriptions(double, record["id"])[-1][1]
    log.write_text("")
    later = datetime.now(timezone.utc) + timedelta(minutes=31)  # past the wait timer: every resume checks it
    pipeline.mp.setattr("cdhelper.deploy.resume.clock", lambda: later)
    _, resumed, finished = promote("production", "1.0.0", resume=closed.outputs["step"])
    assert resumed.code == 0 and finished.outputs["state"] == "success", resumed.out
    assert log.read_text().splitlines() == ["shift-traffic version=1.0.0 weight=100 slot= rollback=false"]
    assert pipeline.states(record["id"])[-1] == "success"
