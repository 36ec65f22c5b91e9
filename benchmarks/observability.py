"""What DORA metrics cost: GitHub API requests and helper time for 10 and 1,000 production
deployments (a year of daily deployments and then some), against the GitHub double.

    python benchmarks/observability.py

The budget is 25 requests at 1,000 deployments: the records are read with GraphQL in pages of 100
with their statuses (REST would need one more request per record), plus one request a page for its
workflow runs' creation times (where lead time starts at the latest). benchmarks/run.py calls bench().
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
    from cdhelper import dora, timeline
    from cdhelper.context import RunContext
    from cdhelper.double import GitHubDouble
    from cdhelper.github_api import GitHubClient
    from cdhelper.records import now
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
        line = timeline.read(client, ctx, "production", since=until - timedelta(days=366), run_times=True)
        metrics = dora.compute("production", line.entries, since=until - timedelta(days=366), until=until)
        elapsed = time.perf_counter() - began
        assert metrics.deployments == count, (metrics.deployments, count)
        return {"requests": gh.total_requests(), "seconds": round(elapsed, 3)}


def bench() -> dict:
    _measure(1)  # imports and the double's GraphQL schema load once, outside the figures
    small, large = _measure(10), _measure(1000)
    return {"dora_requests_at_10": small["requests"], "dora_requests_at_1000": large["requests"],
            "dora_seconds_at_10": small["seconds"], "dora_seconds_at_1000": large["seconds"]}


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
