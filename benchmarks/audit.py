"""What the audit costs: GitHub API requests and helper time for 10 and 1,000 production changes,
each promoted from its own staging record (so 20 and 2,000 records are read), against the double.

    python benchmarks/audit.py

The budget is 2 requests per 100 production changes: production's and staging's records are read
together in GraphQL pages of 100 with their statuses, and the payloads hold the rest (approvers,
evidence, rollbacks, flips, who ran each run). benchmarks/run.py calls bench().
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOUR = 3600.0
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _measure(count: int) -> dict:
    from cdhelper.core.context import RunContext
    from cdhelper.devtools.double import GitHubDouble
    from cdhelper.github.client import GitHubClient
    from cdhelper.observe import audit
    with GitHubDouble(repos=["acme/app"]) as gh:
        repo = gh.repo("acme/app")
        for i in range(count):
            run = {"id": 9000 + i, "attempt": 1, "url": f"https://github.com/acme/app/actions/runs/{9000 + i}",
                   "actor": "bob"}
            common = {"cdhelper": 1, "version": f"1.0.{i}", "digest": f"sha256:{i:064x}", "commit": f"{i:040x}",
                      "run": run, "mode": "delivery", "gate": {"required": True, "environment": "production-approval",
                                                               "approvers": [{"login": "alice", "comment": "ok"}]}}
            at = START.timestamp() + i * HOUR
            [staged] = gh.world.seed_deployments(repo, 1, ["staging"], payload={**common, "environment": "staging"},
                                                 start=at)
            gh.world.seed_deployments(repo, 1, ["production"], start=at + 60, payload={
                **common, "environment": "production", "promoted_from": {"environment": "staging",
                                                                         "deployment_id": staged}})
        ctx = RunContext.from_environ({"GITHUB_API_URL": gh.url, "GITHUB_REPOSITORY": "acme/app"}, token="bench")
        client = GitHubClient(ctx)
        gh.reset_log()
        began = time.perf_counter()
        result = audit.read(client, ctx, environment="production", evidence_environment="staging", since=START,
                            until=datetime(2027, 1, 1, tzinfo=timezone.utc))
        audit.render(result, "csv")
        elapsed = time.perf_counter() - began
        assert len(result.changes) == count and result.complete, (len(result.changes), count)
        return {"requests": gh.total_requests(), "seconds": round(elapsed, 3)}


def bench() -> dict:
    _measure(1)  # imports and the double's GraphQL schema load once, outside the figures
    small, large = _measure(10), _measure(1000)
    return {"audit_requests_at_10": small["requests"], "audit_requests_at_1000": large["requests"],
            "audit_seconds_at_10": small["seconds"], "audit_seconds_at_1000": large["seconds"]}


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
