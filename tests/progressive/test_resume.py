"""Resuming a paused rollout (`cdhelper rollout resume`, the soak job's `promote --resume-step`): the
hold records when it may resume, every resume checks that time before writing anything, `--full`
skips the remaining steps, `--due` takes the oldest due hold. Against the double, with hooks that log
what they are told (the real platform: test_platform.py). Time is the resume module's clock, moved
forward by the test: no test sleeps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cdhelper.progressive import strategies

from .test_rollouts import CONFIG, HOOK

SOAK = "{canary: {steps: [{weight: 25, analysis: [healthy]}, {pause: hold, soak: 2h}, {weight: 50, analysis: [healthy]}, " \
       "{weight: 75}, {weight: 100}]}}"


@pytest.fixture
def held(pipeline, tmp_path):
    """Releases 1.0.0 and pauses its canary in production at the hold (step 2 of 5), in run 100."""
    log = tmp_path / "hooks.log"
    log.write_text("")
    (pipeline.tmp / ".github").mkdir(exist_ok=True)
    (pipeline.tmp / ".github" / "cd.yml").write_text(CONFIG.format(strategy=SOAK, hook=HOOK.format(log=log), bad="6.6.6"))
    start = datetime.now(timezone.utc)
    pipeline.mp.setattr("cdhelper.deploy.resume.clock", lambda: start)
    assert pipeline.release("1.0.0").code == 0
    pipeline.new_run(100)
    assert pipeline.promote("staging", "1.0.0").code == 0
    paused = pipeline.promote("production", "1.0.0")  # no soak environment, no wait timer: `soak:` suffices
    assert paused.code == 0 and paused.outputs["paused"] == "true", paused.out
    [record] = pipeline.deployments("production")
    log.write_text("")

    def at(delta: timedelta) -> None:
        pipeline.mp.setattr("cdhelper.deploy.resume.clock", lambda: start + delta)

    def calls() -> list[str]:
        return log.read_text().splitlines()
    return record, at, calls, start


def _statuses(pipeline, deployment_id: int) -> list[dict]:
    return pipeline.double.repo("acme/app").statuses.get(deployment_id, [])


def test_a_hold_records_when_it_may_resume(pipeline, held):
    record, _, _, start = held
    last = _statuses(pipeline, record["id"])[-1]
    assert last["state"] == "in_progress"
    assert last["description"].endswith(f"; may resume after {strategies.iso(start + timedelta(hours=2))}")


def test_a_resume_before_its_time_is_refused_in_one_line_and_writes_nothing(pipeline, held):
    record, at, calls, _ = held
    at(timedelta(hours=1, minutes=30))
    before = len(_statuses(pipeline, record["id"]))
    pipeline.new_run(200)
    refused = pipeline.run("rollout", "resume", "--environment", "production", "--mode", "deployment")
    assert refused.code == 2
    [error] = [line for line in refused.out.splitlines() if line.startswith("::error")]
    assert "may resume after" in error and "0 h 30 min from now" in error and "rollout resume" in error
    assert len(_statuses(pipeline, record["id"])) == before and calls() == []
    # the pipeline's soak job, started at once (no wait timer): a `soak:` hold is left to a later resume
    pipeline.new_run(100)
    soak_job = pipeline.promote("production", "1.0.0", "--resume-step", "2")
    assert soak_job.code == 0 and soak_job.outputs["state"] == "scheduled", soak_job.out
    assert len(_statuses(pipeline, record["id"])) == before and calls() == []
    opened = pipeline.promote("production", "1.0.0", "--resume-step", "2", "--phase", "open")
    assert opened.code == 0 and opened.outputs.get("handoff", "") == ""  # the resume jobs do not run
    assert len(_statuses(pipeline, record["id"])) == before and calls() == []


def test_a_resume_after_its_time_continues_the_same_record_from_another_run(pipeline, held):
    record, at, calls, _ = held
    at(timedelta(hours=2, seconds=1))
    pipeline.new_run(200)  # not the run that paused it
    done = pipeline.run("rollout", "resume", "--environment", "production", "--mode", "deployment")
    assert done.code == 0, done.out
    assert done.outputs["deployment-id"] == str(record["id"]) and done.outputs["state"] == "success"
    assert [d["id"] for d in pipeline.deployments("production")] == [record["id"]]
    assert pipeline.states(record["id"])[-1] == "success"
    assert [c.split(" rollback")[0] for c in calls()] == [
        "shift-traffic version=1.0.0 weight=50 slot=", "shift-traffic version=1.0.0 weight=75 slot=",
        "shift-traffic version=1.0.0 weight=100 slot="]
    again = pipeline.run("rollout", "resume", "--environment", "production", "--mode", "deployment")
    assert again.code == 2 and "no rollout is in flight or paused in production" in again.out  # live now


def test_full_skips_the_remaining_steps_to_100_percent_and_the_statuses_say_so(pipeline, held):
    record, at, calls, _ = held
    at(timedelta(hours=3))
    pipeline.new_run(200)
    done = pipeline.run("rollout", "resume", "--environment", "production", "--full", "--mode", "deployment",
                        GITHUB_ACTOR="carol")
    assert done.code == 0, done.out
    assert [c.split(" rollback")[0] for c in calls()] == ["shift-traffic version=1.0.0 weight=100 slot="]
    texts = [s["description"] for s in _statuses(pipeline, record["id"])]
    assert "promoted fully by carol (run 200): steps 3-4 skipped" in texts
    assert "canary 5/5: 100%, promoted fully (steps 3-4 skipped)" in texts
    assert pipeline.states(record["id"])[-1] == "success"


def test_full_skips_the_soak_too_a_persons_decision(pipeline, held):
    record, _, calls, _ = held  # the soak has hours to go: a plain resume is refused, --full is not
    pipeline.new_run(201)
    early = pipeline.run("rollout", "resume", "--environment", "production", "--mode", "deployment")
    assert early.code == 2 and "may resume after" in early.out
    done = pipeline.run("rollout", "resume", "--environment", "production", "--full", "--mode", "deployment",
                        GITHUB_ACTOR="carol")
    assert done.code == 0, done.out
    assert "is skipped (--full)" in done.err
    assert [c.split(" rollback")[0] for c in calls()] == ["shift-traffic version=1.0.0 weight=100 slot="]
    assert pipeline.states(record["id"])[-1] == "success"


def test_full_still_runs_the_analyses_after_the_rollout(pipeline, held):
    record, at, calls, _ = held
    config = pipeline.tmp / ".github" / "cd.yml"
    config.write_text(config.read_text().replace("    hooks:", "    analysis: [gone]\n    hooks:", 1)
                      + "  gone:\n    command:\n      run: exit 1\n")
    at(timedelta(hours=3))
    pipeline.new_run(200)
    failed = pipeline.run("rollout", "resume", "--environment", "production", "--full", "--mode", "deployment")
    assert failed.code != 0 and "analysis gone failed after the rollout" in failed.out
    assert calls()[-1].endswith("weight=0 slot= rollback=true")  # undone
    assert pipeline.states(record["id"])[-1] == "failure"


def test_due_resumes_the_oldest_due_hold_and_nothing_due_exits_0(pipeline, held):
    record, at, calls, _ = held
    pipeline.new_run(200)
    nothing = pipeline.run("rollout", "resume", "--due", "--mode", "deployment")
    assert nothing.code == 0 and nothing.outputs["state"] == "nothing-due", nothing.out
    assert calls() == []
    at(timedelta(hours=2, minutes=1))
    done = pipeline.run("rollout", "resume", "--due", "--mode", "deployment")
    assert done.code == 0, done.out
    assert done.outputs["environment"] == "production" and done.outputs["deployment-id"] == str(record["id"])
    assert pipeline.states(record["id"])[-1] == "success"
    after = pipeline.run("rollout", "resume", "--due", "--mode", "deployment")
    assert after.code == 0 and after.outputs["state"] == "nothing-due"


def test_due_picks_the_hold_that_came_due_first():
    from cdhelper.deploy import resume
    from cdhelper.deploy.records import Record, Status

    def paused(ident: int, env: str, due: str) -> Record:
        return Record(ident, "", env, datetime(2026, 1, 1, tzinfo=timezone.utc), "in_progress", None,
                      {"cdhelper": 1, "version": f"1.0.{ident}", "digest": "sha256:" + "0" * 64, "environment": env},
                      statuses=(Status("in_progress", datetime(2026, 1, 1, tzinfo=timezone.utc),
                                       f"canary 2/3: paused; a later job resumes it; may resume after {due}"),))

    class Ledger:
        records = {"staging": [paused(7, "staging", "2026-01-01T03:00:00Z")],
                   "production": [paused(9, "production", "2026-01-01T02:00:00Z"),
                                  paused(8, "production", "2026-01-01T09:00:00Z")]}

        def of(self, name):
            return self.records[name]
    found = resume.due(Ledger(), ["staging", "production"])
    assert [(name, pause.record.id) for _, name, pause in found] == [("production", 9), ("staging", 7), ("production", 8)]


def test_the_paused_status_keeps_its_time_through_githubs_140_character_cut():
    when = datetime(2026, 12, 8, 10, 0, tzinfo=timezone.utc)
    text = strategies.with_resume_time("paused at step 2 of 4, " + "x" * 200, when)
    assert len(text) == 140 and text.endswith("; may resume after 2026-12-08T10:00:00Z")
    assert strategies.resume_time(text) == when
    labelled = strategies.with_resume_time("y" * 300, None, after=" (reported by the deploy job)")
    assert len(labelled) == 140 and labelled.endswith("(reported by the deploy job)")


def test_the_record_jobs_paused_status_records_its_own_time_within_140_characters(monkeypatch):
    from cdhelper.deploy import phases
    now = datetime(2026, 12, 8, 8, 0, tzinfo=timezone.utc)
    monkeypatch.setattr("cdhelper.deploy.resume.clock", lambda: now)
    text = phases.paused_description(2, {"steps": 99, "soak_seconds": 7200})
    assert len(text) <= 140 and strategies.resume_time(text) == now + timedelta(hours=2)


def test_several_rollouts_in_flight_need_a_deployment_id():
    from cdhelper.core.errors import InputError
    from cdhelper.deploy import resume
    from cdhelper.deploy.records import Record
    flying = [Record(i, "", "production", datetime(2026, 1, 1, tzinfo=timezone.utc), "in_progress", None,
                     {"cdhelper": 1, "version": f"1.0.{i}", "digest": "sha256:" + "0" * 64}) for i in (5, 4)]
    with pytest.raises(InputError) as refused:
        resume.find("production", flying, None)
    assert "deployment 5 (1.0.5), deployment 4 (1.0.4)" in refused.value.one_line()
    assert "--deployment" in refused.value.one_line()


def test_a_gated_environment_resumes_only_with_this_runs_approval(pipeline, held):
    record, at, calls, _ = held
    double = pipeline.double
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    double.create_run("acme/app", run_id=300, actor="bob", waiting_on=["production-approval"])
    at(timedelta(hours=3))
    pipeline.new_run(300)
    refused = pipeline.run("rollout", "resume", "--environment", "production", "--mode", "delivery", GITHUB_ACTOR="bob")
    assert refused.code == 6, refused.out
    assert pipeline.states(record["id"])[-1] == "in_progress" and calls() == []
    double.review("acme/app", 300, "production-approval", "alice")
    done = pipeline.run("rollout", "resume", "--environment", "production", "--mode", "delivery", GITHUB_ACTOR="bob")
    assert done.code == 0, done.out
    assert done.outputs["approved-by"] == "alice" and pipeline.states(record["id"])[-1] == "success"


def test_status_says_when_a_soak_hold_may_resume_and_what_resumes_it_without_reading_a_wait_timer(pipeline, held):
    record, _, _, start = held
    seen = len(pipeline.double.log)
    shown = pipeline.run("status", "--json")
    assert shown.code == 0, shown.out
    [rollout] = {e["environment"]: e for e in shown.data["environments"]}["production"]["rollouts"]
    assert rollout["deployment_id"] == record["id"] and rollout["state"] == "paused"
    assert rollout["resume_after"] == (start + timedelta(hours=2)).replace(microsecond=0).isoformat()
    assert "cd-resume.yml" in rollout["resumes"] and "rollout resume" in rollout["resumes"]
    assert not any("/environments/" in entry.path for entry in pipeline.double.log[seen:])  # no wait timer read


def test_the_split_phases_of_a_full_resume_open_deploy_and_record_on_the_same_record(pipeline, held):
    record, at, calls, _ = held
    at(timedelta(hours=2, minutes=5))
    pipeline.new_run(200)
    base = ("rollout", "resume", "--environment", "production")
    opened = pipeline.run(*base, "--phase", "open", "--full", "--mode", "deployment")
    assert opened.code == 0 and opened.outputs["handoff"], opened.out
    assert calls() == []  # the open phase runs nothing of the repository
    deployed = pipeline.run(*base, "--phase", "deploy", "--handoff", opened.outputs["handoff"])
    assert deployed.code == 0, deployed.out
    assert [c.split(" rollback")[0] for c in calls()] == ["shift-traffic version=1.0.0 weight=100 slot="]
    closed = pipeline.run(*base, "--phase", "close", "--handoff", opened.outputs["handoff"], "--job-result", "success",
                          "--report", deployed.outputs["report"])
    assert closed.code == 0 and closed.outputs["state"] == "success", closed.out
    texts = [s["description"] for s in _statuses(pipeline, record["id"])]
    assert "canary 5/5: 100%, promoted fully (steps 3-4 skipped) (reported by the deploy job)" in texts
    assert [d["id"] for d in pipeline.deployments("production")] == [record["id"]]
    assert pipeline.states(record["id"])[-1] == "success"


@pytest.mark.parametrize("extra", [["--full"], ["--deployment", "7"], ["--environment", "production"]])
def test_due_with_one_rollout_named_is_refused_in_one_line(pipeline, held, extra):
    done = pipeline.run("rollout", "resume", "--due", *extra, "--mode", "deployment")
    assert done.code == 2 and "--due was given with" in done.err and "Traceback" not in done.err
    assert len(done.err.strip().splitlines()) == 1, done.err


@pytest.mark.parametrize("operation", ["abort", "resume", "retry"])
def test_an_environment_outside_the_path_is_refused_before_anything_is_printed(pipeline, held, operation):
    done = pipeline.run("rollout", operation, "--environment", "prod", *(["--mode", "deployment"] if operation != "abort" else []))
    assert done.code == 2 and "'prod' is not in the promotion path" in done.err, done.err
    assert "==" not in done.err and "::group::" not in done.out  # no header of an operation that never started
