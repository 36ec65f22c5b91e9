"""Rollout strategies: all-at-once, rolling, blue-green and canary, each verified by analyses and
undone by itself when one fails (docs/progressive-delivery.md).

cdhelper decides and records; the user's hooks touch the platform. A `Plan` comes from the
environment's `strategy:` in cd.yml (or the promote action's `strategy` input); `execute` walks it:
it runs the hooks with the documented CD_* variables, runs the analyses between steps, reports each
step as a deployment status, and on a failed or inconclusive analysis undoes what it did at once
(canary: weight back to 0; blue-green: switch back; otherwise redeploy the previous version), or, for
an inconclusive analysis with `inconclusive: pause` at a step, pauses there for a person. A
dry-run analysis is measured and recorded in the step's detail, whatever its outcome, and never undoes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from cdhelper.core.errors import ConfigError
from cdhelper.core.escaping import fit

from .analysis.spec import fmt

TYPES = ("all-at-once", "rolling", "blue-green", "canary")
HOOKS = ("deploy", "shift-traffic", "switch", "teardown")
REQUIRED_HOOKS = {"all-at-once": ("deploy",), "rolling": ("deploy",), "blue-green": ("deploy", "switch"),
                  "canary": ("deploy", "shift-traffic")}
SLOTS = ("blue", "green")


@dataclass(frozen=True)
class Step:
    """One canary step: shift traffic to `weight` percent, or pause `seconds` (in the job), or
    `hold` (end the job; a later job resumes, not before `seconds` of soak when `soak:` says so)."""

    kind: str  # "weight" | "pause" | "hold"
    weight: int = 0
    seconds: float = 0.0  # pause: how long the job waits; hold: its `soak:` (0: the soak environment's wait timer)
    analysis: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "weight":
            return f"{self.weight}%"
        if self.kind == "hold":
            return f"hold {self.seconds:g}s (resumed by a later job)" if self.seconds else "hold (resumed by a later job)"
        return f"pause {self.seconds:g}s"


@dataclass(frozen=True)
class Plan:
    type: str = "all-at-once"
    steps: tuple[Step, ...] = ()  # canary
    batches: int = 1  # rolling
    step_analysis: tuple[str, ...] = ()  # rolling: after each batch; blue-green: the idle slot, before the switch
    analysis: tuple[str, ...] = ()  # the environment's: after the rollout completed

    def payload(self, slot: str = "") -> dict:
        """How the record tells the plan (the payload is written once, at creation)."""
        out: dict = {"type": self.type}
        if self.type == "canary":
            out["steps"] = [s.describe() for s in self.steps]
        if self.type == "rolling":
            out["batches"] = self.batches
        if slot:
            out["slot"] = slot
        return out

    @property
    def rollout_steps(self) -> int:
        return {"canary": len(self.steps), "rolling": self.batches, "blue-green": 2}.get(self.type, 1)


def parse(raw: object, *, hooks: Mapping[str, str], analysis: tuple[str, ...], known: set[str],
          duration: Callable[[object], float], where: str) -> Plan:
    """The `strategy:` of one environment (already shape-checked by the schema): semantic checks,
    each refused in one line before anything is written."""
    if raw is None:
        raw = "all-at-once"
    kind, body = (raw, {}) if isinstance(raw, str) else next(iter(raw.items()))
    body = body or {}
    for name in analysis:
        _known(name, known, f"{where}/analysis")
    # The deploy hook may come from the promote action's `run:`: that one is checked when promoting.
    missing = [h for h in REQUIRED_HOOKS[kind] if h != "deploy" and not hooks.get(h)]
    if missing:
        raise ConfigError(f"{where}: strategy {kind} has no {missing[0]} hook",
                          f"{kind} runs {', '.join(REQUIRED_HOOKS[kind])} to touch the platform",
                          f"add `hooks: {{{missing[0]}: ./your-script.sh}}` to the environment")
    if kind == "canary":
        return Plan("canary", steps=_canary_steps(body.get("steps") or [], known, duration, where),
                    analysis=analysis)
    step_analysis = tuple(body.get("analysis") or ())
    for name in step_analysis:
        _known(name, known, f"{where}/strategy/{kind}/analysis")
    if kind == "rolling":
        return Plan("rolling", batches=int(body.get("batches", 2)), step_analysis=step_analysis, analysis=analysis)
    return Plan(kind, step_analysis=step_analysis, analysis=analysis)


def _known(name: str, known: set[str], where: str) -> None:
    if name not in known:
        raise ConfigError(f"{where} names analysis {name!r}", "no analysis of that name is defined",
                          f"define it under the top-level `analysis:` key, or use one of: {', '.join(sorted(known)) or 'none'}")


def _canary_steps(raw: list, known: set[str], duration: Callable[[object], float], where: str) -> tuple[Step, ...]:
    steps, last = [], 0
    for i, item in enumerate(raw):
        at = f"{where}/strategy/canary/steps/{i}"
        if "weight" in item:
            weight = item["weight"]
            if not last < weight <= 100:
                raise ConfigError(f"{at}: weight {weight}", f"weights must grow step by step, above {last} and at most 100",
                                  "list the steps in order, e.g. 10, 50, 100")
            for name in item.get("analysis") or ():
                _known(name, known, f"{at}/analysis")
            steps.append(Step("weight", weight=weight, analysis=tuple(item.get("analysis") or ())))
            last = weight
        elif item["pause"] == "hold":
            if any(step.kind == "hold" for step in steps):
                raise ConfigError(f"{at}: a second `pause: hold`", "the workflows resume a rollout once "
                                  "(one soak job, one resume job)", "keep one hold; use `pause: 10m` for the others")
            steps.append(Step("hold", seconds=duration(item["soak"]) if "soak" in item else 0.0))
        else:
            steps.append(Step("pause", seconds=duration(item["pause"])))
    if not steps or last != 100:
        raise ConfigError(f"{where}/strategy/canary/steps end at {last}%", "a canary is done only when it takes all the traffic",
                          "end the steps with `- weight: 100`")
    if steps[-1].kind != "weight":
        raise ConfigError(f"{where}/strategy/canary/steps end with a pause", "nothing follows it",
                          "end the steps with `- weight: 100`")
    return tuple(steps)


# --- execution ---------------------------------------------------------------------------------------

@dataclass
class StepReport:
    """What happened at one step, for the record's statuses, the summary and the JSON output."""

    step: int
    what: str
    outcome: str  # "done", "passed", "failed", "inconclusive", "paused"
    detail: str = ""


