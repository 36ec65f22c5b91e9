"""What a pusher controls cannot reach the helper (design.md, "What a pusher controls").

The composite actions' own two steps run for real, as the runner runs them: the `run:` lines of
action.yml are executed by bash (`--noprofile --norc -eo pipefail`, the runner's defaults) with their
`env:` mappings filled in, in a workspace that anyone who can push controls. Each attack is first
shown to work against the launch line cdhelper used before (`python -m cdhelper`), then shown to
fail against the one in action.yml now.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import SENTINEL

ROOT = Path(__file__).resolve().parents[2]
# The launch line before issue "Hardening" was `python -m cdhelper COMMAND`, which now hands the secrets
# over in Actions too (credentials.start, tests/boot/test_handover.py); this one still behaves as it did.
OLD_RUN = """"$CDHELPER_PYTHON" -c 'import sys; from cdhelper.cli.main import main; sys.exit(main(sys.argv[1:]))' {command}"""
WHERE_ARE_THE_DEPS = ("import os, sys; sys.path.append(sys.argv[1]); from cdhelper import bootstrap; "
                      "print(bootstrap.site_dir(bootstrap.entry_for(dict(os.environ)).path))")
PERMISSIONS = {"contents": "write", "deployments": "write", "statuses": "write", "actions": "read", "metadata": "read"}
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")

# Modules a pusher commits to shadow the helper's own code or its dependencies. Each leaves a
# marker (and the token, if it can see one) when something imports it.
SHADOWS = ["cdhelper/__init__.py", "cdhelper/__main__.py", "cdhelper/cli/main.py", "yaml.py", "requests/__init__.py",
           "github/__init__.py", "json.py", "sitecustomize.py", "usercustomize.py", "startup.py"]
PLANTED = '''import os, sys
with open(os.path.join({markers!r}, {name!r}), "a") as fh:
    fh.write(" ".join(getattr(sys, "orig_argv", sys.argv)) + " token=" + os.environ.get("INPUT_GITHUB_TOKEN", "") + "\\n")
def main(argv=None):
    return 0
'''


def plant_shadows(workspace: Path, markers: Path) -> dict[str, str]:
    """Shadowing modules in the workspace; returns the environment a poisoned job would also set."""
    markers.mkdir(parents=True, exist_ok=True)
    for rel in SHADOWS:
        path = workspace / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PLANTED.format(markers=str(markers), name=rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")))
    return {"PYTHONPATH": str(workspace), "PYTHONSTARTUP": str(workspace / "startup.py")}


def markers_left(markers: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(markers.iterdir())} if markers.exists() else {}


# --- the runner, as far as a composite action's steps can tell --------------------------------------

@dataclass
class StepResult:
    code: int
    out: str
    err: str
    outputs: dict[str, str]


@dataclass
class Job:
    """One job's environment: the runner's variables, a workspace, a token, and how to run as a user."""

    workspace: Path
    home: Path
    api_url: str
    cache: Path
    token: str = SENTINEL
    sha: str = "0" * 40
    python: str = sys.executable
    user: list[str] = field(default_factory=list)  # e.g. setpriv ... to run the step unprivileged
    action_root: Path = ROOT  # the action checkout the runner downloaded
    env: dict[str, str] = field(default_factory=dict)  # job-level env: (and what earlier steps exported)

    def runner_env(self, action_dir: Path, files: Path) -> dict[str, str]:
        bindir = files / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        if not (bindir / "python3").exists():
            (bindir / "python3").symlink_to(self.python)
        base = {
            "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8",
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": "acme/app", "GITHUB_REPOSITORY_ID": "1296269", "GITHUB_REPOSITORY_OWNER": "acme",
            "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_RUN_NUMBER": "7", "GITHUB_SHA": self.sha,
            "GITHUB_REF": "refs/heads/main", "GITHUB_ACTOR": "octocat", "GITHUB_EVENT_NAME": "push",
            "GITHUB_SERVER_URL": "https://github.example", "GITHUB_API_URL": self.api_url,
            "GITHUB_GRAPHQL_URL": f"{self.api_url}/graphql", "RUNNER_OS": "Linux", "RUNNER_TEMP": str(files / "temp"),
            "RUNNER_TOOL_CACHE": str(self.cache), "GITHUB_ACTION_PATH": str(action_dir),
            "GITHUB_OUTPUT": str(files / "output"), "GITHUB_STEP_SUMMARY": str(files / "summary.md"),
            "GITHUB_ENV": str(files / "env"), "GITHUB_PATH": str(files / "path"), "CDHELPER_BACKOFF": "0.001",
        }
        base.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})  # the machine's package index
        (files / "temp").mkdir(exist_ok=True)
        os.chmod(files / "temp", 0o777)
        return {**base, **self.env}

    def run_action(self, action: str, inputs: dict[str, str], *, old: bool = False,
                   timeout: float = 300) -> tuple[StepResult, StepResult]:
        """Both steps of a composite action (`actions/status`, or `.` for the root action), as the
        runner runs them; `old` swaps in the launch line cdhelper used before."""
        action_dir = self.action_root / action
        spec = yaml.safe_load((action_dir / "action.yml").read_text())
        setup_step, run_step = spec["runs"]["steps"]
        files = Path(tempfile.mkdtemp(prefix="step-", dir=self.home))
        os.chmod(files, 0o777)
        env = self.runner_env(action_dir, files)
        context = {"github.token": self.token, "github.actor": "octocat", "job.status": "success"}
        values = {name: str(given.get("default", "")) for name, given in spec["inputs"].items()}
        values.update(inputs)
        for name, value in values.items():
            context[f"inputs.{name}"] = EXPRESSION.sub(lambda m: context[m.group(1)], value)
        setup = self._bash(setup_step["run"], env, files, "setup", timeout)
        if setup.code != 0 or not setup.outputs:
            return setup, StepResult(-1, "", "not run: the set-up step failed", {})
        for key, value in setup.outputs.items():
            context[f"steps.setup.outputs.{key}"] = value
        step_env = {name: EXPRESSION.sub(lambda m: context[m.group(1)], str(value))
                    for name, value in run_step.get("env", {}).items()}
        script = run_step["run"]
        if old:
            script = OLD_RUN.format(command=script.rsplit(" ", 1)[1])
            step_env.pop("CDHELPER_ROOT")
            # The old venv held the dependencies: a copy of the entry this job's bootstrap verified
            # (a copy: with `site` on, any .pth of the interpreter may write into what it imports).
            where = subprocess.run([step_env["CDHELPER_PYTHON"], "-I", "-S", "-c", WHERE_ARE_THE_DEPS,
                                    setup.outputs["root"]], env=env, capture_output=True, text=True, check=True)
            old_site = files / "old-venv-site"
            if not old_site.exists():
                shutil.copytree(where.stdout.strip(), old_site)
            step_env["PYTHONPATH"] = f"{setup.outputs['root']}:{old_site}"
        return setup, self._bash(script, {**env, **step_env}, files, "run", timeout)

    def _bash(self, script: str, env: dict[str, str], files: Path, name: str, timeout: float) -> StepResult:
        """As the runner does: the script in a file, `bash --noprofile --norc -eo pipefail FILE`, cwd the workspace."""
        path = files / f"{name}.sh"
        path.write_text(script)
        out_file = files / "output"
        out_file.write_text("")
        for f in (out_file, files / "summary.md", files / "env", files / "path"):
            f.touch()
            os.chmod(f, 0o666)
        os.chmod(path, 0o644)
        proc = subprocess.run([*self.user, "bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
                              cwd=self.workspace, env=env, capture_output=True, text=True, timeout=timeout)
        outputs = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line)
        return StepResult(proc.returncode, proc.stdout, proc.stderr, outputs)


@pytest.fixture(scope="session")
def deps_cache(tmp_path_factory) -> Path:
    """Tool cache shared by the session's workers (bootstrap locks it): one cold build, then warm."""
    cache = tmp_path_factory.getbasetemp().parent / "cdhelper-tool-cache"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture
