"""The production gate. Continuous Delivery: GitHub's required reviewers hold the gate job (no
runner waits); the helper then checks, fail-closed, that this run really holds an approval for the
gate environment. Continuous Deployment: no human gate, and the record says so."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import GateError


@dataclass(frozen=True)
class GateDecision:
    required: bool
    environment: str
    approvers: tuple[dict, ...] = field(default_factory=tuple)

    def payload(self) -> dict:
        out: dict = {"required": self.required, "environment": self.environment}
        if self.required:
            out["approvers"] = [dict(a) for a in self.approvers]
        return out

    def describe(self) -> str:
        if not self.required:
            return "no human gate (Continuous Deployment)"
        who = ", ".join(a["login"] for a in self.approvers)
        return f"approved on {self.environment} by {who}"


def decide(approvals: list[dict], *, gate_environment: str, run_id: int, target: str) -> GateDecision:
    """`approvals` is the run's review history, newest first. A rejection after an approval wins."""
    relevant = [a for a in approvals if gate_environment.lower() in {e.lower() for e in a["environments"]}]
    decisive = [a for a in relevant if a["state"] in {"approved", "rejected"}]
    if decisive and decisive[0]["state"] == "rejected":
        latest = decisive[0]
        raise GateError(f"promotion to {target} refused", f"{latest['user']} rejected {gate_environment} in run {run_id}"
                        + (f": {latest['comment']}" if latest["comment"] else ""),
                        "address the reviewer's concern and start a new run; a rejected run cannot be promoted")
    approved = [a for a in decisive if a["state"] == "approved"]
    if not approved:
        raise MissingApproval(f"promotion to {target} refused",
                        f"Continuous Delivery needs an approval of environment {gate_environment!r} in this run ({run_id}), and it holds none",
                        f"run the gate job bound to `environment: {{name: {gate_environment}, deployment: false}}` before this job "
                        f"(`needs:` it), and give {gate_environment} required reviewers; or set CD_MODE=deployment for Continuous Deployment")
    return GateDecision(True, gate_environment, tuple({"login": a["user"], "comment": a["comment"]} for a in approved))


class MissingApproval(GateError):
    """No approval at all (as opposed to a rejection): worth explaining from the environment's rules."""


def verify(client, approvals: list[dict], *, gate_environment: str, run_id: int, target: str) -> GateDecision:
    """`decide`, and when no approval exists at all, say why from the gate environment's rules."""
    try:
        return decide(approvals, gate_environment=gate_environment, run_id=run_id, target=target)
    except MissingApproval as missing:
        raise explain(missing, client, gate_environment) from None


def explain(error: MissingApproval, client, gate_environment: str) -> GateError:
    """Say why nobody approved, when the environment's rules show it (one read, on failure only)."""
    from .errors import CDHelperError
    try:
        environment = client.get_environment(gate_environment)
    except CDHelperError:  # some tokens may not read environment settings: explain nothing more
        return error
    if environment is None:
        why = (f"{error.why}; environment {gate_environment!r} does not exist, so nothing held the gate job "
               "(a job naming a missing environment creates it unprotected)")
        fix = f"create {gate_environment!r} under Settings > Environments with required reviewers and prevent self-review"
    elif not any(rule.get("type") == "required_reviewers" for rule in environment.get("protection_rules", [])):
        why = f"{error.why}; {gate_environment!r} has no required reviewers, so the gate job ran without asking anyone"
        fix = f"add required reviewers to {gate_environment!r} (Settings > Environments), then re-run"
    else:
        return error
    return GateError(error.what, why, fix)


def not_required(gate_environment: str) -> GateDecision:
    return GateDecision(False, gate_environment)
