"""The strategy executor with fake hooks and analyses: the order of hooks and their CD_* variables,
what each failure undoes, pauses, holds and resumes. (The real platform runs in tests/progressive.)"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cdhelper.core.errors import ConfigError
from cdhelper.progressive import strategies
from cdhelper.progressive.strategies import Plan, Step


@dataclass
class Verdict:
    """An analysis.Result as decide.py makes it: its reason names the analysis and its outcome."""
    outcome: str
    reason: str = ""
    dry_run: bool = False
    measurements: tuple = ()


@dataclass
class Sample:
    value: float | None


class Fake:
    """Records every hook call; an analysis fails when its name is in `bad` (at the given weight)."""

    def __init__(self, *, bad: dict[str, str] | None = None, failing_hook: str = "", previous: str = "1.0.0"):
        self.calls: list[tuple[str, dict]] = []
        self.reports: list[str] = []
        self.slept: list[float] = []
        self.bad, self.failing_hook = bad or {}, failing_hook
        self.variables = {"CD_VERSION": "2.0.0", "CD_ENVIRONMENT": "production", "CD_PREVIOUS_VERSION": previous,
                          "CD_PREVIOUS_DIGEST": "sha256:" + "a" * 64 if previous else ""}

    def hook(self, name: str, extra: dict) -> int:
        self.calls.append((name, dict(extra)))
        return 3 if name == self.failing_hook and extra.get("CD_ROLLBACK") != "true" else 0

    def analyze(self, name: str, variables: dict) -> Verdict:
        where = self.bad.get(name)
        if where is not None and (where == "*" or variables.get("weight") == where):
            return Verdict("failed", f"{name} failed at sample 1 of 1: 0.31 > max 0.05", measurements=(Sample(0.31),))
        return Verdict("passed", f"{name} passed (<= 0.05; 1 of 1 samples with a value, 0 failed: 0.01)",
                       measurements=(Sample(0.01),))

    def rollout(self, plan: Plan, **kwargs) -> strategies.Rollout:
        return strategies.Rollout(plan=plan, variables=dict(self.variables), run_hook=self.hook, analyze=self.analyze,
                                  report=self.reports.append, log=lambda _: None, sleep=self.slept.append, **kwargs)

    def hooks(self) -> list[str]:
        return [f"{name}{'@' + extra['CD_WEIGHT'] if 'CD_WEIGHT' in extra else ''}"
                f"{'#' + extra['CD_BATCH'] if 'CD_BATCH' in extra else ''}"
                f"{'>' + extra['CD_SLOT'] if 'CD_SLOT' in extra else ''}"
                f"{' (rollback)' if extra.get('CD_ROLLBACK') == 'true' else ''}" for name, extra in self.calls]


CANARY = Plan("canary", steps=(Step("weight", weight=10, analysis=("errors",)), Step("pause", seconds=30),
                               Step("weight", weight=50, analysis=("errors",)), Step("weight", weight=100)),
              analysis=("smoke",))


def test_a_passing_canary_shifts_step_by_step_and_reports_each_step():
    fake = Fake()
    out = strategies.execute(fake.rollout(CANARY))
    assert out.state == "completed"
    assert fake.hooks() == ["deploy@0", "shift-traffic@10", "shift-traffic@50", "shift-traffic@100", "teardown"]
    assert fake.slept == [30]
    assert len(fake.reports) == 3 and fake.reports[0].startswith("canary 1/4: 10%")  # one status per traffic step


def test_a_canary_failing_at_its_second_step_goes_back_to_zero_at_once():
    fake = Fake(bad={"errors": "50"})
    out = strategies.execute(fake.rollout(CANARY))
    assert out.state == "failed" and out.undone and "errors failed at 50%" in out.reason
    assert fake.hooks() == ["deploy@0", "shift-traffic@10", "shift-traffic@50", "shift-traffic@0 (rollback)",
                            "teardown (rollback)"]
    assert [s.outcome for s in out.steps if s.what.startswith("analysis")] == ["passed", "failed"]


def test_a_canary_holds_then_resumes_with_the_analysis_of_the_held_weight():
    plan = Plan("canary", steps=(Step("weight", weight=10, analysis=("errors",)), Step("hold"),
                                 Step("weight", weight=100, analysis=("errors",))))
    fake = Fake()
    paused = strategies.execute(fake.rollout(plan))
    assert paused.state == "paused" and paused.paused_at == 2
    assert fake.hooks() == ["deploy@0", "shift-traffic@10"]
    fake.calls.clear()
    resumed = strategies.execute(fake.rollout(plan), start=paused.paused_at)
    assert resumed.state == "completed"
    assert fake.hooks() == ["shift-traffic@100", "teardown"]  # no second deploy
    assert resumed.steps[0].what == "analysis at 10% after the hold"  # the soak is judged first


def test_a_resumed_canary_whose_soak_went_bad_rolls_back():
    plan = Plan("canary", steps=(Step("weight", weight=10, analysis=("errors",)), Step("hold"), Step("weight", weight=100)))
    fake = Fake(bad={"errors": "10"})
    out = strategies.execute(fake.rollout(plan), start=2)
    assert out.state == "failed" and out.undone
    assert fake.hooks() == ["shift-traffic@0 (rollback)", "teardown (rollback)"]


def test_rolling_stops_at_the_first_bad_batch_and_redeploys_the_previous_version_newest_first():
    plan = Plan("rolling", batches=3, step_analysis=("errors",))
    fake = Fake(bad={"errors": "*"})
    out = strategies.execute(fake.rollout(plan))
    assert out.state == "failed" and out.undone
    assert fake.hooks() == ["deploy#1", "deploy#1 (rollback)"]
    assert fake.calls[-1][1]["CD_VERSION"] == "1.0.0"  # the previous version, as CD_VERSION


def test_rolling_deploys_every_batch_in_order():
    fake = Fake()
    out = strategies.execute(fake.rollout(Plan("rolling", batches=3)))
    assert out.state == "completed" and fake.hooks() == ["deploy#1", "deploy#2", "deploy#3"]


def test_blue_green_deploys_the_idle_slot_switches_and_switches_back_when_the_analysis_after_fails():
    plan = Plan("blue-green", step_analysis=("smoke",), analysis=("errors",))
    fake = Fake(bad={"errors": "*"})
    out = strategies.execute(fake.rollout(plan, live_slot="blue"))
    assert out.state == "failed" and out.undone
    assert fake.hooks() == ["deploy>green", "switch>green", "switch>blue (rollback)"]


def test_blue_green_failing_before_the_switch_leaves_the_live_slot_alone():
    plan = Plan("blue-green", step_analysis=("smoke",))
    fake = Fake(bad={"smoke": "*"})
    out = strategies.execute(fake.rollout(plan, live_slot="green"))
    assert out.state == "failed" and not out.undone
    assert fake.hooks() == ["deploy>blue"]


def test_all_at_once_redeploys_the_previous_version_when_its_analysis_fails():
    fake = Fake(bad={"smoke": "*"})
    out = strategies.execute(fake.rollout(Plan(analysis=("smoke",))))
    assert out.undone and fake.hooks() == ["deploy", "deploy (rollback)"]


def test_a_first_deployment_has_nothing_to_roll_back_to():
    fake = Fake(bad={"smoke": "*"}, previous="")
    out = strategies.execute(fake.rollout(Plan(analysis=("smoke",))))
    assert out.state == "failed" and not out.undone and "nothing to redeploy" in out.reason


def test_a_failing_hook_mid_canary_is_undone_and_named():
    fake = Fake(failing_hook="shift-traffic")
    out = strategies.execute(fake.rollout(CANARY))
    assert out.state == "failed" and out.failed_hook == "shift-traffic" and out.undone
    assert "exited with status 3" in out.reason


def test_a_failing_deploy_before_any_traffic_has_nothing_to_undo():
    fake = Fake(failing_hook="deploy")
    out = strategies.execute(fake.rollout(CANARY))
    assert out.state == "failed" and not out.undone and fake.hooks() == ["deploy@0"]


# --- plans from cd.yml: refused in one line, before anything is written ---------------------------------

def _parse(raw, hooks=None, analysis=(), known=("errors",)):
    return strategies.parse(raw, hooks=hooks or {"shift-traffic": "./shift.sh", "switch": "./switch.sh"},
                            analysis=analysis, known=set(known), duration=lambda r: float(str(r).rstrip("s")),
                            where="cd.yml: environments/1")


@pytest.mark.parametrize("raw, words", [
    ({"canary": {"steps": [{"weight": 50}, {"weight": 10}, {"weight": 100}]}}, "weights must grow"),
    ({"canary": {"steps": [{"weight": 10}, {"weight": 50}]}}, "end at 50%"),
    ({"canary": {"steps": [{"weight": 100}, {"pause": "5s"}]}}, "end with a pause"),
    ({"canary": {"steps": [{"weight": 10, "analysis": ["latency"]}, {"weight": 100}]}}, "'latency'"),
    ({"rolling": {"batches": 3, "analysis": ["nope"]}}, "'nope'"),
    ({"canary": {"steps": [{"weight": 10}, {"pause": "hold"}, {"weight": 50}, {"pause": "hold"}, {"weight": 100}]}},
     "a second `pause: hold`"),
])
def test_bad_plans_are_refused_in_one_line(raw, words):
    with pytest.raises(ConfigError) as err:
        _parse(raw)
    assert words in err.value.one_line() and " Fix: " in err.value.one_line()


@pytest.mark.parametrize("raw, hook", [({"canary": {"steps": [{"weight": 100}]}}, "shift-traffic"),
                                       ("blue-green", "switch")])
def test_a_strategy_without_its_hook_is_refused(raw, hook):
    with pytest.raises(ConfigError) as err:
        strategies.parse(raw, hooks={}, analysis=(), known=set(), duration=float, where="cd.yml: environments/1")
    assert f"no {hook} hook" in err.value.one_line()


def test_plans_parse_into_their_steps():
    plan = _parse({"canary": {"steps": [{"weight": 10, "analysis": ["errors"]}, {"pause": "hold"}, {"pause": "30s"},
                                        {"weight": 100}]}})
    assert [s.describe() for s in plan.steps] == ["10%", "hold (resumed by a later job)", "pause 30s", "100%"]
    assert plan.payload() == {"type": "canary", "steps": ["10%", "hold (resumed by a later job)", "pause 30s", "100%"]}
    assert _parse({"rolling": {"batches": 4}}).batches == 4 and _parse("blue-green").payload("green")["slot"] == "green"


# --- what each step says: its analyses' values, once, within GitHub's 140 characters ---------------

def test_each_step_status_carries_its_analysis_values_after_the_prefix_status_parses():
    fake = Fake()
    strategies.execute(fake.rollout(CANARY))
    assert fake.reports[0] == "canary 1/4: 10% - errors passed: 0.01"
    assert fake.reports[-1] == "canary 4/4: 100%"  # no analysis at this step: nothing to show


def test_a_step_detail_says_each_analysis_once():
    """Old code: `errors passed (errors passed (...))`, the reason (which names the analysis and its
    outcome itself) wrapped in a second naming."""
    fake = Fake()
    out = strategies.execute(fake.rollout(CANARY))
    detail = next(s.detail for s in out.steps if s.what == "analysis at 10%")
    assert detail.count("errors passed") == 1, detail


def test_many_long_values_are_cut_cleanly_within_the_limit_with_the_values_first():
    long = Verdict("passed", "latency passed (...)", measurements=tuple(Sample(0.123456789 + i) for i in range(9)))
    fake = Fake()
    fake.analyze = lambda name, variables: long
    plan = Plan("canary", steps=(Step("weight", weight=10, analysis=("latency", "errors", "saturation", "more")),
                                 Step("weight", weight=100)))
    strategies.execute(fake.rollout(plan))
    text = fake.reports[0]
    assert len(text) <= strategies.STATUS_LIMIT and len(text + " (reported by the deploy job)") <= 140
    assert text.startswith("canary 1/2: 10% - latency passed: …5.12346, 6.12346, 7.12346, 8.12346;")  # the last 4
    assert text.endswith("…") and not text[:-1].endswith((" ", ":", ",", ";"))


def test_a_failure_reason_starts_with_the_values_so_a_cut_keeps_them():
    fake = Fake(bad={"errors": "50"})
    out = strategies.execute(fake.rollout(CANARY))
    assert out.reason.startswith("analysis errors failed at 50%: 0.31 - at sample 1 of 1: 0.31 > max 0.05"), out.reason
