"""Rollouts against real parts: the sample platform's services behind a real nginx, their metrics
in a real Prometheus, the decisions taken by cdhelper's analyses (PromQL evaluated by Prometheus),
the records kept by the GitHub double. A version listed in CDHELPER_PLATFORM_BAD_VERSIONS answers
half of its requests with 500s, so its error rate rises as soon as it gets traffic."""

from __future__ import annotations

import time

import pytest

from cdhelper.devtools.rehearsal.scenarios import HOOKS, errors_query


def _config(pipeline, platform, app: str, strategy: str, *, env_analysis: str = "", query: str | None = None,
            prometheus: str | None = None) -> None:
    text = f"""
environments:
  - name: staging
  - name: production
    strategy: {strategy}
    hooks:
      deploy: '{HOOKS}/deploy.sh'
      shift-traffic: '{HOOKS}/shift-traffic.sh'
      switch: '{HOOKS}/switch.sh'
      teardown: '{HOOKS}/teardown.sh'
{env_analysis}
analysis:
  errors:
    prometheus:
      url: {prometheus or platform.prometheus_url}
      query: '{query or errors_query(app)}'
      max: 0.05
    initial-delay: 1s
    interval: 1s
    count: 4
    min-samples: 2
  lenient:
    prometheus:
      url: {prometheus or platform.prometheus_url}
      query: '{query or errors_query(app)}'
      max: 0.9
    interval: 1s
    count: 2
    min-samples: 1
"""
    (pipeline.tmp / ".github").mkdir(exist_ok=True)
    (pipeline.tmp / ".github" / "cd.yml").write_text(text)


@pytest.fixture
def rollout(pipeline, platform, app, monkeypatch):
    """Release a version, stage it (records only), promote it to production on the platform."""
    monkeypatch.setenv("CDHELPER_PLATFORM", str(platform.directory))
    monkeypatch.setenv("CDHELPER_PLATFORM_APP", app)

    def promote(version: str, *, bad: bool = False, **kwargs):
        (pipeline.artifact / "app.txt").write_text(f"build {version}\n")
        assert pipeline.release(version).code == 0
        pipeline.new_run(pipeline.run_id + 1)
        assert pipeline.promote("staging", version).code == 0
        return pipeline.promote("production", version, CDHELPER_PLATFORM_BAD_VERSIONS=version if bad else "",
                                **kwargs)
    return promote


def _served_since(platform, app: str, since: float, seconds: float = 2.0) -> dict[str, int]:
    time.sleep(seconds)
    return platform.requests(app, since=since)


def test_a_canary_failing_at_its_second_step_ends_on_the_old_version_and_nothing_reaches_the_bad_one(
        pipeline, double, platform, app, rollout):
    _config(pipeline, platform, app, "{canary: {steps: [{weight: 20, analysis: [lenient]}, "
                                     "{weight: 50, analysis: [errors]}, {weight: 100}]}}")
    with platform.load(app, rate=50):
        assert rollout("0.1.1").code == 0
        failed = rollout("0.1.2", bad=True)
        ended = time.time()
        assert failed.code == 11, failed.out
        served = _served_since(platform, app, ended)
    assert served.get("0.1.2", 0) == 0 and served.get("0.1.1", 0) > 0, served
    first, bad, rollback = pipeline.deployments("production")
    statuses = double.repo("acme/app").statuses
    assert statuses[bad["id"]][-1]["state"] == "failure" and "errors failed at 50%" in statuses[bad["id"]][-1]["description"]
    assert rollback["payload"]["rollback_of"] == bad["id"] and rollback["payload"]["version"] == "0.1.1"
    assert statuses[rollback["id"]][-1]["state"] == "success"
    assert "lenient passed" in failed.out + failed.err  # the first step passed; the second caught it
    assert "errors failed" in failed.summary


def test_a_passing_canary_reaches_100_percent(pipeline, platform, app, rollout):
    _config(pipeline, platform, app, "{canary: {steps: [{weight: 25, analysis: [errors]}, {weight: 100}]}}")
    with platform.load(app, rate=50):
        assert rollout("0.1.1").code == 0
        done = rollout("0.1.3")
        ended = time.time()
        assert done.code == 0, done.out
        served = _served_since(platform, app, ended)
    assert set(served) == {"0.1.3"}, served
    [first, second] = pipeline.deployments("production")
    assert pipeline.states(second["id"])[-1] == "success"


def test_blue_green_switches_and_switches_back_when_the_new_slot_fails(pipeline, platform, app, rollout):
    _config(pipeline, platform, app, "blue-green", env_analysis="    analysis: [errors]")
    with platform.load(app, rate=50):
        assert rollout("0.1.1").code == 0  # blue
        assert rollout("0.1.2").code == 0  # green
        failed = rollout("0.1.3", bad=True)  # blue again, then back to green
        ended = time.time()
        assert failed.code == 11, failed.out
        served = _served_since(platform, app, ended)
    assert set(served) == {"0.1.2"}, served
    slots = [d["payload"]["strategy"]["slot"] for d in pipeline.deployments("production")]
    assert slots == ["blue", "green", "blue", "green"]  # the last: the rollback, to green where 0.1.2 stayed warm


def test_rolling_stops_at_the_first_bad_batch(pipeline, platform, app, rollout):
    _config(pipeline, platform, app, "{rolling: {batches: 3, analysis: [errors]}}")
    with platform.load(app, rate=50):
        assert rollout("0.1.1").code == 0
        failed = rollout("0.1.2", bad=True)
        ended = time.time()
        assert failed.code == 11, failed.out
        served = _served_since(platform, app, ended)
    assert "batch 1/3" in failed.summary and "batch 2/3" not in failed.summary
    assert set(served) == {"0.1.1"}, served


def test_too_few_samples_is_inconclusive_and_never_a_pass(pipeline, double, platform, app, rollout):
    canary = "{canary: {steps: [{weight: 50, analysis: [errors]}, {weight: 100}]}}"
    _config(pipeline, platform, app, canary)
    with platform.load(app, rate=50):
        assert rollout("0.1.1").code == 0
        # A query that finds no series has no value to judge: no sample passes or fails.
        _config(pipeline, platform, app, canary, query=f'sum(rate(no_such_metric_total{{app="{app}"}}[5s]))')
        failed = rollout("0.1.2")
        assert failed.code == 11, failed.out
    first, inconclusive, rollback = pipeline.deployments("production")
    assert "inconclusive" in double.repo("acme/app").statuses[inconclusive["id"]][-1]["description"]
    assert rollback["payload"]["rollback_of"] == inconclusive["id"]


def test_prometheus_unreachable_fails_closed_before_anything_is_written(pipeline, platform, app, rollout):
    _config(pipeline, platform, app, "{canary: {steps: [{weight: 50, analysis: [errors]}, {weight: 100}]}}",
            prometheus="http://127.0.0.1:9")
    refused = rollout("0.1.1")
    assert refused.code == 2 and "unreachable" in refused.out and "127.0.0.1:9" in refused.out
    assert pipeline.deployments("production") == []
