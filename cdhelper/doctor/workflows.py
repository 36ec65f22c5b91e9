"""The static rules: a workflow against cdhelper's contract (the template pipeline is the reference:
workflows-templates/cd-pipeline.yml). Each rule is one function `(workflow, contract) -> findings`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from .findings import Finding
from .model import Job, Map, Step, Workflow, scalars

DEFAULT_GATE = "production-approval"
GATE_JOB = "Approval (delivery mode)"  # the `gate-job` input's default: the templates' name of the gate job


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
    holds: tuple[str, ...] = ()  # environments whose strategy in cd.yml has a `pause: hold`
    soak_environments: tuple[tuple[str, str], ...] = ()  # (environment, its soak environment) as cd.yml names them
    resume_scheduled: bool = False  # a hold step in cd.yml has `soak:`: a scheduled workflow resumes it

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

# promote's phases (issue 20, the split layout): all = today's single job; open and close write to GitHub
# and run nothing from the repository; deploy runs the deploy command, hooks and analyses, and writes nothing.
PHASES = ("all", "open", "deploy", "close")
NO_CODE_PHASES = {"open", "close"}
# Inputs of a single-job promote step that go to the deploy phase (the rest go to open; notify-* to close).
DEPLOY_INPUTS = ("artifact", "run", "strategy", "config", "environment-url")
# Scopes a token can write with and still write nothing to GitHub: OIDC tokens for cloud logins.
NOT_GITHUB_WRITES = {"id-token"}
GITHUB_HOSTED = re.compile(r"^(ubuntu|windows|macos)-[A-Za-z0-9._-]+$", re.I)
CODE_RULES = ("code-with-write-token", "code-with-packages-write", "code-with-write-token-self-hosted")
SPLIT_DOC = "docs/doctor.md#the-split-layout"

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
                     gate_jobs, gate_job_names, concurrency, repository_code, deploy_without_open):
            findings += rule(workflow, contract)
    # A job that runs repository code with a write token: that error's fix sets its permissions too.
    covered = {f.job for f in findings if f.rule == "code-with-write-token"}
    findings = [f for f in findings if not (f.job in covered and f.rule in ("permissions-missing", "permissions-too-broad"))]
    return sorted(findings, key=lambda f: (f.line or 0, f.rule))


def layout(workflow: Workflow, contract: Contract) -> str | None:
    """"split" when every job that runs repository code writes nothing, "single-job" when one may write;
    None for a workflow that does not use cdhelper."""
    if not workflow.uses_cdhelper:
        return None
    return "single-job" if repository_code(workflow, contract) else "split"


DEFAULT_SOAK = "production-soak"  # the promote action's `soak-environment` default
# A workflow that resumes held rollouts on a schedule (`cdhelper rollout resume --due`, cd-resume.yml).
RESUME_WORKFLOW = re.compile(r"^cd-resume\.ya?ml$", re.I)
RESUME_COMMAND = re.compile(r"rollout\s+resume\b[^\n]*--due")


def resumes_on_schedule(name: str, text: str) -> bool:
    """Whether a workflow file is the scheduled resume: named like cd-resume.yml, or running `rollout resume --due`."""
    return bool(RESUME_WORKFLOW.match(name) or RESUME_COMMAND.search(text))


def soak_environments(workflow: Workflow, contract: Contract) -> list[str]:
    """The soak environments the workflow's promotions to an environment with a hold check (their
    `soak-environment` input, else cd.yml's soak environment for it, else the default)."""
    found = []
    named = {env.lower(): soak for env, soak in contract.soak_environments}
    for job in workflow.jobs.values():
        called = job.data.get("uses") is not None
        if called and contract.holds:  # a call of a reusable workflow (cdhelper's, or a copy): its input names it
            given = str((job.data.get("with") or {}).get("soak-environment") or "")
            if given:
                found += workflow.resolve(given) or []
            elif job.reusable:
                found.append(named.get("production") or DEFAULT_SOAK)
        for step in job.steps_running("promote"):
            if not _opens(workflow, step):
                continue
            for env in _promote_environments(workflow, step) or []:
                if env.lower() in {h.lower() for h in contract.holds}:
                    given = step.input("soak-environment")
                    found += workflow.resolve(given) or [] if given else [named.get(env.lower()) or DEFAULT_SOAK]
    return [name for name in dict.fromkeys(found) if name and "${{" not in name]


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


