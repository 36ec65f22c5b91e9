"""The production gate. Continuous Delivery: GitHub's required reviewers hold the gate job (no
runner waits); the helper then checks, fail-closed, that the gate environment really is protected
(required reviewers, prevent self-review) and that this run holds an approval of it by someone
other than the people who started the run or wrote the commit. Continuous Deployment: no human
gate, and the record says so."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cdhelper.core.errors import GateError

from .records import GateRules, Ledger, gate_rules_from_rest

SETTINGS = "Settings > Environments"
DEFAULT_GATE_JOB = "Approval (delivery mode)"  # the templates' gate job


@dataclass(frozen=True)
class GateDecision:
    required: bool
    environment: str
    approvers: tuple[dict, ...] = field(default_factory=tuple)
    ungated: str = ""  # when not required and in delivery mode: the environment the gate does not protect

    def payload(self) -> dict:
        out: dict = {"required": self.required, "environment": self.environment}
        if self.required:
            out["approvers"] = [dict(a) for a in self.approvers]
        return out

    def describe(self) -> str:
        if not self.required:
            if self.ungated:
                return f"not gated: {self.ungated} is promoted without approval in delivery mode too"
            return "no human gate (Continuous Deployment)"
        who = ", ".join(a["login"] + (f' ("{a["comment"]}")' if a.get("comment") else "") for a in self.approvers)
        return f"approved on {self.environment} by {who}"


def check_rules(rules: GateRules, *, gate_environment: str, target: str) -> None:
    """The gate only means something when GitHub asks a reviewer who is not the pusher."""
    if not rules.exists:
        raise GateError(f"promotion to {target} refused",
                        f"environment {gate_environment!r} does not exist, so nothing held the gate job "
                        "(a job naming a missing environment creates it unprotected)",
                        f"create {gate_environment!r} under {SETTINGS} with required reviewers and prevent self-review")
    if not rules.reviewers:
        raise GateError(f"promotion to {target} refused",
                        f"{gate_environment!r} has no required reviewers, so the gate job ran without asking anyone",
                        f"add required reviewers to {gate_environment!r} ({SETTINGS}), then re-run")
    if not rules.prevent_self_review:
        raise GateError(f"promotion to {target} refused",
                        f"{gate_environment!r} does not prevent self-review, so whoever pushed could approve "
                        "their own change",
                        f"tick 'Prevent self-review' on {gate_environment!r} ({SETTINGS}) and have another "
                        "reviewer approve a new run")


def decide(approvals: list[dict], *, gate_environment: str, run_id: int, target: str,
           excluded: dict[str, str] | None = None,
           approved_in_attempt: Callable[[], bool | None] | None = None, in_gate_job: bool = False) -> GateDecision:
    """Decide from the run's review history, whatever its order: GitHub documents none, and gives
    the reviews no time. Approvals by `excluded` logins (login -> why: who started the run, who
    wrote the commit) do not count, even where GitHub let them through. A history holding both a
    rejection and an approval (attempts of a re-run) is settled by `approved_in_attempt`: whether
    this attempt's gate job ran, which GitHub allows only after an approval in this attempt."""
    excluded = {k.lower(): v for k, v in (excluded or {}).items()}
    relevant = [a for a in approvals if gate_environment.lower() in {e.lower() for e in a["environments"]}]
    rejections = [a for a in relevant if a["state"] == "rejected"]
    approved = [a for a in relevant if a["state"] == "approved"]
    valid = [a for a in approved if a["user"].lower() not in excluded]
    if rejections:
        verdict = approved_in_attempt() if (valid and approved_in_attempt) else None
        if verdict is None and valid:
            raise GateError(f"promotion to {target} refused",
                            f"run {run_id} holds both an approval and a rejection of {gate_environment}, GitHub "
                            "gives them no order, and this attempt's gate job was not found to tell them apart",
                            "name the gate job with the `gate-job` input (its name as GitHub shows it), or start a new run")
        if not verdict:
            latest = rejections[0]
            raise GateError(f"promotion to {target} refused",
                            f"{latest['user']} rejected {gate_environment} in run {run_id}"
                            + (f": {latest['comment']}" if latest["comment"] else ""),
                            "address the reviewer's concern and start a new run; a rejected run cannot be promoted")
    elif approved and not valid:
        who = "; ".join(f"{a['user']} ({excluded[a['user'].lower()]})" for a in approved)
        raise GateError(f"promotion to {target} refused",
                        f"{gate_environment} was approved in run {run_id} only by {who}: nobody may approve their own change",
                        f"another required reviewer of {gate_environment!r} must approve: start a new run "
                        f"(and keep 'Prevent self-review' on in {SETTINGS})")
    if not valid:
        raise GateError(f"promotion to {target} refused",
                        f"Continuous Delivery needs an approval of environment {gate_environment!r} in this run ({run_id}), and it holds none",
                        (f"bind this gate job to `environment: {{name: {gate_environment}, deployment: false}}` so GitHub holds "
                         f"it for the reviewers, and give {gate_environment} required reviewers"
                         if in_gate_job else
                         f"run the gate job bound to `environment: {{name: {gate_environment}, deployment: false}}` before this job "
                         f"(`needs:` it), and give {gate_environment} required reviewers")
                        + "; or set CD_MODE=deployment for Continuous Deployment")
    return GateDecision(True, gate_environment, tuple({"login": a["user"], "comment": a["comment"]} for a in valid))