def job(double, tmp_path, deps_cache) -> Job:
    double.register_token(SENTINEL, permissions=PERMISSIONS)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    return Job(workspace=workspace, home=home, api_url=double.url, cache=deps_cache,
               sha=double.repo("acme/app").resolve("main"))


# --- 1. The workspace cannot shadow the helper --------------------------------------------------------

def test_the_old_launch_line_runs_a_pushed_cdhelper_package_with_the_token(job, tmp_path):
    markers = tmp_path / "markers"
    job.env.update(plant_shadows(job.workspace, markers))
    setup, run = job.run_action("actions/status", {}, old=True)
    assert setup.code == 0, setup.err
    found = markers_left(markers)
    assert "cdhelper" in found and f"token={SENTINEL}" in found["cdhelper"], found  # the attack works there


@pytest.mark.parametrize("action, inputs, cold", [("actions/status", {}, True), (".", {"command": "status"}, False)],
                         ids=["actions/status, cold cache: the installer runs too", "root action"])
def test_shadowing_modules_in_the_workspace_are_never_imported(job, tmp_path, double, action, inputs, cold):
    markers = tmp_path / "markers"
    job.env.update(plant_shadows(job.workspace, markers))
    if cold:
        job.cache = tmp_path / "empty-tool-cache"
    setup, run = job.run_action(action, inputs)
    assert markers_left(markers) == {}
    if cold:  # the set-up built the entry here: pip ran in this job, and imported nothing from it either
        assert list((job.cache / "cdhelper").glob("deps-*/manifest.json"))
    assert setup.code == 0, setup.out + setup.err
    assert run.code == 0, run.out + run.err
    assert "staging" in run.out and "production" in run.out  # the real status table, from the double
    assert double.total_requests() > 0


