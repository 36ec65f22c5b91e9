"""An environment's deployment records over time, read backwards in pages of 100 with GraphQL (REST
would need one more request per record for its statuses). Shared by `history` and `dora`.

Only cdhelper's records written by trusted writers count (records.from_graphql); what was ignored is
returned for the warnings, as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .records import DEPLOYMENT_FIELDS, Record, Trust, from_graphql, parse_time

PAGE = 100
QUERY = DEPLOYMENT_FIELDS + """
query($owner: String!, $name: String!, $env: [String!], $before: String) {
  repository(owner: $owner, name: $name) {
    deployments(environments: $env, last: PAGE, before: $before) {
      pageInfo { hasPreviousPage startCursor }
      nodes { ...ledgerRecord task commit { oid committedDate } }
    }
  }
}""".replace("PAGE", str(PAGE))


@dataclass(frozen=True)
class Entry:
    record: Record
    task: str
    committed_at: datetime | None  # the deployed commit's date (lead time starts there)

    @property
    def finished_at(self) -> datetime | None:
        """When the record reached its final state (success, failure, error), else None."""
        r = self.record
        if r.succeeded_at is not None:
            return r.succeeded_at
        return r.changed_at if r.state in {"failure", "error"} else None

    @property
    def rollback_of(self) -> int | None:
        value = (self.record.payload or {}).get("rollback_of")
        return value if isinstance(value, int) else None


@dataclass(frozen=True)
class Timeline:
    environment: str
    entries: tuple[Entry, ...]  # cdhelper's trusted records, newest first
    complete: bool  # False when older records exist beyond what was read
    ignored: tuple[str, ...]
    requests: int


def read(client, ctx, environment: str, *, since: datetime | None = None, limit: int | None = None,
         max_pages: int = 14) -> Timeline:
    """Records of `environment`, newest first, back to at least `since` (the last page may hold older
    ones: the caller filters) or `limit` of them, in at most `max_pages` requests (1,400 records)."""
    trust = Trust.of(ctx)
    entries: list[Entry] = []
    ignored: list[str] = []
    before, requests, complete = None, 0, True
    while True:
        data = client.graphql(QUERY, {"owner": ctx.owner, "name": ctx.name, "env": [environment], "before": before})
        requests += 1
        connection = data["repository"]["deployments"]
        nodes = connection["nodes"] or []
        by_id = {n["databaseId"]: n for n in nodes}
        for record in from_graphql(nodes, trust):
            ignored.extend(record.notes)
            if not record.ours or record.home.lower() != environment.lower():
                continue
            node = by_id[record.id]
            commit = node.get("commit") or {}
            entries.append(Entry(record, str(node.get("task") or "deploy"),
                                 parse_time(commit["committedDate"]) if commit.get("committedDate") else None))
        oldest = parse_time(nodes[0]["createdAt"]) if nodes else None
        more = bool(connection["pageInfo"]["hasPreviousPage"])
        if not more or (since is not None and oldest is not None and oldest < since):
            break
        if (limit is not None and len(entries) >= limit) or requests >= max_pages:
            complete = False  # older records exist that were not read
            break
        before = connection["pageInfo"]["startCursor"]
    if limit is not None and len(entries) > limit:
        entries, complete = entries[:limit], False
    return Timeline(environment, tuple(entries), complete, tuple(dict.fromkeys(ignored)), requests)
