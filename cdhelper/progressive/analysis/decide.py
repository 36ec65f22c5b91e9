"""The decision: take an analysis' samples and say passed, failed or inconclusive.

An analysis takes `count` samples, the first after `initial-delay`, then one every `interval`.
Every sample is a number compared with its provider's condition (providers.py). A sample without a
value (an empty result, NaN or Inf, several series, a timeout, a connection error) is neither a
pass nor a failure. The analysis **fails** as soon as more samples failed than `failure-limit`
(that sample's decision is returned at once, without another interval), is **inconclusive** when
fewer than `min-samples` samples had a value (decided as soon as the samples left could no longer
reach it), and **passes** otherwise. Inconclusive never counts as a pass.
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


@dataclass(frozen=True)
class Result:
    name: str
    outcome: str           # "passed" | "failed" | "inconclusive"
    measurements: tuple[Measurement, ...]
    reason: str            # one line with the measured values, for the record and the summary

    def passed(self) -> bool:
        return self.outcome == "passed"


# ----------------------------------------------------------------------------------------------
# Definitions


def run(analysis: Analysis, variables: Mapping[str, object], *, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep, on_measurement: Callable[[Measurement], None] | None = None,
        session=None, run_command: Callable[[str, dict], int] | None = None,
        environ: Mapping[str, str] | None = None) -> Result:
    """Take the samples and decide. `on_measurement(m)` is called right after each sample; the
    sample that decides (failure-limit exceeded, min-samples out of reach) returns at once. A
    variable the analysis uses without a value is a ConfigError (preflight finds it first);
    everything that goes wrong while measuring is a sample without a value, never an exception.
    `environ` is the base environment of command samples (default: this process' environment
    without credentials); CD_ANALYSIS and CD_<VARIABLE> are added."""
    spec = providers.substitute(analysis, variables)
    sampler = providers.sampler(analysis, spec, variables, session, run_command, environ)
    measurements: list[Measurement] = []
    failures = measured = 0
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
            if ok is not None:
                measured += 1
                failures += not ok
            left = analysis.count - index - 1
            if failures > analysis.failure_limit:
                return _result(analysis, "failed", measurements, sampler.condition)
            if measured + left < analysis.min_samples:
                return _result(analysis, "inconclusive", measurements, sampler.condition)
        return _result(analysis, "passed", measurements, sampler.condition)
    finally:
        sampler.close()


def _result(analysis: Analysis, outcome: str, measurements: list[Measurement], condition: str) -> Result:
    taken = len(measurements)
    values = [m.value for m in measurements]
    shown = ", ".join(fmt(v) for v in values[:20]) + (f", … ({taken} in all)" if taken > 20 else "")
    measured = sum(m.ok is not None for m in measurements)
    failed = [m for m in measurements if m.ok is False]
    name = analysis.name
    if outcome == "passed":
        reason = f"{name} passed ({condition}; {measured} of {taken} samples with a value, " \
                 f"{len(failed)} failed: {shown})"
    elif outcome == "failed":
        last = failed[-1]
        limit = f"{len(failed)} failed, more than failure-limit {analysis.failure_limit}"
        reason = f"{name} failed at sample {taken} of {analysis.count}: {last.detail} ({limit}; values: {shown})"
    else:
        early = f", stopped after {taken} of {analysis.count}" if taken < analysis.count else ""
        last = next((m.detail for m in reversed(measurements) if m.ok is None), "")
        reason = f"{name} inconclusive: {measured} of {taken} samples had a value, min-samples is " \
                 f"{analysis.min_samples}{early} (last without a value: {last}; values: {shown})"
    return Result(name=name, outcome=outcome, measurements=tuple(measurements), reason=" ".join(reason.split()))

