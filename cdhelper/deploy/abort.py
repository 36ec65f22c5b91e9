"""`cdhelper rollout abort`: undo a paused or interrupted rollout exactly as the automated rollback
does (strategies.undo), and record it (docs/progressive-delivery.md, "Operate a rollout").

Like a split promotion it has three phases. `open` reads the ledger (one request), finds the rollout
(operations.find) and hands over a promotion handoff for it, with who aborts and why; it writes
nothing and runs nothing of the repository. `deploy` runs the undo hooks from a handoff (the abort's,
or a cancelled promotion's in the cleanup job) and makes no request to GitHub, except, as the
automated rollback, for the previous release's files when a redeploy needs them. `close` ends the
aborted record `failure` ("aborted by ACTOR (run N): REASON; E is back on V") and, when a version is
live again, writes its rollback record (`aborted_by`), after traffic is back. No gate: an abort
never waits for a reviewer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cdhelper.core.config import Config
from cdhelper.core.context import RunContext
from cdhelper.core.errors import DeployError, InputError
from cdhelper.progressive import rollout, strategies

from . import handoff as handoffs
from . import operations
from .phases import JOB_RESULTS, Deployed
from .promotion import PromotionRequest, cd_vars, record_rollback
from .record_writer import RecordWriter
from .records import read_ledger

REASON_MAX = 500  # the handoff keeps it whole; the status keeps what fits
DESCRIPTION_MAX = 140


@dataclass
class Opened:
    handoff: dict | None  # None: already aborted, nothing to do
    already: str = ""  # what says it was already aborted


@dataclass
class Aborted:
    deployment_id: int
    state: str  # "aborted" | "already aborted"
    description: str
    rollback_id: int = 0


def open_abort(client, ctx: RunContext, config: Config, environment: str, *, deployment_id: int = 0,
               reason: str = "", warn: Callable[[str], None] = print) -> Opened:
    env = config.environment(environment)
    reason = " ".join(reason.split()) or "no reason given"
    if len(reason) > REASON_MAX:
        raise InputError(f"reason is {len(reason)} characters long", f"the record keeps at most {REASON_MAX}",
                         "say why in a sentence and link to the details")
    ledger = read_ledger(client, ctx, [env.name])
    for note in ledger.ignored:
        warn(note)
    records = ledger.of(env.name)
    done = operations.last_abort(records, deployment_id)
    if done is not None:
        aborted, rolled = done
        by = f" by deployment {rolled.id}" if rolled else ""
        return Opened(None, f"deployment {aborted.id} ({aborted.version}) in {env.name} was already aborted{by}: "
                            f"{aborted.description}; nothing written")
    live = _live(records)
    record = operations.find(records, live, env.name, deployment_id)
    return Opened(handoff_for(env, record, live, actor=ctx.actor or "unknown", reason=reason))


def _live(records: list, below: int = 0):
    """What runs in the environment (older than record `below`, if given): the rollout's way back."""
    return next((r for r in records if r.ours and r.live and "flag_release" not in (r.payload or {})
                 and (not below or r.id < below)), None)


def handoff_for(env, record, live, *, actor: str, reason: str) -> dict:
    """A promotion handoff for an in-flight `record` (the deploy and close phases read no other shape),
    with who aborts and why."""
    payload = record.payload or {}
    strategy = payload.get("strategy") if isinstance(payload.get("strategy"), dict) else {"type": "all-at-once"}
    kind = strategy.get("type", "all-at-once")
    steps = {"canary": len(strategy.get("steps") or []), "rolling": int(strategy.get("batches") or 1),
             "blue-green": 2}.get(kind, 1)
    lp = (live.payload or {}) if live else {}
    return {
        "v": 1, "environment": env.name, "production": env.production, "deployment_id": record.id,
        "node_id": record.node_id, "version": record.version, "digest": record.digest,
        "tag": str(payload.get("tag", "")), "commit": str(payload.get("commit", "")),
        "images": list(payload.get("images") or []), "mode": payload.get("mode") or "deployment",
        "rollback": False, "rollback_of": payload.get("rollback_of"), "resume_step": 0, "hold_step": 0,
        "steps": max(1, steps), "strategy": kind, "live_slot": rollout.live_slot(live), "url": env.url,
        "unchanged": False, "gate": payload.get("gate") or {}, "abort": {"actor": actor, "reason": reason},
        "previous": None if live is None else {
            "version": live.version, "digest": live.digest, "deployment_id": live.id, "tag": str(lp.get("tag", "")),
            "commit": str(lp.get("commit", "")), "images": list(lp.get("images") or []),
            "strategy": lp.get("strategy") or "all-at-once"},
    }


