"""The settings rules: the repository's environments and CD_MODE variable, read (never written)
through the client. Two requests: the environments (one page), and the variable."""

from __future__ import annotations

from cdhelper.core.context import parse_mode
from cdhelper.core.errors import InputError, PermissionDeniedError
from cdhelper.deploy.records import gate_rules_from_rest

from .findings import Finding

SETTINGS = "Settings > Environments"


def check(client, *, path: tuple[str, ...], gates: list[str], mode: str | None = None
          ) -> tuple[list[Finding], list[str]]:
    """Findings, and notes on checks that could not run (a token without the permission).
    `mode`: CD_MODE as the workflow sees it (`${{ vars.CD_MODE }}`), for tokens that cannot read variables."""
    findings: list[Finding] = []
    notes: list[str] = []
    try:
        found = {e["name"].lower(): e for e in client.list_environments()}
    except PermissionDeniedError as err:
        notes.append(f"environments not checked: {err.one_line()}")
        found = None
    if found is not None:
        for gate in gates:
            findings += environments(found, path=path if gate == gates[0] else (), gate_environment=gate)
    if mode is None:
        try:
            mode = client.get_variable("CD_MODE")
        except PermissionDeniedError:
            notes.append("CD_MODE not checked: this token cannot read Actions variables (GITHUB_TOKEN never can). "
                         "Fix: pass `--mode \"${{ vars.CD_MODE }}\"` (through env:), or use a token with Variables: read")
            return findings, notes
    findings += cd_mode(mode)
    return findings, notes


def environments(found: dict[str, dict], *, path: tuple[str, ...], gate_environment: str) -> list[Finding]:
    findings = []
    for name in [*path, gate_environment]:
        if name.lower() not in found:
            role = "the gate environment" if name == gate_environment else "an environment of the promotion path"
            findings.append(Finding("environment-missing", None, None, f"{role} {name!r} does not exist",
                                    f"create {name!r} under {SETTINGS}" + (
                                        " with required reviewers and prevent self-review, no secrets"
                                        if name == gate_environment else " with its deployment secrets")))
    gate = found.get(gate_environment.lower())
    if gate is not None:
        rules = gate_rules_from_rest(gate)
        if not rules.reviewers:
            findings.append(Finding("gate-reviewers-missing", None, None,
                                    f"gate environment {gate_environment!r} has no required reviewers",
                                    f"{SETTINGS} > {gate_environment} > Required reviewers: add the people or teams "
                                    "who approve production"))
        elif not rules.prevent_self_review:  # a setting of the reviewers rule: without reviewers, one finding
            findings.append(Finding("gate-self-review-allowed", None, None,
                                    f"gate environment {gate_environment!r} does not prevent self-review",
                                    f"{SETTINGS} > {gate_environment} > tick 'Prevent self-review'"))
    return findings


def cd_mode(value: str | None) -> list[Finding]:
    """Unset (None) and empty mean delivery, as the gate and promote actions read them."""
    try:
        parse_mode(value)
    except InputError:
        shown = value if len(value or "") <= 40 else value[:40] + "…"
        return [Finding("cd-mode-unknown", None, None, f"the repository variable CD_MODE is {shown!r}",
                        "Settings > Secrets and variables > Actions > Variables: set CD_MODE to delivery or "
                        "deployment, or delete it (delivery)")]
    return []
