"""What a rollout costs and how fast it reacts, through the real CLI against the GitHub double.

    python benchmarks/rollout.py

- API requests per canary step: a canary of N weight steps against the same promotion with one
  step; the difference divided by the extra steps (target: 1, the step's own status, no re-reading).
- Detection to rollback: a canary whose analysis fails at a sample; the time from the end of that
  failing sample to the start of the rollback's shift-traffic hook, against the analysis interval
  (target: well under one interval: nothing waits for the next sample or for GitHub).
benchmarks/run.py calls bench().
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INTERVAL = 1.0
CONFIG = """
environments:
  - name: staging
  - name: production
    strategy: {{canary: {{steps: [{steps}]}}}}
    hooks:
      deploy: 'true'
      shift-traffic: 'if [ "$CD_ROLLBACK" = true ]; then date +%s.%N > "{mark}/rollback"; fi'
analysis:
  check:
    command:
      run: 'date +%s.%N > "{mark}/sample"; test "$CD_VERSION" != "2.0.0" || test ! -e "{mark}/armed"'
    interval: {interval}s
    count: 3
"""


def _promote(gh, tmp: Path, steps: int, version: str = "1.0.0", run_id: int = 1) -> tuple[int, int]:
    from cdhelper.cli import main as cli
    weights = [round(100 * (i + 1) / steps) for i in range(steps)]
    mark = tmp / "marks"
    mark.mkdir(exist_ok=True)
    (tmp / ".github").mkdir(exist_ok=True)
    (tmp / ".github" / "cd.yml").write_text(CONFIG.format(
        steps=", ".join(f"{{weight: {w}, analysis: [check]}}" for w in weights), mark=mark, interval=INTERVAL))
    env = {"GITHUB_API_URL": gh.url, "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": str(run_id),
           "GITHUB_RUN_NUMBER": "1", "GITHUB_SHA": gh.repo("acme/app").resolve("main"), "GITHUB_TOKEN": "bench",
           "RUNNER_TEMP": str(tmp / "runner"), "GITHUB_WORKSPACE": str(tmp)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    devnull = open(os.devnull, "w")
    real = sys.stdout, sys.stderr
    try:
        sys.stdout = sys.stderr = devnull
        art = tmp / "dist"
        art.mkdir(exist_ok=True)
        (art / "app.bin").write_text(version)
        assert cli.main(["release", "--version", version, "--artifact", str(art)]) == 0
        assert cli.main(["promote", "--environment", "staging", "--version", version, "--mode", "deployment"]) == 0
        gh.reset_log()
        code = cli.main(["promote", "--environment", "production", "--version", version, "--mode", "deployment"])
        return code, gh.total_requests()
    finally:
        sys.stdout, sys.stderr = real
        devnull.close()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def bench() -> dict:
    from cdhelper.devtools.double import GitHubDouble
    global INTERVAL
    out = {}
    saved_interval, INTERVAL = INTERVAL, 0.01  # request counting: do not wait
    counts = {}
    for steps in (1, 5):
        with GitHubDouble(repos=["acme/app"]) as gh, tempfile.TemporaryDirectory() as tmp:
            code, requests = _promote(gh, Path(tmp), steps)
            assert code == 0, code
            counts[steps] = requests
    out["requests_one_step"], out["requests_five_steps"] = counts[1], counts[5]
    out["requests_per_extra_step"] = round((counts[5] - counts[1]) / 4, 2)
    INTERVAL = saved_interval
    with GitHubDouble(repos=["acme/app"]) as gh, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        assert _promote(gh, tmp, 2)[0] == 0
        (tmp / "marks" / "armed").touch()  # from now on, 2.0.0's samples fail
        started = time.perf_counter()
        code, _ = _promote(gh, tmp, 2, version="2.0.0", run_id=2)
        assert code == 11, code
        detected = float((tmp / "marks" / "sample").read_text())
        rolled = float((tmp / "marks" / "rollback").read_text())
        out["detection_to_rollback_s"] = round(rolled - detected, 3)
        out["analysis_interval_s"] = INTERVAL
        out["rollback_promotion_s"] = round(time.perf_counter() - started, 2)
    return out


if __name__ == "__main__":
    import json
    print(json.dumps(bench(), indent=2))
