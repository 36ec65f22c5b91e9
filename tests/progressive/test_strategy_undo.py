"""The one undo (strategies.undo) as the automated rollback and an abort use it: what each strategy
undoes, and that the rollback is reported at the step that failed."""

from __future__ import annotations

from cdhelper.progressive import strategies
from cdhelper.progressive.strategies import Plan, Step

from .test_strategies import CANARY, Fake


def test_a_canary_failing_at_its_first_step_reports_the_rollback_as_that_step():
    fake = Fake(bad={"errors": "10"})
    out = strategies.execute(fake.rollout(CANARY))
    assert out.undone
    assert [(s.step, s.what, s.outcome) for s in out.steps] == [
        (1, "traffic 10%", "done"), (1, "analysis at 10%", "failed"), (1, "rollback", "done")]


def test_a_failed_hook_reports_the_rollback_as_the_step_the_hook_ran_for():
    plan = Plan("rolling", batches=3)
    fake = Fake(failing_hook="deploy")
    out = strategies.execute(fake.rollout(plan))
    assert out.state == "failed" and out.failed_hook == "deploy"
    assert not out.undone  # nothing was deployed yet
    fake = Fake()
    calls = iter([0, 0, 3])  # the third batch fails
    rollout = fake.rollout(plan)
    rollout.run_hook = lambda name, extra: fake.calls.append((name, extra)) or (
        0 if extra.get("CD_ROLLBACK") == "true" else next(calls))
    out = strategies.execute(rollout)
    assert out.steps[-1] == strategies.StepReport(3, "rollback", "done")
    assert fake.hooks() == ["deploy#1", "deploy#2", "deploy#3", "deploy#2 (rollback)", "deploy#1 (rollback)"]


def test_an_abort_undoes_a_canary_as_the_rollback_does_weight_zero_then_teardown():
    fake = Fake()
    out = strategies.abort(fake.rollout(CANARY))
    assert out.undone and fake.hooks() == ["shift-traffic@0 (rollback)", "teardown (rollback)"]


def test_an_abort_of_a_first_canary_still_takes_its_traffic_away():
    fake = Fake(previous="")
    out = strategies.abort(fake.rollout(CANARY))
    assert out.undone and fake.hooks() == ["shift-traffic@0 (rollback)", "teardown (rollback)"]


def test_an_abort_of_blue_green_switches_back_to_the_live_slot():
    fake = Fake()
    out = strategies.abort(fake.rollout(Plan("blue-green"), live_slot="blue"))
    assert out.undone and fake.hooks() == ["switch>blue (rollback)"]


def test_an_abort_of_a_first_blue_green_has_nothing_to_switch_back_to_and_says_so():
    fake = Fake(previous="")
    out = strategies.abort(fake.rollout(Plan("blue-green")))
    assert not out.undone and fake.hooks() == [] and "no slot to switch back to" in out.reason


def test_an_abort_of_rolling_redeploys_the_previous_version_on_every_batch_newest_first():
    fake = Fake()
    out = strategies.abort(fake.rollout(Plan("rolling", batches=3)))
    assert out.undone and fake.hooks() == ["deploy#3 (rollback)", "deploy#2 (rollback)", "deploy#1 (rollback)"]
    assert {extra["CD_VERSION"] for _, extra in fake.calls} == {"1.0.0"}


def test_an_abort_of_all_at_once_redeploys_the_previous_version():
    fake = Fake()
    out = strategies.abort(fake.rollout(Plan()))
    assert out.undone and fake.hooks() == ["deploy (rollback)"] and fake.calls[0][1]["CD_VERSION"] == "1.0.0"


def test_an_abort_whose_undo_fails_says_so_and_is_not_undone():
    fake = Fake()
    rollout = fake.rollout(Plan("canary", steps=(Step("weight", weight=100),)))
    rollout.run_hook = lambda name, extra: 4
    out = strategies.abort(rollout)
    assert not out.undone and "the rollback failed too: the shift-traffic hook exited with status 4" in out.reason