def _phases(workflow: Workflow, step: Step) -> set[str]:
    """The phases a promote or flags step may run: its `phase` input (default all); every phase when
    an expression decides it at run time."""
    values = workflow.resolve(step.input("phase") or "all")
    return set(PHASES) if values is None else {(v or "all").strip().lower() for v in values}


def _only(workflow: Workflow, step: Step, phase: str) -> bool:
    return step.action == "promote" and _phases(workflow, step) == {phase}


def _opens(workflow: Workflow, step: Step) -> bool:
    """A promote step that creates (or resumes) a record: phase all or open."""
    return step.action == "promote" and not _phases(workflow, step) <= {"deploy", "close"}


def _flag_set(workflow: Workflow, step: Step) -> bool:
    """A flags step that flips a flag (action set, or an expression that may be set)."""
    if step.action != "flags":
        return False
    values = workflow.resolve(step.input("action"))
    return values is None or "set" in {v.strip().lower() for v in values}


def _gated(workflow: Workflow, step: Step, contract: Contract) -> bool:
    """A promote step that needs the gate's approval in delivery mode (deploy and close read no gate)."""
    return _opens(workflow, step) and (step.input("gated").lower() == "true" or any(
        contract.is_gated(e) for e in _promote_environments(workflow, step) or []))


def _record_job(workflow: Workflow, job: Job) -> bool:
    """A job whose promote steps only close records (phase close): it must run whatever came before."""
    steps = job.steps_running("promote")
    return bool(steps) and all(_only(workflow, s, "close") for s in steps)


def _deploying_jobs(workflow: Workflow, gates: set[str]) -> list[Job]:
    """Jobs that promote, or are bound to an environment other than the gate's (a soak job); not the
    record jobs of the split layout (`always()`, so they close the record whatever the deploy did)."""
    return [job for job_id, job in workflow.jobs.items()
            if job_id not in gates and (job.steps_running("promote") or job.environment is not None)
            and not _record_job(workflow, job)]


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
    ungated = []
    for job in workflow.jobs.values():
        if _ancestors(workflow, job) & gates:
            continue
        bound = workflow.resolve(job.environment) or [] if job.environment is not None else []
        for step in job.steps_running("promote"):
            # The deploy phase gets the gated environment's secrets from the job's binding.
            deploys_gated = _only(workflow, step, "deploy") and any(contract.is_gated(e) for e in bound)
            if _gated(workflow, step, contract) or deploys_gated:
                ungated.append(job)
    findings = []
    for job in ungated:
        line = job.line_of("needs") if "needs" in job.data else job.line
        message = f"job `{job.id}` promotes to a gated environment but no gate job runs before it"
        if gates:
            findings.append(Finding("gate-not-needed", workflow.path, line, message,
                                    f"needs: [{', '.join([*job.needs, sorted(gates)[0]])}]", job.id))
        else:  # no gate job to need: the fix is the gate job itself, after what the job needs that is not gated
            before = _needs_before(workflow, job, {j.id for j in ungated})
            findings.append(Finding("gate-not-needed", workflow.path, line, message,
                                    _gate_job_fix(job, contract, before), job.id, "jobs"))
    return findings


def _needs_before(workflow: Workflow, job: Job, gated: set[str], seen: frozenset = frozenset()) -> list[str]:
    """The job's needs, each one that is gated or runs after a gated one replaced by its own needs: what
    the gate job may need without a cycle once the gated jobs need it."""
    out: list[str] = []
    for need in job.needs:
        if need not in workflow.jobs:
            continue
        if need in gated or _ancestors(workflow, workflow.jobs[need]) & gated:
            if need not in seen:
                out += _needs_before(workflow, workflow.jobs[need], gated, seen | {need})
        else:
            out.append(need)
    return list(dict.fromkeys(out))


def _gate_job_fix(job: Job, contract: Contract, before: list[str]) -> str:
    needs = f"  needs: [{', '.join(before)}]\n" if before else ""
    return (f"gate:   # then add `gate` to the `needs:` of `{job.id}` (and its `if:`: see the template pipeline)\n"
            f"  name: {GATE_JOB}\n{needs}  if: ${{{{ vars.CD_MODE != 'deployment' }}}}\n  runs-on: ubuntu-latest\n"
            f"  environment:\n    name: {_yaml_value(contract.gate_environment)}\n    deployment: false\n"
            f"  permissions:\n    contents: read\n  steps:\n    - uses: cdhelper/cdhelper/actions/gate@v0\n      with:\n"
            f"        mode: ${{{{ vars.CD_MODE }}}}\n        gate-environment: {_yaml_value(contract.gate_environment)}\n")


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


