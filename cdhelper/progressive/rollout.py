"""One promotion's rollout: the environment's strategy walked with the user's hooks and the
analyses, each step reported on the deployment record, and a failure undone and recorded.

promotion.py creates the record and moves it to in_progress; this module does what happens then
and says how the record ends. A failed analysis (or inconclusive one: never a pass) is undone at once
by strategies.execute; then the failed record is marked failure with the reason, and the rollback
gets a record of its own (`rollback_of`), written after traffic is already back so that nothing
waits for GitHub before it moves. Also here: the rollout's checks before anything is written (a
freeze, the soak environment's timer, every analysis against its Prometheus) and what it needs from
the records (blue-green slots, the previous release's files).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cdhelper import hooks
from cdhelper.core.config import Config, Environment
from cdhelper.core.context import RunContext
from cdhelper.core.errors import CDHelperError, DeployError, GateError, InputError, RolledBack
from cdhelper.deploy import freeze
from cdhelper.deploy.records import Record
from cdhelper.github.client import GitHubClient
from cdhelper.release import artifacts
from cdhelper.release.tagging import Candidate, read_candidate

from . import analysis, strategies


@dataclass
class Ended:
    """How the rollout ended, for the record's final status."""

    state: str  # "success" | "paused" | "aborted"
    description: str
    outcome: strategies.Outcome


def plan_for(env, req) -> strategies.Plan:
    """The environment's plan; a manual rollback goes straight back: no analyses, a canary at 100%."""
    plan = req.strategy or env.plan
    if req.rollback:
        steps = (strategies.Step("weight", weight=100),) if plan.type == "canary" else ()
        plan = replace(plan, steps=steps, step_analysis=(), analysis=())
    return plan


def check_hooks(plan: strategies.Plan, env, req) -> dict[str, str]:
    """The command of each hook (the `run:` input is the deploy hook when cd.yml names none), refused
    before anything is written when the strategy needs one that is missing."""
    commands = dict(env.hooks)
    if req.command and not commands.get("deploy"):
        commands["deploy"] = req.command
    needed = strategies.REQUIRED_HOOKS[plan.type] if plan.type != "all-at-once" else ()
    missing = [h for h in needed if not commands.get(h)]
    if missing:
        raise InputError(f"{env.name}: strategy {plan.type} has no {missing[0]} hook",
                         f"{plan.type} runs {', '.join(needed)} to touch the platform",
                         f"add hooks.{missing[0]} to {env.name} in .github/cd.yml" +
                         (" or pass the promote action's `run:`" if missing[0] == "deploy" else ""))
    return commands


def run(*, plan: strategies.Plan, commands: dict[str, str], cd_vars: dict[str, str], token: str,
        analyses: dict, report: Callable[[str], None], log: Callable[[str], None], live_slot: str = "",
        start: int = 0, previous_artifact: Callable[[], str] = lambda: "",
        sleep: Callable[[float], None] = time.sleep, abort: bool = False, full: bool = False,
        hold_seconds: float = 0.0, clock: Callable[[], datetime] | None = None) -> Ended:
    """Walk the plan. Raises RolledBack (undone and to be recorded by the caller) or DeployError.
    `abort`: undo it instead (`cdhelper rollout abort`, the cleanup job), with the same hooks; `full`:
    a resume skips the remaining steps, one shift to 100%."""

    def run_hook(name: str, extra: dict[str, str]) -> int:
        command = commands.get(name)
        if not command:
            return 0  # an all-at-once promotion without a deploy command only records
        if extra.get("CD_ROLLBACK") == "true" and name == "deploy" and "CD_ARTIFACT" not in extra:
            found = previous_artifact()
            if found:
                extra = {**extra, "CD_ARTIFACT": found}
        log(f"hook {name}: {' '.join(f'{k}={v}' for k, v in sorted(extra.items()) if k != 'CD_HOOK')}")
        return hooks.run(command, hooks.environment(os.environ, {**cd_vars, **extra}, secrets=(token,)))

    def analyze(name: str, variables: dict[str, str]):
        def sample(m) -> None:
            log(f"  {name}: {m.detail}")
        return analysis.run(analyses[name], variables, on_measurement=sample,
                            run_command=lambda cmd, env: hooks.run(cmd, hooks.environment(
                                os.environ, {**cd_vars, **env}, secrets=(token,))))

    variables = {"version": cd_vars["CD_VERSION"], "environment": cd_vars["CD_ENVIRONMENT"],
                 "digest": cd_vars["CD_DIGEST"], **cd_vars}
    rollout = strategies.Rollout(plan=plan, variables=variables, run_hook=run_hook, analyze=analyze, report=report,
                                 log=log, sleep=sleep, live_slot=live_slot,
                                 hooks=frozenset(h for h, c in commands.items() if c), hold_seconds=hold_seconds,
                                 **({"clock": clock} if clock else {}))
    outcome = strategies.abort(rollout) if abort else strategies.execute(rollout, start=start, full=full)
    for step in outcome.steps:
        log(f"step {step.step}: {step.what}: {step.outcome}" + (f" - {step.detail}" if step.detail else ""))
    if abort:
        return _aborted(outcome, cd_vars)
    if outcome.state == "paused":  # at a hold, or (with a reason) where an inconclusive analysis paused
        return Ended("paused", strategies.inconclusive_pause(outcome.paused_at, plan.rollout_steps, outcome.reason)
                     if outcome.reason else f"paused at step {outcome.paused_at} of {plan.rollout_steps}", outcome)
    if outcome.state == "completed":
        return Ended("success", f"{cd_vars['CD_VERSION']} is live in {cd_vars['CD_ENVIRONMENT']}", outcome)
    what = f"deploying {cd_vars['CD_VERSION']} to {cd_vars['CD_ENVIRONMENT']} failed"
    if outcome.undone:
        back = (f"{cd_vars['CD_ENVIRONMENT']} is back on {cd_vars['CD_PREVIOUS_VERSION']}"
                if cd_vars.get("CD_PREVIOUS_VERSION") else f"nothing ran there before: {cd_vars['CD_VERSION']} takes no traffic")
        raise RolledBack(what, f"{outcome.reason}; {back}",
                         "read the analysis values above; fix the release and promote a new version",
                         details=_steps_text(outcome))
    if outcome.failed_hook:
        raise DeployError(what, outcome.reason, "read the command's output above; the record is marked failure, "
                          "so re-run after fixing", details=_steps_text(outcome))
    raise DeployError(what, outcome.reason, "nothing ran there before to roll back to: fix the release and promote "
                      "a new version", details=_steps_text(outcome))