def test_every_action_launches_by_path_isolated_and_without_site():
    for path in [ROOT / "action.yml", *sorted(ROOT.glob("actions/*/action.yml"))]:
        setup_step, run_step = yaml.safe_load(path.read_text())["runs"]["steps"]
        assert setup_step["run"].startswith('python3 -I -S "$GITHUB_ACTION_PATH/'), path
        assert re.fullmatch(r'exec "\$CDHELPER_PYTHON" -I -S "\$CDHELPER_ROOT/cdhelper/__main__\.py" [a-z-]+',
                            run_step["run"]), path
        assert "PYTHONPATH" not in run_step["env"], path


def test_the_launcher_refuses_to_run_without_isolation(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "cdhelper" / "__main__.py"), "--version"], cwd=tmp_path,
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert proc.returncode == 1
    assert "::error title=cdhelper::run the launcher as: python -I -S" in proc.stdout


# --- 2. The deploy command cannot read the token ---------------------------------------------------

PROBE = r'''
import json, os, sys
sentinel = open({sentinel_file!r}).read().strip().encode()
found, readable = [], {{}}

def search(label, path):
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        readable[label] = type(exc).__name__
        return
    readable[label] = "readable"
    if sentinel in data:
        found.append(label)

if any(sentinel in value.encode() for value in os.environ.values()):
    found.append("own environment")
for name in os.listdir("/proc/self/fd"):
    try:
        fd = os.open(f"/proc/self/fd/{{name}}", os.O_RDONLY | os.O_NONBLOCK)
        if sentinel in os.read(fd, 1 << 20):
            found.append(f"own fd {{name}}")
        os.close(fd)
    except OSError:
        pass
parent = os.getppid()
pid, depth = os.getpid(), 0
while pid > 1:
    with open(f"/proc/{{pid}}/stat") as fh:
        ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
    if ppid <= 1:
        break
    for what in ("environ", "cmdline"):
        search(f"{{what}} of ancestor {{depth + 1}} ({{ppid}})", f"/proc/{{ppid}}/{{what}}")
    pid, depth = ppid, depth + 1
try:
    with open(f"/proc/{{parent}}/environ", "rb") as fh:
        names = sorted(e.split(b"=", 1)[0].decode() for e in fh.read().split(b"\0") if e)
except OSError:
    names = None
try:
    fds = os.listdir(f"/proc/{{parent}}/fd")
    readable["parent fds"] = "readable"
except OSError as exc:
    fds = []
    readable["parent fds"] = type(exc).__name__
for name in fds:
    try:
        fd = os.open(f"/proc/{{parent}}/fd/{{name}}", os.O_RDONLY | os.O_NONBLOCK)
        if sentinel in os.read(fd, 1 << 20):
            found.append(f"parent fd {{name}}")
        os.close(fd)
    except OSError:
        pass
try:
    with open(f"/proc/{{parent}}/maps") as fh:
        regions = [line.split()[0].split("-") for line in fh if " rw" in line]
    with open(f"/proc/{{parent}}/mem", "rb", buffering=0) as mem:
        readable["parent mem"] = "readable"
        for start, end in regions:
            try:
                mem.seek(int(start, 16))
                if sentinel in mem.read(int(end, 16) - int(start, 16)):
                    found.append("parent memory")
                    break
            except (OSError, ValueError, OverflowError):
                continue
except OSError as exc:
    readable["parent mem"] = type(exc).__name__
with open({report!r}, "w") as fh:
    json.dump({{"found": found, "readable": readable, "uid": os.getuid(), "parent_environ": names,
               "own_environ": sorted(os.environ)}}, fh)
'''