def _fed_by(workflow: Workflow, job: Job, step: Step, opener: str) -> bool:
    """Whether `step` (deploy or close) works on the promotion `opener` opened: its `handoff` names that
    job's output, or, naming none, that job runs before."""
    named = set(re.findall(r"needs\.([A-Za-z0-9_-]+)\.outputs", step.input("handoff")))
    return opener in named if named else opener in _ancestors(workflow, job)


def _record_covers(workflow: Workflow, opener: Job) -> bool:
    """The split layout: a record job (promote phase close of this promotion) under `always()` runs after
    the deploy job of this promotion, so it closes the record whatever happened in between."""
    deploys = {j.id for j in workflow.jobs.values()
               if any(_only(workflow, s, "deploy") and _fed_by(workflow, j, s, opener.id)
                      for s in j.steps_running("promote"))}
    for job in workflow.jobs.values():
        upstream = _ancestors(workflow, job)
        if "always()" in job.condition and (not deploys or deploys & upstream) and any(
                _only(workflow, s, "close") and _fed_by(workflow, job, s, opener.id)
                for s in job.steps_running("promote")):
            return True
    return False


def finish_runs(workflow: Workflow, contract: Contract) -> list[Finding]:
    findings = []
    for job in workflow.jobs.values():
        for step in job.steps_running("promote"):
            if not _opens(workflow, step):
                continue  # deploy and close create no record of their own
            later = [s for s in job.steps_running("finish") if s.index > step.index and "always()" in s.condition]
            envs = _promote_environments(workflow, step)
            cleanup = [j for j in workflow.jobs.values() if job.id in j.needs and "always()" in j.condition
                       and any(_finish_covers(f, workflow, envs) for f in j.steps_running("finish"))]
            if later or cleanup:
                continue
            if _only(workflow, step, "open"):
                if _record_covers(workflow, job):
                    continue
                deploy = next((j.id for j in workflow.jobs.values() if job.id in j.needs), "<deploy job>")
                findings.append(Finding(
                    "finish-missing", workflow.path, step.data.line_of("uses"),
                    f"job `{job.id}` opens a promotion, and no record job (promote `phase: close` under `always()`, "
                    "after the deploy job) closes it when the deploy job fails or is cancelled",
                    _record_job_fix(step, job.id, deploy, f"{deploy}-record"), job.id))
                continue
            envs_text = "\n".join(f"          {e}" for e in envs or ["<environment>"])
            findings.append(Finding(
                "finish-missing", workflow.path, step.data.line_of("uses"),
                f"job `{job.id}` promotes, and nothing closes its record when the job fails or is cancelled",
                f"{job.id}-cleanup:\n  needs: [{job.id}]\n  if: ${{{{ always() && (needs.{job.id}.result == 'failure' || "
                f"needs.{job.id}.result == 'cancelled') }}}}\n  runs-on: ubuntu-latest\n"
                f"  permissions: {{ contents: read, deployments: write }}\n"
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
        step_needs, step_writes = _step_needs(workflow, step)
        for scope, level in step_needs.items():
            if needs.get(scope) != "write":
                needs[scope] = level
        writes |= step_writes
        if _gated(workflow, step, contract) or (step.action == "gate" and step.input("verify").lower() == "true") \
                or (_flag_set(workflow, step) and bool(_phases(workflow, step) & {"all", "open"})
                    and any(contract.is_gated(e) for e in workflow.resolve(step.input("environment")) or [])):
            needs.setdefault("actions", "read")
    return needs, writes


def _step_needs(workflow: Workflow, step: Step) -> tuple[dict[str, str], set[str]]:
    """What one cdhelper step needs of the token, and the scopes it may write (promote by phase,
    flags by action: actions/promote/README.md, actions/flags/README.md)."""
    if step.action == "flags":
        if not _flag_set(workflow, step):
            return {"contents": "read"}, set()
        phases = _phases(workflow, step)
        commits = bool(step.input("commit-to")) and bool(phases & {"all", "close"})  # the commit is the last write
        if phases == {"deploy"}:
            return {"contents": "read"}, set()
        if commits:
            return {"deployments": "write", "contents": "write"}, {"deployments", "contents"}
        return {"deployments": "write", "contents": "read"}, {"deployments"}
    if step.action != "promote":
        return dict(NEEDS.get(step.action or "", {})), set(WRITES.get(step.action or "", set()))
    needs: dict[str, str] = {}
    for phase in _phases(workflow, step):
        wanted = {"deploy": {"contents": "read"}, "close": {"deployments": "write"}}.get(phase, NEEDS["promote"])
        for scope, level in wanted.items():
            if needs.get(scope) != "write":
                needs[scope] = level
    return needs, {s for s, level in needs.items() if level == "write"}


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
        if any(_runs_code(workflow, s) for s in job.steps):
            extra -= NOT_GITHUB_WRITES  # the deploy command may log in to a cloud with an OIDC token
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
                        f"promotion path ({path})", "environments:\n  - name: staging\n  - name: production", job.id,
                        "cd.yml"))
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


