"""Resuming a held canary on the real platform (nginx weights, Prometheus analyses, records in the
double): before its soak has passed nothing moves, after it the same record goes on to 100%, and
`--full` goes there in one shift. The soak's time is the resume module's clock, moved by the test."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .test_scenarios import _config, rollout  # noqa: F401 - the fixture

HELD = ("{canary: {steps: [{weight: 20, analysis: [errors]}, {pause: hold, soak: 1h}, {weight: 50, analysis: [errors]}, "
        "{weight: 100}]}}")


FIRST = "{canary: {steps: [{weight: 100}]}}"


def _later(pipeline, hours: float) -> None:
    moved = datetime.now(timezone.utc) + timedelta(hours=hours)
    pipeline.mp.setattr("cdhelper.deploy.resume.clock", lambda: moved)


def _resume(pipeline, *extra: str):
    pipeline.new_run(pipeline.run_id + 1)  # another run than the one that paused it
    return pipeline.run("rollout", "resume", "--environment", "production", "--mode", "deployment", *extra)


def test_a_held_canary_resumes_on_the_platform_only_after_its_soak(pipeline, double, platform, app, rollout):  # noqa: F811
    _config(pipeline, platform, app, FIRST)
    with platform.load(app, rate=50):
        assert rollout("0.1.1").code == 0
        _config(pipeline, platform, app, HELD)
        paused = rollout("0.1.2")
        assert paused.code == 0 and paused.outputs["paused"] == "true", paused.out
        assert platform.status(app)["apps"][app]["weights"] == {"0.1.1": 80, "0.1.2": 20}
        record = pipeline.deployments("production")[-1]
        before = len(double.repo("acme/app").statuses[record["id"]])
        early = _resume(pipeline)
        assert early.code == 2 and "may resume after" in early.out
        assert platform.status(app)["apps"][app]["weights"] == {"0.1.1": 80, "0.1.2": 20}  # nothing moved
        assert len(double.repo("acme/app").statuses[record["id"]]) == before  # nothing written
        _later(pipeline, 1.01)
        done = _resume(pipeline)
        assert done.code == 0, done.out
    assert done.outputs["deployment-id"] == str(record["id"])
    assert platform.status(app)["apps"][app]["weights"] == {"0.1.2": 100}
    assert pipeline.states(record["id"])[-1] == "success"
    assert len(pipeline.deployments("production")) == 2  # the same record went on


def test_full_shifts_the_held_canary_to_100_percent_at_once(pipeline, double, platform, app, rollout):  # noqa: F811
    _config(pipeline, platform, app, FIRST)
    with platform.load(app, rate=50):
        assert rollout("0.1.1").code == 0
        _config(pipeline, platform, app, HELD)
        assert rollout("0.1.2").outputs["paused"] == "true"
        record = pipeline.deployments("production")[-1]
        _later(pipeline, 2)
        done = _resume(pipeline, "--full")
        assert done.code == 0, done.out
    assert platform.status(app)["apps"][app]["weights"] == {"0.1.2": 100}
    texts = [s["description"] for s in double.repo("acme/app").statuses[record["id"]]]
    assert any(t.startswith("promoted fully by ") and t.endswith("step 3 skipped") for t in texts), texts
    assert "canary 4/4: 100%, promoted fully (step 3 skipped)" in texts
    assert not any(t.startswith("canary 3/4") for t in texts)  # the 50% step (and its analysis) never ran
    assert pipeline.states(record["id"])[-1] == "success"
