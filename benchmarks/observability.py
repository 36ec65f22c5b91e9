"""What DORA metrics cost: GitHub API requests and helper time for 10 and 1,000 production
deployments (a year of daily deployments and then some), against the GitHub double.

    python benchmarks/observability.py

The budget is 25 requests at 1,000 deployments: the records are read with GraphQL in pages of 100
with their statuses (REST would need one more request per record), plus one request a page for its
workflow runs' creation times (where lead time starts at the latest). The approver's view costs 2
requests (the ledger and one comparison), 3 when production runs commits the candidate lacks (the
comparison the other way round lists them). benchmarks/run.py calls bench().
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOUR = 3600.0


def _measure(count: int) -> dict:
    from cdhelper.core.context import RunContext
    from cdhelper.deploy.records import now
    from cdhelper.devtools.double import GitHubDouble
    from cdhelper.github.client import GitHubClient
    from cdhelper.observe import dora, history
    with GitHubDouble(repos=["acme/app"]) as gh:
        repo = gh.repo("acme/app")
        start = gh.world.clock.now() - count * HOUR
        for i in range(count):
            payload = {"cdhelper": 1, "version": f"1.0.{i}", "digest": f"sha256:{i:064x}", "environment": "production",
                       "run": {"id": 9000 + i, "url": f"https://github.com/acme/app/actions/runs/{9000 + i}"}}
            gh.world.seed_deployments(repo, 1, ["production"], payload=payload, start=start + i * HOUR)
        ctx = RunContext.from_environ({"GITHUB_API_URL": gh.url, "GITHUB_REPOSITORY": "acme/app"}, token="bench")
        client = GitHubClient(ctx)
        gh.reset_log()
        began = time.perf_counter()
        until = now()
        line = history.read_timeline(client, ctx, "production", since=until - timedelta(days=366), run_times=True)
        metrics = dora.compute("production", line.entries, since=until - timedelta(days=366), until=until)
        elapsed = time.perf_counter() - began
        assert metrics.deployments == count, (metrics.deployments, count)
        return {"requests": gh.total_requests(), "seconds": round(elapsed, 3)}


def _brief_requests() -> dict:
    """Requests of the approver's view (`cdhelper brief`, in-process): the common case (production
    runs an ancestor of the candidate) and a diverged one (production runs a hotfix the candidate lacks)."""
    import contextlib
    import io
    import os
    import tempfile
    from unittest import mock

    from cdhelper.cli import main as cli
    from cdhelper.devtools.double import GitHubDouble
    with GitHubDouble(repos=["acme/app"]) as gh, tempfile.TemporaryDirectory() as tmp:
        repo = gh.repo("acme/app")
        art = Path(tmp) / "dist"
        art.mkdir()
        env = {"GITHUB_API_URL": gh.url, "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": "1", "GITHUB_RUN_NUMBER": "1",
               "GITHUB_TOKEN": "bench", "RUNNER_TEMP": tmp, "GITHUB_WORKSPACE": tmp}

        def run(sha: str, *argv: str) -> int:
            with mock.patch.dict(os.environ, {**env, "GITHUB_SHA": sha}), \
                    contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                return cli.main(list(argv))

        def ship(sha: str, version: str, *environments: str) -> None:
            (art / "app.txt").write_text(version)
            assert run(sha, "release", "--version", version, "--artifact", str(art)) == 0
            for name in environments:
                assert run(sha, "promote", "--environment", name, "--version", version, "--mode", "deployment") == 0

        def brief(sha: str) -> int:
            gh.reset_log()
            assert run(sha, "brief", "--environment", "production", "--version", "1.1.0", "--mode", "delivery") == 0
            return gh.total_requests()

        released = repo.resolve("main")
        ship(released, "1.0.0", "staging", "production")
        candidate = gh.world.add_commit(repo, "Add the export button", branch="main")
        ship(candidate, "1.1.0")  # released, not staged: the hotfix below goes through staging first
        ahead = brief(candidate)
        hotfix = gh.world.add_commit(repo, "Stop the crash on login", parent=released, branch="hotfix")
        ship(hotfix, "1.0.1", "staging", "production")
        return {"brief_requests": ahead, "brief_requests_diverged": brief(candidate)}


def bench() -> dict:
    _measure(1)  # imports and the double's GraphQL schema load once, outside the figures
    small, large = _measure(10), _measure(1000)
    return {"dora_requests_at_10": small["requests"], "dora_requests_at_1000": large["requests"],
            "dora_seconds_at_10": small["seconds"], "dora_seconds_at_1000": large["seconds"], **_brief_requests()}


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
