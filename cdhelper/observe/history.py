"""What is live where: the digest and version in each environment, and the previous good one,
from the deployment records alone (one GraphQL request for the whole path)."""

from __future__ import annotations

from dataclasses import dataclass

from cdhelper.core.config import Config
from cdhelper.core.context import RunContext
from cdhelper.deploy.records import Record, live_record, previous_good, read_ledger


@dataclass(frozen=True)
class EnvironmentStatus:
    environment: str
    live: Record | None
    previous: Record | None
    latest: Record | None  # newest record of any state (may be in progress or failed)

    def as_json(self) -> dict:
        def brief(r: Record | None) -> dict | None:
            if r is None:
                return None
            p = r.payload or {}
            return {"deployment_id": r.id, "version": r.version, "digest": r.digest, "state": r.state,
                    "created_at": r.created_at.isoformat(), "commit": p.get("commit"),
                    "approved_by": [a["login"] for a in (p.get("gate") or {}).get("approvers", [])],
                    "rollback_of": p.get("rollback_of"), "run_url": (p.get("run") or {}).get("url")}
        return {"environment": self.environment, "live": brief(self.live), "previous": brief(self.previous),
                "latest": brief(self.latest)}


def status(client, ctx: RunContext, config: Config) -> tuple[list[EnvironmentStatus], tuple[str, ...]]:
    """What is live where, and the records that were ignored (not written by a trusted writer)."""
    names = [e.name for e in config.environments]
    ledger = read_ledger(client, ctx, names)
    out = []
    for name in names:
        records = ledger.of(name)
        live = live_record(records)
        latest = next((r for r in records if r.ours), None)
        out.append(EnvironmentStatus(name, live, previous_good(records, live), latest))
    return out, ledger.ignored