def gate_job_succeeded(jobs: list[dict], name: str) -> bool | None:
    """Whether this attempt's gate job ran to success (True), ended otherwise (False), or was not
    found (None). A job of a called workflow shows as `CALLER / NAME`."""
    found = [j for j in jobs if j["name"] == name or j["name"].endswith(f" / {name}")]
    if not found:
        return None
    return all(j["status"] == "completed" and j["conclusion"] == "success" for j in found)


def excluded_people(*, actor: str, triggering_actor: str, authors: tuple[str, ...]) -> dict[str, str]:
    """Who may not approve this release: GitHub's prevent-self-review covers the person who started
    the job; the commit's authors and committer are just as much "self"."""
    out: dict[str, str] = {}
    for login in authors:
        out.setdefault(login.lower(), "an author or the committer of the deployed commit")
    if triggering_actor:
        out[triggering_actor.lower()] = "who re-ran this run"
    if actor:
        out[actor.lower()] = "who started this run"
    return out


def verify(client, ctx, ledger: Ledger, *, gate_environment: str, target: str,
           gate_job: str = DEFAULT_GATE_JOB, in_gate_job: bool = False) -> GateDecision:
    """The whole check, from what the ledger read brought. Parts GitHub's GraphQL did not show (the
    environment's rules, the run's reviews) are asked of REST, so either reading works."""
    rules = ledger.gate or gate_rules_from_rest(client.get_environment(gate_environment))
    check_rules(rules, gate_environment=gate_environment, target=target)
    if ledger.commit is None or not ledger.commit.complete:
        why = ("GitHub did not say who wrote the deployed commit" if ledger.commit is None else
               "the deployed commit lists more authors than cdhelper reads (100)")
        raise GateError(f"promotion to {target} refused", f"{why}, so self-approval cannot be ruled out",
                        "re-run the job; check that the token has `contents: read`" if ledger.commit is None else
                        "deploy a commit with fewer Co-authored-by trailers")
    approvals = ledger.approvals if ledger.approvals is not None else client.run_approvals(ctx.run_id)
    return decide(approvals, gate_environment=gate_environment, run_id=ctx.run_id, target=target,
                  excluded=excluded_people(actor=ctx.actor, triggering_actor=ctx.triggering_actor,
                                           authors=ledger.commit.people),
                  approved_in_attempt=lambda: gate_job_succeeded(client.attempt_jobs(ctx.run_id, ctx.run_attempt),
                                                                 gate_job), in_gate_job=in_gate_job)


def not_required(gate_environment: str, *, ungated: str = "") -> GateDecision:
    """No approval applies: Continuous Deployment, or (`ungated`) an environment the gate does not
    protect in Continuous Delivery, such as staging."""
    return GateDecision(False, gate_environment, ungated=ungated)