def _release(job: Job, artifact: Path) -> None:
    artifact.mkdir(mode=0o755)
    (artifact / "app.txt").write_text("v1\n")
    os.chmod(artifact / "app.txt", 0o644)
    setup, run = job.run_action("actions/release", {"version": "1.0.0", "artifact": str(artifact), "mode": "deployment"})
    assert setup.code == 0 and run.code == 0, setup.out + setup.err + run.out + run.err


def _probe_deploy(job: Job, where: Path, *, old: bool = False) -> dict:
    """Promote to staging with a deploy command that hunts for the token; what it found."""
    where.mkdir(parents=True, exist_ok=True)
    os.chmod(where, 0o777)
    sentinel_file, report, probe = where / "sentinel", where / "report.json", where / "probe.py"
    sentinel_file.write_text(SENTINEL)
    probe.write_text(PROBE.format(sentinel_file=str(sentinel_file), report=str(report)))
    for f in (sentinel_file, probe):
        os.chmod(f, 0o644)
    inputs = {"environment": "staging", "version": "1.0.0", "mode": "deployment", "run": f'"{job.python}" -I {probe}'}
    setup, run = job.run_action("actions/promote", inputs, old=old)
    assert setup.code == 0, setup.out + setup.err
    assert run.code == 0, run.out + run.err
    assert report.exists(), run.out + run.err
    return json.loads(report.read_text())


def _about_the_parent(report: dict, what: str) -> str:
    return next(value for key, value in report["readable"].items() if key.startswith(f"{what} of ancestor 1 "))


def test_the_old_launch_line_lets_the_deploy_command_read_the_token(job, tmp_path):
    _release(job, tmp_path / "dist")
    report = _probe_deploy(job, tmp_path / "probe", old=True)
    assert any(label.startswith("environ of ancestor") for label in report["found"]), report  # the attack works there


def test_the_deploy_command_finds_the_token_nowhere(job, tmp_path, double):
    _release(job, tmp_path / "dist")
    report = _probe_deploy(job, tmp_path / "probe")
    # As root the probe may read the helper's memory (CAP_SYS_PTRACE: see the unprivileged test);
    # its own environment and fds, every ancestor's environ and cmdline, the helper's fds: nothing.
    assert [f for f in report["found"] if f != "parent memory"] == [], report
    assert _about_the_parent(report, "environ") == "readable" and report["readable"]["parent fds"] == "readable"
    secrets = {"INPUT_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN", "INPUT_REGISTRY_PASSWORD"}
    assert not secrets & set(report["parent_environ"]), report
    assert not (secrets | {"CDHELPER_SECRETS_FD"}) & set(report["own_environ"]), report
    assert "INPUT_ENVIRONMENT" in report["parent_environ"]  # it is the helper's environment, less the secrets
    [deployment] = [d for d in double.repo("acme/app").deployments.values() if d["environment"] == "staging"]
    assert double.repo("acme/app").statuses[deployment["id"]][-1]["state"] == "success"