def _group(job: Job) -> str | None:
    """The job's concurrency group as written (`concurrency: NAME` or `{group: NAME}`), None without one."""
    spec = job.data.get("concurrency")
    value = spec.get("group") if isinstance(spec, Map) else spec
    return None if value is None else str(value).strip()


def concurrency(workflow: Workflow, contract: Contract) -> list[Finding]:
    # Only a job that deploys queues per environment: not open (the soak job) nor close.
    deploying = [job for job in workflow.jobs.values() if job.environment is not None and any(
        _phases(workflow, st) & {"all", "deploy"} for st in job.steps_running("promote"))]
    # One group per environment: the first the workflow gives a job deploying there is the one to use.
    groups: dict[str, str] = {}
    for job in deploying:
        if _group(job):
            groups.setdefault(job.environment.lower(), _group(job))
    findings = []
    for job in deploying:
        env = job.environment
        group = groups.get(env.lower()) or (f"cdhelper-{env}" if "${{" not in env else "cdhelper-${{ ... }}")
        fix = f"concurrency:\n  group: {_yaml_value(group)}\n  cancel-in-progress: false"
        spec = job.data.get("concurrency")
        if spec is None:
            findings.append(Finding("concurrency-missing", workflow.path, job.line_of("environment"),
                                    f"job `{job.id}` deploys to {env!r} without a job-level `concurrency:` "
                                    "group", fix, job.id))
        elif _group(job) != group:
            first = next(j.id for j in deploying if _group(j) == group)
            findings.append(Finding("concurrency-group-split", workflow.path, job.line_of("concurrency"),
                                    f"job `{job.id}` deploys to {env!r} in concurrency group {_group(job)!r}, but job "
                                    f"`{first}` deploys there in {group!r}: they do not queue behind each other",
                                    fix, job.id))
        elif isinstance(spec, Map) and spec.get("cancel-in-progress") is True:
            findings.append(Finding("concurrency-cancel-in-progress", workflow.path,
                                    spec.line_of("cancel-in-progress"),
                                    f"job `{job.id}` cancels a running deployment when a newer run arrives", fix, job.id))
    return findings


def gate_job_names(workflow: Workflow, contract: Contract) -> list[Finding]:
    """A gated promotion's `gate-job` input (default the templates' name) must be the name GitHub shows
    for the gate job before it: its `name:`, else its id."""
    gates = gate_job_ids(workflow, contract)
    findings = []
    for job in workflow.jobs.values():
        upstream = sorted(_ancestors(workflow, job) & gates)
        names = [str(workflow.jobs[g].data.get("name") or g).strip() for g in upstream]
        if not names or any("${{" in n for n in names):
            continue  # no gate before it (gate-not-needed), or a name decided at run time
        for step in job.steps_running("promote", "flags"):
            gated = _gated(workflow, step, contract) or (
                _flag_set(workflow, step) and bool(_phases(workflow, step) & {"all", "open"})
                and any(contract.is_gated(e) for e in workflow.resolve(step.input("environment")) or []))
            given = step.input("gate-job") or GATE_JOB
            if not gated or "${{" in given or given in names:
                continue
            default = "" if step.input("gate-job") else " (the default: the input is not set)"
            findings.append(Finding(
                "gate-job-name", workflow.path, step.input_line("gate-job"),
                f"job `{job.id}` passes gate-job {given!r}{default}, but its gate job `{upstream[0]}` is named "
                f"{names[0]!r}", f"gate-job: {_yaml_value(names[0])}", job.id))
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


