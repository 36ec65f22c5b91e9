"""Rollouts in flight or paused, and versions that failed, read from the records' own statuses (no
request of their own: the ledger already reads each record's statuses with their descriptions).

A rollout reports each step as a status description (progressive/strategies.py): "canary 2/4: 50%",
"rolling 1/3: batch deployed", "blue-green 1/2: green deployed", followed, when the step ran
analyses, by " - " and their last values ("canary 2/4: 50% - errors passed: 0.01, 0.012"). In the split
layout the record job posts them after the deploy job ended, each suffixed "(reported by the deploy
job)", and a held rollout ends with "paused at step 3 of 4; the soak job resumes it"; in one job a
hold is "canary 3/4: paused; a later job resumes it". `parse_step` reads all of them, in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from cdhelper.deploy.failures import Failure, last_failure
from cdhelper.deploy.records import Record
from cdhelper.progressive.strategies import resume_time

REPORTED = re.compile(r"\s*\(reported by the deploy job\)\s*$")
STEP = re.compile(r"^(canary|rolling|blue-green) (\d+)/(\d+): (.*)$")
PAUSED = re.compile(r"^paused at step (\d+) of (\d+)")
RESUMING = re.compile(r"^Resuming .* after the (?:hold|pause) at step (\d+)$")
WEIGHT = re.compile(r"^(\d{1,3})%")
NO_STEP = "in progress, no step reported yet"


@dataclass(frozen=True)
class Step:
    """What one status description says of a rollout's progress."""

    step: int  # 1-based; for a resume, the hold it resumes after
    steps: int  # 0 when the text does not say
    weight: int | None  # canary traffic percent, when the text gives one
    what: str  # the rest of the text: "50% - errors passed: 0.01", "paused; a later job resumes it"
    paused: bool = False
    resuming: bool = False
    reported: bool = False  # posted by the record job from the deploy job's report (split layout)


def analysis_of(what: str) -> str:
    """The analyses' values a step's text ends with ("errors passed: 0.01, 0.012"), or ""."""
    return what.split(" - ", 1)[1] if " - " in what else ""


def parse_step(description: str) -> Step | None:
    """The rollout step a status description reports, or None when it reports none ("Queued: …",
    "Deploying …", a final state's reason). Tolerant of both layouts' texts and of GitHub's
    140-character cut."""
    text = description.strip()
    reported = bool(REPORTED.search(text))
    text = REPORTED.sub("", text)
    if m := STEP.match(text):
        rest = m.group(4)
        weight = WEIGHT.match(rest) if m.group(1) == "canary" else None
        return Step(int(m.group(2)), int(m.group(3)), int(weight.group(1)) if weight else None, rest,
                    paused=rest.startswith("paused"), reported=reported)
    if m := PAUSED.match(text):
        return Step(int(m.group(1)), int(m.group(2)), None, text, paused=True, reported=reported)
    if m := RESUMING.match(text):
        return Step(int(m.group(1)), 0, None, text, resuming=True, reported=reported)
    return None


@dataclass(frozen=True)
class Rollout:
    """A record in flight or paused, and what serves the rest of the traffic."""

    deployment_id: int
    version: str
    task: str  # deploy | rollback | flag flip
    strategy: str
    layout: str  # single-job | split
    state: str  # "paused" | "in progress"
    step: int  # 0: no step reported yet
    steps: int
    weight: int | None  # the canary's traffic percent at its last reported weight
    last: str  # the last step's text ("50% - errors passed: 0.01, 0.012"), or NO_STEP
    since: datetime  # when it paused, or else when it started
    started_at: datetime
    resumes: str  # what resumes a paused rollout ("" when in progress)
    resume_after: datetime | None  # when the soak environment's wait timer lets it resume, if known
    behind: Record | None  # the live record: what serves the rest of the traffic
    analysis: str = ""  # the last analysis values reported ("errors passed: 0.01, 0.012"), or ""

    def describe(self) -> str:
        """One line: "2.1.0 canary paused at step 2 of 3 (50%) since 2026-01-02 10:00 UTC; resumed by …"."""
        where = f"step {self.step} of {self.steps}" if self.steps else f"step {self.step}"
        state = f"paused at {where}" if self.state == "paused" else (f"at {where}" if self.step else NO_STEP)
        parts = [f"{self.version} {self.strategy} {state}" + (f" ({self.weight}%)" if self.weight is not None else "")
                 + f" since {self.since:%Y-%m-%d %H:%M} UTC"]
        if self.step and self.state != "paused":
            parts.append(f"last step: {self.last}")
        elif self.analysis:
            parts.append(f"last analysis: {self.analysis}")
        if self.resumes:
            parts.append("resumed by " + self.resumes + (f", not before {self.resume_after:%Y-%m-%d %H:%M} UTC"
                                                         if self.resume_after else ""))
        parts.append(f"the rest of the traffic: {self.behind.version}" if self.behind else
                     "no other version serves (first release)")
        return "; ".join(parts)

    def as_json(self) -> dict:
        return {"deployment_id": self.deployment_id, "version": self.version, "task": self.task,
                "strategy": self.strategy, "layout": self.layout, "state": self.state, "step": self.step,
                "steps": self.steps, "weight": self.weight, "last_step": self.last, "last_analysis": self.analysis,
                "since": self.since.isoformat(), "started_at": self.started_at.isoformat(), "resumes": self.resumes,
                "resume_after": self.resume_after.isoformat() if self.resume_after else None,
                "live_behind": {"deployment_id": self.behind.id, "version": self.behind.version,
                                "digest": self.behind.digest} if self.behind else None}


