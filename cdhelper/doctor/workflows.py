"""The static rules: a workflow against cdhelper's contract (the template pipeline is the reference:
workflows-templates/cd-pipeline.yml). Each rule is one function `(workflow, contract) -> findings`."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .findings import Finding
from .model import Job, Map, Step, Workflow, scalars

DEFAULT_GATE = "production-approval"


@dataclass(frozen=True)
class Contract:
    """What the workflows are held to: the promotion path and gate of .github/cd.yml (or the defaults)."""
    path: tuple[str, ...] = ("staging", "production")
    gate_environment: str = DEFAULT_GATE
    # Who fixed the gate: cd.yml's gate.environment or --gate-environment. Empty: nobody did, and each
    # workflow is held to its own gate step's (the workflow is where the gate is named; cd.yml may only repeat it).
    gate_source: str = ""
    gate_fixed: bool = False  # True when cd.yml or the option named it: then every promote must agree
    gated: tuple[str, ...] = ("production",)  # environments the gate protects in delivery mode
    no_deployment_key: bool = False  # GitHub Enterprise Server has no `deployment: false`; act rejects it

    def in_path(self, name: str) -> bool:
        return name.lower() in {p.lower() for p in self.path}

    def is_gated(self, name: str) -> bool:
        return name.lower() in {p.lower() for p in self.gated}


# What each cdhelper command needs of the job token (actions/*/README.md, "Job permissions").
NEEDS = {
    "release": {"contents": "write"},
    "promote": {"deployments": "write", "contents": "read"},
    "gate": {"contents": "read"},
    "finish": {"deployments": "write"},
    "report-check": {"statuses": "write"},
    "status": {"deployments": "read", "contents": "read"},
    "sweep": {"deployments": "write"},
}
# Write scopes a command may use: release also pushes registry tags to ghcr.io (packages).
WRITES = {"release": {"contents", "packages"}, "promote": {"deployments"}, "finish": {"deployments"},
          "report-check": {"statuses"}, "sweep": {"deployments"}}
# The reusable workflow's jobs ask for these; a caller must grant at least as much (.github/workflows/cd.yml).
REUSABLE_NEEDS = {"contents": "write", "deployments": "write", "actions": "read", "checks": "read", "statuses": "read"}
# Steps known to need nothing from the job token beyond `contents: read`.
HARMLESS = re.compile(r"^actions/(checkout|download-artifact|upload-artifact|cache|setup-[a-z]+)@", re.I)
TOKEN_USE = re.compile(r"github\.token|secrets\.GITHUB_TOKEN", re.I)

STATUS_FUNCTION = re.compile(r"(?<![\w.])(always\(\)|!\s*cancelled\(\))")
MODE_CHECK = re.compile(r"^\(?\s*(?:(?:vars\.CD_MODE|inputs\.[A-Za-z0-9_-]+)\s*!=\s*'deployment'|"
                        r"'deployment'\s*!=\s*(?:vars\.CD_MODE|inputs\.[A-Za-z0-9_-]+))\s*\)?$", re.I)
MODE_COMPARISON = re.compile(r"vars\.CD_MODE\s*(?:==|!=)\s*'([^']*)'|'([^']*)'\s*(?:==|!=)\s*vars\.CD_MODE", re.I)
MODES = ("delivery", "deployment", "")


def held_to(workflow: Workflow, contract: Contract) -> Contract:
    """The contract with the gate this workflow answers to."""
    if contract.gate_fixed:
        return contract
    for job in workflow.jobs.values():
        named = [(s.input("gate-environment"), f"the gate step of job `{job.id}`") for s in job.steps_running("gate")]
        if job.reusable and isinstance(job.data.get("with"), Map):
            named.append((str(job.data["with"].get("gate-environment") or ""), f"job `{job.id}`"))
        for raw, source in named:
            names = workflow.resolve(raw or DEFAULT_GATE)
            if names and len(names) == 1:
                return replace(contract, gate_environment=names[0], gate_source=source)
    return replace(contract, gate_source="the default")


def check(workflow: Workflow, contract: Contract) -> list[Finding]:
    contract = held_to(workflow, contract)
    findings: list[Finding] = []
    findings += cd_mode_values(workflow)
    if workflow.uses_cdhelper:
        for rule in (gate_skips, gate_needed, deployment_records, finish_runs, permissions, environments,
                     gate_jobs, concurrency):
            findings += rule(workflow, contract)
    return sorted(findings, key=lambda f: (f.line or 0, f.rule))


# --- helpers ---------------------------------------------------------------------------------------

def _ancestors(workflow: Workflow, job: Job) -> set[str]:
    seen: set[str] = set()
    stack = list(job.needs)
    while stack:
        name = stack.pop()
        if name not in seen and name in workflow.jobs:
            seen.add(name)
            stack.extend(workflow.jobs[name].needs)
    return seen


def _gate_names(workflow: Workflow, contract: Contract) -> set[str]:
    names = {contract.gate_environment.lower()}
    for job in workflow.jobs.values():
        for step in job.steps_running("gate", "promote"):
            names.update(v.lower() for v in workflow.resolve(step.input("gate-environment")) or [] if v)
    return names


def gate_job_ids(workflow: Workflow, contract: Contract) -> set[str]:
    """Jobs that hold the approval: they run the gate action, or are bound to the gate environment."""
    names = _gate_names(workflow, contract)
    out = set()
    for job_id, job in workflow.jobs.items():
        bound = job.environment is not None and any(
            v.lower() in names for v in workflow.resolve(job.environment) or [])
        if job.steps_running("gate") or bound:
            out.add(job_id)
    return out


def _split_top(cond: str, op: str) -> list[str]:
    """Split an expression on `op` outside parentheses and strings."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(cond):
        c = cond[i]
        if c == "'":
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
        elif not quoted and depth == 0 and cond.startswith(op, i):
            parts.append(cond[start:i])
            start = i + len(op)
            i += len(op)
            continue
        i += 1
    parts.append(cond[start:])
    return [p.strip() for p in parts]


