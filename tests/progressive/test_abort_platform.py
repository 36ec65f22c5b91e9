"""Abort and the cleanup undo against real parts: the sample platform's services behind a real
nginx, the records in the GitHub double (tests/progressive/conftest.py starts the platform; without
nginx and Prometheus these tests skip). A paused canary is undone: traffic back at 0% for the new
version, and the records say the live version serves again."""

from __future__ import annotations

import time

from .test_scenarios import _config, _served_since, rollout  # noqa: F401 - the fixture

HOLD = "{canary: {steps: [{weight: 25}, {pause: hold}, {weight: 100}]}}"


def _paused(pipeline, platform, app, rollout):  # noqa: F811
    _config(pipeline, platform, app, "{canary: {steps: [{weight: 100}]}}")
    assert rollout("0.1.1").code == 0
    _config(pipeline, platform, app, HOLD)
    pipeline.double.set_environment("acme/app", "production-soak", wait_timer=30)
    held = rollout("0.1.2")
    assert held.code == 0 and held.outputs["paused"] == "true", held.out
    assert platform.status(app)["apps"][app]["weights"] == {"0.1.1": 75, "0.1.2": 25}
    return int(held.outputs["deployment-id"])


def _agree(pipeline, platform, app, paused: int, started: str) -> None:
    """Traffic and records tell the same story: 0.1.1 serves everything, the canary is gone."""
    assert platform.status(app)["apps"][app]["weights"] == {"0.1.1": 100}
    since = time.time()
    with platform.load(app, rate=50):
        served = _served_since(platform, app, since)
    assert set(served) == {"0.1.1"}, served
    last = pipeline.double.repo("acme/app").statuses[paused][-1]
    assert last["state"] == "failure" and last["description"].startswith(started)
    assert last["description"].endswith("production is back on 0.1.1")
    rollback = pipeline.deployments("production")[-1]
    assert rollback["payload"]["rollback_of"] == paused and rollback["payload"]["version"] == "0.1.1"
    assert pipeline.states(rollback["id"])[-1] == "success"


def test_a_paused_canary_aborted_takes_all_its_traffic_away_and_the_records_agree(pipeline, platform, app, rollout):  # noqa: F811
    paused = _paused(pipeline, platform, app, rollout)
    pipeline.new_run(pipeline.run_id + 1)
    done = pipeline.run("rollout", "abort", "--environment", "production", "--reason", "latency", GITHUB_ACTOR="octo")
    assert done.code == 0, done.out
    _agree(pipeline, platform, app, paused, "aborted by octo")


def test_a_run_cancelled_while_paused_is_undone_by_its_cleanup_job(pipeline, platform, app, rollout):  # noqa: F811
    paused = _paused(pipeline, platform, app, rollout)
    cleanup = pipeline.run("finish", "--environment", "production", "--job-status", "cancelled")
    assert cleanup.code == 0, cleanup.out
    _agree(pipeline, platform, app, paused, f"aborted by the cleanup job of run {pipeline.run_id}")
