"""The decision: take an analysis' samples and say passed, failed or inconclusive.

An analysis takes `count` samples, the first after `initial-delay`, then one every `interval`.
Every sample is a number compared with its provider's condition (providers.py), and is one of:
- passed or failed (`ok` True or False): a verdict;
- an error (`ok` None and no value): the measurement could not be taken (Prometheus unreachable or
  refusing, a timeout, an empty result, NaN, a command that could not run);
- inconclusive (`ok` None with a value): measured, but the provider can say neither pass nor fail.

After each sample, in this order (the sample that decides returns at once, without another interval):
- **failed** when more samples failed than `failure-limit` (-1: never by failures);
- **inconclusive** when more samples were inconclusive than `inconclusive-limit` (default 0);
- **failed** when more errors came in a row than `consecutive-error-limit` (default: no limit);
- **passed** early when the last `consecutive-success-limit` samples passed in a row and at least
  `min-samples` had a verdict;
- **inconclusive** when fewer than `min-samples` samples can still have a verdict, or (with
  consecutive-success-limit) the passes in a row needed can no longer come: **failed** instead
  when failure-limit is -1, as then nothing else can fail it.
When all `count` samples are taken: **passed**, unless consecutive-success-limit was never reached
(then as just said). Inconclusive never counts as a pass. A `dry-run` analysis decides the same way;
its Result says so, and the rollout records it without acting on it (strategies.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import providers
from .spec import Analysis, fmt


@dataclass(frozen=True)
class Measurement:
    at: float              # seconds since the analysis started (when the sample was taken)
    value: float | None    # None: the sample had no value
    ok: bool | None        # None: neither a pass nor a failure
    detail: str            # one line: the value against the condition, or why there is none

    @property
    def kind(self) -> str:
        """passed | failed | error (nothing measured) | inconclusive (a value without a verdict)."""
        if self.ok is not None:
            return "passed" if self.ok else "failed"
        return "error" if self.value is None else "inconclusive"


@dataclass(frozen=True)
class Result:
    name: str
    outcome: str           # "passed" | "failed" | "inconclusive"
    measurements: tuple[Measurement, ...]
    reason: str            # one line with the measured values, for the record and the summary
    dry_run: bool = False  # measured and recorded, never deciding (the rollout goes on whatever the outcome)
    pause: bool = False  # `inconclusive: pause`: an inconclusive outcome pauses the rollout for a person

    def passed(self) -> bool:
        return self.outcome == "passed"


# ----------------------------------------------------------------------------------------------
# Definitions


def run(analysis: Analysis, variables: Mapping[str, object], *, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep, on_measurement: Callable[[Measurement], None] | None = None,
        session=None, run_command: Callable[[str, dict], int] | None = None,
        environ: Mapping[str, str] | None = None) -> Result:
    """Take the samples and decide. `on_measurement(m)` is called right after each sample; the
    sample that decides (a limit reached, see the module's docstring) returns at once. A
    variable the analysis uses without a value is a ConfigError (preflight finds it first);
    everything that goes wrong while measuring is a sample without a value (an error), never an exception.
    `environ` is the base environment of command samples (default: this process' environment
    without credentials); CD_ANALYSIS and CD_<VARIABLE> are added."""
    spec = providers.substitute(analysis, variables)
    sampler = providers.sampler(analysis, spec, variables, session, run_command, environ)
    measurements: list[Measurement] = []
    start = clock()
    try:
        for index in range(analysis.count):
            wait = start + analysis.initial_delay + index * analysis.interval - clock()
            if wait > 0:
                sleep(wait)
            at = clock() - start
            value, ok, detail = sampler.sample()
            measurement = Measurement(at=at, value=value, ok=ok, detail=detail)
            measurements.append(measurement)
            if on_measurement is not None:
                on_measurement(measurement)
            decided = _decide(analysis, measurements, left=analysis.count - index - 1)
            if decided:
                return _result(analysis, *decided, measurements, sampler.condition)
        return _result(analysis, "passed", "count", "", measurements, sampler.condition)
    finally:
        sampler.close()


def _decide(a: Analysis, measurements: list[Measurement], *, left: int) -> tuple[str, str, str] | None:
    """(outcome, the rule that decided, why) once the samples so far decide, `left` samples still to
    take; None: go on."""
    kinds = [m.kind for m in measurements]
    failed, inconclusive = kinds.count("failed"), kinds.count("inconclusive")
    verdicts = failed + kinds.count("passed")
    errors_in_row, passes_in_row = _run_of(kinds, "error"), _run_of(kinds, "passed")
    if a.failure_limit >= 0 and failed > a.failure_limit:
        return "failed", "failure-limit", f"{failed} failed, more than failure-limit {a.failure_limit}"
    if inconclusive > a.inconclusive_limit:
        return "inconclusive", "inconclusive-limit", f"{inconclusive} inconclusive, more than inconclusive-limit {a.inconclusive_limit}"
    if a.consecutive_error_limit is not None and errors_in_row > a.consecutive_error_limit:
        return "failed", "consecutive-error-limit", (f"{errors_in_row} errors in a row (no measurement), more than consecutive-error-limit "
                          f"{a.consecutive_error_limit}")
    needed = a.consecutive_success_limit
    if needed and passes_in_row >= needed and verdicts >= a.min_samples:
        return "passed", "consecutive-success-limit", f"{passes_in_row} passed in a row, consecutive-success-limit {needed}"
    if verdicts + left < a.min_samples:
        return "inconclusive", "min-samples", f"{verdicts} of {len(kinds)} samples had a verdict, min-samples is {a.min_samples}"
    if needed and passes_in_row + left < needed:
        return ("failed" if a.failure_limit < 0 else "inconclusive", "consecutive-success-limit",
                f"consecutive-success-limit {needed} can no longer be reached (at most {passes_in_row + left} "
                f"passes in a row)")
    return None


def _run_of(kinds: list[str], kind: str) -> int:
    """How many of the last samples in a row are of `kind`."""
    n = 0
    for k in reversed(kinds):
        if k != kind:
            break
        n += 1
    return n


def _result(analysis: Analysis, outcome: str, rule: str, why: str, measurements: list[Measurement], condition: str) -> Result:
    taken = len(measurements)
    values = [m.value for m in measurements]
    shown = ", ".join(fmt(v) for v in values[:20]) + (f", … ({taken} in all)" if taken > 20 else "")
    measured = sum(m.ok is not None for m in measurements)
    failed = [m for m in measurements if m.ok is False]
    name = analysis.name + (" (dry-run)" if analysis.dry_run else "")
    early = f", stopped after {taken} of {analysis.count}" if taken < analysis.count else ""
    if outcome == "passed":
        reason = f"{name} passed ({condition}; {measured} of {taken} samples with a value, " \
                 f"{len(failed)} failed{'; ' + why + early if why else ''}: {shown})"
    elif outcome == "failed" and rule == "failure-limit":
        reason = f"{name} failed at sample {taken} of {analysis.count}: {failed[-1].detail} ({why}; values: {shown})"
    elif outcome == "failed":
        reason = f"{name} failed at sample {taken} of {analysis.count}: {why} (last: {measurements[-1].detail}; " \
                 f"values: {shown})"
    elif rule == "min-samples":
        last = next((m.detail for m in reversed(measurements) if m.ok is None), "")
        reason = f"{name} inconclusive: {measured} of {taken} samples had a value, min-samples is " \
                 f"{analysis.min_samples}{early} (last without a value: {last}; values: {shown})"
    else:
        reason = f"{name} inconclusive: {why}{early} (last: {measurements[-1].detail if measurements else '-'}; " \
                 f"values: {shown})"
    return Result(name=analysis.name, outcome=outcome, measurements=tuple(measurements),
                  reason=" ".join(reason.split()), dry_run=analysis.dry_run,
                  pause=analysis.inconclusive == "pause")