def _accepts_skipped(cond: str, need: str) -> bool:
    """Whether `cond` lets the job run when `need` succeeded or was skipped (and only then)."""
    ref = rf"needs\.{re.escape(need)}\.result"
    if re.search(ref + r"\s*!=\s*'failure'", cond):
        return True
    return bool(re.search(ref, cond) and re.search(rf"{ref}\s*==\s*'skipped'|'skipped'\s*==\s*{ref}", cond)
                and re.search(rf"{ref}\s*==\s*'success'|'success'\s*==\s*{ref}", cond))


def _promote_environments(workflow: Workflow, step: Step) -> list[str] | None:
    return workflow.resolve(step.input("environment"))


def _gated(workflow: Workflow, step: Step, contract: Contract) -> bool:
    """A promote step that needs the gate's approval in delivery mode."""
    return step.action == "promote" and (step.input("gated").lower() == "true" or any(
        contract.is_gated(e) for e in _promote_environments(workflow, step) or []))


def _deploying_jobs(workflow: Workflow, gates: set[str]) -> list[Job]:
    """Jobs that promote, or are bound to an environment other than the gate's (a soak job)."""
    return [job for job_id, job in workflow.jobs.items()
            if job_id not in gates and (job.steps_running("promote") or job.environment is not None)]


# --- the rules ---------------------------------------------------------------------------------------

def gate_skips(workflow: Workflow, contract: Contract) -> list[Finding]:
    gates = gate_job_ids(workflow, contract)
    findings = []
    for job in _deploying_jobs(workflow, gates):
        upstream = _ancestors(workflow, job) & gates
        if not upstream:
            continue
        cond = job.condition
        direct = [g for g in job.needs if g in gates]
        others = [n for n in job.needs if n not in gates]
        checks = " && ".join([f"needs.{n}.result == 'success'" for n in others] +
                             [f"(needs.{g}.result == 'success' || needs.{g}.result == 'skipped')" for g in direct])
        fix = f"if: ${{{{ !cancelled() && {checks} }}}}" if checks else "if: ${{ !cancelled() && ... }}"
        line = job.line_of("if") if "if" in job.data else job.line_of("needs")
        gate = sorted(upstream)[0]
        if not STATUS_FUNCTION.search(cond):
            how = "needs" if direct else "runs after"
            findings.append(Finding("gate-skip-blocks-production", workflow.path, line,
                                    f"job `{job.id}` {how} the gate job `{gate}`, which is skipped in deployment mode, "
                                    f"and its `if:` has no `!cancelled()`: GitHub skips `{job.id}` too and the run "
                                    "still succeeds", fix, job.id))
        elif direct and not all(_accepts_skipped(cond, g) for g in direct):
            findings.append(Finding("gate-skip-blocks-production", workflow.path, line,
                                    f"job `{job.id}` runs whatever the gate job `{direct[0]}` concluded: its `if:` "
                                    f"must require `needs.{direct[0]}.result` to be 'success' or 'skipped' (a "
                                    "rejected gate must stop it)", fix, job.id))
        elif not direct and not any(re.search(rf"needs\.{re.escape(n)}\.result", cond) for n in job.needs):
            findings.append(Finding("gate-skip-blocks-production", workflow.path, line,
                                    f"job `{job.id}` has `!cancelled()`/`always()` but checks no result of its needs, "
                                    "so it runs even when the job before it failed", fix, job.id))
    return findings