@dataclass
class Outcome:
    state: str  # "completed" | "paused" | "failed"
    steps: list[StepReport] = field(default_factory=list)
    reason: str = ""
    paused_at: int = 0  # the step paused at (a canary `hold`, or an inconclusive analysis with `inconclusive: pause`)
    undone: bool = False  # the failure was undone (traffic back, switched back, redeployed)
    failed_hook: str = ""  # a hook exited non-zero (not an analysis)
    undo_failed: bool = False  # an undo hook exited non-zero: the platform may be half-way back
    resume_after: datetime | None = None  # a hold: when its soak ends (recorded in the paused status)


@dataclass
class Rollout:
    """What `execute` needs from the promotion, as plain callables (tests pass fakes)."""

    plan: Plan
    variables: dict[str, str]  # CD_* for the hooks; version/environment/... for the analyses
    run_hook: Callable[[str, dict[str, str]], int]  # (hook name, extra CD_* variables) -> exit status
    analyze: Callable[[str, dict[str, str]], object]  # (analysis name, variables) -> analysis.Result
    report: Callable[[str], None]  # one in_progress status for a step (description, <= 140 chars)
    log: Callable[[str], None] = print
    sleep: Callable[[float], None] = time.sleep
    live_slot: str = ""  # blue-green: the slot serving now
    hooks: frozenset[str] = frozenset(HOOKS)  # the hooks the environment has (teardown is optional)
    hold_seconds: float = 0.0  # a hold without `soak:`: the soak environment's wait timer, read before the rollout
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)


class _Failed(Exception):
    def __init__(self, reason: str, *, hook: str = ""):
        super().__init__(reason)
        self.reason, self.hook = reason, hook


class _Paused(Exception):
    """An analysis with `inconclusive: pause` ended inconclusive: a person resumes or aborts."""

    def __init__(self, step: int, reason: str):
        super().__init__(reason)
        self.step, self.reason = step, reason


# What a person does with a rollout an inconclusive analysis paused (kept whole through GitHub's cut)
INCONCLUSIVE_TAIL = "; `cdhelper rollout resume` continues, `cdhelper rollout abort` undoes"


def inconclusive_pause(step: int, steps: int, why: str) -> str:
    """The paused status of an inconclusive analysis: the prefix observe/rollouts.py and resume.py read,
    why, then what a person does, fitted to GitHub's 140 characters."""
    return with_resume_time(f"paused at step {step} of {steps}: {why}", None, after=INCONCLUSIVE_TAIL)


