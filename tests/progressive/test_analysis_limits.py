"""The limits cdhelper shares with Argo Rollouts' analysis: consecutive-error-limit, inconclusive-limit,
consecutive-success-limit, failure-limit -1, dry-run (docs/progressive-delivery.md has the table).

Samples come from the command provider with a fake `run_command`: an exit status per sample, or an
OSError (the command could not run: an error, no measurement). Inconclusive samples (a value without
a verdict) come from a fake sampler, as no built-in provider gives them. A fake clock makes waits exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from cdhelper.core.errors import ConfigError
from cdhelper.progressive import analysis, strategies
from cdhelper.progressive.analysis import decide, parse, run
from cdhelper.progressive.strategies import Plan, Step

SCHEMA = json.loads((Path(analysis.__file__).parents[2] / "core" / "schemas" / "analysis.schema.json").read_text())
ERROR = "error"  # a sample whose command could not run


class Clock:
    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Commands:
    """run_command answering from a script: an exit status per sample, or ERROR (raises OSError)."""

    def __init__(self, *script):
        self.script, self.calls = list(script), 0

    def __call__(self, command: str, env: dict) -> int:
        answer = self.script[self.calls]
        self.calls += 1
        if answer == ERROR:
            raise OSError(111, "Connection refused")
        return answer


def check(**keys):
    return parse("check", {"command": {"run": "./check.sh"}, "interval": "10s", **keys}, source="cd.yml")


def go(a, *script):
    commands, clock = Commands(*script), Clock()
    result = run(a, {}, clock=clock, sleep=clock.sleep, run_command=commands, environ={})
    return result, commands, clock


# ----------------------------------------------------------------------------------------------
# consecutive-error-limit


def test_errors_up_to_the_consecutive_error_limit_then_a_pass_do_not_fail():
    for errors in (3, 4):
        result, _, _ = go(check(count=6, **{"consecutive-error-limit": 4, "min-samples": 1}),
                          *[ERROR] * errors, *[0] * (6 - errors))
        assert result.outcome == "passed", result.reason
        assert [m.kind for m in result.measurements] == ["error"] * errors + ["passed"] * (6 - errors)


def test_more_errors_in_a_row_than_the_consecutive_error_limit_fail_at_once():
    result, commands, clock = go(check(count=8, **{"consecutive-error-limit": 4, "min-samples": 1}),
                                 0, *[ERROR] * 5, 0, 0)
    assert result.outcome == "failed" and len(result.measurements) == 6 and commands.calls == 6
    assert clock.sleeps == [10] * 5  # decided at the fifth error, without another interval
    assert "5 errors in a row (no measurement), more than consecutive-error-limit 4" in result.reason


def test_errors_that_are_not_in_a_row_do_not_add_up():
    result, _, _ = go(check(count=8, **{"consecutive-error-limit": 2, "min-samples": 2}),
                      ERROR, ERROR, 0, ERROR, ERROR, 0, ERROR, ERROR)
    assert result.outcome == "passed", result.reason


def test_without_consecutive_error_limit_only_min_samples_bounds_the_errors():
    # an existing config (no new key) decides as before: five errors in a row, enough verdicts after them
    result, _, _ = go(check(count=10, **{"min-samples": 3}), *[ERROR] * 5, *[0] * 5)
    assert result.outcome == "passed"


def test_errors_are_not_failures():
    result, _, _ = go(check(count=3, **{"consecutive-error-limit": 2, "min-samples": 1}), ERROR, ERROR, 0)
    assert result.outcome == "passed" and "0 failed" in result.reason


# ----------------------------------------------------------------------------------------------
# consecutive-success-limit


def test_consecutive_success_limit_stops_early_without_the_remaining_samples():
    result, commands, clock = go(check(count=5, **{"consecutive-success-limit": 2}), 0, 0, 0, 0, 0)
    assert result.outcome == "passed" and commands.calls == 2 and clock.sleeps == [10]
    assert "2 passed in a row, consecutive-success-limit 2, stopped after 2 of 5" in result.reason


def test_a_failure_starts_the_passes_in_a_row_again():
    result, commands, _ = go(check(count=6, **{"consecutive-success-limit": 2, "failure-limit": 1}), 0, 3, 0, 0, 0, 0)
    assert result.outcome == "passed" and commands.calls == 4


def test_consecutive_success_limit_out_of_reach_is_inconclusive_never_a_pass():
    # failure-limit not exceeded, the passes in a row not reached: Argo's "inconclusive" at count
    result, commands, _ = go(check(count=5, **{"consecutive-success-limit": 3, "failure-limit": 2}), 0, 3, 0, 3, 0)
    assert result.outcome == "inconclusive" and commands.calls == 4  # after the 4th, 1 sample cannot make 3 in a row
    assert "consecutive-success-limit 3 can no longer be reached (at most 1 passes in a row)" in result.reason


def test_failure_limit_minus_one_waits_for_the_passes_in_a_row_and_fails_when_they_cannot_come():
    a = check(count=5, **{"consecutive-success-limit": 2, "failure-limit": -1})
    result, commands, _ = go(a, 3, 3, 3, 0, 0)
    assert result.outcome == "passed" and commands.calls == 5
    result, commands, _ = go(a, 3, 3, 3, 3, 0)
    assert result.outcome == "failed" and commands.calls == 4  # 1 sample left cannot make 2 in a row


def test_min_samples_defaults_to_the_consecutive_success_limit():
    a = check(count=5, **{"consecutive-success-limit": 2})
    assert a.min_samples == 2
    a = check(count=5, **{"consecutive-success-limit": 2, "min-samples": 3})
    result, commands, _ = go(a, 0, 0, 0, 0, 0)
    assert result.outcome == "passed" and commands.calls == 3  # 2 in a row, but 3 verdicts needed


# ----------------------------------------------------------------------------------------------
# inconclusive-limit: a sample with a value but no verdict


class Inconclusive:
    """A sampler answering from a script: True/False (a verdict) or None (a value, no verdict)."""

    condition = "fake"

    def __init__(self, script):
        self.script = list(script)

    def sample(self):
        ok = self.script.pop(0)
        return (0.5, ok, "0.5: no verdict") if ok is None else (1.0, ok, f"verdict {ok}")

    def close(self):
        pass


def fake_sampler(monkeypatch, *script):
    monkeypatch.setattr(decide.providers, "sampler", lambda *args: Inconclusive(script))


def test_one_inconclusive_sample_is_inconclusive_by_default(monkeypatch):
    fake_sampler(monkeypatch, None, True, True)
    clock = Clock()
    result = run(check(count=3, **{"min-samples": 1}), {}, clock=clock, sleep=clock.sleep)
    assert result.outcome == "inconclusive" and len(result.measurements) == 1
    assert result.measurements[0].kind == "inconclusive"
    assert "1 inconclusive, more than inconclusive-limit 0" in result.reason


def test_inconclusive_limit_tolerates_that_many_and_decides_at_the_next(monkeypatch):
    a = check(count=5, **{"inconclusive-limit": 1, "min-samples": 3})
    fake_sampler(monkeypatch, True, None, True, True, True)
    clock = Clock()
    assert run(a, {}, clock=clock, sleep=clock.sleep).outcome == "passed"
    fake_sampler(monkeypatch, True, None, True, None, True)
    clock = Clock()
    result = run(a, {}, clock=clock, sleep=clock.sleep)
    assert result.outcome == "inconclusive" and len(result.measurements) == 4


def test_an_inconclusive_analysis_undoes_the_canary(monkeypatch):
    # the configured outcome of inconclusive is the fail-closed one: undone at once, like a failure
    fake_sampler(monkeypatch, None)
    a = check(count=1)
    out = strategies.execute(rollout(Plan("canary", steps=(Step("weight", weight=10, analysis=("check",)),
                                                          Step("weight", weight=100))), {"check": a}, Commands()))
    assert out.state == "failed" and out.undone
    assert [s.outcome for s in out.steps if s.what.startswith("analysis")] == ["inconclusive"]


# ----------------------------------------------------------------------------------------------
# dry-run


def rollout(plan, analyses, commands, hooks=None):
    hooks = [] if hooks is None else hooks
    clock = Clock()

    def run_hook(name, extra):
        hooks.append(f"{name}@{extra.get('CD_WEIGHT', '')}" + (" (rollback)" if extra.get("CD_ROLLBACK") else ""))
        return 0

    def analyze(name, variables):
        return run(analyses[name], variables, clock=clock, sleep=clock.sleep, run_command=commands, environ={})

    return strategies.Rollout(plan=plan, variables={"CD_VERSION": "2.0.0", "CD_PREVIOUS_VERSION": "1.0.0"},
                              run_hook=run_hook, analyze=analyze, report=lambda _: None, log=lambda _: None,
                              sleep=clock.sleep)


def test_a_failing_dry_run_analysis_is_recorded_and_does_not_roll_back():
    analyses = {"shadow": check(count=2, **{"dry-run": True}), "errors": check(count=1)}
    plan = Plan("canary", steps=(Step("weight", weight=10, analysis=("shadow", "errors")), Step("weight", weight=100)))
    hooks: list[str] = []
    commands = Commands(7, 0)  # shadow fails at its first sample; errors passes
    out = strategies.execute(rollout(plan, analyses, commands, hooks))
    assert out.state == "completed" and not out.undone
    assert hooks == ["deploy@0", "shift-traffic@10", "shift-traffic@100", "teardown@"]  # no rollback
    step = next(s for s in out.steps if s.what.startswith("analysis"))
    assert step.outcome == "passed"
    assert "(dry-run) failed at sample 1" in step.detail and "(dry-run: recorded, not deciding)" in step.detail
    assert "exit status 7" in step.detail
    assert "check passed (exit status 0" in step.detail  # the analyses of `check()` are all named check


def test_a_dry_run_analysis_decides_as_it_would_and_says_it_is_a_dry_run():
    result, _, _ = go(check(count=3, **{"dry-run": True}), 0, 5, 0)
    assert result.outcome == "failed" and result.dry_run and result.reason.startswith("check (dry-run) failed")
    result, _, _ = go(check(count=1), 5)
    assert not result.dry_run


def test_the_same_analysis_without_dry_run_rolls_back():
    analyses = {"shadow": check(count=2)}
    plan = Plan("canary", steps=(Step("weight", weight=10, analysis=("shadow",)), Step("weight", weight=100)))
    hooks: list[str] = []
    out = strategies.execute(rollout(plan, analyses, Commands(7, 0), hooks))
    assert out.state == "failed" and out.undone and "shift-traffic@0 (rollback)" in hooks


# ----------------------------------------------------------------------------------------------
# Definitions: defaults, and one-line errors checked before anything is written


def test_defaults_keep_existing_configs_as_they_were():
    a = check(count=4)
    assert (a.inconclusive_limit, a.consecutive_error_limit, a.consecutive_success_limit, a.dry_run, a.min_samples,
            a.failure_limit) == (0, None, 0, False, 4, 0)


BAD = [
    # (case, keys, words in the one-line error, the schema refuses it too)
    ("failure-limit -1 alone", {"count": 3, "failure-limit": -1}, "-1 turns failures off", True),
    ("failure-limit -2", {"count": 3, "consecutive-success-limit": 1, "failure-limit": -2}, "at least -1", True),
    ("success limit above count", {"count": 3, "consecutive-success-limit": 4}, "only 3 samples are taken", False),
    ("success limit negative", {"count": 3, "consecutive-success-limit": -1}, "at least 0", True),
    ("success limit text", {"count": 3, "consecutive-success-limit": "2"}, "whole number", True),
    ("failures plus successes above count", {"count": 4, "failure-limit": 2, "consecutive-success-limit": 3},
     "above count 4", False),
    ("inconclusive-limit = count", {"count": 3, "inconclusive-limit": 3}, "would never be reached", False),
    ("inconclusive-limit negative", {"count": 3, "inconclusive-limit": -1}, "at least 0", True),
    ("inconclusive-limit boolean", {"count": 3, "inconclusive-limit": True}, "whole number", True),
    ("error limit = count", {"count": 3, "consecutive-error-limit": 3}, "errors in a row cannot happen", False),
    ("error limit negative", {"count": 3, "consecutive-error-limit": -4}, "at least 0", True),
    ("error limit float", {"count": 3, "consecutive-error-limit": 1.5}, "whole number", True),
    ("dry-run text", {"dry-run": "yes"}, "true or false", True),
    ("dry-run number", {"dry-run": 1}, "true or false", True),
]


@pytest.mark.parametrize("case, keys, words, schema_too", BAD, ids=[b[0] for b in BAD])
def test_bad_limits_are_one_line_config_errors(case, keys, words, schema_too):
    raw = {"command": {"run": "./check.sh"}, "interval": "10s", **keys}
    with pytest.raises(ConfigError) as exc:
        parse("check", raw, source=".github/cd.yml")
    line = exc.value.one_line()
    assert "\n" not in line and line.startswith(".github/cd.yml: analysis `check`") and "Fix: " in line
    assert words in line, line
    bad = list(keys)[-1]  # the key tried last names the bad value: key and value are in the line
    assert bad in line and (str(keys[bad]).lower() in line.lower() or "above count" in line), line
    if schema_too:
        assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(raw), f"the schema accepts {case}"


GOOD = [
    {"count": 10, "consecutive-error-limit": 4, "inconclusive-limit": 2, "consecutive-success-limit": 3,
     "failure-limit": 1, "dry-run": True},
    {"count": 5, "failure-limit": -1, "consecutive-success-limit": 2},
    {"count": 3, "consecutive-error-limit": 0, "dry-run": False},
]


@pytest.mark.parametrize("keys", GOOD)
def test_good_limits_pass_both_parse_and_the_schema(keys):
    raw = {"command": {"run": "./check.sh"}, "interval": "10s", **keys}
    parse("check", raw, source="cd.yml")
    jsonschema.Draft202012Validator(SCHEMA).validate(raw)