def _python_for(user: list[str]) -> str | None:
    """An interpreter with pip that the unprivileged user can run as root would (pyenv's lives under /root)."""
    probe = ["-I", "-c", "import sys, pip; print(sys.prefix)"]
    for candidate in ("/usr/bin/python3", os.path.realpath(sys.executable), "/usr/local/bin/python3"):
        if not os.path.exists(candidate):
            continue
        as_root = subprocess.run([candidate, *probe], capture_output=True, text=True, cwd="/")
        as_user = subprocess.run([*user, candidate, *probe], capture_output=True, text=True, cwd="/")
        if as_root.returncode == as_user.returncode == 0 and as_root.stdout == as_user.stdout:
            return candidate
    return None


@pytest.fixture
def unprivileged_job(double):
    """The same job with every step run as uid 65534 (a runner's own, unprivileged user), from an
    action checkout and in directories that user may use."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the steps as another user")
    user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    python = _python_for(user)
    if python is None:
        pytest.skip("no Python interpreter with pip that uid 65534 can run")
    base = Path(tempfile.mkdtemp(prefix="cdhelper-unprivileged-"))
    os.chmod(base, 0o755)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "cdhelper", base / "action" / "cdhelper", ignore=skip)
    shutil.copytree(ROOT / "actions", base / "action" / "actions", ignore=skip)
    shutil.copy2(ROOT / "action.yml", base / "action" / "action.yml")
    for d in ("workspace", "home", "cache"):
        (base / d).mkdir()
        os.chown(base / d, 65534, 65534)
    double.register_token(SENTINEL, permissions=PERMISSIONS)
    yield Job(workspace=base / "workspace", home=base / "home", api_url=double.url, cache=base / "cache",
              sha=double.repo("acme/app").resolve("main"), python=python, user=user, action_root=base / "action")
    shutil.rmtree(base, ignore_errors=True)


def test_an_unprivileged_deploy_command_cannot_read_the_helpers_memory_environ_or_fds(unprivileged_job):
    job = unprivileged_job
    _release(job, job.home / "dist")
    old = _probe_deploy(job, job.home / "probe-old", old=True)
    job.env["GITHUB_RUN_ID"] = "4243"  # a second run, or the promotion would be a no-op
    new = _probe_deploy(job, job.home / "probe-new")
    assert old["uid"] == new["uid"] == 65534
    # Before: the helper's environ, memory and fds were the deploy command's to read.
    assert old["readable"]["parent mem"] == "readable" and "parent memory" in old["found"], old
    assert any(label.startswith("environ of ancestor") for label in old["found"]), old
    # Now: nothing found, and the helper's /proc files are closed to it (non-dumpable).
    assert new["found"] == [], new
    assert _about_the_parent(new, "environ") == "PermissionError", new
    assert new["readable"]["parent mem"] == "PermissionError", new
    assert new["readable"]["parent fds"] == "PermissionError", new


# --- 2b. A user command cannot plant code the helper loads after it ---------------------------------

# Appended by the deploy command to a module of the helper's checkout that the helper would load
# later in the same step; if it ever runs, it finds the token in the helper's objects.
PLANT = """
import gc as _gc
def _cdhelper_steal():
    for obj in _gc.get_objects():
        attrs = getattr(obj, "__dict__", None)
        for value in list(attrs.values()) if isinstance(attrs, dict) else ():
            if isinstance(value, str) and value.startswith("ghs_"):
                with open({marker!r}, "a") as fh:
                    fh.write(value + "\\n")
_cdhelper_steal()
"""
ROLLS_BACK = """version: 1
tag: {release: true}
environments:
  - name: staging
    analysis: [healthy]
  - name: production
analysis:
  healthy:
    command: {run: 'test "$CD_VERSION" != 2.0.0'}
    count: 1
"""


@pytest.fixture
def writable_action_job(job, tmp_path):
    """The job with an action checkout its steps can write to, as on GitHub-hosted runners (one user)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    root = tmp_path / "action"
    shutil.copytree(ROOT / "cdhelper", root / "cdhelper", ignore=skip)
    shutil.copytree(ROOT / "actions", root / "actions", ignore=skip)
    shutil.copy2(ROOT / "action.yml", root / "action.yml")
    job.action_root = root
    return job