def pausing_steps(plan: Plan, analyses: Mapping) -> tuple[int, ...]:
    """The steps an inconclusive analysis may pause at (`inconclusive: pause`, not a dry run): a
    canary's weight steps, a rolling rollout's batches, blue-green's idle slot (step 1, before the switch)."""
    def pauses(names: tuple[str, ...]) -> bool:
        return any(getattr(analyses.get(n), "inconclusive", "") == "pause" and not analyses[n].dry_run for n in names)
    if plan.type == "canary":
        return tuple(i + 1 for i, s in enumerate(plan.steps) if s.kind == "weight" and pauses(s.analysis))
    if plan.type in ("rolling", "blue-green") and pauses(plan.step_analysis):
        return tuple(range(1, plan.batches + 1)) if plan.type == "rolling" else (1,)
    return ()


def execute(r: Rollout, *, start: int = 0, full: bool = False) -> Outcome:
    """Walk the plan from step `start` (a resumed canary; `full`: the remaining steps skipped, one
    shift to 100%). Never raises for a failed analysis or hook: the outcome says what failed and
    whether it was undone."""
    out = Outcome("completed")
    done: list[int] = []  # rolling: batches deployed; canary: whether traffic was shifted
    try:
        if r.plan.type == "canary":
            _canary(r, out, done, start, full=full)
        else:
            {"all-at-once": _all_at_once, "rolling": _rolling, "blue-green": _blue_green}[r.plan.type](r, out, done, start)
        if out.state == "paused":
            return out
        # after the rollout an inconclusive analysis always undoes (may_pause stays False): traffic is all moved
        _analyses(r, out, r.plan.analysis, "after the rollout", len(out.steps) + 1)
        if r.plan.type in ("canary", "blue-green") and "teardown" in r.hooks:
            _hook(r, "teardown", {})  # what the new version no longer needs (never blue-green's old slot)
    except _Paused as paused:  # nothing undone: a person resumes or aborts it
        out.state, out.paused_at, out.reason = "paused", paused.step, paused.reason
        r.report(inconclusive_pause(paused.step, r.plan.rollout_steps, paused.reason))
    except _Failed as failed:
        out.state, out.reason, out.failed_hook = "failed", failed.reason, failed.hook
        out.undone = undo(r, out, done, step=_failing_step(out, start))
    return out


def abort(r: Rollout) -> Outcome:
    """Undo a rollout that was paused or interrupted (`cdhelper rollout abort`, the cleanup job), with
    the automated rollback's own undo. How far it got is not known, so it is undone as if every step
    was taken: the hooks must be idempotent (a weight of 0 that is already 0, a switch to the slot
    already serving, a redeploy of what runs)."""
    out = Outcome("failed", reason="aborted")
    taken = list(range(1, r.plan.batches + 1)) if r.plan.type == "rolling" else [1]
    out.undone = undo(r, out, taken, step=r.plan.rollout_steps)
    return out


def _failing_step(out: Outcome, start: int) -> int:
    """The step that failed: a failed analysis reported it; a failed hook is the step after the last
    one reported (or the first one run)."""
    if not out.steps:
        return start + 1
    last = out.steps[-1]
    return last.step if last.outcome in ("failed", "inconclusive") else last.step + 1


def _hook(r: Rollout, name: str, extra: dict[str, str]) -> None:
    code = r.run_hook(name, {"CD_HOOK": name, **extra})
    if code != 0:
        raise _Failed(f"the {name} hook exited with status {code}", hook=name)


def _analyses(r: Rollout, out: Outcome, names: tuple[str, ...], what: str, step: int,
              extra: dict[str, str] | None = None, *, may_pause: bool = False) -> str:
    """Run the analyses of a step; the short text of their values for the step's status ("" when
    there are none). The step's detail holds each analysis' reason once (it names the analysis and
    its outcome itself); a failure's reason starts with the values, so a cut status keeps them.
    `may_pause`: an inconclusive analysis with `inconclusive: pause` pauses here (raises _Paused)."""
    if not names:
        return ""
    variables = {**r.variables, **(extra or {})}
    details, values = [], []
    for name in names:
        result = r.analyze(name, variables)
        dry_run = result.dry_run
        details.append(result.reason + (" (dry-run: recorded, not deciding)" if dry_run else ""))
        label = f"{name}{' (dry-run)' if dry_run else ''} {result.outcome}"
        values.append(f"{label}: {_values(result)}")
        if result.outcome != "passed" and not dry_run:
            if may_pause and result.outcome == "inconclusive" and getattr(result, "pause", False):
                out.steps.append(StepReport(step, f"analysis {what}", "paused", "; ".join(details)))
                raise _Paused(step, f"analysis {label} ({_values(result)})")
            out.steps.append(StepReport(step, f"analysis {what}", result.outcome, "; ".join(details)))
            why = result.reason.removeprefix(label).lstrip(" :")
            raise _Failed(f"analysis {label} {what}: {_values(result)} - {why}")
    out.steps.append(StepReport(step, f"analysis {what}", "passed", "; ".join(details)))
    return "; ".join(values)


