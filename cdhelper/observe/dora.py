"""DORA's software delivery performance metrics, from an environment's deployment records alone.

The definitions follow DORA's current guide (dora.dev, "DORA's software delivery performance
metrics", 2024-2025: throughput = change lead time, deployment frequency, failed deployment recovery
time; instability = change failure rate, deployment rework rate). What each means here:

- Deployment frequency: successful deployments of a change (a new digest, not a rollback) in the
  window; also per week.
- Change lead time: per successful change deployment, from the deployed commit's commit date to the
  record's success; the median and the 90th percentile. The deployed commit is the newest of the
  change: older commits shipped with it waited longer, so this is a lower bound. The committer date
  is the pusher's to set, so it is believed only up to when GitHub created the record's workflow
  run (or, when the run cannot be read, the record): a later one is clamped there and reported.
- Change failure rate: of the change deployments that finished, the share that failed (the record
  ended failure or error: the deploy command or an analysis failed) or that a later record rolled
  back (its payload's rollback_of), i.e. that needed immediate intervention. Failures belong to
  releases: a rollback_of naming a flag flip, and a flip that failed, count against the release
  the flip sat on (its payload's previous.deployment_id, through earlier flips).
- Failed deployment recovery time: from a failed deployment (when it went live, or started if it
  never did) to the success of the next deployment of the environment that did not fail itself (a
  rollback or a fix); the median. Failures not yet recovered are counted apart.
- Deployment rework rate: of all successful deployments, the share that were unplanned: rollbacks,
  and the first successful change after a failure (the fix).

Excluded: flag flips (`cdhelper flags set`: they release code already deployed), records still in flight, records cdhelper did not write or untrusted writers wrote,
no-op deployments (the digest that was already live), and runs that deployed nothing (a skipped job
or a re-run that found the version live writes no record).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cdhelper.core.errors import InputError

from .history import Entry

WINDOW = re.compile(r"^(\d{1,3})([dw])$")


def parse_window(raw: str) -> timedelta:
    m = WINDOW.match((raw or "").strip().lower())
    days = (int(m.group(1)) * (7 if m.group(2) == "w" else 1)) if m else 0
    if not 1 <= days <= 366:
        raise InputError(f"window {raw[:40]!r} is not usable", "it is a number of days or weeks up to a year",
                         "give e.g. 30d, 12w or 90d")
    return timedelta(days=days)


@dataclass(frozen=True)
class Metrics:
    environment: str
    since: datetime
    until: datetime
    deployments: int  # successful change deployments
    lead_time_median_s: float | None
    lead_time_p90_s: float | None
    finished_changes: int
    failed_changes: int
    recovery_median_s: float | None
    recovered: int
    unrecovered: int
    rollbacks: int
    rework: int
    successful: int  # every successful deployment, rollbacks included (rework's denominator)
    noops: int
    in_flight: int
    flips: int = 0  # flag flips (`cdhelper flags set`): releases of code already deployed, not deployments
    failures: tuple[int, ...] = field(default=(), compare=False)  # ids of the failed changes
    clamped: tuple[int, ...] = field(default=(), compare=False)  # ids whose commit date was after their run

    @property
    def days(self) -> float:
        return max((self.until - self.since).total_seconds() / 86400, 1e-9)

    @property
    def per_week(self) -> float:
        return self.deployments / self.days * 7

    @property
    def change_failure_rate(self) -> float | None:
        return self.failed_changes / self.finished_changes if self.finished_changes else None

    @property
    def rework_rate(self) -> float | None:
        return self.rework / self.successful if self.successful else None

    def as_json(self) -> dict:
        def r(x, n=4):
            return None if x is None else round(x, n)
        return {"environment": self.environment, "since": self.since.isoformat(), "until": self.until.isoformat(),
                "deployment_frequency": {"deployments": self.deployments, "per_week": r(self.per_week, 2)},
                "change_lead_time": {"median_seconds": r(self.lead_time_median_s, 1), "p90_seconds": r(self.lead_time_p90_s, 1),
                                     "clamped": len(self.clamped), "clamped_deployment_ids": list(self.clamped)},
                "change_failure_rate": {"rate": r(self.change_failure_rate), "failed": self.failed_changes,
                                        "finished": self.finished_changes, "failed_deployment_ids": list(self.failures)},
                "failed_deployment_recovery_time": {"median_seconds": r(self.recovery_median_s, 1),
                                                    "recovered": self.recovered, "unrecovered": self.unrecovered},
                "deployment_rework_rate": {"rate": r(self.rework_rate), "rework": self.rework, "rollbacks": self.rollbacks,
                                           "successful": self.successful},
                "excluded": {"no_op": self.noops, "in_flight": self.in_flight, "flag_flips": self.flips}}


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def compute(environment: str, entries: tuple[Entry, ...] | list[Entry], *, since: datetime, until: datetime) -> Metrics:
    """The metrics of the records created in [since, until). `entries` may reach further back: older
    ones only tell what was live (no-op detection) and which records were rolled back."""
    ordered = sorted(entries, key=lambda e: (e.record.created_at, e.record.id))  # oldest first
    flip_records = {e.record.id: e for e in ordered if _flip(e)}

    def release_of(deployment_id: int) -> int | None:
        """The release record under a flag flip (flips sit on the record that was live), else the id itself."""
        seen = set()
        while deployment_id in flip_records and deployment_id not in seen:
            seen.add(deployment_id)
            below = ((flip_records[deployment_id].record.payload or {}).get("previous") or {}).get("deployment_id")
            if not isinstance(below, int):
                return None
            deployment_id = below
        return None if deployment_id in flip_records else deployment_id

    undone = {release_of(e.rollback_of) for e in ordered if e.rollback_of is not None and e.record.succeeded_at}
    undone |= {release_of(f.record.id) for f in flip_records.values()
               if f.record.state in {"failure", "error"} and f.record.succeeded_at is None}
    live_digest = ""
    changes: list[Entry] = []
    rollbacks: list[Entry] = []
    deploys: list[Entry] = []  # every counted, finished deployment, oldest first
    noops = in_flight = flips = 0
    for e in ordered:
        r = e.record
        inside = since <= r.created_at < until
        if _flip(e):  # a flag flip ships no new code
            flips += inside
            continue
        if e.finished_at is None:
            in_flight += inside and r.state not in {"inactive"}
            if r.succeeded_at:
                live_digest = r.digest
            continue
        noop = e.rollback_of is None and r.digest == live_digest and r.succeeded_at is not None
        if r.succeeded_at is not None:
            live_digest = r.digest
        if not inside:
            continue
        if noop:
            noops += 1
            continue
        deploys.append(e)
        (rollbacks if e.rollback_of is not None else changes).append(e)

    def failed(e: Entry) -> bool:
        return e.record.state in {"failure", "error"} and e.record.succeeded_at is None or e.record.id in undone

    good_changes = [c for c in changes if c.record.succeeded_at is not None]
    leads, clamped = [], []
    for c in good_changes:
        if c.committed_at is None:
            continue
        vouched = c.run_created_at or c.record.created_at  # GitHub's clock, not the pusher's
        if c.committed_at > vouched:
            clamped.append(c.record.id)
        leads.append((c.record.succeeded_at - min(c.committed_at, vouched)).total_seconds())
    failed_changes = [c for c in changes if failed(c)]
    recoveries, unrecovered, fixes = [], 0, set()
    for f in failed_changes:
        start = f.record.succeeded_at or f.record.created_at
        after = [e for e in deploys if e.record.created_at > f.record.created_at and e.record.succeeded_at
                 and not failed(e)]
        if not after:
            unrecovered += 1
            continue
        recoveries.append((after[0].record.succeeded_at - start).total_seconds())
        first_change = next((e for e in after if e.rollback_of is None), None)  # the fix
        if first_change is not None:
            fixes.add(first_change.record.id)
    good_rollbacks = [r for r in rollbacks if r.record.succeeded_at is not None]
    return Metrics(environment=environment, since=since, until=until, deployments=len(good_changes),
                   lead_time_median_s=statistics.median(leads) if leads else None, lead_time_p90_s=_p90(leads),
                   finished_changes=len(changes), failed_changes=len(failed_changes),
                   recovery_median_s=statistics.median(recoveries) if recoveries else None,
                   recovered=len(recoveries), unrecovered=unrecovered, rollbacks=len(good_rollbacks),
                   rework=len(good_rollbacks) + len(fixes), successful=len(good_changes) + len(good_rollbacks),
                   noops=noops, in_flight=in_flight, flips=flips, failures=tuple(f.record.id for f in failed_changes),
                   clamped=tuple(clamped))


def _flip(e: Entry) -> bool:
    """A flag flip (`cdhelper flags set`, task release:flags) or another task that ships no code."""
    return e.task != "deploy" or "flag_release" in (e.record.payload or {})


def weekly(environment: str, entries, *, until: datetime, weeks: int) -> list[Metrics]:
    """The metrics of each of the last `weeks` weeks, oldest first (the trend of each key)."""
    return [compute(environment, entries, since=until - timedelta(weeks=weeks - i), until=until - timedelta(weeks=weeks - i - 1))
            for i in range(weeks)]
