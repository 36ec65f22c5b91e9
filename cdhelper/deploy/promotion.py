"""Promote a release candidate to one environment of the path.

Everything is checked before anything is written: the candidate's tag, the artifact's digest,
ordering against what is live, evidence from the previous environment, and (delivery mode) the
gate's approval. Then one deployment record is created (or a re-run's own record continued),
moved to in_progress, the user's deploy command runs, and the record always ends in success,
failure or error, even when the job is cancelled.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cdhelper.core import versions
from cdhelper.core.config import Config, Environment
from cdhelper.core.context import RunContext
from cdhelper.core.digests import Artifact, digest_paths, parse_digest
from cdhelper.core.errors import DeployError, EvidenceError, InputError, NotFoundError, OrderingError, RolledBack
from cdhelper.github.client import ApiFailure, GitHubClient
from cdhelper.progressive import rollout, strategies
from cdhelper.release import artifacts
from cdhelper.release.tagging import Candidate, read_candidate, tag_name

from . import failures, flags, handoff
from . import gate as gates
from . import resume as resumes
from .record_writer import RecordWriter, build_payload, previous_of, record_file, remove_marker
from .records import FINAL_STATES, CommitFacts, Record, Trust, live_record, now, read_ledger


@dataclass(frozen=True)
class PromotionRequest:
    environment: str
    version: str
    mode: str
    artifact_paths: tuple[str, ...] = ()
    expected_digest: str = ""
    rollback: bool = False
    command: str = ""
    environment_url: str = ""
    gated: bool = False  # the workflow marks this promotion as gated in delivery mode, whatever cd.yml says
    gate_job: str = gates.DEFAULT_GATE_JOB  # the gate job's name, to tell attempts of a re-run apart
    strategy: strategies.Plan | None = None  # the promote action's `strategy` input, over cd.yml's
    resume_step: int = 0  # continue this run's paused rollout from this step (the resume job)
    soak_environment: str = "production-soak"  # holds the job that resumes a `pause: hold` (its wait timer)
    soak_named_by: str = "the `soak-environment` input"  # how the user names another, for the refusal's fix
    dry_run: bool = False  # every check, reads only; say what would be written instead of writing it
    acknowledge_failure: str = ""  # why promoting again what failed or was rolled back here is fine (recorded)
    # "all": one job checks, records and deploys (the single-job layout); "open": this job checks and
    # opens the record and runs nothing of the repository; the deploy and record phases are in phases.py
    phase: str = "all"
    full: bool = False  # a resume: skip the remaining steps, one shift to 100% (`rollout resume --full`)
    resumed_by: str = "soak job"  # what resumes a hold (resume.HOW): named in the refusal of an early resume


@dataclass
class PromotionResult:
    candidate: Candidate
    environment: str
    deployment_id: int
    state: str  # "success"; "paused" at a `pause: hold` step; "unchanged" when this run had already deployed it
    gate: gates.GateDecision
    previous: Record | None = None
    rollback_of: int | None = None
    warnings: list[str] = field(default_factory=list)
    node_id: str = ""
    ignored: tuple[str, ...] = ()  # records and statuses not counted: their writer is not trusted
    plan: strategies.Plan | None = None
    steps: list = field(default_factory=list)  # strategies.StepReport of the rollout
    paused_at: int = 0  # the step a resume job continues from (0: not paused)
    rollback_id: int = 0  # the record of an automatic rollback
    would: dict | None = None  # a dry run: the writes the real run would make
    live_slot: str = ""  # blue-green: the slot serving before this promotion
    handoff: dict | None = None  # the open phase: what the deploy and record jobs continue from
    soak_seconds: float = 0.0  # how long a hold soaks (its `soak:` or the soak environment's wait timer)


def promote(client: GitHubClient, ctx: RunContext, config: Config, req: PromotionRequest, *,
            log: Callable[[str], None] = print, warn: Callable[[str], None] | None = None) -> PromotionResult:
    """`warn` hears of every record or status that was not counted because of its writer, before
    any decision is taken on what remains."""
    env = config.environment(req.environment)
    upstream = config.previous(env.name)
    version = versions.parse(req.version)
    tag = tag_name(config.tag_prefix, str(version))
    names = [env.name] + ([upstream.name] if upstream else [])
    gated = (req.gated or config.is_gated(env.name)) and req.mode == "delivery"
    if gated and not ctx.run_id:
        raise InputError("no workflow run id", "the gate is verified against this run's approvals (GITHUB_RUN_ID)",
                         "run inside GitHub Actions, or set GITHUB_RUN_ID to the run that holds the approval")
    check_temp_dir(ctx)
    rollout.check_freeze(config, env, req)
    plan = rollout.plan_for(env, req)
    commands = rollout.check_hooks(plan, env, req)
    ledger = read_ledger(client, ctx, names, tag=tag, contexts=bool(env.required_contexts),
                         run_url=ctx.run_url if gated else None, gate=config.gate_environment if gated else None,
                         probe_mutation=True)
    for note in ledger.ignored:
        (warn or log)(note)
    if env.name in ledger.doubts:
        raise EvidenceError(f"nothing can be promoted to {env.name} now",
                            f"cdhelper cannot tell what is live there: {ledger.doubts[env.name]}",
                            "remove the deployments and statuses the warnings name (an admin can mark a deployment "
                            "inactive, then DELETE it), and find out which token wrote them")
    candidate = _candidate(ledger.tag_message, ledger.tag_commit, tag)
    if candidate.version != str(version):  # the ref name and the message must tell the same story
        raise EvidenceError(f"tag {tag!r} cannot be promoted", f"its message records version {candidate.version[:60]!r}",
                            "promote the version the tag was made for; never reuse or hand-edit tags")
    _check_artifact(candidate, req)
    target = ledger.of(env.name)
    # This run's record of the candidate, continued by a re-run; not one an abort or rollback has undone
    # since (a newer record names it `rollback_of`): that one is history, the re-run deploys anew.
    undone = {r.payload.get("rollback_of") for r in target if r.ours}
    mine = next((r for r in target if r.of_run(ctx.run_id) and r.digest == candidate.manifest
                 and r.id not in undone), None)
    live = live_record(target)
    if req.resume_step:
        if mine is None:
            raise InputError(f"nothing to resume in {env.name}",
                             f"run {ctx.run_id} holds no rollout of {candidate.version} in progress there",
                             "resume only after a promotion of this run paused (its `paused` output is true)")
        return _opened(resume(client, ctx, config, env, req, candidate, mine, plan, commands, log, ledger,
                              gated=gated), req, env, plan, config.analyses)
    if mine is not None and mine.state == "success" and req.dry_run:
        return PromotionResult(candidate, env.name, mine.id, "unchanged",
                               _gate_from_payload(mine.payload, config.gate_environment), previous=live,
                               ignored=ledger.ignored, would={"writes": []})
    if mine is not None and mine.state == "success":
        log(f"{candidate.version} is already live in {env.name} from this run (deployment {mine.id}); nothing to do")
        return _opened(PromotionResult(candidate, env.name, mine.id, "unchanged",
                                       _gate_from_payload(mine.payload, config.gate_environment), previous=live,
                                       ignored=ledger.ignored, node_id=mine.node_id, plan=plan), req, env, plan, config.analyses)
    # What runs there now, even with the same digest under another version: a rollback returns to it.
    previous = live if live is None or mine is None or live.id != mine.id else None
    rollback_of = _check_order(candidate, live, target, req, env)
    acknowledged = None if req.rollback else failures.check_promotion(target, candidate, env.name,
                                                                        req.acknowledge_failure, ctx.run_id)
    promoted_from = None if req.rollback else _check_evidence(
        candidate, upstream, ledger.of(upstream.name) if upstream else [], env,
        ledger.doubts.get(upstream.name, "") if upstream else "")
    _check_contexts(ledger.commit, env, candidate, Trust.of(ctx))
    warnings = _superseded(target, candidate, ctx.run_id)
    decision = (gates.verify(client, ctx, ledger, gate_environment=config.gate_environment, target=env.name,
                             gate_job=req.gate_job) if gated else
                gates.not_required(config.gate_environment, ungated=env.name if req.mode == "delivery" else ""))
    rollout.preflight(config, plan, candidate, env)
    soak = rollout.check_soak(client, plan, req)
    slot = rollout.next_slot(plan, live)
    payload = _payload(candidate, env, req, ctx, decision, promoted_from, rollback_of, previous, plan.payload(slot),
                       acknowledged)
    if req.phase == "open":
        payload = {**payload, "layout": "split"}  # its steps and failure come from a record job, as reported
    if req.dry_run:
        return PromotionResult(candidate, env.name, mine.id if mine else 0, "dry-run", decision, previous, rollback_of,
                               warnings, ignored=ledger.ignored, plan=plan,
                               would=_would(candidate, env, req, plan, payload, mine, commands))
    deployment_id, node = (mine.id, mine.node_id) if mine is not None else RecordWriter(client, ctx).create(
        environment=env.name, payload=payload, description=_description(candidate, payload), production=env.production,
        before=target, what=f"the deployment of {candidate.version} to {env.name}",
        required_contexts=env.required_contexts, refused=lambda failure: _refusal(failure, candidate, env))
    if ctx.ghes:
        retire_job_records(client, ctx, env.name, target, deployment_id)
    result = PromotionResult(candidate, env.name, deployment_id, "success", decision, previous, rollback_of, warnings,
                             node_id=node, ignored=ledger.ignored, plan=plan, live_slot=rollout.live_slot(live),
                             soak_seconds=soak)
    settled = {r.id for r in target if r.state in FINAL_STATES}
    _deploy(client, ctx, config, env, req, result, settled, log, commands=commands)
    return _opened(result, req, env, plan, config.analyses)


def _opened(result: PromotionResult, req: PromotionRequest, env: Environment, plan, analyses) -> PromotionResult:
    """The open phase ends with the record in progress (or already final) and its handoff."""
    if req.phase == "open" and not req.dry_run and result.state != "scheduled":
        result.handoff = handoff.of(result, req, env, plan, analyses)
        if result.state == "success":
            result.state = "open"
    return result


def resume(client, ctx, config, env, req, candidate, record: Record, plan, commands, log, ledger, *,
           gated: bool) -> PromotionResult:
    """Continue a paused rollout from its hold, on its own record: the pipeline's soak job (this run's
    record) and `rollout resume` (any run's) alike. Checked before anything is written: the record is
    paused at this plan's hold, its soak has passed (resume.check_due), and in delivery mode a gated
    environment's gate approved this run."""
    if record.state not in {"in_progress", "queued"}:
        raise InputError(f"nothing to resume in {env.name}",
                         f"deployment {record.id} ({record.version}) is {record.state}, not in progress",
                         "resume only a rollout paused at a `pause: hold` (`cdhelper status` shows it)")
    holds = [i + 1 for i, step in enumerate(plan.steps) if step.kind == "hold"]  # one at most (strategies.py)
    inconclusive = req.resume_step in strategies.pausing_steps(plan, config.analyses)  # a person's pause: no soak
    if req.resume_step not in holds and not inconclusive:  # another step would skip the rest of the plan yet record success
        raise InputError(f"resume-step {req.resume_step} is not where the rollout of {env.name} paused",
                         f"its plan holds at step {holds[0]}" if holds else "its plan has no `pause: hold`",
                         "pass the paused promotion's `step` output through unchanged")
    pause = resumes.paused(record)
    if pause is None or pause.step != req.resume_step:
        raise InputError(f"deployment {record.id} ({record.version}) in {env.name} is not paused at step {req.resume_step}",
                         f"its latest status is {record.description[:80]!r}",
                         "resume only a rollout paused at its hold; a resume already under way writes \"Resuming …\"")
    soak = 0.0

    def soak_seconds() -> float:  # only for a paused status written before the time was recorded
        nonlocal soak
        soak = soak or rollout.check_soak(client, plan, req)
        return soak
    if inconclusive and req.resumed_by != "rollout resume":
        # the soak job or the scheduled resume never continue what an inconclusive analysis paused: a person does
        log(f"{record.version} in {env.name} is paused at step {req.resume_step}, where an analysis was inconclusive: "
            "a person resumes it (`cdhelper rollout resume`) or aborts it (`cdhelper rollout abort`)")
        return PromotionResult(candidate, env.name, record.id, "scheduled", _gate_from_payload(
            record.payload, config.gate_environment), ignored=ledger.ignored, node_id=record.node_id, plan=plan)
    hold = plan.steps[req.resume_step - 1] if plan.steps else strategies.Step("weight")
    if req.resumed_by == "soak job" and hold.seconds and resumes.clock() < resumes.due_at(pause, soak_seconds):
        # a `soak:` hold needs no wait timer: the soak job, started at once, leaves it to a later resume
        log(f"{record.version} in {env.name} soaks until {strategies.iso(resumes.due_at(pause, soak_seconds))} "
            "(its `soak:`): the scheduled resume (cd-resume.yml) or `cdhelper rollout resume` continues it then")
        return PromotionResult(candidate, env.name, record.id, "scheduled", _gate_from_payload(
            record.payload, config.gate_environment), ignored=ledger.ignored, node_id=record.node_id, plan=plan)
    if req.full and pause.resume_after is not None and resumes.clock() < pause.resume_after:
        # Argo's `promote --full` skips pauses too: a person's decision, through the gate in delivery mode.
        log(f"the soak of {record.version} in {env.name} until {strategies.iso(pause.resume_after)} is skipped (--full)")
    elif not inconclusive:  # no soak applies to a person's decision on an inconclusive analysis
        resumes.check_due(pause, env.name, soak_seconds, how=req.resumed_by)
    if gated and req.dry_run:  # the scheduled resume asks first whether its gate job must run
        decision = gates.GateDecision(True, config.gate_environment)
    elif gated:
        decision = gates.verify(client, ctx, ledger, gate_environment=config.gate_environment, target=env.name,
                                gate_job=req.gate_job)
    else:
        decision = _gate_from_payload(record.payload, config.gate_environment)
    live = live_record([r for r in ledger.of(env.name) if r.id != record.id])
    result = PromotionResult(candidate, env.name, record.id, "success", decision,
                             live, record.payload.get("rollback_of"), node_id=record.node_id, ignored=ledger.ignored,
                             plan=plan, live_slot=rollout.live_slot(live), soak_seconds=soak)
    if req.dry_run:
        result.state = "dry-run"
        result.would = {"writes": [f"continue deployment {record.id} from step {req.resume_step}"
                                   + (" to 100% at once (--full)" if req.full else "") + ": its statuses, then the final one"],
                        "commands": sorted(commands)}
        return result
    _deploy(client, ctx, config, env, req, result, set(), log, commands=commands, resume=True)
    return result


@dataclass(frozen=True)
class ResumeRequest:
    """`cdhelper rollout resume`: which paused rollout, and how (docs/progressive-delivery.md)."""

    environment: str  # "" with `due`
    mode: str
    deployment_id: int = 0
    full: bool = False
    due: bool = False  # the oldest hold whose time has passed, across the path
    phase: str = "all"
    dry_run: bool = False
    gated: bool = False
    gate_job: str = gates.DEFAULT_GATE_JOB
    soak_environment: str = "production-soak"
    command: str = ""
    environment_url: str = ""


def resume_rollout(client: GitHubClient, ctx: RunContext, config: Config, req: ResumeRequest, *,
                   log: Callable[[str], None] = print, warn: Callable[[str], None] | None = None) -> PromotionResult | None:
    """Resume a paused rollout of any run on its own record (None: `due` and nothing is due). One read
    finds it; a second reads its tag (the candidate checked as a promotion checks it) and, when gated,
    this run's approval; then `resume`, the soak job's own path."""
    check_temp_dir(ctx)
    names = [e.name for e in config.environments] if req.due else [config.environment(req.environment).name]
    first = read_ledger(client, ctx, names)
    if req.due:
        found = resumes.due(first, names)
        if not found:
            log("nothing due: no paused hold has reached its time in " + ", ".join(names))
            return None
        _, name, pause = found[0]
        log(f"due: deployment {pause.record.id} ({pause.record.version}) in {name}"
            + (f"; {len(found) - 1} more due after it (the next run takes the next)" if len(found) > 1 else ""))
    else:
        name = names[0]
        target = first.of(name)
        pause = resumes.find(name, target, live_record(target), req.deployment_id)
    env = config.environment(name)
    record = pause.record
    gated = (req.gated or config.is_gated(env.name)) and req.mode == "delivery"
    if gated and not ctx.run_id:
        raise InputError("no workflow run id", "the gate is verified against this run's approvals (GITHUB_RUN_ID)",
                         "run inside GitHub Actions, or set GITHUB_RUN_ID to the run that holds the approval")
    tag = str((record.payload or {}).get("tag") or tag_name(config.tag_prefix, record.version))
    ledger = read_ledger(client, ctx, [env.name], tag=tag, run_url=ctx.run_url if gated else None,
                         gate=config.gate_environment if gated else None)
    for note in ledger.ignored:
        (warn or log)(note)
    pause = resumes.find(env.name, ledger.of(env.name), live_record(ledger.of(env.name)), record.id)
    candidate = _candidate(ledger.tag_message, ledger.tag_commit, tag)
    if candidate.manifest != pause.record.digest:
        raise EvidenceError(f"deployment {record.id} cannot be resumed", f"its record names {record.digest[:19]}… but tag "
                            f"{tag!r} records {candidate.manifest[:19]}…", "abort it (`cdhelper rollout abort`)")
    preq = PromotionRequest(environment=env.name, version=candidate.version, mode=req.mode, command=req.command,
                            environment_url=req.environment_url, gated=req.gated, gate_job=req.gate_job,
                            resume_step=pause.step, soak_environment=req.soak_environment, dry_run=req.dry_run,
                            phase=req.phase, full=req.full, resumed_by="scheduled" if req.due else "rollout resume")
    plan = rollout.plan_for(env, preq)
    commands = rollout.check_hooks(plan, env, preq)
    result = resume(client, ctx, config, env, preq, candidate, pause.record, plan, commands, log, ledger, gated=gated)
    return _opened(result, preq, env, plan, config.analyses)


def check_temp_dir(ctx: RunContext) -> None:
    """The record marker goes to RUNNER_TEMP: find out it cannot before a record exists, not after."""
    where = Path(ctx.temp_dir)
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where, prefix=".cdhelper-probe-"):
            pass
    except OSError as exc:
        raise InputError(f"RUNNER_TEMP {str(where)!r} is not a writable directory", exc.strerror or str(exc),
                         "unset RUNNER_TEMP (the runner sets it) or point it at a writable directory") from None


