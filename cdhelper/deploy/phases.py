"""The deploy and record phases of a split promotion (the open phase is promotion.promote with
phase "open"). Repository code runs only in the deploy phase, in a job whose token writes nothing;
the record phase runs none and writes what the deploy job reported, labelled as reported, with the
final state taken from GitHub's own result of that job (docs/rehearse.md, "Where repository code runs").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from cdhelper.core.config import Config
from cdhelper.core.context import RunContext
from cdhelper.core.digests import digest_paths
from cdhelper.core.errors import DeployError, EvidenceError, InputError, RolledBack
from cdhelper.core.escaping import fit
from cdhelper.progressive import rollout, strategies

from . import handoff as handoffs
from . import resume as resumes
from .promotion import PromotionRequest, cd_vars, finish, record_rollback, retire_job_records
from .record_writer import RecordWriter
from .records import read_ledger

JOB_RESULTS = ("success", "failure", "cancelled", "skipped")
REPORTED = "reported by the deploy job"


@dataclass
class Deployed:
    """The deploy phase's outcome: the report for the record job (also when it failed)."""

    report: dict
    error: Exception | None = None
    steps: list = None  # strategies.StepReport, for the summary


def deploy(ctx: RunContext, config: Config, req: PromotionRequest, h: dict, *, client: Callable,  # () -> the GitHub client
           log: Callable[[str], None] = print) -> Deployed:
    """Run the rollout the open job recorded: the artifact checked against the record's digest, the
    hooks and analyses, an automatic rollback on the platform. No write to GitHub: what happened goes
    into the report. `client` is called only if a rollback needs an old release's files."""
    if h["environment"] != req.environment:
        raise InputError(f"handoff is for {h['environment']}, not {req.environment}",
                         "a deploy job continues the promotion its open job made",
                         "pass the open job of the same environment's `handoff` output")
    if h.get("unchanged"):
        log(f"{h['version']} is already live in {h['environment']} from this run (deployment {h['deployment_id']}); "
            "nothing to do")
        return Deployed(handoffs.report(h["deployment_id"], "success", statuses=[]), steps=[])
    if req.artifact_paths:  # the files this job deploys must be the ones the record names
        found = digest_paths(list(req.artifact_paths), list(h["images"])).manifest
        if found != h["digest"]:
            raise EvidenceError(f"the artifact at {', '.join(req.artifact_paths)} is not release {h['version']}",
                                f"its digest is {found} but deployment {h['deployment_id']} records {h['digest']}",
                                "deploy the artifact built by the release job unchanged (download it, never rebuild it)")
    env = config.environment(h["environment"])
    req = replace(req, rollback=h["rollback"], version=h["version"], resume_step=h["resume_step"])
    plan = rollout.plan_for(env, req)
    commands = rollout.check_hooks(plan, env, req)
    statuses: list[str] = []
    try:
        ended = rollout.run(plan=plan, commands=commands, cd_vars=cd_vars(client, ctx, config, req, h),
                            token=ctx.token, analyses=config.analyses, report=statuses.append, log=log,
                            live_slot=h["live_slot"], start=h["resume_step"], full=bool(h.get("full")),
                            hold_seconds=h.get("soak_seconds", 0),
                            previous_artifact=lambda: rollout.previous_artifact(
                                client(), ctx, config, (h["previous"] or {}).get("tag", ""), log))
    except RolledBack as rolled:
        state = "rolled-back" if h["previous"] else "failed"  # a first canary undone takes no traffic
        return Deployed(handoffs.report(h["deployment_id"], state, statuses=statuses, reason=rolled.why), rolled)
    except DeployError as failed:
        return Deployed(handoffs.report(h["deployment_id"], "failed", statuses=statuses, reason=failed.why), failed)
    paused = ended.outcome.paused_at if ended.state == "paused" else 0
    return Deployed(handoffs.report(h["deployment_id"], "paused" if paused else "success", statuses=statuses,
                                    paused_at=paused, reason=ended.description, steps=ended.outcome.steps),
                    steps=ended.outcome.steps)


@dataclass
class Closed:
    deployment_id: int
    state: str  # success | paused | failure | error | unchanged | finished (no handoff: finish's way)
    description: str = ""
    paused_at: int = 0
    rollback_id: int = 0
    ignored_report: str = ""  # why the deploy job's report was not used
    handoff: dict | None = None  # the open job's handoff, parsed (None: there was none)


