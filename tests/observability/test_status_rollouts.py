"""`cdhelper status` shows each rollout in flight or paused, what serves the rest of the traffic, and
the versions that failed; `history` says what each record did and its id. In-process against the
GitHub double, in the single-job and the split layout."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.deploy import test_split_layout
from tests.progressive import test_rollouts

# The fixtures of those modules, shared: the promotions they run are the ones under test here.
rollouts, split = test_rollouts.rollouts, test_split_layout.split

# A canary that holds at 50% after analysis: step 1 is 50%, step 2 the hold, step 3 100%.
HOLD_AT_50 = "{canary: {steps: [{weight: 50, analysis: [healthy]}, {pause: hold}, {weight: 100}]}}"
SOAK_MINUTES = 30


def _production(pipeline, *extra: str) -> dict:
    shown = pipeline.run("status", "--json", *extra)
    assert shown.code == 0, shown.out
    return {e["environment"]: e for e in shown.data["environments"]}["production"]


def _last_status_time(pipeline, deployment_id: int) -> datetime:
    raw = pipeline.double.repo("acme/app").statuses[deployment_id][-1]["created_at"]
    return raw if isinstance(raw, datetime) else datetime.fromtimestamp(raw, timezone.utc)


def _after_the_soak(pipeline, minutes: int = SOAK_MINUTES + 1) -> None:
    """Every resume checks the soak's time: the resume module's clock moves past it (no sleeping);
    `minutes=0` puts it back."""
    pipeline.mp.setattr("cdhelper.deploy.resume.clock", lambda: datetime.now(timezone.utc) + timedelta(minutes=minutes))


def _check_paused(pipeline, record_id: int, version: str, behind: str | None, layout: str) -> None:
    prod = _production(pipeline)
    [rollout] = prod["rollouts"]
    assert (rollout["deployment_id"], rollout["version"], rollout["strategy"], rollout["layout"]) == (
        record_id, version, "canary", layout)
    assert (rollout["state"], rollout["step"], rollout["steps"], rollout["weight"]) == ("paused", 2, 3, 50)
    since = datetime.fromisoformat(rollout["since"])
    assert abs(since - _last_status_time(pipeline, record_id)) < timedelta(seconds=1)  # when it paused
    assert "soak job" in rollout["resumes"] and "step 3" in rollout["resumes"]
    # the time the paused status records: the writer's clock when it paused, plus the wait timer
    assert abs(datetime.fromisoformat(rollout["resume_after"]) - (since + timedelta(minutes=SOAK_MINUTES))) < timedelta(seconds=2)
    assert (rollout["live_behind"] or {}).get("version") == behind
    assert (prod["live"] or {}).get("version") == behind
    assert rollout["last_analysis"] == "healthy passed: 0"  # the values of the step before the hold

    text = pipeline.run("status", actions=False)
    assert text.code == 0
    line = next(li for li in text.out.splitlines() if li.strip().startswith("paused:"))
    assert f"{version} canary paused at step 2 of 3 (50%) since {since:%Y-%m-%d %H:%M} UTC" in line
    assert "soak job" in line and f"not before {since + timedelta(minutes=SOAK_MINUTES):%Y-%m-%d %H:%M} UTC" in line
    assert (f"the rest of the traffic: {behind}" if behind else "no other version serves (first release)") in line
    assert f"(deployment {record_id})" in line and "last analysis: healthy passed: 0" in line
    summary = pipeline.run("status").summary.replace("\\", "")  # read past the Markdown escapes
    assert "### In flight or paused" in summary
    row = next(li for li in summary.splitlines() if f"| {record_id} |" in li)
    assert f"| {version} |" in row and "| paused |" in row and "| 2 of 3 |" in row and "| 50% |" in row
    assert f"| {behind or 'none (first release)'} |" in row and "soak job" in row
    assert "| 50% - healthy passed: 0 |" in row  # the last step's text, before the hold, with its values


def test_a_canary_paused_at_its_hold_shows_its_step_weight_since_resume_and_the_live_version(pipeline, rollouts):
    configure, release, _ = rollouts
    configure(strategy=HOLD_AT_50)
    pipeline.double.set_environment("acme/app", "production-soak", wait_timer=SOAK_MINUTES)
    release("2.0.0")
    assert pipeline.promote("production", "2.0.0").code == 0
    _after_the_soak(pipeline)
    assert pipeline.promote("production", "2.0.0", "--resume-step", "2").code == 0
    _after_the_soak(pipeline, minutes=0)
    release("2.1.0")
    assert pipeline.promote("production", "2.1.0").outputs["paused"] == "true"
    paused = pipeline.deployments("production")[-1]
    _check_paused(pipeline, paused["id"], "2.1.0", "2.0.0", "single-job")


def test_a_first_release_paused_shows_the_rollout_and_that_nothing_else_serves(pipeline, rollouts):
    configure, release, _ = rollouts
    configure(strategy=HOLD_AT_50)
    pipeline.double.set_environment("acme/app", "production-soak", wait_timer=SOAK_MINUTES)
    release("1.0.0")
    assert pipeline.promote("production", "1.0.0").outputs["paused"] == "true"
    [record] = pipeline.deployments("production")
    _check_paused(pipeline, record["id"], "1.0.0", None, "single-job")
    text = pipeline.run("status", actions=False).out
    row = next(li for li in text.splitlines() if li.startswith("production"))
    assert "none live" in row


def test_a_split_layout_canary_paused_at_its_hold_shows_the_same(pipeline, double, split):
    configure, release, promote, _ = split
    configure(strategy=HOLD_AT_50)
    double.set_environment("acme/app", "production-soak", wait_timer=SOAK_MINUTES)
    release("2.0.0")
    promote("staging", "2.0.0")
    _, _, closed = promote("production", "2.0.0")
    assert closed.outputs["state"] == "paused", closed.out
    _after_the_soak(pipeline)
    assert promote("production", "2.0.0", resume="2")[2].outputs["state"] == "success"
    _after_the_soak(pipeline, minutes=0)
    release("2.1.0")
    promote("staging", "2.1.0")
    assert promote("production", "2.1.0")[2].outputs["state"] == "paused"
    paused = pipeline.deployments("production")[-1]
    assert "as the deploy job reported" in double.repo("acme/app").statuses[paused["id"]][-1]["description"]
    _check_paused(pipeline, paused["id"], "2.1.0", "2.0.0", "split")


def test_a_split_layout_record_whose_deploy_job_still_runs_says_no_step_reported_yet(pipeline, double, split):
    configure, release, promote, _ = split
    configure(strategy=HOLD_AT_50)
    double.set_environment("acme/app", "production-soak", wait_timer=SOAK_MINUTES)
    release("1.0.0")
    promote("staging", "1.0.0")
    assert pipeline.promote("production", "1.0.0", "--phase", "open").code == 0  # the deploy job runs now
    [rollout] = _production(pipeline)["rollouts"]
    assert (rollout["state"], rollout["step"], rollout["weight"], rollout["layout"]) == ("in progress", 0, None, "split")
    assert rollout["last_step"] == "in progress, no step reported yet" and rollout["resumes"] == ""
    text = pipeline.run("status", actions=False).out
    assert "1.0.0 canary in progress, no step reported yet" in text


def test_a_status_with_a_paused_rollout_costs_one_request_more_than_without(pipeline, double, rollouts):
    configure, release, _ = rollouts
    configure(strategy=HOLD_AT_50)
    double.set_environment("acme/app", "production-soak", wait_timer=SOAK_MINUTES)
    double.seed_deployments("acme/app", 5000, ["staging", "production"])
    release("2.0.0")
    double.reset_log()
    _production(pipeline)
    without = double.total_requests()
    assert pipeline.promote("production", "2.0.0").outputs["paused"] == "true"
    double.reset_log()
    assert _production(pipeline)["rollouts"][0]["state"] == "paused"
    assert double.total_requests() <= without + 1, double.counts()


@pytest.mark.parametrize("first", [False, True], ids=["rolled back to the live version", "a first canary"])
def test_a_version_whose_canary_failed_shows_as_failed(pipeline, rollouts, first):
    configure, release, _ = rollouts
    configure(bad="2.0.0")
    if not first:
        release("1.0.0")
        assert pipeline.promote("production", "1.0.0").code == 0
    release("2.0.0")
    assert pipeline.promote("production", "2.0.0").code == 11
    bad = next(d for d in pipeline.deployments("production") if d["payload"]["version"] == "2.0.0")
    prod = _production(pipeline)
    [failed] = prod["failed"]
    assert (failed["version"], failed["deployment_id"], failed["how"]) == ("2.0.0", bad["id"], "failed")
    assert "healthy failed" in failed["reason"] and prod["rollouts"] == []
    if not first:
        assert "rolled it back to 1.0.0" in failed["reason"]
    text = pipeline.run("status", actions=False).out
    assert any(li.strip().startswith("failed: 2.0.0 failed in production") for li in text.splitlines())
    summary = pipeline.run("status").summary.replace("\\", "")
    assert "### Failed versions" in summary and f"| {bad['id']} |" in summary


def test_a_version_that_worked_again_after_failing_is_not_shown_as_failed(pipeline, rollouts):
    configure, release, _ = rollouts
    configure(bad="2.0.0")
    release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    assert _production(pipeline)["failed"] == []


def test_history_shows_each_records_task_and_id(pipeline, rollouts):
    configure, release, _ = rollouts
    configure(bad="2.0.0")
    release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    release("2.0.0")
    assert pipeline.promote("production", "2.0.0").code == 11
    first, bad, rollback = pipeline.deployments("production")
    rows = pipeline.run("history", "--json").data["deployments"]
    assert [(r["deployment_id"], r["task"]) for r in rows] == [
        (rollback["id"], "rollback"), (bad["id"], "deploy"), (first["id"], "deploy")]
    text = [li for li in pipeline.run("history", actions=False).out.splitlines() if not li.startswith("::")]
    header = text[0].split()
    assert header[:4] == ["CREATED", "(UTC)", "RECORD", "TASK"]
    assert text[1].split()[2:5] == [str(rollback["id"]), "rollback", "1.0.0"]
    assert text[2].split()[2:5] == [str(bad["id"]), "deploy", "2.0.0"]
    summary = pipeline.run("history").summary.replace("\\", "")
    assert "| Task |" in summary and "| rollback | 1.0.0 |" in summary
