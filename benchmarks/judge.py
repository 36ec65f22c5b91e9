"""The canary judge's cost and calibration (cdhelper/progressive/analysis/judge.py).

    python benchmarks/judge.py

- CPU time per metric for 1,000 values on each side (canary and baseline): the Mann-Whitney U
  test, the medians and the score, as one `compare` sample does per metric (target: at most 5 ms);
- the A/A false-failure rate: the stable version compared with itself (one distribution on both
  sides, 60 values each) over 2,000 seeded comparisons at confidence 98 (expected about 2% with
  direction either, 1% with increase).
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cdhelper.progressive.analysis import judge  # noqa: E402


def _latencies(rng: random.Random, n: int, scale: float = 1.0) -> list[float]:
    return [scale * rng.lognormvariate(-2.3, 0.3) for _ in range(n)]


def bench(repeats: int = 200, aa_runs: int = 2000) -> dict:
    rng = random.Random(1)
    canary, baseline = _latencies(rng, 1000, 1.05), _latencies(rng, 1000)
    judge.score([judge.classify("latency", canary, baseline)])  # warm
    start = time.process_time()
    for _ in range(repeats):
        judge.score([judge.classify("latency", canary, baseline, direction="increase", tolerance=10)])
    cpu_ms = (time.process_time() - start) / repeats * 1000
    rates = {}
    for direction in ("either", "increase"):
        rng = random.Random(2)
        failed = sum(judge.classify("latency", _latencies(rng, 60), _latencies(rng, 60),
                                    direction=direction).classification != "pass" for _ in range(aa_runs))
        rates[direction] = round(100 * failed / aa_runs, 2)
    return {"judge_cpu_ms_per_metric_1000": round(cpu_ms, 3), "judge_aa_runs": aa_runs,
            "judge_aa_false_failure_pct_either": rates["either"],
            "judge_aa_false_failure_pct_increase": rates["increase"]}


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