def _aborted(outcome: strategies.Outcome, cd_vars: dict[str, str]) -> Ended:
    """How an abort's undo ended: back on the previous version, or nothing there to undo; a failed
    undo raises DeployError (the record stays in flight: the abort can be run again)."""
    where, version, previous = cd_vars["CD_ENVIRONMENT"], cd_vars["CD_VERSION"], cd_vars.get("CD_PREVIOUS_VERSION")
    if outcome.undo_failed:
        raise DeployError(f"aborting {version} in {where} failed", outcome.reason.removeprefix("aborted; "),
                          "read the hook's output above, fix the platform or the hook, and run the abort again "
                          "(the record stays in flight until an abort finishes)")
    if outcome.undone:
        back = f"{where} is back on {previous}" if previous else f"nothing ran there before: {version} takes no traffic"
    else:
        back = f"nothing ran there before, so there was nothing to undo on the platform ({version} stays where the hooks left it)"
    return Ended("aborted", back, outcome)


def _steps_text(outcome: strategies.Outcome) -> str:
    return "\n".join(f"{s.step}. {s.what}: {s.outcome}" + (f" - {s.detail}" if s.detail else "") for s in outcome.steps)


# --- before anything is written, and what the rollout needs from the records ----------------------

def check_freeze(config: Config, env: Environment, req) -> None:
    """A promotion through the one freeze check: a rollback is never frozen."""
    freeze.check(config.freeze, production=env.production, exempt=req.rollback,
                 refused=f"{req.version} cannot be promoted to {env.name} now", again="promote again",
                 exemption="a rollback is never frozen (rollback: true)")


def check_soak(client: GitHubClient, plan: strategies.Plan, req) -> float:
    """How long a `pause: hold` soaks, in seconds (0: the plan holds nowhere): its `soak:`, else the
    soak environment's wait timer, without which GitHub starts the resume job at once and the soak
    silently lasts no time. Refused before anything is written."""
    hold = next((step for step in plan.steps if step.kind == "hold"), None)
    if hold is None:
        return 0.0
    if hold.seconds:  # every resume checks it from the paused status itself: no timer needed
        return hold.seconds
    name = req.soak_environment
    environment = client.get_environment(name)
    minutes = max((int(rule.get("wait_timer") or 0) for rule in (environment or {}).get("protection_rules") or []
                   if rule.get("type") == "wait_timer"), default=0)
    if minutes < 1:
        raise GateError(f"the rollout to {req.environment} has a `pause: hold` but the soak environment {name!r} "
                        f"{'does not exist' if environment is None else 'has no wait timer'}",
                        "the timer is what holds the resume job; without it the soak would last no time",
                        f"say how long it soaks (`- {{pause: hold, soak: 2h}}`: resumed by the scheduled resume, "
                        f"cd-resume.yml), add a wait timer to {name!r} (Settings > Environments; on private "
                        f"repositories wait timers need GitHub Enterprise) or name a soak environment that has one "
                        f"with {req.soak_named_by}, or use `pause: 30m`, which holds the runner")
    return minutes * 60.0


def preflight(config: Config, plan: strategies.Plan, candidate: Candidate, env: Environment) -> None:
    """Every analysis the rollout will run is checked before anything is written: Prometheus
    reachable, each query accepted by it, URLs well formed."""
    names = {n for step in plan.steps for n in step.analysis} | set(plan.step_analysis) | set(plan.analysis)
    if not names:
        return
    analysis.preflight([config.analyses[n] for n in sorted(names)],
                       {"version": candidate.version, "environment": env.name, "digest": candidate.manifest,
                        "slot": "blue", "weight": "0"})


def next_slot(plan: strategies.Plan, live: Record | None) -> str:
    """Blue-green: the idle slot, the one the live record's payload does not name."""
    if plan.type != "blue-green":
        return ""
    current = ((live.payload or {}).get("strategy") or {}) if live else {}
    current = current.get("slot", "") if isinstance(current, dict) else ""
    return "green" if current == "blue" else "blue"


def live_slot(live: Record | None) -> str:
    strategy = (live.payload or {}).get("strategy") if live else None
    return strategy.get("slot", "") if isinstance(strategy, dict) else ""


def previous_artifact(client: GitHubClient, ctx: RunContext, config: Config, tag: str,
                      log: Callable[[str], None]) -> str:
    """The previous version's files (its release `tag`) for an automatic rollback that redeploys it."""
    if not tag or not config.release_assets:
        return ""
    try:
        candidate = read_candidate(client, tag)
        if not isinstance(candidate, Candidate):
            return ""
        dest = Path(tempfile.mkdtemp(prefix="cdhelper-previous-", dir=ctx.temp_dir))
        return str(artifacts.fetch(client, candidate, dest))
    except CDHelperError as err:
        log(f"the previous version's files could not be fetched for the rollback: {err.one_line()}")
        return ""