def gate_needed(workflow: Workflow, contract: Contract) -> list[Finding]:
    gates = gate_job_ids(workflow, contract)
    findings = []
    for job in workflow.jobs.values():
        if _ancestors(workflow, job) & gates:
            continue
        for step in job.steps_running("promote"):
            if _gated(workflow, step, contract):
                gate = sorted(gates)[0] if gates else "gate"
                findings.append(Finding(
                    "gate-not-needed", workflow.path, job.line_of("needs") if "needs" in job.data else job.line,
                    f"job `{job.id}` promotes to a gated environment but no gate job runs before it",
                    f"needs: [{', '.join([*job.needs, gate])}]   # and a `{gate}` job bound to "
                    f"{contract.gate_environment} (see the template pipeline)", job.id))
    return findings


def deployment_records(workflow: Workflow, contract: Contract) -> list[Finding]:
    if contract.no_deployment_key:
        return []
    findings = []
    for job in workflow.jobs.values():
        if job.environment is None or not job.steps_running("promote", "gate"):
            continue
        env = job.data.get("environment")
        if isinstance(env, Map) and env.get("deployment") is False:
            continue
        findings.append(Finding(
            "deployment-record-duplicate", workflow.path, job.line_of("environment"),
            f"job `{job.id}` is bound to environment {job.environment!r} without `deployment: false`",
            f"environment:\n  name: {job.environment}\n  deployment: false   # delete this line on GitHub Enterprise "
            "Server, which lacks it", job.id))
    return findings


def _finish_covers(finish: Step, workflow: Workflow, envs: list[str] | None) -> bool:
    named = finish.input("environment")
    if not named:
        return False  # in another job, finish looks only where that job left a marker: nowhere
    if "${{" in named or envs is None:
        return True
    listed = {n.lower() for n in named.split()}
    return all(e.lower() in listed for e in envs)


def finish_runs(workflow: Workflow, contract: Contract) -> list[Finding]:
    findings = []
    for job in workflow.jobs.values():
        for step in job.steps_running("promote"):
            later = [s for s in job.steps_running("finish") if s.index > step.index and "always()" in s.condition]
            envs = _promote_environments(workflow, step)
            cleanup = [j for j in workflow.jobs.values() if job.id in j.needs and "always()" in j.condition
                       and any(_finish_covers(f, workflow, envs) for f in j.steps_running("finish"))]
            if later or cleanup:
                continue
            envs_text = "\n".join(f"          {e}" for e in envs or ["<environment>"])
            findings.append(Finding(
                "finish-missing", workflow.path, step.data.line_of("uses"),
                f"job `{job.id}` promotes, and nothing closes its record when the job fails or is cancelled",
                f"cleanup:\n  needs: [{job.id}]\n  if: ${{{{ always() && (needs.{job.id}.result == 'failure' || "
                f"needs.{job.id}.result == 'cancelled') }}}}\n  permissions: {{ contents: read, deployments: write }}\n"
                f"  steps:\n    - uses: cdhelper/cdhelper/actions/finish@v0\n      with:\n        environment: |\n"
                f"{envs_text}\n        job-status: ${{{{ needs.{job.id}.result }}}}", job.id))
    return findings


def _grants(perms: object, scope: str, level: str) -> bool:
    if perms == "write-all":
        return True
    if perms == "read-all":
        return level == "read"
    if isinstance(perms, dict):
        have = str(perms.get(scope) or "none")
        return have == "write" or (have == "read" and level == "read")
    return False


def _writes(perms: object) -> set[str]:
    if perms == "write-all":
        return {"*"}
    return {scope for scope, level in perms.items() if level == "write"} if isinstance(perms, dict) else set()