# --- checks (no writes) ------------------------------------------------------------------------

def _candidate(message: str | None, commit: str | None, tag: str) -> Candidate:
    if commit is None:
        raise NotFoundError(f"release candidate tag {tag!r} does not exist",
                            "a candidate is promoted only after the release step tagged it",
                            "run the release step (actions/release) for this version first, or check the version")
    candidate = Candidate.from_message(tag, message or "")
    if candidate is None:
        raise InputError(f"tag {tag!r} is not a cdhelper release candidate",
                         "its message has no cdhelper-version/commit/manifest lines",
                         "promote a version made by the release step; do not reuse hand-made tags")
    if candidate.commit != commit:  # the message is text anyone tagging can write; the target is git's
        raise EvidenceError(f"tag {tag!r} cannot be promoted",
                            f"it points at commit {commit[:12]} but its message records {candidate.commit[:12]}",
                            "release the candidate again with the release step (a new version); never hand-edit tags")
    return candidate


def _check_artifact(candidate: Candidate, req: PromotionRequest) -> None:
    """The artifact must be the one that was tagged: built once, promoted unchanged."""
    if req.expected_digest and parse_digest(req.expected_digest) != candidate.manifest:
        raise EvidenceError(f"digest {req.expected_digest} does not match release {candidate.version}",
                            f"the tag records {candidate.manifest}",
                            "pass the `digest` output of the release step for this version, unchanged")
    if req.artifact_paths:
        artifact = digest_paths(list(req.artifact_paths), list(candidate.images))
        if artifact.manifest != candidate.manifest:
            raise EvidenceError(f"the artifact at {', '.join(req.artifact_paths)} is not release {candidate.version}",
                                f"its digest is {artifact.manifest} but {candidate.tag} records {candidate.manifest}"
                                + _file_diff(candidate, artifact),
                                "promote the artifact built by the release job unchanged (download it, never rebuild it)")