# --- the split layout (issue 20): repository code only where the token writes nothing -------------------

def _runs_code(workflow: Workflow, step: Step) -> str | None:
    """Why a step runs code from the repository (which whoever pushes controls), or None."""
    if "run" in step.data:
        return "a `run:` step"
    uses = step.data.get("uses")
    if isinstance(uses, str) and uses.strip().startswith("./"):
        return "a local action: the repository's own code, whatever it is named"
    if step.action == "promote" and not _phases(workflow, step) <= NO_CODE_PHASES:
        phase = f"phase {step.input('phase')}" if step.input("phase") else "phase all, the default"
        return (f"promote ({phase}) runs the `run:` input and .github/cd.yml's strategy hooks and "
                "`command:` analyses")
    if _flag_set(workflow, step) and not _phases(workflow, step) <= NO_CODE_PHASES:
        return "flags set runs .github/cd.yml's deploy hook or the `run:` input"
    return None


def _token(workflow: Workflow, job: Job) -> tuple[object, str]:
    """The job token's permissions and where they come from; (None, "") for the repository default."""
    if "permissions" in job.data:
        return job.data.get("permissions"), "the job's `permissions:`"
    if "permissions" in workflow.data:
        return workflow.data.get("permissions"), "the workflow's `permissions:`"
    return None, ""


def _github_writes(perms: object) -> set[str] | None:
    """The scopes the token may write to GitHub with ("*" for write-all), None when unknown (the default)."""
    if perms is None:
        return None
    return _writes(perms) - NOT_GITHUB_WRITES


def self_hosted(job: Job) -> bool:
    """Whether the job runs on a self-hosted runner: `self-hosted` among its labels, or no GitHub-hosted
    label. A label decided at run time (`${{ }}`) is judged as GitHub-hosted, the stricter."""
    labels = job.runs_on
    if not labels or any("${{" in label for label in labels):
        return False
    return any(label.lower() == "self-hosted" for label in labels) or \
        not any(GITHUB_HOSTED.match(label) for label in labels)


def _yaml_value(value: object) -> str:
    """A value as a YAML scalar to paste: plain when that reads back the same, else double-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = "" if value is None else str(value)
    plain = re.fullmatch(r"[A-Za-z0-9$./_-][^\n#:]*", text) and ": " not in text and not text.endswith(" ")
    return text if plain and not text.startswith("${{ }") else json.dumps(text)


def _with(step: Step, names, extra: list[tuple[str, str]]) -> str:
    rows = [(k, str(v)) for k, v in extra]
    rows += [(k, _yaml_value(v)) for k, v in step.inputs.items() if k in names]
    return "".join(f"        {k}: {v}\n" for k, v in rows)


def _uses(step: Step) -> tuple[str, list[tuple[str, str]]]:
    """The step's `uses:` and, for the root action, its `command:`."""
    uses = str(step.data.get("uses") or "cdhelper/cdhelper/actions/promote@v0").strip()
    return uses, ([("command", "promote")] if "command" in step.inputs else [])


def _record_job_fix(step: Step, opener: str, deploy: str, name: str) -> str:
    uses, command = _uses(step)
    return (f"{name}:\n  needs: [{opener}, {deploy}]\n"
            f"  if: ${{{{ always() && needs.{opener}.outputs.handoff != '' }}}}\n  runs-on: ubuntu-latest\n"
            f"  permissions:\n    deployments: write\n  steps:\n    - uses: {uses}\n      with:\n"
            + _with(step, [k for k in step.inputs if k.startswith("notify-")], [*command, ("phase", "close"), ("handoff", f"${{{{ needs.{opener}.outputs.handoff }}}}"),
                               ("job-result", f"${{{{ needs.{deploy}.result }}}}"),
                               ("report", f"${{{{ needs.{deploy}.outputs.report }}}}")]))