SHOWN_VALUES = 4  # the last values of an analysis a step's status shows


def _values(result) -> str:
    """"0.01, 0.012": an analysis' last values ("-": a sample without one), "…" before them when
    there were more."""
    taken = [fmt(m.value) for m in result.measurements]
    return ("…" if len(taken) > SHOWN_VALUES else "") + (", ".join(taken[-SHOWN_VALUES:]) or "no sample")


STATUS_LIMIT = 140 - len(" (reported by the deploy job)")  # GitHub's limit, less the split layout's label


def _step_text(prefix: str, analyses: str) -> str:
    """A step's status: its prefix (what observe/rollouts.py parses), then the analyses' values,
    cut cleanly to fit."""
    return fit(f"{prefix} - {analyses}" if analyses else prefix, STATUS_LIMIT)


def _all_at_once(r: Rollout, out: Outcome, done: list[int], start: int) -> None:
    _hook(r, "deploy", {})
    done.append(1)
    out.steps.append(StepReport(1, "deploy", "done"))


def _rolling(r: Rollout, out: Outcome, done: list[int], start: int) -> None:
    n = r.plan.batches
    done.extend(range(1, start + 1))  # resumed after an inconclusive pause at batch `start`: those run the new version
    for batch in range(start + 1, n + 1):
        extra = {"CD_BATCH": str(batch), "CD_BATCHES": str(n), "CD_STEP": str(batch), "CD_STEPS": str(n)}
        _hook(r, "deploy", extra)
        done.append(batch)
        out.steps.append(StepReport(batch, f"batch {batch}/{n}", "done"))
        measured = _analyses(r, out, r.plan.step_analysis, f"after batch {batch}/{n}", batch, extra, may_pause=True)
        r.report(_step_text(f"rolling {batch}/{n}: batch deployed", measured))


def _blue_green(r: Rollout, out: Outcome, done: list[int], start: int) -> None:
    live = r.live_slot or ""
    idle = "green" if live == "blue" else "blue"
    extra = {"CD_SLOT": idle, "CD_PREVIOUS_SLOT": live}
    if not start:  # resumed after an inconclusive pause at the idle slot (step 1): a person decided, switch
        _hook(r, "deploy", extra)
        out.steps.append(StepReport(1, f"deploy to the idle slot {idle}", "done"))
        measured = _analyses(r, out, r.plan.step_analysis, f"of the idle slot {idle}", 1, {"slot": idle}, may_pause=True)
        r.report(_step_text(f"blue-green 1/2: {idle} deployed", measured))
    _hook(r, "switch", extra)
    done.append(1)  # traffic is on the new slot: undo switches back
    out.steps.append(StepReport(2, f"switch to {idle}", "done"))
    r.report(f"blue-green 2/2: switched to {idle} (previous: {live or 'none'})")


def _canary(r: Rollout, out: Outcome, done: list[int], start: int, *, full: bool = False) -> None:
    """`start` > 0 resumes after a hold: first the analysis of the weight the hold kept (the soak);
    after an inconclusive pause at a weight step, straight on with the next step.
    `full` then skips the remaining steps: one shift to 100%, their analyses not run."""
    steps = r.plan.steps
    if start == 0:
        _hook(r, "deploy", {"CD_WEIGHT": "0", "CD_STEP": "0", "CD_STEPS": str(len(steps))})
    done.append(1)  # from here on, undo means: weight back to 0
    held = next((s for s in reversed(steps[:start]) if s.kind == "weight"), None)
    if held is not None and steps[start - 1].kind == "hold":  # not after an inconclusive pause: a person decided
        _analyses(r, out, held.analysis, f"at {held.weight}% after the hold", start, {"weight": str(held.weight)})
    if full and start:
        n = len(steps)
        _hook(r, "shift-traffic", {"CD_STEP": str(n), "CD_STEPS": str(n), "CD_WEIGHT": "100"})
        out.steps.append(StepReport(n, "traffic 100%", "done", f"promoted fully: {skipped(start, n)}"))
        r.report(f"canary {n}/{n}: 100%, promoted fully ({skipped(start, n)})")
        return
    for i in range(start, len(steps)):
        step, number = steps[i], i + 1
        extra = {"CD_STEP": str(number), "CD_STEPS": str(len(steps))}
        if step.kind == "hold":
            out.state, out.paused_at = "paused", number
            out.resume_after = r.clock() + timedelta(seconds=step.seconds or r.hold_seconds)
            out.steps.append(StepReport(number, "hold", "paused", f"may resume after {iso(out.resume_after)}"))
            r.report(with_resume_time(f"canary {number}/{len(steps)}: paused; a later job resumes it", out.resume_after))
            return
        if step.kind == "pause":
            r.sleep(step.seconds)
            out.steps.append(StepReport(number, step.describe(), "done"))
            continue
        extra["CD_WEIGHT"] = str(step.weight)
        _hook(r, "shift-traffic", extra)
        out.steps.append(StepReport(number, f"traffic {step.weight}%", "done"))
        measured = _analyses(r, out, step.analysis, f"at {step.weight}%", number, {"weight": str(step.weight)},
                             may_pause=True)
        r.report(_step_text(f"canary {number}/{len(steps)}: {step.weight}%", measured))