def plan_of(h: dict) -> strategies.Plan:
    """What the undo needs of the plan: its type (and a rolling rollout's batches), from the handoff."""
    kind = h.get("strategy") or "all-at-once"
    return strategies.Plan(kind, batches=h["steps"] if kind == "rolling" else 1)


def deploy(ctx: RunContext, config: Config, h: dict, *, command: str = "", client: Callable,
           log: Callable[[str], None] = print) -> Deployed:
    """Run the undo hooks for the handoff's record. No write to GitHub: what happened goes into the
    report. A failed undo hook is an error (the record stays in flight: abort again)."""
    env = config.environment(h["environment"])
    plan = plan_of(h)
    req = PromotionRequest(environment=env.name, version=h["version"], mode=h["mode"], command=command, phase="deploy")
    commands = rollout.check_hooks(plan, env, req)
    if plan.type == "all-at-once" and h["previous"] and not commands.get("deploy"):
        # Nothing would run, yet the record would say the previous version is back: refuse instead.
        failed = DeployError(f"the abort of deployment {h['deployment_id']} cannot redeploy {h['previous']['version']}",
                             f"{env.name} has no deploy command (no hooks.deploy in .github/cd.yml, no `run`)",
                             "pass the deploy command as `run` (the promote step's), or add hooks.deploy to "
                             f"{env.name} in .github/cd.yml")
        return Deployed(handoffs.report(h["deployment_id"], "failed", statuses=[], reason=failed.why), failed, steps=[])
    statuses: list[str] = []
    try:
        ended = rollout.run(plan=plan, commands=commands, cd_vars=cd_vars(client, ctx, config, req, h),
                            token=ctx.token, analyses={}, report=statuses.append, log=log,
                            live_slot=h["live_slot"], abort=True,
                            previous_artifact=lambda: rollout.previous_artifact(
                                client(), ctx, config, (h["previous"] or {}).get("tag", ""), log))
    except DeployError as failed:
        return Deployed(handoffs.report(h["deployment_id"], "failed", statuses=statuses, reason=failed.why), failed,
                        steps=[])
    state = "rolled-back" if ended.outcome.undone and h["previous"] else "success"
    return Deployed(handoffs.report(h["deployment_id"], state, statuses=statuses, reason=ended.description,
                                    steps=ended.outcome.steps), steps=ended.outcome.steps)


def close(client, ctx: RunContext, h: dict, job_result: str, raw_report: str, *, reason: str = "",
          log: Callable[[str], None] = print) -> Aborted:
    """Record the abort from GitHub's result of the job that ran the undo (`job_result`); its report
    only says whether a version is live again. Re-run, it finds the abort and writes nothing."""
    if job_result not in JOB_RESULTS:
        raise InputError(f"job-result {job_result[:40]!r} is not a job result",
                         f"GitHub's needs.<job>.result is one of {', '.join(JOB_RESULTS)}",
                         "pass it unchanged: job-result: ${{ needs.<undo job>.result }}")
    ident, where = h["deployment_id"], h["environment"]
    done = operations.last_abort(read_ledger(client, ctx, [where]).of(where), ident)
    if done is not None:
        return Aborted(ident, "already aborted", f"deployment {ident} was already aborted: {done[0].description}",
                       done[1].id if done[1] else 0)
    if job_result != "success":
        raise DeployError(f"the abort of deployment {ident} in {where} did not finish",
                          f"the job that ran its undo ended {job_result}: the platform may be part-way back",
                          "read that job's log, then run `cdhelper rollout abort` again (nothing was recorded)")
    _, why = handoffs.parse_report(raw_report, h)
    if why:
        log(f"{why}: recorded from the job's result and the handoff alone")
    return _record(client, ctx, h, reason=reason, reported_by=f"the undo job of run {ctx.run_id}")