def _job_needs(workflow: Workflow, job: Job, contract: Contract) -> tuple[dict[str, str], set[str]]:
    """The permissions the cdhelper steps of `job` need, and the write scopes they may use."""
    if job.reusable:
        return dict(REUSABLE_NEEDS), {"contents", "deployments"}
    needs: dict[str, str] = {}
    writes: set[str] = set()
    for step in job.steps:
        if not step.action:
            continue
        for scope, level in NEEDS.get(step.action, {}).items():
            if needs.get(scope) != "write":
                needs[scope] = level
        writes |= WRITES.get(step.action, set())
        if _gated(workflow, step, contract) or (step.action == "gate" and step.input("verify").lower() == "true"):
            needs.setdefault("actions", "read")
    return needs, writes


def _foreign_token_use(job: Job) -> bool:
    """Whether a step that is not cdhelper's may use the token (then its writes are not ours to judge)."""
    if TOKEN_USE.search(str(job.data.get("env") or "")):
        return True
    for step in job.steps:
        if step.action:
            continue
        uses = step.data.get("uses")
        if isinstance(uses, str) and not HARMLESS.match(uses.strip()):
            return True
        if TOKEN_USE.search(str(step.data)):
            return True
    return False


def permissions(workflow: Workflow, contract: Contract) -> list[Finding]:
    findings = []
    top = workflow.data.get("permissions", None) if "permissions" in workflow.data else None
    for job in workflow.jobs.values():
        if not job.uses_cdhelper:
            continue
        needs, writes = _job_needs(workflow, job, contract)
        wanted = ", ".join(f"{s}: {lv}" for s, lv in sorted(needs.items()))
        if "permissions" in job.data:
            perms, line = job.data.get("permissions"), job.line_of("permissions")
        elif "permissions" in workflow.data:
            perms, line = top, workflow.data.line_of("permissions")
        else:
            findings.append(Finding("permissions-missing", workflow.path, job.line,
                                    f"job `{job.id}` runs cdhelper with no `permissions:` (job or workflow level)",
                                    f"permissions: {{ {wanted} }}", job.id))
            continue
        if isinstance(perms, Map) and not perms:
            perms = {}
        lacking = [f"{s}: {lv}" for s, lv in sorted(needs.items()) if not _grants(perms, s, lv)]
        if lacking:
            findings.append(Finding("permissions-insufficient", workflow.path, line,
                                    f"job `{job.id}` does not grant {', '.join(lacking)}",
                                    f"permissions: {{ {wanted} }}", job.id))
        extra = _writes(perms) - writes
        if extra and (job.reusable or not _foreign_token_use(job)):
            shown = "write-all" if "*" in extra else ", ".join(f"{s}: write" for s in sorted(extra))
            findings.append(Finding("permissions-too-broad", workflow.path, line,
                                    f"job `{job.id}` grants {shown}, which its cdhelper steps do not need",
                                    f"permissions: {{ {wanted} }}", job.id))
    return findings


def environments(workflow: Workflow, contract: Contract) -> list[Finding]:
    findings = []
    path = " -> ".join(contract.path)
    for job in workflow.jobs.values():
        for step in job.steps_running("promote", "finish"):  # finish refuses unknown names too
            names = [] if step.action == "finish" else _promote_environments(workflow, step) or []
            if step.action == "finish" and "${{" not in step.input("environment"):
                names = step.input("environment").split()
            for env in names:
                if env and not contract.in_path(env):
                    verb = "promotes to" if step.action == "promote" else "closes records of"
                    findings.append(Finding(
                        "environment-not-in-path", workflow.path, step.input_line("environment"),
                        f"job `{job.id}` {verb} {env!r}, which is not in the promotion path ({path})",
                        f"environment: {contract.path[-1]}   # or add {env!r} under `environments:` in .github/cd.yml",
                        job.id))
        if job.reusable:
            for env in ("staging", "production"):  # the reusable workflow's deploying jobs
                if not contract.in_path(env):
                    findings.append(Finding(
                        "environment-not-in-path", workflow.path, job.line_of("uses"),
                        f"job `{job.id}` calls cdhelper's reusable workflow, which deploys to {env!r}, not in the "
                        f"promotion path ({path})", "environments:\n  - name: staging\n  - name: production", job.id))
        for step in job.steps_running("gate", "promote"):
            # Without a fixed gate, an ungated promotion never reads the gate: its default is harmless.
            if contract.gate_fixed or step.input("gate-environment") or _gated(workflow, step, contract):
                _gate_mismatch(findings, workflow, contract, job, step.input("gate-environment"),
                               step.input_line("gate-environment"))
        if job.reusable:
            raw = job.data.get("with")
            given = str(raw.get("gate-environment") or "") if isinstance(raw, Map) else ""
            _gate_mismatch(findings, workflow, contract, job, given,
                           raw.line_of("gate-environment") if isinstance(raw, Map) else job.line)
    return findings


