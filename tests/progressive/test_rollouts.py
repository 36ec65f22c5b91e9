"""Rollouts through the real CLI against the double: hooks are scripts that log what they are asked
to do, analyses are commands (the real platform with nginx and Prometheus is in tests/progressive).
What is checked here is what the records say and what the hooks were told."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

HOOK = 'echo "$CD_HOOK version=$CD_VERSION weight=${{CD_WEIGHT:-}} slot=${{CD_SLOT:-}} rollback=$CD_ROLLBACK" >> "{log}"'
CONFIG = """
environments:
  - name: staging
  - name: production
    strategy: {strategy}
    hooks:
      deploy: '{hook}'
      shift-traffic: '{hook}'
      switch: '{hook}'
analysis:
  healthy:
    command:
      run: test "$CD_VERSION" != "{bad}"
"""
CANARY = "{canary: {steps: [{weight: 10, analysis: [healthy]}, {weight: 100, analysis: [healthy]}]}}"


@pytest.fixture
def rollouts(pipeline, tmp_path):
    log = tmp_path / "hooks.log"
    log.write_text("")

    def configure(strategy: str = CANARY, bad: str = "6.6.6", extra: str = "") -> None:
        (pipeline.tmp / ".github").mkdir(exist_ok=True)
        (pipeline.tmp / ".github" / "cd.yml").write_text(
            CONFIG.format(strategy=strategy, hook=HOOK.format(log=log), bad=bad) + extra)

    def release(version: str) -> None:
        (pipeline.artifact / "app.txt").write_text(f"build {version}\n")
        assert pipeline.release(version).code == 0
        pipeline.new_run(pipeline.run_id + 1)
        assert pipeline.promote("staging", version).code == 0

    def calls() -> list[str]:
        lines = log.read_text().splitlines()
        log.write_text("")
        return lines
    return configure, release, calls


def test_a_passing_canary_reaches_100_percent_step_by_step(pipeline, rollouts):
    configure, release, calls = rollouts
    configure()
    release("1.0.0")
    calls()
    done = pipeline.promote("production", "1.0.0")
    assert done.code == 0, done.out
    assert calls() == ["deploy version=1.0.0 weight=0 slot= rollback=false",
                       "shift-traffic version=1.0.0 weight=10 slot= rollback=false",
                       "shift-traffic version=1.0.0 weight=100 slot= rollback=false"]
    [record] = pipeline.deployments("production")
    states = [s["state"] for s in pipeline.double.repo("acme/app").statuses[record["id"]]]
    assert states == ["queued", "in_progress", "in_progress", "in_progress", "success"]  # one status per step
    assert record["payload"]["strategy"] == {"type": "canary", "steps": ["10%", "100%"]}
    assert "Rollout" in done.summary and "healthy passed" in done.summary


def test_a_canary_failing_its_analysis_is_rolled_back_and_both_records_say_so(pipeline, double, rollouts):
    configure, release, calls = rollouts
    configure(bad="2.0.0")
    release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    release("2.0.0")
    calls()
    failed = pipeline.promote("production", "2.0.0")
    assert failed.code == 11, failed.out
    assert "::error title=Rolled back::" in failed.out and "back on 1.0.0" in failed.out
    assert calls() == ["deploy version=2.0.0 weight=0 slot= rollback=false",
                       "shift-traffic version=2.0.0 weight=10 slot= rollback=false",
                       "shift-traffic version=2.0.0 weight=0 slot= rollback=true"]
    first, bad, rollback = pipeline.deployments("production")
    statuses = double.repo("acme/app").statuses
    assert statuses[bad["id"]][-1]["state"] == "failure" and "healthy failed" in statuses[bad["id"]][-1]["description"]
    assert rollback["payload"]["version"] == "1.0.0" and rollback["payload"]["rollback_of"] == bad["id"]
    assert [s["state"] for s in statuses[rollback["id"]]] == ["in_progress", "success"]
    live = {e["environment"]: e for e in pipeline.run("status", "--json").data["environments"]}["production"]
    assert live["live"]["version"] == "1.0.0" and live["live"]["rollback_of"] == bad["id"]


def test_the_first_rollout_that_fails_has_nothing_to_roll_back_to(pipeline, rollouts):
    configure, release, calls = rollouts
    configure(strategy="all-at-once", bad="1.0.0")
    (pipeline.tmp / ".github" / "cd.yml").write_text((pipeline.tmp / ".github" / "cd.yml").read_text().replace(
        "    strategy: all-at-once\n", "    strategy: all-at-once\n    analysis: [healthy]\n"))
    release("1.0.0")
    failed = pipeline.promote("production", "1.0.0")
    assert failed.code == 10 and "nothing ran there before" in failed.out
    [record] = pipeline.deployments("production")
    assert pipeline.states(record["id"])[-1] == "failure"


def test_a_first_canary_failing_withdraws_its_traffic_and_writes_no_rollback_record(pipeline, rollouts):
    configure, release, calls = rollouts
    configure(bad="1.0.0")
    release("1.0.0")
    calls()
    failed = pipeline.promote("production", "1.0.0")
    assert failed.code == 11 and "nothing ran there before: 1.0.0 takes no traffic" in failed.out, failed.out
    assert calls()[-1] == "shift-traffic version=1.0.0 weight=0 slot= rollback=true"
    [record] = pipeline.deployments("production")
    assert pipeline.states(record["id"])[-1] == "failure"


def test_rolling_back_to_a_live_version_of_the_same_digest_is_recorded(pipeline, rollouts):
    """A new version with the same files (a version bump alone) replaces a live record all the same."""
    configure, release, calls = rollouts
    configure(bad="2.0.0")
    release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    (pipeline.artifact / "app.txt").write_text("build 1.0.0\n")  # release() would write 2.0.0's own build
    assert pipeline.release("2.0.0").code == 0
    pipeline.new_run(pipeline.run_id + 1)
    assert pipeline.promote("staging", "2.0.0").code == 0
    first, bad_staging = pipeline.deployments("staging")[-2:]
    assert first["payload"]["digest"] == bad_staging["payload"]["digest"]
    failed = pipeline.promote("production", "2.0.0")
    assert failed.code == 11 and "back on 1.0.0" in failed.out, failed.out
    _, bad, rollback = pipeline.deployments("production")
    assert rollback["payload"]["version"] == "1.0.0" and rollback["payload"]["rollback_of"] == bad["id"]
    assert bad["payload"]["previous"]["version"] == "1.0.0"


def test_blue_green_alternates_slots_and_records_them(pipeline, rollouts):
    configure, release, calls = rollouts
    configure(strategy="blue-green")
    release("1.0.0")
    release("1.1.0")
    calls()
    assert pipeline.promote("production", "1.0.0").code == 0
    assert pipeline.promote("production", "1.1.0").code == 0
    slots = [c.split("slot=")[1].split()[0] for c in calls()]
    assert slots == ["blue", "blue", "green", "green"]  # deploy + switch to blue, then to green
    assert [d["payload"]["strategy"]["slot"] for d in pipeline.deployments("production")] == ["blue", "green"]


HOLD = "{canary: {steps: [{weight: 25, analysis: [healthy]}, {pause: hold}, {weight: 100}]}}"


def test_a_hold_pauses_the_rollout_and_the_resume_job_finishes_it(pipeline, rollouts):
    configure, release, calls = rollouts
    configure(strategy=HOLD)
    pipeline.double.set_environment("acme/app", "production-soak", wait_timer=30)
    release("1.0.0")
    calls()
    paused = pipeline.promote("production", "1.0.0")
    assert paused.code == 0, paused.out
    assert paused.outputs["paused"] == "true" and paused.outputs["step"] == "2"
    [record] = pipeline.deployments("production")
    assert pipeline.states(record["id"])[-1] == "in_progress"  # held open for the resume job
    calls()
    early = pipeline.promote("production", "1.0.0", "--resume-step", "2")  # the soak job, before the wait timer
    assert early.code == 2 and "may resume after" in early.out and "wait timer ends" in early.out
    assert pipeline.states(record["id"])[-1] == "in_progress" and calls() == []
    pipeline.mp.setattr("cdhelper.deploy.resume.clock", lambda: datetime.now(timezone.utc) + timedelta(minutes=31))
    resumed = pipeline.promote("production", "1.0.0", "--resume-step", "2")
    assert resumed.code == 0, resumed.out
    assert calls()[-1] == "shift-traffic version=1.0.0 weight=100 slot= rollback=false"
    assert [d["id"] for d in pipeline.deployments("production")] == [record["id"]]
    assert pipeline.states(record["id"])[-1] == "success"


@pytest.mark.parametrize("soak", [None, 0], ids=["no soak environment", "no wait timer"])
def test_a_hold_without_the_soak_environments_wait_timer_is_refused_before_anything_is_written(pipeline, rollouts, soak):
    """Without the timer GitHub would start the resume job at once: a 30-minute soak lasting no time."""
    configure, release, calls = rollouts
    configure(strategy=HOLD)
    if soak is not None:
        pipeline.double.set_environment("acme/app", "production-soak", wait_timer=soak)
    release("1.0.0")
    calls()
    refused = pipeline.promote("production", "1.0.0")
    assert refused.code == 6
    assert "soak environment 'production-soak'" in refused.out
    assert ("does not exist" if soak is None else "has no wait timer") in refused.out
    assert pipeline.deployments("production") == [] and calls() == []
    pipeline.double.set_environment("acme/app", "timed-soak", wait_timer=1)
    held = pipeline.promote("production", "1.0.0", "--soak-environment", "timed-soak")
    assert held.code == 0 and held.outputs["paused"] == "true" and held.outputs["state"] == "paused", held.out


def test_resuming_without_a_paused_rollout_is_refused(pipeline, rollouts):
    configure, release, calls = rollouts
    configure()
    release("1.0.0")
    refused = pipeline.promote("production", "1.0.0", "--resume-step", "2")
    assert refused.code == 2 and "nothing to resume" in refused.out


def test_a_freeze_refuses_a_promotion_and_lets_a_rollback_through(pipeline, rollouts):
    configure, release, calls = rollouts
    now = datetime.now(timezone.utc)
    window = (f"freeze:\n  - from: '{(now - timedelta(hours=1)):%Y-%m-%dT%H:%M}'\n"
              f"    to: '{(now + timedelta(hours=2)):%Y-%m-%dT%H:%M}'\n    timezone: UTC\n")
    configure(strategy="all-at-once")
    release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    release("2.0.0")
    assert pipeline.promote("production", "2.0.0").code == 0
    configure(strategy="all-at-once", extra=window)
    release("2.1.0")
    frozen = pipeline.promote("production", "2.1.0")
    assert frozen.code == 12 and "::error title=Deploy freeze::" in frozen.out and "rollback" in frozen.out
    back = pipeline.promote("production", "1.0.0", "--rollback")
    assert back.code == 0, back.out


def test_the_strategy_input_overrides_cd_yml(pipeline, rollouts):
    configure, release, calls = rollouts
    configure()
    release("1.0.0")
    calls()
    done = pipeline.promote("production", "1.0.0", "--strategy", "all-at-once")
    assert done.code == 0 and calls() == ["deploy version=1.0.0 weight= slot= rollback=false"]


@pytest.mark.parametrize("strategy, text", [
    ("canary: {steps: [{weight: 60}, {weight: 40}]}", "weights must grow"),
    ("{canary: {steps: [{weight: 50}]}}", "end at 50%"),
    ("{rolling: {batches: 0}}", "not a strategy"),
    ("[oops", "is not YAML"),
])
def test_a_bad_strategy_input_is_one_line_before_anything_is_written(pipeline, double, rollouts, strategy, text):
    configure, release, calls = rollouts
    configure()
    release("1.0.0")
    before = json.dumps(double.snapshot()["repos"][0]["deployments"])
    refused = pipeline.promote("production", "1.0.0", "--strategy", strategy)
    assert refused.code == 2 and text in refused.out and " Fix: " in refused.out
    assert json.dumps(double.snapshot()["repos"][0]["deployments"]) == before


def test_a_rollback_by_hand_after_the_workflow_artifact_expired_redeploys_the_released_files(pipeline, tmp_path):
    seen = tmp_path / "deployed.txt"
    (pipeline.tmp / ".github").mkdir(exist_ok=True)
    (pipeline.tmp / ".github" / "cd.yml").write_text(f"""