def task_of(record: Record) -> str:
    """What a record did: a flag flip, a rollback, or a deploy."""
    payload = record.payload or {}
    if "flag_release" in payload:
        return "flag flip"
    return "rollback" if payload.get("rollback_of") else "deploy"


def in_flight(records: list[Record], live: Record | None) -> list[Rollout]:
    """The environment's records newer than what is live and not finished, newest first."""
    out = []
    for record in records:
        if live is not None and record.id <= live.id:
            break
        if record.ours and record.in_flight:
            out.append(rollout_of(record, live))
    return out


def rollout_of(record: Record, live: Record | None) -> Rollout:
    payload = record.payload or {}
    strategy = payload.get("strategy") or {}
    planned = len(strategy.get("steps") or []) or int(strategy.get("batches") or 0)
    step = weight = after = None
    last, measured, paused = NO_STEP, "", False
    for status in record.statuses:
        found = parse_step(status.description)
        if found is None:
            continue
        if found.weight is not None:
            weight = found.weight
        paused = found.paused
        # the time the pause recorded (the record job's own status comes last in the split layout)
        after = resume_time(status.description) if paused and not found.reported else None
        if not found.resuming:
            step = found
        if not (found.resuming or found.paused):
            last = found.what  # a hold's text says nothing of the traffic: the step before it does
            measured = analysis_of(found.what) or measured
    # a pause: since it paused; otherwise since the rollout started
    since = (record.changed_at or record.created_at) if paused else record.created_at
    resumes = ""
    if paused:
        then = f"; then it continues from step {step.step + 1}" if step else ""
        soaked = any(str(s).startswith("hold ") and str(s) != "hold (resumed by a later job)"
                     for s in strategy.get("steps") or [])
        resumes = ("a person: `cdhelper rollout resume` (an analysis was inconclusive; no soak)" + then
                   + ", or `cdhelper rollout abort` undoes it" if step and "inconclusive" in step.what else
                   "the scheduled resume (cd-resume.yml) or `cdhelper rollout resume`, once due" + then if soaked else
                   "the workflow's soak job, once the soak environment's wait timer ends (or `cdhelper rollout "
                   "resume`, once due)" + then)
    return Rollout(record.id, record.version, task_of(record), str(strategy.get("type") or "all-at-once"),
                   str(payload.get("layout") or "single-job"), "paused" if paused else "in progress",
                   step.step if step else 0, (step.steps if step and step.steps else planned), weight, last,
                   since, record.created_at, resumes, after if paused else None, live, measured)


def with_wait_timer(rollout: Rollout, minutes: int | None) -> Rollout:
    """A paused rollout with when its soak ends (`minutes`: the soak environment's wait timer), for a
    paused status written before the time was recorded in it."""
    if rollout.state != "paused" or not minutes or rollout.resume_after is not None:
        return rollout
    return Rollout(**{**rollout.__dict__, "resume_after": rollout.since + timedelta(minutes=minutes)})


def failed_versions(records: list[Record], limit: int = 5) -> list[Failure]:
    """Versions whose latest finished rollout in the environment failed or was rolled back (the
    promotion's own check, failures.last_failure), newest first."""
    out, seen = [], set()
    for record in records:
        if not record.ours or record.digest in seen or "flag_release" in record.payload:
            continue
        seen.add(record.digest)
        failure = last_failure(records, record.digest)
        if failure is not None:
            out.append(failure)
            if len(out) == limit:
                break
    return out