def _split_fix(workflow: Workflow, job: Job, step: Step, contract: Contract) -> str:
    """The single-job promotion `job` as the split layout's three jobs (valid YAML, under `jobs:`)."""
    uses, command = _uses(step)
    opener, record = f"{job.id}-open", f"{job.id}-record"
    reads = "\n".join(f"    {s}: {lv}" for s, lv in sorted(_step_needs(workflow, replace_phase(step, "open"))[0].items()))
    if _gated(workflow, step, contract):
        reads += "\n    actions: read"
    needs = f"  needs: [{', '.join(job.needs)}]\n" if job.needs else ""
    cond = f"  if: ${{{{ {job.condition} }}}}\n" if job.condition else ""
    runs_on = _yaml_value(job.data.get("runs-on")) if isinstance(job.data.get("runs-on"), str) else "ubuntu-latest"
    opened = [k for k in step.inputs if k not in (*DEPLOY_INPUTS, "phase") and not k.startswith("notify-")]
    env = f"  environment:\n    name: {_yaml_value(job.environment)}\n    deployment: false\n" if job.environment else ""
    group = f"cdhelper-{job.environment}" if job.environment and "${{" not in job.environment else f"cdhelper-{job.id}"
    return (
        f"# the split layout ({SPLIT_DOC}): open and record write to GitHub and run no repository code;\n"
        f"# `{job.id}` keeps the deploy command, with a token that can write nothing\n"
        f"{opener}:\n{needs}{cond}  runs-on: ubuntu-latest\n  permissions:\n{reads}\n"
        f"  outputs:\n    handoff: ${{{{ steps.open.outputs.handoff }}}}\n"
        f"  steps:\n    - id: open\n      uses: {uses}\n      with:\n"
        + _with(step, opened, [*command, ("phase", "open")])
        + f"{job.id}:\n  needs: [{opener}]\n  if: ${{{{ !cancelled() && needs.{opener}.result == 'success' }}}}\n"
        f"  runs-on: {runs_on}\n{env}  concurrency:\n    group: {group}\n    cancel-in-progress: false\n"
        f"  permissions:\n    contents: read\n  outputs:\n    report: ${{{{ steps.deploy.outputs.report }}}}\n"
        f"  steps:\n    # ...the job's other steps (checkout, artifact download)\n    - id: deploy\n      uses: {uses}\n"
        f"      with:\n"
        + _with(step, DEPLOY_INPUTS, [*command, ("phase", "deploy"),
                                      ("handoff", f"${{{{ needs.{opener}.outputs.handoff }}}}")])
        + _record_job_fix(step, opener, job.id, record))


def replace_phase(step: Step, phase: str) -> Step:
    """The same step with another `phase` input (to ask what that phase needs)."""
    inputs = Map(step.inputs)
    inputs["phase"] = phase
    data = Map(step.data)
    data["with"] = inputs
    return Step(step.index, step.line, data, step.action)


def _code_fix(workflow: Workflow, job: Job, code: list[Step], contract: Contract) -> tuple[str, str]:
    """The fix and where it is pasted (Finding.fix_at)."""
    single = next((s for s in code if s.action == "promote" and "all" in _phases(workflow, s)), None)
    if single is not None:
        return _split_fix(workflow, job, single, contract), "jobs"
    needs, writes = _job_needs(workflow, job, contract)
    if any(_flag_set(workflow, s) for s in code):
        return ("phase: open   # then a job with `phase: deploy` and `permissions: {contents: read}`, then one with "
                "`phase: close` under always(): workflows-templates/cd-flags.yml shows the three jobs"), "with"
    if not writes:
        reads = {s: lv for s, lv in needs.items() if lv == "read"} | {"contents": "read"}
        return "permissions:\n" + "".join(f"  {s}: {lv}\n" for s, lv in sorted(reads.items())).rstrip("\n") + \
            f"   # writes go to a job that runs no repository code ({SPLIT_DOC})", "job"
    steps = ", ".join(s.shown for s in code)
    return (f"{job.id}-build:   # {steps} moved here, out of the job that writes ({SPLIT_DOC})\n"
            f"  runs-on: ubuntu-latest\n  permissions:\n    contents: read\n  steps:\n"
            f"    - run: make dist   # the steps that run repository code; hand their result over as an artifact"), "jobs"