tag: {{release: true}}
environments:
  - name: staging
  - name: production
    hooks:
      deploy: 'cat "$CD_ARTIFACT/app.txt" > "{seen}"'
""")
    for version in ("1.0.0", "2.0.0"):
        (pipeline.artifact / "app.txt").write_text(f"build {version}\n")
        assert pipeline.release(version).code == 0
        pipeline.new_run(pipeline.run_id + 1)
        assert pipeline.promote("staging", version, "--artifact", str(pipeline.artifact)).code == 0
        assert pipeline.promote("production", version, "--artifact", str(pipeline.artifact)).code == 0
    (pipeline.artifact / "app.txt").unlink()  # the workflow artifact is long gone
    pipeline.new_run(9999)
    back = pipeline.promote("production", "1.0.0", "--rollback")
    assert back.code == 0, back.out
    assert seen.read_text() == "build 1.0.0\n"  # the released bytes, checked against the tag's digest


def test_hooks_and_analysis_commands_get_no_token_and_cannot_set_outputs(pipeline, tmp_path):
    """Strategy hooks and `command:` analyses are the pusher's code, run as the deploy command is."""
    from tests.conftest import SENTINEL
    dump = tmp_path / "seen"
    spy = f'env >> "{dump}"; echo "deployment-id=666" >> "$GITHUB_OUTPUT"; echo "LD_PRELOAD=/x.so" >> "$GITHUB_ENV"'
    (pipeline.tmp / ".github").mkdir(exist_ok=True)
    (pipeline.tmp / ".github" / "cd.yml").write_text(f"""
environments:
  - name: staging
  - name: production
    strategy: {{canary: {{steps: [{{weight: 50, analysis: [spy]}}, {{weight: 100}}]}}}}
    hooks: {{deploy: '{spy}', shift-traffic: '{spy}', teardown: '{spy}'}}
analysis:
  spy: {{command: {{run: '{spy}'}}, count: 1}}
""")
    (pipeline.artifact / "app.txt").write_text("build 1.0.0\n")
    assert pipeline.release("1.0.0").code == 0
    pipeline.new_run(pipeline.run_id + 1)
    assert pipeline.promote("staging", "1.0.0").code == 0
    job_env = tmp_path / "job-env"
    job_env.write_text("")
    done = pipeline.promote("production", "1.0.0", GITHUB_ENV=str(job_env), INPUT_GITHUB_TOKEN=SENTINEL,
                            GH_TOKEN=SENTINEL)
    assert done.code == 0, done.out
    seen = dump.read_text()
    assert seen.count("CD_HOOK=") == 4 and "CD_HOOK=shift-traffic" in seen  # deploy, 2 shifts, teardown ...
    assert sum(line.startswith("PWD=") for line in seen.splitlines()) == 5  # ... and the analysis command
    assert SENTINEL not in seen and not [line for line in seen.splitlines() if line.startswith("INPUT_")]
    [record] = pipeline.deployments("production")
    assert done.outputs["deployment-id"] == str(record["id"]) and job_env.read_text() == ""


def test_a_dry_run_of_a_hold_predicts_the_pause_where_the_real_run_pauses(pipeline, rollouts):
    """A dry run must not promise `success` for a rollout that holds: the real run stops in progress."""
    configure, release, calls = rollouts
    configure(strategy=HOLD)
    pipeline.double.set_environment("acme/app", "production-soak", wait_timer=30)
    release("1.0.0")
    dry = pipeline.promote("production", "1.0.0", "--dry-run")
    assert dry.code == 0, dry.out
    predicted = dry.data["would"]["writes"][1]["statuses"]
    real = pipeline.promote("production", "1.0.0")
    assert real.outputs["paused"] == "true", real.out
    [record] = pipeline.deployments("production")
    statuses = pipeline.double.repo("acme/app").statuses[record["id"]]
    assert [s["state"] for s in statuses] == [p.split(":")[0] for p in predicted]
    assert predicted[-1] == f"in_progress: paused at step {real.outputs['step']} of 3"
    assert "success" not in predicted
