"""`cdhelper rollout abort` through the real CLI against the double: hooks are scripts that log what
they are asked to do (the real nginx and Prometheus run in test_abort_platform.py). What is checked
is what the hooks were told, what the records say, and what it cost."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

HOOK = 'echo "$CD_HOOK version=$CD_VERSION weight=${{CD_WEIGHT:-}} slot=${{CD_SLOT:-}} batch=${{CD_BATCH:-}} rollback=$CD_ROLLBACK" >> "{log}"'
CONFIG = """
environments:
  - name: staging
  - name: production
    strategy: {strategy}
    hooks:
      deploy: '{hook}'
      shift-traffic: '{hook}'
      switch: '{hook}'
      teardown: '{hook}'
"""
HOLD = "{canary: {steps: [{weight: 25}, {pause: hold}, {weight: 100}]}}"


@pytest.fixture
def env(pipeline, tmp_path):
    log = tmp_path / "hooks.log"
    log.write_text("")
    pipeline.double.set_environment("acme/app", "production-soak", wait_timer=30)

    class Env:
        def configure(self, strategy: str = HOLD) -> None:
            (pipeline.tmp / ".github").mkdir(exist_ok=True)
            (pipeline.tmp / ".github" / "cd.yml").write_text(CONFIG.format(strategy=strategy, hook=HOOK.format(log=log)))

        def release(self, version: str) -> None:
            (pipeline.artifact / "app.txt").write_text(f"build {version}\n")
            assert pipeline.release(version).code == 0
            pipeline.new_run(pipeline.run_id + 1)
            assert pipeline.promote("staging", version).code == 0

        def calls(self) -> list[str]:
            lines = log.read_text().splitlines()
            log.write_text("")
            return [" ".join(part for part in line.split() if not part.endswith("=")) for line in lines]

        def abort(self, *extra: str, **variables: str):
            pipeline.new_run(pipeline.run_id + 1)
            return pipeline.run("rollout", "abort", "--environment", "production", *extra, **variables)

        def paused(self, version: str):
            self.release(version)
            held = pipeline.promote("production", version)
            assert held.code == 0 and held.outputs["paused"] == "true", held.out
            self.calls()
            return int(held.outputs["deployment-id"])
    return Env()


def _last(pipeline, deployment_id: int) -> dict:
    return pipeline.double.repo("acme/app").statuses[deployment_id][-1]


def test_a_paused_canary_aborted_goes_back_to_zero_and_the_records_say_the_live_version_is_back(pipeline, env):
    env.configure()
    env.configure("all-at-once")
    env.release("2.0.0")
    assert pipeline.promote("production", "2.0.0").code == 0
    env.configure()
    paused = env.paused("2.1.0")
    pipeline.double.reset_log()
    done = env.abort("--reason", "latency looks off", GITHUB_ACTOR="octo")
    assert done.code == 0, done.out
    assert env.calls() == ["shift-traffic version=2.1.0 weight=0 rollback=true", "teardown version=2.1.0 rollback=true"]
    failed = _last(pipeline, paused)
    assert failed["state"] == "failure"
    assert failed["description"] == (f"aborted by octo (run {pipeline.run_id}): latency looks off; "
                                     "production is back on 2.0.0")
    rollback = pipeline.deployments("production")[-1]
    assert rollback["payload"]["rollback_of"] == paused and rollback["payload"]["aborted_by"] == "octo"
    assert rollback["payload"]["version"] == "2.0.0" and pipeline.states(rollback["id"]) == ["success"]
    assert done.outputs["rollback-deployment-id"] == str(rollback["id"]) and done.outputs["state"] == "aborted"
    # the cost: the ledger, the aborted record's status, the rollback record and its status
    assert pipeline.double.total_requests() == int(done.outputs["requests"]) == 4
    status = pipeline.run("status", "--json")
    assert status.code == 0, status.out
    [production] = [e for e in status.data["environments"] if e["environment"] == "production"]
    assert production["live"]["version"] == "2.0.0" and production["rollouts"] == []  # records and traffic agree


def test_aborting_again_writes_nothing_and_says_it_was_already_aborted(pipeline, env):
    env.configure()
    env.release("1.0.0")
    env.configure("all-at-once")
    assert pipeline.promote("production", "1.0.0").code == 0
    env.configure()
    paused = env.paused("1.1.0")
    assert env.abort().code == 0
    rollback = pipeline.deployments("production")[-1]["id"]
    env.calls()
    before = pipeline.double.snapshot()
    again = env.abort()
    assert again.code == 0, again.out
    assert f"deployment {paused} (1.1.0) in production was already aborted by deployment {rollback}" in again.out
    assert again.outputs["state"] == "already aborted"
    assert env.calls() == [] and pipeline.double.snapshot() == before
    named = env.abort("--deployment", str(paused))
    assert named.code == 0 and "already aborted" in named.out and pipeline.double.snapshot() == before


def test_abort_with_nothing_in_flight_is_refused_in_one_line_naming_the_environment(pipeline, env):
    env.configure("all-at-once")
    env.release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    env.calls()
    before = pipeline.double.snapshot()
    refused = env.abort()
    assert refused.code == 2
    [line] = [x for x in refused.out.splitlines() if x.startswith("::error")]
    assert "no rollout is in flight or paused in production" in line and "runs 1.0.0" in line
    assert "cdhelper status" in line and "Traceback" not in refused.err
    assert env.calls() == [] and pipeline.double.snapshot() == before
    wrong = env.abort("--deployment", "nine")
    assert wrong.code == 2 and "deployment 'nine' is not a deployment id" in wrong.out


def test_a_paused_first_canary_aborted_takes_no_traffic_and_gets_no_rollback_record(pipeline, env):
    env.configure()
    paused = env.paused("1.0.0")
    done = env.abort(GITHUB_ACTOR="octo")
    assert done.code == 0, done.out
    assert env.calls() == ["shift-traffic version=1.0.0 weight=0 rollback=true", "teardown version=1.0.0 rollback=true"]
    assert _last(pipeline, paused)["description"].endswith("nothing ran there before: 1.0.0 takes no traffic")
    assert [d["id"] for d in pipeline.deployments("production")] == [paused]
    assert done.outputs["rollback-deployment-id"] == ""


def _interrupted(pipeline, env, strategy: str, version: str) -> int:
    """A rollout whose job died after its record was opened: the open phase alone."""
    env.configure(strategy)
    env.release(version)
    opened = pipeline.promote("production", version, "--phase", "open")
    assert opened.code == 0, opened.out
    return int(opened.outputs["deployment-id"])


def test_an_interrupted_blue_green_is_switched_back_to_the_live_slot(pipeline, env):
    env.configure("blue-green")
    env.release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    env.calls()
    stuck = _interrupted(pipeline, env, "blue-green", "1.1.0")
    done = env.abort()
    assert done.code == 0, done.out
    assert env.calls() == ["switch version=1.1.0 slot=blue rollback=true"]
    assert _last(pipeline, stuck)["description"].endswith("production is back on 1.0.0")
    assert pipeline.deployments("production")[-1]["payload"]["strategy"] == {"type": "blue-green", "slot": "blue"}


def test_a_first_blue_green_has_nothing_to_undo_and_the_record_says_so(pipeline, env):
    stuck = _interrupted(pipeline, env, "blue-green", "1.0.0")
    done = env.abort()
    assert done.code == 0, done.out
    assert env.calls() == []
    assert _last(pipeline, stuck)["state"] == "failure"
    assert _last(pipeline, stuck)["description"].endswith("nothing ran there before: nothing to undo")


def test_an_interrupted_rolling_rollout_redeploys_the_live_version_on_every_batch(pipeline, env):
    env.configure("{rolling: {batches: 2}}")
    env.release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    env.calls()
    stuck = _interrupted(pipeline, env, "{rolling: {batches: 2}}", "1.1.0")
    assert env.abort().code == 0
    assert env.calls() == ["deploy version=1.0.0 batch=2 rollback=true", "deploy version=1.0.0 batch=1 rollback=true"]
    assert _last(pipeline, stuck)["description"].endswith("production is back on 1.0.0")


def test_several_rollouts_in_flight_are_refused_without_an_id_and_listed(pipeline, env):
    env.configure("all-at-once")
    first = _interrupted(pipeline, env, "all-at-once", "1.0.0")
    second = _interrupted(pipeline, env, "all-at-once", "1.1.0")
    refused = env.abort()
    assert refused.code == 2
    assert f"deployment {second} (1.1.0), deployment {first} (1.0.0)" in refused.out and "--deployment ID" in refused.out
    assert env.abort("--deployment", str(first)).code == 0
    assert _last(pipeline, first)["state"] == "failure" and pipeline.states(second)[-1] == "in_progress"


def test_a_failed_undo_records_nothing_so_the_abort_can_run_again(pipeline, env, tmp_path):
    env.configure()
    env.release("1.0.0")
    held = pipeline.promote("production", "1.0.0")
    assert held.outputs["paused"] == "true"
    ident = int(held.outputs["deployment-id"])
    (pipeline.tmp / ".github" / "cd.yml").write_text((pipeline.tmp / ".github" / "cd.yml").read_text().replace(
        "shift-traffic: '", "shift-traffic: 'exit 5; "))
    before = pipeline.double.snapshot()
    failed = env.abort()
    assert failed.code == 10
    assert "aborting 1.0.0 in production failed" in failed.out and "shift-traffic hook exited with status 5" in failed.out
    assert pipeline.double.snapshot() == before and pipeline.states(ident)[-1] == "in_progress"


def test_the_split_abort_runs_its_undo_without_a_request_to_github_and_its_record_job_records_it(pipeline, env):
    env.configure("all-at-once")
    env.release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    env.configure()
    paused = env.paused("1.1.0")
    pipeline.new_run(pipeline.run_id + 1)
    opened = pipeline.run("rollout", "abort", "--environment", "production", "--phase", "open", "--reason", "bad",
                          GITHUB_ACTOR="octo")
    assert opened.code == 0, opened.out
    assert pipeline.states(paused)[-1] == "in_progress"  # open writes nothing
    pipeline.double.reset_log()
    undone = pipeline.run("rollout", "abort", "--environment", "production", "--phase", "deploy",
                          "--handoff", opened.outputs["handoff"])
    assert undone.code == 0, undone.out
    assert pipeline.double.total_requests() == 0
    assert env.calls() == ["shift-traffic version=1.1.0 weight=0 rollback=true", "teardown version=1.1.0 rollback=true"]
    closed = pipeline.run("rollout", "abort", "--environment", "production", "--phase", "close",
                          "--handoff", opened.outputs["handoff"], "--job-result", "success",
                          "--report", undone.outputs["report"])
    assert closed.code == 0, closed.out
    assert _last(pipeline, paused)["description"] == (f"aborted by octo (run {pipeline.run_id}): bad; "
                                                      "production is back on 1.0.0")
    rollback = pipeline.deployments("production")[-1]
    assert rollback["payload"]["aborted_by"] == "octo" and rollback["payload"]["reported_by"].startswith("the undo job")
    again = pipeline.run("rollout", "abort", "--environment", "production", "--phase", "close",
                         "--handoff", opened.outputs["handoff"], "--job-result", "success", "--report", "")
    assert again.code == 0 and again.outputs["state"] == "already aborted"
    assert len(pipeline.deployments("production")) == 3


def test_an_undo_job_that_did_not_succeed_leaves_the_record_in_flight(pipeline, env):
    env.configure()
    paused = env.paused("1.0.0")
    pipeline.new_run(pipeline.run_id + 1)
    opened = pipeline.run("rollout", "abort", "--environment", "production", "--phase", "open")
    closed = pipeline.run("rollout", "abort", "--environment", "production", "--phase", "close",
                          "--handoff", opened.outputs["handoff"], "--job-result", "cancelled", "--report", "")
    assert closed.code == 10 and "ended cancelled" in closed.out
    assert pipeline.states(paused)[-1] == "in_progress"


def test_cancelled_while_paused_the_cleanup_undoes_the_rollout_and_the_record_job_records_it(pipeline, env):
    """The split layout: the soak job opened the resume, then the run was cancelled. The cleanup job
    runs the undo from that handoff; the record job closes the record, then records the abort."""
    env.configure("all-at-once")
    env.release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    env.configure()
    env.release("1.1.0")
    opened = pipeline.promote("production", "1.1.0", "--phase", "open")
    h = opened.outputs["handoff"]
    deployed = pipeline.run("promote", "--environment", "production", "--phase", "deploy", "--handoff", h)
    assert deployed.outputs["state"] == "paused", deployed.out
    closed = pipeline.run("promote", "--environment", "production", "--phase", "close", "--handoff", h,
                          "--job-result", "success", "--report", deployed.outputs["report"])
    assert closed.outputs["paused"] == "true"
    env.calls()
    later = datetime.now(timezone.utc) + timedelta(hours=1)  # past the soak: every resume checks its time
    pipeline.mp.setattr("cdhelper.deploy.resume.clock", lambda: later)
    soak = pipeline.promote("production", "1.1.0", "--phase", "open", "--resume-step", "2")
    assert soak.code == 0, soak.out
    ident = int(opened.outputs["deployment-id"])
    # cancelled: the resume job never ran; the cleanup job undoes
    pipeline.double.reset_log()
    cleanup = pipeline.run("rollout", "abort", "--environment", "production", "--phase", "deploy",
                           "--handoff", soak.outputs["handoff"])
    assert cleanup.code == 0, cleanup.out
    assert pipeline.double.total_requests() == 0
    assert env.calls() == ["shift-traffic version=1.1.0 weight=0 rollback=true", "teardown version=1.1.0 rollback=true"]
    record = pipeline.run("promote", "--environment", "production", "--phase", "close", "--handoff",
                          soak.outputs["handoff"], "--job-result", "cancelled", "--report", "")
    assert record.code == 0 and pipeline.states(ident)[-1] == "error"
    recorded = pipeline.run("rollout", "abort", "--environment", "production", "--phase", "close", "--handoff",
                            soak.outputs["handoff"], "--job-result", "success", "--report", cleanup.outputs["report"],
                            "--reason", "the resume job was cancelled")
    assert recorded.code == 0, recorded.out
    assert _last(pipeline, ident)["description"] == (f"aborted by the cleanup job of run {pipeline.run_id} "
                                                     f"(run {pipeline.run_id}): the resume job was cancelled; "
                                                     "production is back on 1.0.0")
    assert pipeline.deployments("production")[-1]["payload"]["rollback_of"] == ident


def test_single_job_cancelled_while_paused_the_cleanup_jobs_finish_undoes_and_records_it(pipeline, env):
    env.configure("all-at-once")
    env.release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    env.configure()
    paused = env.paused("1.1.0")
    cleanup = pipeline.run("finish", "--environment", "production", "--job-status", "cancelled")
    assert cleanup.code == 0, cleanup.out
    assert env.calls() == ["shift-traffic version=1.1.0 weight=0 rollback=true", "teardown version=1.1.0 rollback=true"]
    assert _last(pipeline, paused)["state"] == "failure"
    assert _last(pipeline, paused)["description"].startswith(f"aborted by the cleanup job of run {pipeline.run_id}")
    assert _last(pipeline, paused)["description"].endswith("production is back on 1.0.0")
    rollback = pipeline.deployments("production")[-1]
    assert rollback["payload"]["rollback_of"] == paused and pipeline.states(rollback["id"]) == ["success"]


def test_finish_only_closes_a_record_whose_rollout_never_started(pipeline, env):
    env.configure()
    env.release("1.0.0")
    repo = pipeline.double.repo("acme/app")
    opened = pipeline.promote("production", "1.0.0", "--phase", "open")
    ident = int(opened.outputs["deployment-id"])
    repo.statuses[ident] = [s for s in repo.statuses[ident] if s["state"] == "queued"]  # as if cancelled when queued
    env.calls()
    cleanup = pipeline.run("finish", "--environment", "production", "--job-status", "cancelled")
    assert cleanup.code == 0, cleanup.out
    assert env.calls() == [] and pipeline.states(ident)[-1] == "error"