def test_a_deploy_command_rewriting_the_helpers_modules_never_runs_code_with_the_token(writable_action_job, tmp_path,
                                                                                        double):
    """The automatic rollback of a failed analysis fetches the previous release's files: code the
    helper needs only after the deploy command ran. Whatever the command rewrote, none of it runs."""
    job = writable_action_job
    (job.workspace / ".github").mkdir()
    (job.workspace / ".github" / "cd.yml").write_text(ROLLS_BACK)
    marker = tmp_path / "stolen"
    attack = "; ".join(f"printf '%s' {shlex.quote(PLANT.format(marker=str(marker)))} >> {shlex.quote(str(path))}"
                       for path in sorted((job.action_root / "cdhelper").rglob("*.py")))
    for number, version in enumerate(("1.0.0", "2.0.0"), 1):
        job.env["GITHUB_RUN_ID"] = str(5000 + number)
        artifact = tmp_path / f"dist-{version}"
        artifact.mkdir()
        (artifact / "app.txt").write_text(f"{version}\n")
        setup, run = job.run_action("actions/release", {"version": version, "artifact": str(artifact), "mode": "deployment"})
        assert run.code == 0, run.out + run.err
        setup, run = job.run_action("actions/promote", {
            "environment": "staging", "version": version, "mode": "deployment",
            "run": attack if version == "2.0.0" else "true"})
        if version == "2.0.0":
            assert run.code == 11, run.out + run.err  # rolled back: the rollback path ran after the command
    assert not marker.exists(), f"code planted by the deploy command ran in the helper: {marker.read_text()}"
    records = [d for d in double.repo("acme/app").deployments.values() if d["environment"] == "staging"]
    assert [r["payload"]["version"] for r in records] == ["1.0.0", "2.0.0", "1.0.0"]
    assert double.repo("acme/app").statuses[records[-1]["id"]][-1]["state"] == "success"


# --- 3. credentials.py, the launcher's hand-over -------------------------------------------------------

@pytest.fixture
def fresh_credentials(monkeypatch):
    from cdhelper._boot import credentials
    monkeypatch.setattr(credentials, "_received", None)
    return credentials


def test_without_the_launcher_load_reads_the_environment_in_order(fresh_credentials):
    load = fresh_credentials.load
    assert load({"GH_TOKEN": "c", "GITHUB_TOKEN": "b", "INPUT_GITHUB_TOKEN": "a"}).github_token == "a"
    assert load({"GH_TOKEN": "c", "GITHUB_TOKEN": "b", "INPUT_GITHUB_TOKEN": ""}).github_token == "b"
    assert load({"GH_TOKEN": "c"}) == fresh_credentials.Credentials(github_token="c", registry_password="")
    assert load({"INPUT_REGISTRY_PASSWORD": "pw"}).registry_password == "pw"
    assert load({}) == fresh_credentials.Credentials("", "")
    # act (and the runner, for JavaScript actions) also spell inputs as INPUT_GITHUB-TOKEN
    assert load({"INPUT_GITHUB-TOKEN": "h", "GITHUB_TOKEN": "b"}).github_token == "h"
    assert load({"INPUT_GITHUB-TOKEN": "h", "INPUT_GITHUB_TOKEN": "a"}).github_token == "a"
    assert load({"INPUT_REGISTRY-PASSWORD": "pw"}).registry_password == "pw"
    shown = repr(load({"INPUT_GITHUB_TOKEN": SENTINEL, "INPUT_REGISTRY_PASSWORD": "pw"}))
    assert SENTINEL not in shown and "pw" not in shown and "<set>" in shown


