"""The deployment records read back: what is live where (`status`: one GraphQL request for the whole
path, from the ledger, plus one REST read of the soak environment's wait timer when a rollout is
paused there: when it may resume), and an environment's records over time (`read_timeline`: shared by `history`
and `dora`).

The timeline is read backwards in pages of 100 with GraphQL (REST would need one more request per
record for its statuses). The committer date is the pusher's to set; when each record's workflow run
was created is GitHub's. So for `dora` each page's runs are read too, in one aliased query
(`resource(url:)` per run): a record's lead time starts no later than its run (dora.py clamps and
reports). One more request a page.

Only cdhelper's records written by trusted writers count (records.from_graphql); what was ignored is
returned for the warnings, as everywhere else, and (`uncounted`) as records for the audit, which lists
them apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from cdhelper.core.config import Config
from cdhelper.core.context import RunContext
from cdhelper.core.errors import PermissionDeniedError
from cdhelper.deploy.failures import Failure
from cdhelper.deploy.records import Record, Trust, from_graphql, live_record, parse_time, previous_good, read_ledger
from cdhelper.github import queries

from .rollouts import Rollout, failed_versions, in_flight, with_wait_timer


@dataclass(frozen=True)
class EnvironmentStatus:
    environment: str
    live: Record | None
    previous: Record | None
    latest: Record | None  # newest record of any state (may be in progress or failed)
    rollouts: tuple[Rollout, ...] = ()  # records newer than the live one still in flight or paused, newest first
    failed: tuple[Failure, ...] = ()  # versions whose latest finished rollout here failed or was rolled back

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
                "latest": brief(self.latest), "rollouts": [r.as_json() for r in self.rollouts],
                "failed": [f.as_json() for f in self.failed]}


def status(client, ctx: RunContext, config: Config, *, soak_environment: str = "production-soak",
           ) -> tuple[list[EnvironmentStatus], tuple[str, ...]]:
    """What is live where, what is rolling out or paused ahead of it, which versions failed, and the
    records that were ignored (not written by a trusted writer)."""
    names = [e.name for e in config.environments]
    ledger = read_ledger(client, ctx, names)
    out = []
    for name in names:
        records = ledger.of(name)
        live = live_record(records)
        latest = next((r for r in records if r.ours), None)
        out.append(EnvironmentStatus(name, live, previous_good(records, live), latest, tuple(in_flight(records, live)),
                                     tuple(failed_versions(records))))
    if any(r.state == "paused" and r.resume_after is None for s in out for r in s.rollouts):  # paused before the time was recorded
        minutes = _wait_timer(client, soak_environment)
        out = [replace(s, rollouts=tuple(with_wait_timer(r, minutes) for r in s.rollouts)) for s in out]
    return out, ledger.ignored


def _wait_timer(client, name: str) -> int | None:
    """The soak environment's wait timer in minutes; None when it has none or this token may not read it
    (reading environments needs `actions: read`): status then says what resumes a hold, not when."""
    try:
        environment = client.get_environment(name)
    except PermissionDeniedError:
        return None
    return max((int(rule.get("wait_timer") or 0) for rule in (environment or {}).get("protection_rules") or []
                if rule.get("type") == "wait_timer"), default=0) or None


@dataclass(frozen=True)
class Entry:
    record: Record
    task: str
    committed_at: datetime | None  # the deployed commit's committer date (the pusher sets it)
    run_created_at: datetime | None = None  # when the record's workflow run was created (GitHub's clock)

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
class Uncounted:
    """A deployment of the environment that does not count: cdhelper did not write it, or a writer it
    does not trust did. What it claims is shown (never believed)."""

    record: Record  # its payload is None: nothing in it counts
    claimed: dict  # the payload as written ({} when it is not a JSON object)
    why: str  # the note that says why it was not counted ("" when it is no cdhelper record at all)


@dataclass(frozen=True)
class Timeline:
    environment: str
    entries: tuple[Entry, ...]  # cdhelper's trusted records, newest first
    complete: bool  # False when older records exist beyond what was read
    ignored: tuple[str, ...]
    requests: int
    others: tuple[Entry, ...] = ()  # trusted records of the `also` environments, read in the same pages
    uncounted: tuple[Uncounted, ...] = ()  # the environment's deployments that do not count, newest first


def read_timeline(client, ctx, environment: str, *, since: datetime | None = None, limit: int | None = None,
                  max_pages: int = 14, run_times: bool = False, also: tuple[str, ...] = (),
                  enough: Callable[[list[Entry]], bool] | None = None) -> Timeline:
    """Records of `environment`, newest first, back to at least `since` (the last page may hold older
    ones: the caller filters) or `limit` of them, in at most `max_pages` pages (1,400 records). With
    `run_times`, each entry's run_created_at too (one more request a page). The records of the `also`
    environments are read in the same pages (`others`). Past `since`, reading goes on until
    `enough(entries and others read)` says so, when given (the page count still bounds it)."""
    trust = Trust.of(ctx)
    homes = {name.lower() for name in (environment, *also)}
    entries: list[Entry] = []
    others: list[Entry] = []
    uncounted: list[Uncounted] = []
    ignored: list[str] = []
    before, requests, pages, complete = None, 0, 0, True
    while True:
        data = client.graphql(queries.HISTORY_PAGE_QUERY, {"owner": ctx.owner, "name": ctx.name,
                                                           "env": [environment, *also], "before": before})
        requests += 1
        pages += 1
        connection = data["repository"]["deployments"]
        nodes = connection["nodes"] or []
        by_id = {n["databaseId"]: n for n in nodes}
        page: list[Entry] = []
        for record in from_graphql(nodes, trust):
            ignored.extend(record.notes)
            node = by_id[record.id]
            if not record.ours:
                if record.environment.lower() == environment.lower():
                    uncounted.append(Uncounted(record, _claimed(node.get("payload")), "; ".join(record.notes)))
                continue
            if record.home.lower() not in homes:
                continue
            commit = node.get("commit") or {}
            entry = Entry(record, str(node.get("task") or "deploy"),
                          parse_time(commit["committedDate"]) if commit.get("committedDate") else None)
            (page if record.home.lower() == environment.lower() else others).append(entry)
        created, asked = _run_times(client, page) if run_times else ({}, 0)
        requests += asked
        entries.extend(replace(e, run_created_at=created.get(str(e.record.run.get("url") or ""))) for e in page)
        oldest = parse_time(nodes[0]["createdAt"]) if nodes else None
        more = bool(connection["pageInfo"]["hasPreviousPage"])
        if not more or (since is not None and oldest is not None and oldest < since
                        and (enough is None or enough(entries + others))):
            break
        if (limit is not None and len(entries) >= limit) or pages >= max_pages:
            complete = False  # older records exist that were not read
            break
        before = connection["pageInfo"]["startCursor"]
    if limit is not None and len(entries) > limit:
        entries, complete = entries[:limit], False
    return Timeline(environment, tuple(entries), complete, tuple(dict.fromkeys(ignored)), requests, tuple(others),
                    tuple(uncounted))


def _claimed(raw: str | None) -> dict:
    try:
        payload = json.loads(raw or "null")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _run_times(client, entries: list[Entry]) -> tuple[dict[str, datetime], int]:
    """{run URL: when GitHub created the run} for the runs of `entries` that carry a commit date, in
    one request (0 when there is none). A run GitHub does not resolve (deleted, not readable with
    this token) is left out: its record's own creation time bounds its lead time instead."""
    urls = list(dict.fromkeys(str(e.record.run.get("url") or "") for e in entries if e.committed_at))
    urls = [u for u in urls if u.startswith(("https://", "http://"))]
    if not urls:
        return {}, 0
    data, _failed = client.graphql_partial(queries.run_times(len(urls)), {f"u{i}": u for i, u in enumerate(urls)},
                                           optional=[(f"r{i}",) for i in range(len(urls))])
    found = {}
    for i, url in enumerate(urls):
        node = data.get(f"r{i}") or {}
        if node.get("__typename") == "WorkflowRun" and node.get("createdAt"):
            found[url] = parse_time(node["createdAt"])
    return found, 1