def _file_diff(candidate: Candidate, artifact: Artifact) -> str:
    want, have = dict(candidate.files), dict(artifact.files)
    changed = sorted(p for p in want.keys() | have.keys() if want.get(p) != have.get(p))
    return f" (differs in: {', '.join(changed[:5])})" if changed else ""


def _check_order(candidate: Candidate, live: Record | None, target: list[Record], req: PromotionRequest,
                 env: Environment) -> int | None:
    if live is None or live.digest == candidate.manifest:
        if req.rollback:
            raise InputError(f"rollback of {env.name} to {candidate.version} asked",
                             f"{candidate.version} is what {env.name} runs now" if live else f"{env.name} runs nothing yet",
                             "name the earlier version to roll back to (`cdhelper status` lists it)")
        return None
    try:
        live_version = versions.parse(live.version)
    except InputError:
        live_version = None
    # Only a strictly newer candidate replaces what is live: build metadata (`+build.2`) gives equal
    # precedence, so it orders nothing, and an equal one is a step sideways, not forward.
    newer_live = live_version is not None and not versions.parse(candidate.version).is_newer_than(live_version)
    if req.rollback:
        if not any(r.ours and r.proven and r.digest == candidate.manifest for r in target):
            raise EvidenceError(f"rollback of {env.name} to {candidate.version} refused",
                                f"{candidate.version} was never live in {env.name}, so it is no known-good state",
                                "roll back to a version that succeeded there before (`cdhelper status` shows them)")
        return _release_under(live, target)
    if newer_live:
        same = live_version.same_precedence(versions.parse(candidate.version))
        raise OrderingError(f"{candidate.version} would replace {live.version} in {env.name}",
                            f"{live.version} is live there (deployment {live.id}) and "
                            + ("has the same precedence (build metadata does not order versions)" if same else "is newer"),
                            f"to go back on purpose, roll back: `cdhelper promote --rollback --environment {env.name} --version {candidate.version}` (or the rollback workflow)")
    return None


