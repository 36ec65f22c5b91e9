"""The judge: a canary's samples against its baseline's, as Kayenta's NetflixACAJudge does it.

    mann_whitney(canary, baseline) -> Test          U, z, and one- and two-sided p-values
    classify(canary, baseline, ...) -> Metric       pass | high | low | nodata for one metric
    score(metrics, pass_, marginal) -> Verdict      the share of metrics that pass, against thresholds

Mann-Whitney U (the Wilcoxon rank-sum test) with average ranks for ties, the tie-corrected variance
and the normal approximation with a continuity correction: the same numbers as
scipy.stats.mannwhitneyu(canary, baseline, method="asymptotic") (tests/progressive/test_judge.py
checks them). Pure Python: the runtime takes no numeric library. Exact small-sample p-values are
not computed; the judge asks for at least MIN_POINTS values on each side.

A metric is **high** (or **low**) when the canary is significantly above (below) the baseline, at
the confidence level read as Kayenta reads it (a two-sided interval: each direction is tested at
half of 1 - confidence), the direction is one the metric calls bad, and the canary's median is more
than `tolerance` percent worse than the baseline's. Everything else passes. A metric with too few
values on either side is **nodata**: the judgement has no value (never a pass).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DIRECTIONS = ("increase", "decrease", "either")
MIN_POINTS = 5                      # values a side needs: below this the normal approximation says nothing


@dataclass(frozen=True)
class Test:
    u: float                # U of the canary: pairs (canary, baseline) where the canary is higher, ties half
    z: float                # of U against its mean, with the continuity correction (two-sided form)
    p_greater: float        # the canary tends to be higher
    p_less: float           # the canary tends to be lower
    p_two_sided: float


@dataclass(frozen=True)
class Metric:
    name: str
    classification: str     # "pass" | "high" | "low" | "nodata"
    canary_median: float | None
    baseline_median: float | None
    p: float | None         # the one-sided p-value of the bad direction that decided (or the smaller one)
    detail: str             # one line: the medians, the change, the p-value against its threshold


@dataclass(frozen=True)
class Verdict:
    outcome: str            # "pass" | "marginal" | "fail" | "nodata"
    score: float | None     # percent of the metrics that pass; None when a metric had no data
    metrics: tuple[Metric, ...]
    detail: str


def mann_whitney(canary: Sequence[float], baseline: Sequence[float]) -> Test:
    """U of `canary` and its p-values by the normal approximation (ties corrected, continuity
    corrected), as scipy's method="asymptotic". Both samples must be non-empty."""
    n1, n2 = len(canary), len(baseline)
    if not n1 or not n2:
        raise ValueError("both samples need at least one value")
    pooled = sorted([(v, 0) for v in canary] + [(v, 1) for v in baseline])
    n = n1 + n2
    rank_sum = 0.0      # of the canary's values
    ties = 0.0          # sum of t^3 - t over the groups of equal values
    i = 0
    while i < n:
        j = i
        value = pooled[i][0]
        while j + 1 < n and pooled[j + 1][0] == value:
            j += 1
        t = j - i + 1
        if t > 1:
            ties += t * t * t - t
        average = (i + j) / 2 + 1  # ranks start at 1
        rank_sum += average * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        i = j + 1
    u1 = rank_sum - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:  # every value equal: nothing tells the samples apart
        return Test(u=u1, z=0.0, p_greater=1.0, p_less=1.0, p_two_sided=1.0)
    sd = math.sqrt(variance)
    p_greater = _upper_tail((u1 - mean - 0.5) / sd)
    p_less = _upper_tail((n1 * n2 - u1 - mean - 0.5) / sd)
    z = (max(u1, n1 * n2 - u1) - mean - 0.5) / sd
    return Test(u=u1, z=z, p_greater=p_greater, p_less=p_less, p_two_sided=min(1.0, 2 * _upper_tail(z)))


def classify(name: str, canary: Sequence[float], baseline: Sequence[float], *, direction: str = "either",
             tolerance: float = 0.0, confidence: float = 98.0) -> Metric:
    """One metric judged. `tolerance` and `confidence` are percents; NaN and infinities are dropped
    (Kayenta's nanStrategy `remove`)."""
    canary = [v for v in canary if math.isfinite(v)]
    baseline = [v for v in baseline if math.isfinite(v)]
    if len(canary) < MIN_POINTS or len(baseline) < MIN_POINTS:
        return Metric(name, "nodata", None, None, None,
                      f"{name}: too few values (canary {len(canary)}, baseline {len(baseline)}; "
                      f"at least {MIN_POINTS} each)")
    c_median, b_median = _median(canary), _median(baseline)
    change = _change(c_median, b_median)
    test = mann_whitney(canary, baseline)
    alpha = (100.0 - confidence) / 100 / 2  # each direction: one side of the two-sided interval
    checks = []
    if direction in ("increase", "either"):
        checks.append(("high", test.p_greater, change))
    if direction in ("decrease", "either"):
        checks.append(("low", test.p_less, -change))
    outcome, p = "pass", min(p for _, p, _ in checks)
    for label, p_side, worse in checks:
        if p_side < alpha and not (tolerance and worse <= tolerance / 100):
            outcome, p = label, p_side
            break
    shown = "+inf" if change == math.inf else "-inf" if change == -math.inf else f"{change * 100:+.1f}%"
    allowed = f", {tolerance:g}% allowed" if tolerance else ""
    detail = (f"{name}: canary median {_fmt(c_median)} vs baseline {_fmt(b_median)} ({shown}{allowed}), "
              f"p={p:.3g} {'<' if p < alpha else '>='} {alpha:.3g} ({len(canary)}/{len(baseline)} values): "
              f"{outcome}")
    return Metric(name, outcome, c_median, b_median, p, detail)


def score(metrics: Sequence[Metric], *, pass_: float = 95.0, marginal: float = 75.0) -> Verdict:
    """Kayenta's scoreThresholds: score >= pass passes, score < marginal fails, between is marginal.
    Any metric without data leaves the judgement without a value (`nodata`)."""
    metrics = tuple(metrics)
    lines = "; ".join(m.detail for m in metrics)
    missing = [m.name for m in metrics if m.classification == "nodata"]
    if missing or not metrics:
        return Verdict("nodata", None, metrics, f"no judgement: {', '.join(missing) or 'no metric'} without data ({lines})")
    value = 100.0 * sum(m.classification == "pass" for m in metrics) / len(metrics)
    if value >= pass_:
        outcome, against = "pass", f">= pass {pass_:g}"
    elif value < marginal:
        outcome, against = "fail", f"< marginal {marginal:g}"
    else:
        outcome, against = "marginal", f"below pass {pass_:g}, not below marginal {marginal:g}"
    return Verdict(outcome, value, metrics, f"score {value:g} {against} ({lines})")


def _upper_tail(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _change(canary: float, baseline: float) -> float:
    """How much higher the canary's median is, as a fraction of the baseline's (+inf/-inf when the
    baseline's is 0 and the canary's is not)."""
    if baseline == 0:
        return 0.0 if canary == 0 else math.copysign(math.inf, canary)
    return (canary - baseline) / abs(baseline)


def _fmt(value: float) -> str:
    return f"{value:.6g}"
