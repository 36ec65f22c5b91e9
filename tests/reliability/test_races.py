"""Two pipelines promote different candidates to the same environment at the same moment, 50 times,
as separate processes: production never ends on the older candidate, and the loser says why."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

from cdhelper.devtools.double import Fault

from .harness import PipelineRun, new_double

ROUNDS = 50


def _released(tmp_path, gh, version: str, run_id: int) -> PipelineRun:
    work = tmp_path / f"{version}-{run_id}"
    artifact = work / "dist"
    artifact.mkdir(parents=True)
    (artifact / "app.txt").write_text(f"build {version}\n")
    run = PipelineRun(gh, work, run_id=run_id)
    assert run.run("release", "--version", version, "--artifact", str(artifact)).code == 0
    assert run.run("promote", "--environment", "staging", "--version", version, "--mode", "deployment").code == 0
    return run


@pytest.mark.parametrize("first", range(0, ROUNDS, 10))
def test_concurrent_promotions_never_leave_the_older_candidate_live(first, tmp_path):
    for round_ in range(first, first + 10):
        rng = random.Random(round_)
        gh = new_double()
        try:
            older = _released(tmp_path / str(round_), gh, "1.0.0", 100)
            newer = _released(tmp_path / str(round_), gh, "1.1.0", 200)
            # Widen the windows between reading and writing, differently each round.
            gh.inject(Fault("latency", route="POST /repos/{owner}/{repo}/deployments", latency=rng.uniform(0, 0.05),
                            seed=round_),
                      Fault("latency", route="POST /graphql", probability=0.5, latency=rng.uniform(0, 0.05), seed=round_))
            procs = {}
            for run in (older, newer) if rng.random() < 0.5 else (newer, older):
                version = "1.0.0" if run is older else "1.1.0"
                env = {**os.environ, **run.environ(), "GITHUB_ACTIONS": "false"}
                procs[version] = subprocess.Popen(
                    [sys.executable, "-m", "cdhelper", "promote", "--environment", "production", "--version", version,
                     "--mode", "deployment"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            results = {v: (p.wait(timeout=60), p.stdout.read()) for v, p in procs.items()}
            for p in procs.values():
                p.stdout.close()
            repo = gh.repo("acme/app")
            live = [d for d in reversed(repo.deployments.values()) if d["environment"] == "production"
                    and (repo.latest_status(d["id"]) or {}).get("state") == "success"]
            assert live and live[0]["payload"]["version"] == "1.1.0", (round_, results)
            assert results["1.1.0"][0] == 0, (round_, results["1.1.0"][1])
            code, output = results["1.0.0"]
            if code != 0:  # the loser says why
                assert code == 8 and "1.1.0" in output and "newer" in output, (round_, output)
            assert not any(s["state"] == "in_progress" for d in repo.deployments.values()
                           for s in repo.statuses.get(d["id"], [])[-1:]), round_
        finally:
            gh.stop()