def _release_under(record: Record, target: list[Record]) -> int:
    """The release record a live record runs, which a rollback undoes: a flag flip sits on the record
    its `previous` names (through every flip stacked there); any other record is a release itself."""
    by_id, seen = {r.id: r for r in target}, set()
    while "flag_release" in (record.payload or {}) and record.id not in seen:
        seen.add(record.id)
        below = (record.payload.get("previous") or {}).get("deployment_id")
        if not isinstance(below, int):
            break
        if below not in by_id:  # older than the window read: the flip still names it
            return below
        record = by_id[below]
    return record.id


def _check_evidence(candidate: Candidate, upstream: Environment | None, records: list[Record],
                    env: Environment, doubt: str = "") -> dict | None:
    if upstream is None:
        return None
    proof = next((r for r in records if r.ours and r.proven and r.digest == candidate.manifest), None)
    if proof is None:
        raise EvidenceError(f"{candidate.version} cannot be promoted to {env.name}",
                            f"digest {candidate.manifest} never succeeded in {upstream.name}, the previous environment"
                            + (f" (and {upstream.name}'s history is in doubt: {doubt})" if doubt else ""),
                            f"deploy {candidate.version} to {upstream.name} first and let it pass there")
    if env.soak_minutes:
        ready = proof.succeeded_at + timedelta(minutes=env.soak_minutes)
        if now() < ready:
            wait = int((ready - now()).total_seconds() // 60) + 1
            raise EvidenceError(f"{candidate.version} cannot be promoted to {env.name} yet",
                                f"{env.name} needs {env.soak_minutes} min in {upstream.name} and {wait} min remain",
                                f"promote again after {ready.strftime('%H:%M UTC')}")
    return {"environment": upstream.name, "deployment_id": proof.id}


def _check_contexts(facts: CommitFacts | None, env: Environment, candidate: Candidate, trust: Trust) -> None:
    """Required contexts (commit statuses or check runs, such as the acceptance job's own) count only
    when a trusted writer reported them: GitHub's own check (it gets them as required_contexts too)
    accepts a status from any token with `statuses: write`."""
    if not env.required_contexts:
        return
    found = (facts.contexts if facts is not None else None) or {}
    problems = []
    for name in env.required_contexts:
        entries = found.get(name, [])
        if any(state == "success" and writer in trust.writers for state, writer in entries):
            continue
        if not entries:
            problems.append(f"{name} is missing")
        elif any(state == "success" for state, _ in entries):
            writers = sorted({w or "an unknown actor" for s, w in entries if s == "success"})
            problems.append(f"{name} is success but was reported by {', '.join(writers)}, not a trusted writer "
                            f"({trust.describe()})")
        else:
            problems.append(f"{name} is {entries[0][0]}")
    if problems:
        raise EvidenceError(f"{candidate.version} cannot be deployed to {env.name}",
                            "required checks are not all success from a trusted writer: " + "; ".join(problems),
                            f"let the workflow's {', '.join(env.required_contexts)} job (a check run) or report-check "
                            f"step (a commit status) pass on {candidate.commit[:12]}, then promote again")


def _superseded(target: list[Record], candidate: Candidate, run_id: int) -> list[str]:
    warnings = []
    for record in target:
        if record.ours and record.in_flight and not record.of_run(run_id) \
                and record.digest != candidate.manifest:
            warnings.append(f"deployment {record.id} of {record.version} (run {record.run.get('id')}) is still "
                            f"{record.state} and is superseded by {candidate.version}")
    return warnings


def _gate_from_payload(payload: dict | None, gate_environment: str) -> gates.GateDecision:
    data = (payload or {}).get("gate") or {}
    required = bool(data.get("required"))
    ungated = (payload or {}).get("environment", "") if not required and (payload or {}).get("mode") == "delivery" else ""
    return gates.GateDecision(required, data.get("environment", gate_environment), tuple(data.get("approvers", ())),
                              ungated=str(ungated))


# --- writes ------------------------------------------------------------------------------------

def _payload(candidate: Candidate, env: Environment, req: PromotionRequest, ctx: RunContext,
             decision: gates.GateDecision, promoted_from: dict | None, rollback_of: int | None,
             previous: Record | None, strategy: dict, acknowledged: dict | None = None) -> dict:
    flag_file = flags.load(ctx.workspace, env.name)  # a malformed flag file refuses the promotion before any write
    kind = {"flags": flags.record_fields(flag_file, previous.payload if previous else None)} if flag_file else {}
    if acknowledged:
        kind["acknowledged_failure"] = acknowledged
    return build_payload(
        ctx, release={"version": candidate.version, "tag": candidate.tag, "commit": candidate.commit,
                      "digest": candidate.manifest, "images": candidate.images}, environment=env.name, mode=req.mode, gate=decision.payload(),
        previous=previous_of(previous), strategy=strategy, promoted_from=promoted_from, rollback_of=rollback_of, **kind)


def _description(candidate: Candidate, payload: dict) -> str:
    return f"{'Rollback to' if payload['rollback_of'] else 'Deploy'} {candidate.version} ({candidate.manifest[:19]}…)"


def _would(candidate: Candidate, env: Environment, req: PromotionRequest, plan, payload: dict, mine: Record | None,
           commands: dict) -> dict:
    """What the real run would write, in order (a dry run writes none of it)."""
    writes = []
    if mine is None:
        writes.append({"create": "deployment", "environment": env.name, "ref": candidate.commit,
                       "description": _description(candidate, payload), "production_environment": env.production,
                       "required_contexts": list(env.required_contexts), "payload": payload})
    else:
        writes.append({"reuse": "deployment", "id": mine.id, "state": mine.state})
    steps = plan.rollout_steps
    # A `pause: hold` ends this run at that step, the record left in progress for the resume job.
    hold = next((i + 1 for i, step in enumerate(plan.steps) if step.kind == "hold"), 0)
    numbered = [f"in_progress: step {n} of {steps}" for n in range(1, hold or steps + 1)] if steps > 1 else []
    end = [f"in_progress: paused at step {hold} of {steps}"] if hold else ["success"]
    states = ["queued", "in_progress", *numbered, *end]
    writes.append({"statuses": states})
    return {"writes": writes, "commands": sorted(commands), "deploy_command": req.command or ""}


def retire_job_records(client: GitHubClient, ctx: RunContext, environment: str, before: list[Record],
                       ours: int, *, ended_too: bool = False) -> None:
    """GitHub Enterprise Server has no `deployment: false`: the job bound to this environment made a
    record of its own when it started, whose payload no API can change. So that each promotion has
    one record (cdhelper's, with its payload and states), the job's is deleted: the Actions bot's,
    without a cdhelper payload, still in flight, and pointing at a job of this run. GitHub deletes
    only inactive deployments; if it refuses, the record is made inactive first. `ended_too`: the split
    layout's record job, where the deploy job's own record has already ended."""
    marker = f"/actions/runs/{ctx.run_id}/"
    for record in before:
        if record.ours or record.creator != "github-actions[bot]" or marker not in record.log_url \
                or not (record.in_flight or ended_too):
            continue
        if record.state == "success":  # GitHub deletes no active deployment: no doomed first try
            RecordWriter(client, ctx).status(record.id, "inactive", f"recorded by cdhelper as deployment {ours}")
        try:
            client.delete_deployment(record.id)
        except ApiFailure:
            RecordWriter(client, ctx).status(record.id, "inactive", f"recorded by cdhelper as deployment {ours}")
            client.delete_deployment(record.id)


def _refusal(failure: ApiFailure, candidate: Candidate, env: Environment) -> Exception:
    if failure.status == 409:
        # GitHub's 409 lists every context it compared with its state, successes included
        # (remind101/slashdeploy#15); the message names the ones that failed.
        contexts = [f"{c.get('context')} ({c.get('state')})" for e in (failure.data or {}).get("errors", [])
                    for c in e.get("contexts", []) if c.get("state") != "success"]
        return EvidenceError(f"{candidate.version} cannot be deployed to {env.name}",
                             "required commit status checks are not all success: " + (", ".join(contexts) or failure.message),
                             f"make {', '.join(env.required_contexts) or 'the checks'} pass on {candidate.commit[:12]} "
                             "(e.g. the acceptance job reports them), then promote again")
    return InputError(f"GitHub refused the deployment of {candidate.version} to {env.name}", str(failure),
                      "check the environment name and the commit; GitHub said what it did not accept")


def _deploy(client: GitHubClient, ctx: RunContext, config: Config, env: Environment, req: PromotionRequest,
            result: PromotionResult, settled: set[int], log: Callable[[str], None], *, commands: dict[str, str],
            resume: bool = False) -> None:
    url = req.environment_url or env.url
    writer = RecordWriter(client, ctx)

    def report(text: str) -> None:  # one status per rollout step: no re-reading of history
        writer.status(result.deployment_id, "in_progress", text, environment_url=url)
    with writer.open(result.deployment_id, env.name, environment_url=url,
                     marker={"version": result.candidate.version}) as ending:
        if resume:
            held = any(i + 1 == req.resume_step and s.kind == "hold" for i, s in enumerate(result.plan.steps))
            report(f"Resuming {result.candidate.version} in {env.name} after the {'hold' if held else 'pause'} "
                   f"at step {req.resume_step}")  # a pause: where an inconclusive analysis paused it
            if req.full:
                report(f"promoted fully by {ctx.actor or 'unknown'} (run {ctx.run_id}): "
                       f"{strategies.skipped(req.resume_step, len(result.plan.steps))}")
        else:
            # queued, and in the same request the environment's records: a newer rival yields nothing deployed
            ledger = writer.queue(result.deployment_id, result.node_id, env.name, environment_url=url,
                                  description=f"Queued: {result.candidate.version} to {env.name}")
            if not req.rollback:
                rival = _newer_rival(ctx, result, ledger, settled)
                if rival is not None:
                    ending.description = f"superseded by {rival.version} (deployment {rival.id}) promoted at the same time"
                    raise OrderingError(f"{result.candidate.version} was not deployed to {env.name}",
                                        f"{rival.version} (deployment {rival.id}, run {rival.run.get('id')}) is being "
                                        f"promoted there at the same time and is newer",
                                        f"nothing to do: {rival.version} wins (if its job is no longer running, re-run it to close its record); "
                                        "give deploying jobs a `concurrency:` group per environment to queue them")
            report(f"Deploying {result.candidate.version} to {env.name}")
        if req.phase == "open":
            ending.state = None  # in progress until the record job closes it from the deploy job's result
            return
        h = handoff.of(result, req, env, result.plan or strategies.Plan())
        try:
            ended = rollout.run(plan=result.plan, commands=commands, cd_vars=cd_vars(client, ctx, config, req, h, result.candidate),
                                token=ctx.token, analyses=config.analyses, report=report, log=log,
                                live_slot=result.live_slot, start=req.resume_step, full=req.full,
                                hold_seconds=result.soak_seconds, clock=resumes.clock,
                                previous_artifact=lambda: rollout.previous_artifact(
                                    client, ctx, config, (h["previous"] or {}).get("tag", ""), log))
        except RolledBack as rolled:
            # The failed record ends first (it must not read as live), then the rollback gets its own.
            ending.state = None
            writer.status(result.deployment_id, "failure", rolled.why, environment_url=url)
            if result.previous is not None:  # a first canary undone takes no traffic: nothing to record as live
                result.rollback_id = record_rollback(writer, h, rolled.why, production=env.production)
            raise
        except DeployError as failed:
            ending.state, ending.description = "failure", failed.why
            raise
        result.steps = ended.outcome.steps
        if ended.state == "paused":
            # The record stays in progress until the resume job; nothing here is left for finish.
            ending.state, result.paused_at, result.state = None, ended.outcome.paused_at, "paused"
        else:
            ending.state, ending.description = "success", ended.description
    if result.paused_at:
        log(f"{result.candidate.version} in {env.name}: rollout paused before step {result.paused_at + 1}; "
            f"deployment {result.deployment_id} stays in progress")
    else:
        log(f"{result.candidate.version} ({result.candidate.manifest}) is live in {env.name}: deployment {result.deployment_id}")


def cd_vars(client: Callable[[], GitHubClient] | GitHubClient, ctx: RunContext, config: Config,
            req: PromotionRequest, h: dict, candidate: Candidate | None = None) -> dict[str, str]:
    """What every hook receives besides the job's scrubbed environment (docs/progressive-delivery.md),
    from the promotion's handoff (the same in one job or across the split layout's jobs)."""
    previous = h["previous"] or {}
    out = {
        "CD_ENVIRONMENT": h["environment"], "CD_VERSION": h["version"], "CD_DIGEST": h["digest"],
        "CD_COMMIT": h["commit"], "CD_TAG": h["tag"], "CD_MODE": h["mode"], "CD_DEPLOYMENT_ID": str(h["deployment_id"]),
        "CD_ENVIRONMENT_URL": h["url"], "CD_IMAGES": " ".join(h["images"]),
        "CD_ROLLBACK": "true" if h["rollback"] else "false",
        "CD_PREVIOUS_VERSION": previous.get("version", ""), "CD_PREVIOUS_DIGEST": previous.get("digest", ""),
        "CD_PREVIOUS_TAG": previous.get("tag", ""), "CD_PREVIOUS_COMMIT": previous.get("commit", ""),
        "CD_STRATEGY": h["strategy"] or "all-at-once",
        "CD_FLAGS": str(flags.path_of(ctx.workspace, h["environment"]).resolve())
        if flags.path_of(ctx.workspace, h["environment"]).is_file() else "",
    }
    if len(req.artifact_paths) == 1 and "CD_ARTIFACT" not in os.environ:
        out["CD_ARTIFACT"] = str(Path(req.artifact_paths[0]).resolve())  # the files just checked against the tag
    if h["rollback"] and not req.artifact_paths and config.release_assets and "CD_ARTIFACT" not in os.environ:
        # A rollback by hand, weeks later: the workflow artifact is gone, the release still holds the files.
        github = client() if callable(client) else client
        candidate = candidate or read_candidate(github, h["tag"])
        dest = Path(tempfile.mkdtemp(prefix="cdhelper-artifact-", dir=ctx.temp_dir))
        out["CD_ARTIFACT"] = str(artifacts.fetch(github, candidate, dest))
    return out


def record_rollback(writer: RecordWriter, h: dict, reason: str, *, production: bool, reported_by: str = "",
                    aborted_by: str = "") -> int:
    """The automatic rollback as its own record: the previous version live again, `rollback_of` the
    failed record. Written after the hooks moved traffic back (in the split layout, by the record job
    from what the deploy job reported: `reported_by` names that job). An abort's (`aborted_by`: who)
    is made live at once: its undo has already run, so no in_progress status is owed."""
    p = h["previous"]
    assert p is not None  # undone means there was something to go back to
    kind = ({"reported_by": reported_by} if reported_by else {}) | ({"aborted_by": aborted_by} if aborted_by else {})
    payload = build_payload(
        writer.ctx, release=p, environment=h["environment"], mode=h["mode"],
        gate={"required": False, "environment": (h.get("gate") or {}).get("environment", "")},
        rollback_of=h["deployment_id"],
        previous={"version": h["version"], "digest": h["digest"], "deployment_id": h["deployment_id"]},
        strategy=p["strategy"], **kind)
    label = f" (reported by {reported_by})" if reported_by else ""
    how = f"abort by {aborted_by}" if aborted_by else "automatic"
    made, _ = writer.create(environment=h["environment"], payload=payload,
                            description=f"Rollback to {p['version']} ({how}){label}"[:140], production=production,
                            before=[], what=f"the rollback record of {h['environment']}")
    if not aborted_by:
        writer.status(made, "in_progress", f"Rolling back {h['environment']} to {p['version']}{label}",
                      environment_url=h["url"])
    writer.status(made, "success", f"{p['version']} is live again: {reason}", environment_url=h["url"])
    return made


def _newer_rival(ctx: RunContext, result: PromotionResult, ledger: list[Record], settled: set[int]) -> Record | None:
    """A newer candidate promoted concurrently wins: any newer record that was not already final
    when we first read (`settled`), unless it failed. Of two racing promotions, the one that reads
    second sees the other, so the older never ends live. (A newer record already final at our first
    read is history, e.g. from before a rollback; the ordering check dealt with it.)"""
    mine = versions.parse(result.candidate.version)
    for record in ledger:
        if record.id == result.deployment_id or not record.ours or record.of_run(ctx.run_id):
            continue
        if record.id in settled or record.state in {"failure", "error"}:
            continue
        try:
            theirs = versions.parse(record.version)
        except InputError:
            continue
        # Equal precedence (other build metadata): the record created first wins, so exactly one does.
        if theirs.is_newer_than(mine) or (theirs.same_precedence(mine) and record.id < result.deployment_id):
            return record
    return None


def finish(client: GitHubClient, ctx: RunContext, environments: list[str], job_status: str, *,
           explicit: bool = True, undo: Callable[[Record, list[Record]], bool] | None = None) -> list[int]:
    """Close what a job left open (cancelled, killed, runner lost): this run's records that are still
    in flight, read back from GitHub. The marker file in RUNNER_TEMP is only a hint that a record
    may be open: a deploy command can rewrite or delete it, and a kill can leave it behind after
    `success` landed, so it never decides which record is closed, and a record that reached a final
    state is never touched. Zero requests when the job succeeded and left no marker. Environments
    not named by the workflow (`explicit=False`) are looked at only where this job left a marker,
    so one job's finish never closes a record another job of the run has in flight. `undo` (the
    cleanup job: abort.cleanup_undo) first undoes a rollout that started, and records it, when it can."""
    hinted = [n for n in environments if record_file(ctx, n).is_file()]
    look = environments if explicit else hinted
    if not look or (job_status == "success" and not hinted):
        return []
    ledger = read_ledger(client, ctx, look)
    writer = RecordWriter(client, ctx)
    state = "failure" if job_status == "failure" else "error"
    closed = []
    for name in look:
        for record in ledger.of(name):
            if record.ours and record.of_run(ctx.run_id) and record.in_flight:
                if undo is not None and undo(record, ledger.of(name)):
                    closed.append(record.id)
                    continue
                writer.status(record.id, state, f"job {job_status or 'ended'} before {record.version} finished deploying")
                closed.append(record.id)
        remove_marker(record_file(ctx, name))
    return closed


def sweep(client: GitHubClient, ctx: RunContext, environments: list[str], *, older_than_hours: float) -> list[Record]:
    """Close cdhelper records no job will finish: still queued or in progress (or never given a
    status) long after they were created, e.g. when a runner was lost and `finish` never ran.
    One read for every environment, one write per abandoned record."""
    ledger = read_ledger(client, ctx, environments)
    cutoff = now() - timedelta(hours=older_than_hours)
    closed = []
    for name in environments:
        for record in ledger.of(name):
            # Age from the last sign of life: a re-run may have picked up an old record minutes ago.
            seen = record.changed_at or record.created_at
            if record.ours and record.in_flight and seen < cutoff:
                hours = int((now() - seen).total_seconds() // 3600)
                RecordWriter(client, ctx).status(record.id, "error",
                                                 f"abandoned: no job finished it in {hours} h (closed by sweep)")
                closed.append(record)
    return closed
