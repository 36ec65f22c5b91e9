"""Resuming a paused rollout (docs/progressive-delivery.md, "Operate a rollout > Resume and soak").

A `pause: hold` ends its job with the record in progress and a paused status that says when it may
resume ("…; may resume after 2026-12-08T10:00:00Z", written by a job that runs nothing of the
repository: the promote job in one job, the record job in the split layout). Whatever resumes it,
the pipeline's soak job (`promote --resume-step`), `cdhelper rollout resume` by hand or on a schedule
(`--due`), checks that time here, from the record's latest trusted status, before anything is
written. The resume itself is promotion.resume: one code path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cdhelper.core.errors import InputError
from cdhelper.progressive import strategies

from . import operations, records
from .records import Record

# Both layouts' paused statuses: "canary 3/4: paused; …" (one job), "paused at step 3 of 4…" (record job)
PAUSED = re.compile(r"^(?:canary (\d+)/\d+: paused|paused at step (\d+) of \d+)")
HOW = {"soak job": "the workflow's soak job resumes it once the soak environment's wait timer ends",
       "rollout resume": "run `cdhelper rollout resume` (or the cd-resume.yml workflow) then",
       "scheduled": "the scheduled resume (cd-resume.yml) takes it once due"}


def clock() -> datetime:
    """Now, in UTC: the one clock of the hold's time and of every resume's check (tests replace it)."""
    return records.now()


@dataclass(frozen=True)
class Pause:
    record: Record
    step: int  # the hold's step number: the resume continues after it
    at: datetime  # when the paused status was written
    resume_after: datetime | None  # as that status records it (None: written before the time was recorded)


def paused(record: Record) -> Pause | None:
    """The hold a record is paused at: its latest trusted status is a pause (not a later "Resuming …",
    which a resume writes first, so two resumes of one hold never both run)."""
    if not record.ours or not record.in_flight or not record.statuses:
        return None
    latest = record.statuses[-1]
    m = PAUSED.match(latest.description)
    if m is None:
        return None
    return Pause(record, int(m.group(1) or m.group(2)), latest.at, strategies.resume_time(latest.description))


def find(environment: str, records_: list[Record], live: Record | None, deployment_id: int = 0) -> Pause:
    """The paused rollout to resume in `environment`: the one `deployment_id` names, else the only one
    in flight (operations.find, which every operation uses), and it must be paused."""
    record = operations.find(records_, live, environment, deployment_id)
    pause = paused(record)
    if pause is None:
        raise InputError(f"deployment {record.id} ({record.version}) in {environment} is not paused",
                         f"its latest status is {record.description[:80]!r}",
                         "resume only a rollout paused at a `pause: hold` (`cdhelper status` shows it)")
    return pause


def due_at(pause: Pause, soak_seconds: Callable[[], float]) -> datetime:
    """When the hold may resume: the time its paused status records; for a status written before that
    was recorded, the status's time plus the soak (`soak_seconds`, read only then)."""
    return pause.resume_after or pause.at + timedelta(seconds=soak_seconds())


def check_due(pause: Pause, environment: str, soak_seconds: Callable[[], float], *, how: str) -> datetime:
    """Refused in one line, nothing written, before the hold's soak has passed. `how`: a key of HOW."""
    due = due_at(pause, soak_seconds)
    left = due - clock()
    if left > timedelta(0):
        minutes = int(left.total_seconds() // 60) + 1
        raise InputError(f"{pause.record.version} in {environment} may resume after {strategies.iso(due)}, "
                         f"{minutes // 60} h {minutes % 60} min from now",
                         f"its hold at step {pause.step} soaks until then (deployment {pause.record.id}'s paused status)",
                         HOW[how])
    return due


def due(ledger, environments: list[str]) -> list[tuple[datetime, str, Pause]]:
    """Every paused hold whose recorded time has passed, across `environments`, oldest due first. A
    hold whose status records no time (written before it was recorded) is left to its soak job."""
    found = []
    for name in environments:
        target = ledger.of(name)
        for record in operations.in_flight(target, records.live_record(target)):
            pause = paused(record)
            if pause is not None and pause.resume_after is not None and pause.resume_after <= clock():
                found.append((pause.resume_after, name, pause))
    return sorted(found, key=lambda item: (item[0], item[2].record.id))