def undoes(h: dict) -> bool:
    """Whether a finished undo puts a version back (from the handoff, trusted): a canary always takes
    its traffic away; blue-green switches back to a slot that served; the others redeploy what ran."""
    if h.get("strategy") == "blue-green":
        return bool(h["live_slot"]) and bool(h["previous"])
    return bool(h["previous"]) or h.get("strategy") == "canary"


def _record(client, ctx: RunContext, h: dict, *, reason: str, reported_by: str = "") -> Aborted:
    """The aborted record ends failure, then (a version live again) its rollback record."""
    abort = h.get("abort") or {"actor": f"the cleanup job of run {ctx.run_id}",
                               "reason": " ".join(reason.split())[:REASON_MAX] or "its run did not finish"}
    where, previous = h["environment"], h["previous"]
    if not undoes(h):
        back = "nothing ran there before: nothing to undo"
    else:
        back = f"{where} is back on {previous['version']}" if previous else \
            f"nothing ran there before: {h['version']} takes no traffic"
    head, tail = f"{operations.ABORTED}{abort['actor']} (run {ctx.run_id}): ", f"; {back}"
    room = max(20, DESCRIPTION_MAX - len(head) - len(tail))  # GitHub keeps 140: the outcome must not be cut
    why = abort["reason"] if len(abort["reason"]) <= room else abort["reason"][:room - 1] + "…"
    description = head + why + tail
    writer = RecordWriter(client, ctx)
    writer.status(h["deployment_id"], "failure", description, environment_url=h["url"])
    rolled = 0
    if undoes(h) and previous:
        rolled = record_rollback(writer, h, description, production=bool(h.get("production")),
                                 reported_by=reported_by, aborted_by=abort["actor"])
    return Aborted(h["deployment_id"], "aborted", description, rolled)


def run_all(client, ctx: RunContext, config: Config, environment: str, *, deployment_id: int = 0, reason: str = "",
            command: str = "", log: Callable[[str], None] = print, warn: Callable[[str], None] = print) -> Aborted:
    """The three phases in one process (the single-job layout, or by hand)."""
    opened = open_abort(client, ctx, config, environment, deployment_id=deployment_id, reason=reason, warn=warn)
    if opened.handoff is None:
        return Aborted(deployment_id, "already aborted", opened.already)
    h = opened.handoff
    done = deploy(ctx, config, h, command=command, client=lambda: client, log=log)
    if done.error is not None:
        raise done.error
    return _record(client, ctx, h, reason=reason)


def cleanup_undo(client, ctx: RunContext, config: Config, job_status: str, *, command: str = "",
                 log: Callable[[str], None] = print) -> Callable:
    """For `finish` (the single-job layout's cleanup job): a record of this run left in flight by a
    failed or cancelled job, whose rollout started (in progress), is undone as an abort and recorded;
    the callable says whether it did. A failed undo leaves the record to finish's `error`."""
    def undo(record, records: list) -> bool:
        if job_status not in ("failure", "cancelled") or record.state != "in_progress":
            return False
        env = config.environment(record.environment)
        h = handoff_for(env, record, _live(records, below=record.id), actor=f"the cleanup job of run {ctx.run_id}",
                        reason=f"the job ended {job_status} while the rollout was in flight or paused")
        if not undoes(h):  # nothing to take back on the platform: finish closes it as before
            return False
        done = deploy(ctx, config, h, command=command, client=lambda: client, log=log)
        if done.error is not None:
            log(f"the undo of deployment {record.id} failed: {done.report['reason']}")
            return False
        _record(client, ctx, h, reason="")
        return True
    return undo
