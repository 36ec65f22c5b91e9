"""What the set-up step costs per job, cold and warm, with each installer, in the same run.

    python benchmarks/setup.py

- cold, pinned uv: an empty tool cache and no uv on PATH (a fresh GitHub-hosted runner): the uv
  wheel is fetched from the package index, checked against installer.lock, and installs the lock.
- cold, pip: the same with CDHELPER_INSTALLER=pip and pip's own cache off: the path every job took
  before uv (and the fallback where uv cannot be had).
- cold, uv on PATH: a runner that already has uv (or ran astral-sh/setup-uv).
- warm: the entry is there; the step verifies it against its manifest.
- the template pipeline, cold: every job of workflows-templates/cd-pipeline.yml that runs a cdhelper
  action is a fresh machine on GitHub-hosted runners, so it pays one cold set-up.
The figures depend on the network to the index; the ratios are what to read.
benchmarks/run.py calls bench().
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP = ROOT / "cdhelper" / "bootstrap.py"
SYSTEM_PATH = "/usr/bin:/bin"  # no uv here on the machines this runs on; checked below


def _set_up(cache: Path, **env: str) -> tuple[float, str]:
    base = {"PATH": SYSTEM_PATH, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
            "RUNNER_TOOL_CACHE": str(cache), "GITHUB_REPOSITORY": "acme/app", "GITHUB_REPOSITORY_ID": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-I", "-S", str(BOOTSTRAP)], env={**base, **env}, capture_output=True,
                          text=True, cwd=cache.parent, timeout=600)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout + proc.stderr)
    used = next((line.rsplit("installed with ", 1)[1] for line in proc.stdout.splitlines()
                 if "dependencies installed with" in line), "nothing (warm)")
    return elapsed, used


def _cold(runs: int, **env: str) -> tuple[float, str]:
    times, used = [], set()
    for _ in range(runs):
        scratch = Path(tempfile.mkdtemp(prefix="cdhelper-bench-setup-"))
        try:
            elapsed, how = _set_up(scratch / "tool-cache", **env)
            times.append(elapsed)
            used.add(how)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return statistics.median(times), " / ".join(sorted(used))


def template_jobs_with_cdhelper() -> int:
    workflow = yaml.safe_load((ROOT / "workflows-templates" / "cd-pipeline.yml").read_text())
    return sum(1 for job in workflow["jobs"].values()
               if any("cdhelper/" in str(step.get("uses", "")) for step in job.get("steps", [])))


def bench(runs: int = 3) -> dict:
    assert shutil.which("uv", path=SYSTEM_PATH) is None, "the 'no uv on PATH' runs need a PATH without uv"
    uv_dir = Path(sys.executable).parent
    cold_uv, uv_used = _cold(runs)
    cold_pip, pip_used = _cold(runs, CDHELPER_INSTALLER="pip", PIP_NO_CACHE_DIR="1")
    on_path = {}
    if shutil.which("uv", path=str(uv_dir)):
        on_path["cold_uv_on_path_s"], _ = _cold(runs, PATH=f"{uv_dir}:{SYSTEM_PATH}")
    scratch = Path(tempfile.mkdtemp(prefix="cdhelper-bench-setup-"))
    try:
        _set_up(scratch / "tool-cache")
        warm = statistics.median(_set_up(scratch / "tool-cache")[0] for _ in range(max(7, runs)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    jobs = template_jobs_with_cdhelper()
    return {"cold_uv_s": round(cold_uv, 3), "cold_uv_installer": uv_used,
            "cold_pip_s": round(cold_pip, 3), "cold_pip_installer": pip_used,
            **{k: round(v, 3) for k, v in on_path.items()},
            "cold_speedup": round(cold_pip / cold_uv, 2), "warm_s": round(warm, 3),
            "template_jobs": jobs, "template_cold_uv_s": round(jobs * cold_uv, 2),
            "template_cold_pip_s": round(jobs * cold_pip, 2), "runs": runs}


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
