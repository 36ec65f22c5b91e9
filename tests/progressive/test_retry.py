"""`cdhelper rollout retry`: the version that failed (or was rolled back or aborted) promoted again,
a promotion in every respect, with the acknowledgement filled in and recorded."""

from __future__ import annotations

from .test_abort import env  # noqa: F401 - the fixture


def test_retry_is_refused_when_nothing_failed_there(pipeline, env):  # noqa: F811
    env.configure("all-at-once")
    env.release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    before = pipeline.double.snapshot()
    refused = pipeline.run("rollout", "retry", "--environment", "production", "--mode", "deployment")
    assert refused.code == 2
    assert "nothing to retry in production: no version failed there" in refused.out
    assert pipeline.double.snapshot() == before
    named = pipeline.run("rollout", "retry", "--environment", "production", "--version", "1.0.0", "--mode", "deployment")
    assert named.code == 2 and "1.0.0 did not fail there" in named.out


def test_an_aborted_version_is_retried_with_the_acknowledgement_recorded(pipeline, env):  # noqa: F811
    env.configure("all-at-once")
    env.release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    env.configure()
    aborted = env.paused("1.1.0")
    assert env.abort("--reason", "wrong config", GITHUB_ACTOR="octo").code == 0
    env.configure("all-at-once")
    env.calls()
    # promoting it again by hand needs an acknowledgement; retry fills it in
    assert pipeline.promote("production", "1.1.0").code == 7
    pipeline.new_run(pipeline.run_id + 1)
    retried = pipeline.run("rollout", "retry", "--environment", "production", "--mode", "deployment",
                           GITHUB_ACTOR="hubot")
    assert retried.code == 0, retried.out
    assert env.calls() == ["deploy version=1.1.0 rollback=false"]
    record = pipeline.deployments("production")[-1]
    assert record["id"] != aborted and pipeline.states(record["id"])[-1] == "success"
    assert record["payload"]["digest"] == pipeline.deployments("production")[1]["payload"]["digest"]  # same digest
    acknowledged = record["payload"]["acknowledged_failure"]
    assert acknowledged["deployment_id"] == aborted
    assert acknowledged["reason"].startswith(f"retry of deployment {aborted}, which failed: deployment {aborted} "
                                             "ended in failure (aborted by octo")
    assert acknowledged["reason"].endswith(f"asked by hubot in run {pipeline.run_id}")
    again = pipeline.run("rollout", "retry", "--environment", "production", "--mode", "deployment")
    assert again.code == 2 and "no version failed there" in again.out  # it worked there since


def test_retry_goes_through_the_gate_in_delivery_mode(pipeline, env):  # noqa: F811
    env.configure("all-at-once")
    env.release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    env.configure()
    env.paused("1.1.0")
    assert env.abort().code == 0
    before = len(pipeline.deployments("production"))
    refused = pipeline.run("rollout", "retry", "--environment", "production", "--mode", "delivery", "--gated")
    assert refused.code == 6 and len(pipeline.deployments("production")) == before