def close(client, ctx: RunContext, environment: str, raw_handoff: str, job_result: str, raw_report: str,
          *, log: Callable[[str], None] = print, warn: Callable[[str], None] = print) -> Closed:
    """The record job: the deploy job's reported steps as statuses, then the final state from
    `job_result` (GitHub's `needs.<job>.result`), never from the report."""
    if job_result not in JOB_RESULTS:
        raise InputError(f"job-result {job_result[:40]!r} is not a job result",
                         f"GitHub's needs.<job>.result is one of {', '.join(JOB_RESULTS)}",
                         "pass it unchanged: job-result: ${{ needs.<deploy job>.result }}")
    if not raw_handoff.strip():  # the open job ended before its output: close what this run left in flight
        closed = finish(client, ctx, [environment], "failure" if job_result == "failure" else "cancelled")
        log(f"no handoff from the open job: closed {len(closed)} record(s) of this run in {environment}")
        return Closed(closed[0] if closed else 0, "finished")
    h = handoffs.parse_handoff(raw_handoff)
    if h["environment"] != environment:
        raise InputError(f"handoff is for {h['environment']}, not {environment}",
                         "a record job closes the record its open job made",
                         "pass the open job of the same environment's `handoff` output")
    if h.get("unchanged"):
        return Closed(h["deployment_id"], "unchanged", "this run had already deployed it", handoff=h)
    if ctx.ghes:  # GHES has no `deployment: false`: the deploy job, bound to the environment, made a record too
        retire_job_records(client, ctx, environment, read_ledger(client, ctx, [environment]).of(environment),
                           h["deployment_id"], ended_too=True)
    report, why = handoffs.parse_report(raw_report, h)
    if why:
        warn(f"{why}: deployment {h['deployment_id']} is closed from the job's result alone")
    writer, ident, url = RecordWriter(client, ctx), h["deployment_id"], h["url"]
    for text in (report or {}).get("statuses", []):  # cut before the label, which must survive GitHub's cut
        writer.status(ident, "in_progress", strategies.with_resume_time(text, None, after=f" ({REPORTED})"),
                      environment_url=url)
    state = (report or {}).get("state", "")
    reason = f"{fit((report or {}).get('reason', ''), 137 - len(REPORTED))} ({REPORTED})" \
        if (report or {}).get("reason") else ""  # cut cleanly before the label, which must stay whole
    if job_result == "success":
        paused = (report or {}).get("paused_at", 0) if state == "paused" else 0
        # a pause only where the open job's plan may pause (its hold, a step an inconclusive analysis may
        # pause at), and after where this run started: never where the report alone says
        if paused and h["resume_step"] < paused and paused in (h["hold_step"], *h.get("pause_steps", ())):
            description = paused_description(paused, h)
            writer.status(ident, "in_progress", description, environment_url=url)
            return Closed(ident, "paused", description, paused_at=paused, ignored_report=why, handoff=h)
        if paused:  # a pause where the plan may not pause: the job's success proves no live version
            description = f"the deploy job succeeded but reported a pause at step {paused}, where the plan does not pause"
            writer.status(ident, "error", description, environment_url=url)
            return Closed(ident, "error", description, ignored_report=why, handoff=h)
        flip = h.get("flag")
        description = (f"{flip['flag']} is {flip['new']} in {h['environment']}" if flip else
                       f"{h['version']} is live in {h['environment']}")
        writer.status(ident, "success", description, environment_url=url)
        return Closed(ident, "success", description, ignored_report=why, handoff=h)
    if job_result == "failure":
        description = reason or (f"the deploy job failed before {h['flag']['flag']} was {h['flag']['new']}"
                                 if h.get("flag") else f"the deploy job failed before {h['version']} was live")
        writer.status(ident, "failure", description, environment_url=url)
        rollback = 0
        if state == "rolled-back" and h["previous"]:
            rollback = record_rollback(writer, h, reason, production=bool(h.get("production")),
                                       reported_by=f"the deploy job of run {ctx.run_id}")
        return Closed(ident, "failure", description, rollback_id=rollback, ignored_report=why, handoff=h)
    description = (f"the deploy job was cancelled before {h['version']} finished deploying" if job_result == "cancelled"
                   else "the deploy job did not run (skipped)")
    writer.status(ident, "error", description, environment_url=url)
    return Closed(ident, "error", description, ignored_report=why, handoff=h)


def paused_description(step: int, h: dict) -> str:
    """The record job's own paused status: when the hold may resume is this job's clock plus the soak
    the open job read (never a time the deploy job reported), kept through GitHub's 140-character cut;
    at a step where an inconclusive analysis paused, what a person does instead."""
    if step in h.get("pause_steps", ()):  # an inconclusive analysis paused it: a person decides, no soak
        return strategies.inconclusive_pause(step, h["steps"], "an analysis was inconclusive, as the deploy job reported")
    soak = h.get("soak_seconds", 0)
    return strategies.with_resume_time(f"paused at step {step} of {h['steps']}, as the deploy job reported; "
                                       "a later job resumes it", resumes.clock() + timedelta(seconds=soak) if soak else None)