def _gate_mismatch(findings, workflow, contract, job, given, line) -> None:
    for name in workflow.resolve(given or "production-approval") or []:
        if name and name.lower() != contract.gate_environment.lower():
            findings.append(Finding(
                "gate-environment-mismatch", workflow.path, line,
                f"job `{job.id}` names gate environment {name!r}, but {contract.gate_source} names "
                f"{contract.gate_environment!r}", f"gate-environment: {contract.gate_environment}", job.id))


def gate_jobs(workflow: Workflow, contract: Contract) -> list[Finding]:
    findings = []
    for job in workflow.jobs.values():
        steps = job.steps_running("gate")
        if not steps:
            continue
        expected = workflow.resolve(steps[0].input("gate-environment")) if steps[0].input("gate-environment") \
            else [contract.gate_environment]
        fix_env = f"environment:\n  name: {(expected or [contract.gate_environment])[0]}\n  deployment: false"
        if job.environment is None:
            findings.append(Finding("gate-job-environment", workflow.path, job.line,
                                    f"gate job `{job.id}` is bound to no environment, so nobody is asked to approve",
                                    fix_env, job.id))
        else:
            bound = workflow.resolve(job.environment)
            if bound is not None and expected is not None and \
                    {b.lower() for b in bound} != {e.lower() for e in expected}:
                findings.append(Finding("gate-job-environment", workflow.path, job.environment_line,
                                        f"gate job `{job.id}` is bound to {', '.join(map(repr, bound))}, not the gate "
                                        f"environment {', '.join(map(repr, expected))}", fix_env, job.id))
        cond = job.condition
        # The mode check must hold on its own: `A && mode-check` is fine, `A || mode-check` is not.
        if len(_split_top(cond, "||")) > 1 or not any(MODE_CHECK.match(part) for part in _split_top(cond, "&&")):
            line = job.line_of("if") if "if" in job.data else job.line
            shown = f"`if: {cond}`" if cond else "no `if:`"
            findings.append(Finding("gate-condition", workflow.path, line,
                                    f"gate job `{job.id}` has {shown}; it must run exactly when CD_MODE is not "
                                    "'deployment'", "if: ${{ vars.CD_MODE != 'deployment' }}", job.id))
    return findings


def concurrency(workflow: Workflow, contract: Contract) -> list[Finding]:
    findings = []
    for job in workflow.jobs.values():
        if job.environment is None or not job.steps_running("promote"):
            continue
        group = f"cdhelper-{job.environment}" if "${{" not in job.environment else "cdhelper-${{ ... }}"
        fix = f"concurrency:\n  group: {group}\n  cancel-in-progress: false"
        spec = job.data.get("concurrency")
        if spec is None:
            findings.append(Finding("concurrency-missing", workflow.path, job.line_of("environment"),
                                    f"job `{job.id}` deploys to {job.environment!r} without a job-level `concurrency:` "
                                    "group", fix, job.id))
        elif isinstance(spec, Map) and spec.get("cancel-in-progress") is True:
            findings.append(Finding("concurrency-cancel-in-progress", workflow.path,
                                    spec.line_of("cancel-in-progress"),
                                    f"job `{job.id}` cancels a running deployment when a newer run arrives", fix, job.id))
    return findings


def cd_mode_values(workflow: Workflow) -> list[Finding]:
    findings = []
    if workflow.root is None:
        return findings
    for node in scalars(workflow.root):
        value = node.value
        if not isinstance(value, str) or "CD_MODE" not in value.upper():
            continue
        block = 1 if getattr(node, "style", None) in ("|", ">") else 0
        for match in MODE_COMPARISON.finditer(value):
            compared = match.group(1) if match.group(1) is not None else match.group(2)
            if compared.lower() in MODES:  # GitHub compares strings ignoring case
                continue
            line = node.start_mark.line + 1 + block + value.count("\n", 0, match.start())
            findings.append(Finding("cd-mode-value", workflow.path, line,
                                    f"vars.CD_MODE is compared with {compared!r}",
                                    "vars.CD_MODE != 'deployment'   # or == 'delivery'; unset means delivery"))
    return findings