def repository_code(workflow: Workflow, contract: Contract) -> list[Finding]:
    """Issue 20: a job whose token can write must run nothing from the repository (a `run:` step, a
    local action, a cdhelper step that runs the deploy command, hooks or analyses)."""
    findings = []
    for job in workflow.jobs.values():
        code = [s for s in job.steps if _runs_code(workflow, s)]
        if not code:
            continue
        perms, source = _token(workflow, job)
        writes = _github_writes(perms)
        if writes == set():
            continue
        first = code[0]
        what = f"{first.shown}: {_runs_code(workflow, first)}" + (
            f"; and {len(code) - 1} more step(s)" if len(code) > 1 else "")
        if writes is None:
            token = ("a token with the repository's default permissions (neither the job nor the workflow sets "
                     "`permissions:`), which may be write to everything")
        else:
            shown = "write-all" if "*" in writes else ", ".join(f"{s}: write" for s in sorted(writes))
            token = f"a token that can write ({shown}, from {source})"
        if self_hosted(job):
            rule, limit = "code-with-write-token-self-hosted", (
                "; allowed on a self-hosted runner where no step can gain root: a step that can read the job's "
                "token")
        elif writes is not None and writes <= {"packages"}:
            rule, limit = "code-with-packages-write", ""
        else:
            rule, limit = "code-with-write-token", ""
        line = first.data.line_of("run" if "run" in first.data else "uses")
        fix, fix_at = _code_fix(workflow, job, code, contract)
        findings.append(Finding(rule, workflow.path, line,
                                f"job `{job.id}` runs repository code ({what}) with {token}{limit}", fix, job.id, fix_at))
    return findings


def _open_job_fix(workflow: Workflow, job: Job, step: Step, contract: Contract) -> str:
    """The open job a deploy phase is missing (valid under `jobs:`); the deploy job then needs it."""
    uses, command = _uses(step)
    opener = f"{job.id}-open"
    bound = workflow.resolve(job.environment) if job.environment is not None else None
    env = (bound or [step.input("environment") or "<environment>"])[0]
    gated = contract.is_gated(env)
    needs = f"  needs: [{', '.join(job.needs)}]\n" if job.needs else ""
    return (f"{opener}:   # then `{job.id}` needs it and passes handoff: ${{{{ needs.{opener}.outputs.handoff }}}} "
            f"({SPLIT_DOC})\n{needs}  runs-on: ubuntu-latest\n  permissions:\n    contents: read\n"
            f"    deployments: write\n" + ("    actions: read\n" if gated else "")
            + f"  outputs:\n    handoff: ${{{{ steps.open.outputs.handoff }}}}\n  steps:\n    - id: open\n"
            f"      uses: {uses}\n      with:\n"
            + _with(step, ("version", "digest", "mode", "gate-environment"),
                    [*command, ("phase", "open"), ("environment", _yaml_value(env))]
                    + ([("gated", "true")] if gated else [])))


def deploy_without_open(workflow: Workflow, contract: Contract) -> list[Finding]:
    """A `phase: deploy` step deploys what an open job upstream checked and recorded for the environment
    the deploy job is bound to (its secrets): with no such open job, nothing was."""
    openers = {j.id: [s for s in j.steps_running("promote") if _only(workflow, s, "open")]
               for j in workflow.jobs.values()}
    openers = {k: v for k, v in openers.items() if v}
    findings = []
    for job in workflow.jobs.values():
        upstream = _ancestors(workflow, job) & set(openers)
        bound = workflow.resolve(job.environment) if job.environment is not None else None
        for step in job.steps_running("promote"):
            if not _only(workflow, step, "deploy"):
                continue
            named = set(re.findall(r"needs\.([A-Za-z0-9_-]+)\.outputs", step.input("handoff")))
            sources = sorted(named & upstream if named else upstream)
            opened = {e.lower() for j in sources for s in openers[j] for e in
                      (_promote_environments(workflow, s) or ["${{"])}
            fix = _open_job_fix(workflow, job, step, contract)
            if not sources:
                message = (f"job `{job.id}` runs promote `phase: deploy`, but no job upstream opens the promotion "
                           "(promote `phase: open`, which checks the gate, the evidence and the digest, and writes "
                           "the record)")
            elif bound and len(bound) == 1 and "${{" not in opened and bound[0].lower() not in opened:
                message = (f"job `{job.id}` is bound to {bound[0]!r} (its secrets) but deploys the handoff of "
                           f"`{'`, `'.join(sources)}`, which opens {', '.join(sorted(map(repr, opened)))}: nothing "
                           f"checked or recorded this deployment to {bound[0]!r}")
            else:
                continue
            findings.append(Finding("deploy-without-open", workflow.path, step.input_line("phase"), message, fix,
                                    job.id))
    return findings
