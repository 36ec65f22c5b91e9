"""The settings rules: the repository's environments and CD_MODE variable, read (never written)
through the client. Two requests: the environments (one page), and the variable."""

from __future__ import annotations

from cdhelper.core.context import parse_mode
from cdhelper.core.errors import InputError, PermissionDeniedError
from cdhelper.deploy.records import gate_rules_from_rest

from .findings import Finding

SETTINGS = "Settings > Environments"


def check(client, *, path: tuple[str, ...], gates: list[str], mode: str | None = None, soaks: list[str] = ()
          ) -> tuple[list[Finding], list[str]]:
    """Findings, and notes on checks that could not run (a token without the permission).
    `mode`: CD_MODE as the workflow sees it (`${{ vars.CD_MODE }}`), for tokens that cannot read variables.
    `soaks`: the soak environments whose wait timer holds a `pause: hold` (none without a hold, or when a
    scheduled workflow resumes it)."""
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
        for soak in soaks:
            findings += soak_environment(found, soak)
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


def soak_environment(found: dict[str, dict], name: str) -> list[Finding]:
    """A `pause: hold` is held by the soak environment's wait timer (progressive/rollout.py check_soak)."""
    fix = (f"create {name!r} under {SETTINGS} with a wait timer (the soak time), no reviewers and no secrets; or "
           "declare it in .github/cd.yml (`soak-environment: {name, wait-timer}` under the environment, then "
           "`cdhelper environments apply`), or resume on a schedule (a hold step's `soak:`)")
    environment = found.get(name.lower())
    if environment is None:
        return [Finding("environment-missing", None, None, f"the soak environment {name!r} does not exist", fix)]
    minutes = max((int(rule.get("wait_timer") or 0) for rule in environment.get("protection_rules") or []
                   if rule.get("type") == "wait_timer"), default=0)
    if minutes < 1:
        return [Finding("soak-wait-timer-missing", None, None, f"the soak environment {name!r} has no wait timer",
                        f"{SETTINGS} > {name} > Wait timer: the soak time in minutes (on private repositories wait "
                        "timers need GitHub Enterprise); or resume on a schedule (a hold step's `soak:`)")]
    return []


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