def skipped(start: int, steps: int) -> str:
    """The steps a full promotion after the hold at `start` does not run (the last is its one shift)."""
    first, last = start + 1, steps - 1
    return "no step skipped" if first > last else f"step {first} skipped" if first == last else f"steps {first}-{last} skipped"


# --- when a hold may resume: written at the end of the paused status, read back by every resume ----

MAY_RESUME = "; may resume after "
RESUME_TIME = re.compile(r"; may resume after (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")
DESCRIPTION_LIMIT = 140  # GitHub keeps this much of a status description


def iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def with_resume_time(text: str, when: datetime | None, *, after: str = "") -> str:
    """`text`, then `after`, then "; may resume after <ISO UTC>": shortened in the middle so that
    GitHub's 140-character cut never takes the time (nor `after`)."""
    tail = after + (MAY_RESUME + iso(when) if when is not None else "")
    return text[:DESCRIPTION_LIMIT - len(tail)] + tail


def resume_time(description: str) -> datetime | None:
    """The time a paused status records, or None (a status written before the time was recorded)."""
    m = RESUME_TIME.search(description)
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) if m else None


def undo(r: Rollout, out: Outcome, done: list[int], *, step: int) -> bool:
    """Return to the previous good state at once: the one undo of the automated rollback and of an
    abort. `done`: canary and blue-green, non-empty once traffic may have moved; rolling, the batches
    deployed. The rollback is reported as step `step` (the failing one). False when there was nothing
    to undo or the undo itself failed (said in the reason)."""
    if not done:
        return False
    previous = {"CD_ROLLBACK": "true"}
    try:
        if r.plan.type == "canary":
            _hook(r, "shift-traffic", {**previous, "CD_WEIGHT": "0"})
            if "teardown" in r.hooks:
                _hook(r, "teardown", previous)
        elif r.plan.type == "blue-green":
            live = r.live_slot
            if not live:
                out.reason += "; nothing ran there before, so there is no slot to switch back to"
                return False
            _hook(r, "switch", {**previous, "CD_SLOT": live, "CD_PREVIOUS_SLOT": "green" if live == "blue" else "blue"})
        else:
            if not r.variables.get("CD_PREVIOUS_VERSION"):
                out.reason += "; nothing ran there before, so there is nothing to redeploy"
                return False
            for batch in reversed(done):
                extra = {**previous, **_previous_as_current(r.variables)}
                if r.plan.type == "rolling":
                    extra |= {"CD_BATCH": str(batch), "CD_BATCHES": str(r.plan.batches)}
                _hook(r, "deploy", extra)
    except _Failed as failed:
        out.reason += f"; the rollback failed too: {failed.reason}"
        out.undo_failed = True
        return False
    out.steps.append(StepReport(step, "rollback", "done"))
    return True


def _previous_as_current(variables: Mapping[str, str]) -> dict[str, str]:
    """The deploy hook redeploys the previous version: it reads CD_VERSION/CD_DIGEST as always."""
    out = {"CD_VERSION": variables.get("CD_PREVIOUS_VERSION", ""), "CD_DIGEST": variables.get("CD_PREVIOUS_DIGEST", ""),
           "CD_TAG": variables.get("CD_PREVIOUS_TAG", ""), "CD_COMMIT": variables.get("CD_PREVIOUS_COMMIT", "")}
    if variables.get("CD_PREVIOUS_ARTIFACT"):
        out["CD_ARTIFACT"] = variables["CD_PREVIOUS_ARTIFACT"]
    return out