def test_the_pipe_is_read_once_closed_and_forgotten(fresh_credentials):
    credentials = fresh_credentials
    read_end, write_end = os.pipe()
    os.write(write_end, json.dumps({"INPUT_GITHUB_TOKEN": SENTINEL, "INPUT_REGISTRY_PASSWORD": "pw"}).encode())
    os.close(write_end)
    environ = {"CDHELPER_SECRETS_FD": str(read_end), "INPUT_ENVIRONMENT": "staging"}
    got = credentials.load(environ)
    assert got == credentials.Credentials(SENTINEL, "pw")
    assert environ == {"INPUT_ENVIRONMENT": "staging"}  # the variable is gone
    with pytest.raises(OSError):
        os.fstat(read_end)  # and so is the descriptor
    assert credentials.load({"INPUT_GITHUB_TOKEN": "other"}) is got  # once received, always the same


def test_only_a_pipe_is_accepted_as_the_secrets_descriptor(fresh_credentials, tmp_path):
    with open(tmp_path / "file", "w") as fh:
        with pytest.raises(fresh_credentials.CredentialsError, match="not the launcher's pipe"):
            fresh_credentials.load({"CDHELPER_SECRETS_FD": str(fh.fileno())})
    with pytest.raises(fresh_credentials.CredentialsError, match="not an open pipe"):
        fresh_credentials.load({"CDHELPER_SECRETS_FD": "nonsense"})


def test_hand_over_re_executes_without_the_secrets_and_the_child_inherits_no_descriptor(tmp_path):
    """The hand-over on its own: a process with secrets re-executes (same pid) into one that
    receives them; the deploy-like child it then starts inherits neither them nor the pipe."""
    script = tmp_path / "reexec.py"
    script.write_text(f'''
import json, os, subprocess, sys
sys.path.insert(0, {str(ROOT)!r})
from cdhelper._boot import credentials
if len(sys.argv) == 1:
    print("first", os.getpid(), flush=True)
    credentials.hand_over(os.environ, [sys.executable, "-I", "-S", __file__, "again"])
    raise SystemExit("hand_over returned although there were secrets")
before = {{k: v for k, v in os.environ.items() if k.startswith(("INPUT_", "GH_", "GITHUB_", "CDHELPER_"))}}
environ_block = open(f"/proc/{{os.getpid()}}/environ", "rb").read()
undumpable = credentials.make_undumpable()
got = credentials.receive(os.environ)
child = subprocess.run(["bash", "-c", "ls /proc/self/fd | wc -l; env | grep -c -e TOKEN -e PASSWORD -e SECRETS -e NOTIFY || true"],
                       capture_output=True, text=True)
print(json.dumps({{"pid": os.getpid(), "env": before, "in_proc_environ": {SENTINEL!r}.encode() in environ_block,
                  "token": got.github_token == {SENTINEL!r}, "password": got.registry_password, "undumpable": undumpable,
                  "child": child.stdout.split()}}))
''')
    env = {"PATH": os.environ["PATH"], "INPUT_GITHUB_TOKEN": SENTINEL, "GH_TOKEN": "second", "GITHUB_TOKEN": "third",
           "INPUT_GITHUB-TOKEN": SENTINEL, "INPUT_REGISTRY_PASSWORD": "pw", "INPUT_ENVIRONMENT": "staging",
           "INPUT_NOTIFY_WEBHOOKS": "https://hooks.slack.com/services/T/B/secret", "INPUT_NOTIFY-SECRET": "hmac-key-0123456789"}
    proc = subprocess.run([sys.executable, "-I", "-S", str(script)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first, report = proc.stdout.splitlines()
    seen = json.loads(report)
    assert int(first.split()[1]) == seen["pid"]  # same process, re-executed
    assert seen["env"].keys() == {"INPUT_ENVIRONMENT", "CDHELPER_SECRETS_FD"}
    assert seen["in_proc_environ"] is False
    assert seen["token"] is True and seen["password"] == "pw" and seen["undumpable"] is True
    assert seen["child"] == ["4", "0"]  # stdin, stdout, stderr and ls's own directory fd; no secret variable


def test_oversized_secrets_are_refused_before_anything_is_executed(fresh_credentials):
    with pytest.raises(fresh_credentials.CredentialsError, match="more than 16384"):
        fresh_credentials.hand_over({"INPUT_REGISTRY_PASSWORD": "x" * 20000}, ["/bin/false"])
    assert fresh_credentials.hand_over({"INPUT_ENVIRONMENT": "staging"}, ["/bin/false"]) is None
