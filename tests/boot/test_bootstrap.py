"""The set-up step: hash-locked dependencies in a per-repository cache entry that is verified
against its manifest before every use (bootstrap.py), and by the launcher right before importing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdhelper import bootstrap
from tests.conftest import SENTINEL

from .test_isolation import PERMISSIONS, deps_cache  # noqa: F401 - the session's shared tool cache

ROOT = Path(__file__).resolve().parents[2]
REPO_ENV = {"GITHUB_REPOSITORY": "acme/app", "GITHUB_REPOSITORY_ID": "1296269"}


def _runner_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
           "RUNNER_TOOL_CACHE": str(cache), **REPO_ENV, **extra}
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    return env


def _bootstrap(cache: Path, cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    """The action's set-up line: `python3 -I -S .../cdhelper/bootstrap.py`."""
    return subprocess.run([sys.executable, "-I", "-S", str(ROOT / "cdhelper" / "bootstrap.py")], cwd=cwd,
                          env=_runner_env(cache, **extra), capture_output=True, text=True, timeout=600)


def _launch(cache: Path, cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """The action's run line: `exec "$CDHELPER_PYTHON" -I -S .../cdhelper/__main__.py COMMAND`."""
    return subprocess.run([sys.executable, "-I", "-S", str(ROOT / "cdhelper" / "__main__.py"), *args], cwd=cwd,
                          env=_runner_env(cache, **extra), capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def pristine(deps_cache, tmp_path_factory) -> bootstrap.Entry:  # noqa: F811
    """The entry the actions' set-up builds for acme/app on this interpreter (built once per session)."""
    proc = _bootstrap(deps_cache, tmp_path_factory.mktemp("cwd"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entry = bootstrap.entry_for(_runner_env(deps_cache))
    assert bootstrap.verify(entry.path, entry.key) is None
    return entry


@pytest.fixture
def copy_of(pristine, tmp_path):
    """A private copy of the built entry under its own tool cache (same key: same lock, Python, repository)."""
    cache = tmp_path / "tool-cache"
    entry = bootstrap.entry_for(_runner_env(cache))
    assert entry.key == pristine.key
    shutil.copytree(pristine.path, entry.path, symlinks=True)
    return cache, entry


def _tamper(entry: bootstrap.Entry, how: str, marker: Path) -> str:
    site = Path(bootstrap.site_dir(entry.path))
    if how == "extra .pth":
        (site / "zzz-planted.pth").write_text(f"import os; open({str(marker)!r}, 'w').write('pth ran')\n")
        return "extra file site/zzz-planted.pth"
    if how == "changed .py":
        target = site / "yaml" / "__init__.py"
        target.write_text(target.read_text() + f"\nopen({str(marker)!r}, 'w').write('yaml ran')\n")
        return "changed file site/yaml/__init__.py"
    if how == "removed file":
        (site / "requests" / "api.py").unlink()
        return "missing site/requests/api.py"
    if how == "stray .pyc":
        (site / "__pycache__" / "sitecustomize.cpython-311.pyc").write_bytes(b"\0" * 16)
        return "extra file site/__pycache__/sitecustomize.cpython-311.pyc"
    if how == "symlink":
        (site / "linked.py").symlink_to("/etc/hostname")
        return "unexpected symlink site/linked.py"
    if how == "no manifest":
        os.unlink(os.path.join(entry.path, bootstrap.MANIFEST))
        return "missing manifest.json"
    raise AssertionError(how)


# --- the lock ---------------------------------------------------------------------------------------

def test_the_lock_pins_every_runtime_dependency_with_hashes_and_says_how_to_regenerate_it():
    lock = (ROOT / "cdhelper" / "requirements.lock").read_text()
    assert "uv pip compile pyproject.toml --universal --generate-hashes" in "\n".join(lock.splitlines()[:3])
    requirements = re.findall(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)[^\n]*\\\n((?:\s+--hash=sha256:[0-9a-f]{64}[ \\]*\n?)+)",
                              lock, re.M)
    pinned = {re.sub(r"[-_.]+", "-", name).lower() for name, _version, _hashes in requirements}
    named = [line for line in lock.splitlines() if line and not line.startswith((" ", "#"))]
    assert len(requirements) == len(named), "every requirement is pinned with == and carries hashes"
    pyproject = (ROOT / "pyproject.toml").read_text()
    for dep in bootstrap_dependencies(pyproject):
        assert re.sub(r"[-_.]+", "-", dep).lower() in pinned, f"{dep} is not in the lock: regenerate it"
    assert "cdhelper" not in pinned


def bootstrap_dependencies(pyproject: str) -> list[str]:
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", pyproject, re.S | re.M).group(1)
    return [re.match(r"[A-Za-z0-9_.-]+", spec).group(0) for spec in re.findall(r'"([^"]+)"', block)]


def test_a_lock_line_with_a_wrong_hash_fails_the_installation_with_a_clear_message(tmp_path):
    lock = (ROOT / "cdhelper" / "requirements.lock").read_text()
    block = re.search(r"^idna==\S+ \\\n(?:\s+--hash=\S+[ \\]*\n)+", lock, re.M).group(0)
    bad = tmp_path / "bad.lock"
    bad.write_text(re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, block))
    with pytest.raises(bootstrap.BootstrapError, match="did not match its hash in the lock"):
        bootstrap.ensure(_runner_env(tmp_path / "cache"), str(bad), notify=lambda line: None)
    assert not [p for p in (tmp_path / "cache" / "cdhelper").iterdir() if p.is_dir() and p.name != "installers"], (
        "nothing half-built is left")


def test_a_lock_line_without_a_hash_is_refused(tmp_path):
    bad = tmp_path / "unhashed.lock"
    bad.write_text("idna==3.20\n")
    with pytest.raises(bootstrap.BootstrapError, match="installing the locked dependencies failed"):
        bootstrap.ensure(_runner_env(tmp_path / "cache"), str(bad), notify=lambda line: None)


# --- the cache entry ----------------------------------------------------------------------------------

def test_cache_entries_are_per_repository_lock_and_interpreter(tmp_path):
    base = {"RUNNER_TOOL_CACHE": str(tmp_path)}
    app = bootstrap.entry_for({**base, **REPO_ENV})
    assert bootstrap.entry_for({**base, **REPO_ENV}) == app
    assert bootstrap.entry_for({**base, "GITHUB_REPOSITORY": "evil/app", "GITHUB_REPOSITORY_ID": "1296269"}).path != app.path
    assert bootstrap.entry_for({**base, "GITHUB_REPOSITORY": "acme/app", "GITHUB_REPOSITORY_ID": "7"}).path != app.path
    other_lock = tmp_path / "other.lock"
    other_lock.write_text((ROOT / "cdhelper" / "requirements.lock").read_text() + "\n# changed\n")
    assert bootstrap.entry_for({**base, **REPO_ENV}, str(other_lock)).path != app.path
    assert app.material["python"] == sys.version and app.material["repository"] == "acme/app"
    assert Path(app.path).parent == tmp_path / "cdhelper"


def test_a_warm_entry_is_reused_without_rebuilding(pristine, deps_cache, tmp_path):  # noqa: F811
    before = os.stat(os.path.join(pristine.path, bootstrap.MANIFEST)).st_mtime_ns
    proc = _bootstrap(deps_cache, tmp_path)
    assert proc.returncode == 0 and "::warning" not in proc.stdout, proc.stdout + proc.stderr
    assert os.stat(os.path.join(pristine.path, bootstrap.MANIFEST)).st_mtime_ns == before
    outputs = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    assert outputs == {"python": sys.executable, "root": str(ROOT)}


@pytest.mark.parametrize("how", ["extra .pth", "changed .py", "removed file", "stray .pyc", "symlink", "no manifest"])
def test_a_tampered_entry_is_detected_and_rebuilt_from_scratch(copy_of, pristine, tmp_path, monkeypatch, how):
    cache, entry = copy_of
    marker = tmp_path / "marker"
    problem = _tamper(entry, how, marker)
    assert bootstrap.verify(entry.path, entry.key) == problem
    notices = []
    installed = []

    def install_from_the_pristine_entry(lock, site, environ, **_):  # stands in for uv: the same files, no network
        installed.append(lock)
        shutil.copytree(bootstrap.site_dir(pristine.path), site)
        return "a copy"
    monkeypatch.setattr(bootstrap, "install", install_from_the_pristine_entry)
    assert bootstrap.ensure(_runner_env(cache), notify=notices.append) == entry.path
    assert installed == [bootstrap.LOCK]
    assert notices == [f"::warning title=cdhelper set-up::the cached dependencies in {entry.path} did not verify "
                       f"({problem}); rebuilding them from the lock", "cdhelper set-up: dependencies installed with a copy"]
    assert bootstrap.verify(entry.path, entry.key) is None
    assert sorted(os.listdir(Path(entry.path).parent)) == sorted([Path(entry.path).name, Path(entry.path).name + ".lock"])
    assert not marker.exists()


def test_a_planted_pth_is_rebuilt_away_for_real_and_never_runs(copy_of, tmp_path):
    """End to end: the set-up line rebuilds the entry; neither it nor the launcher runs the .pth."""
    cache, entry = copy_of
    marker = tmp_path / "marker"
    _tamper(entry, "extra .pth", marker)
    proc = _bootstrap(cache, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warnings = [line for line in proc.stdout.splitlines() if line.startswith("::warning") and "rebuilding" in line]
    assert len(warnings) == 1 and "(extra file site/zzz-planted.pth); rebuilding" in warnings[0]
    assert bootstrap.verify(entry.path, entry.key) is None
    assert not (Path(bootstrap.site_dir(entry.path)) / "zzz-planted.pth").exists()
    launched = _launch(cache, tmp_path, "--version")
    assert launched.returncode == 0 and launched.stdout.strip() == "cdhelper 0.1.0", launched.stdout + launched.stderr
    assert not marker.exists()


def test_the_launcher_refuses_an_entry_changed_after_set_up(copy_of, tmp_path):
    cache, entry = copy_of
    marker = tmp_path / "marker"
    _tamper(entry, "extra .pth", marker)
    launched = _launch(cache, tmp_path, "--version", INPUT_GITHUB_TOKEN=SENTINEL)
    assert launched.returncode == 1
    assert "does not match its manifest (extra file site/zzz-planted.pth)" in launched.stdout
    assert launched.stdout.startswith("::error title=cdhelper::")
    assert not marker.exists() and SENTINEL not in launched.stdout + launched.stderr


def test_a_pth_the_attacker_also_wrote_into_the_manifest_is_still_never_processed(copy_of, tmp_path, double):
    """What verification cannot catch (the runner's user rewrote both), the launch still defuses:
    `-S` and a plain sys.path.append mean no .pth file is ever executed."""
    cache, entry = copy_of
    marker = tmp_path / "marker"
    _tamper(entry, "extra .pth", marker)
    bootstrap.write_manifest(entry.path, entry.key, entry.material)
    assert bootstrap.verify(entry.path, entry.key) is None
    double.register_token(SENTINEL, permissions=PERMISSIONS)
    launched = _launch(cache, tmp_path, "status", "--json", INPUT_GITHUB_TOKEN=SENTINEL, GITHUB_API_URL=double.url)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    data = json.loads("\n".join(line for line in launched.stdout.splitlines() if not line.startswith("::")))
    assert [e["environment"] for e in data["environments"]] == [
        "staging", "production"]  # yaml, PyGithub and requests came from the entry
    assert not marker.exists()


def test_concurrent_set_ups_of_one_repository_build_once(tmp_path, monkeypatch, pristine):
    """Two jobs of one repository on one runner: the second waits on the lock, then reuses the entry."""
    import threading
    built = []

    def install_from_the_pristine_entry(lock, site, environ, **_):
        built.append(site)
        shutil.copytree(bootstrap.site_dir(pristine.path), site)
        return "a copy"
    monkeypatch.setattr(bootstrap, "install", install_from_the_pristine_entry)
    env = _runner_env(tmp_path / "cache")
    results = []
    threads = [threading.Thread(target=lambda: results.append(bootstrap.ensure(env, notify=print))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and len(set(results)) == 1


# --- Windows ------------------------------------------------------------------------------------------

def test_windows_is_refused_with_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    assert bootstrap.main() == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("::error title=cdhelper::cdhelper runs on Linux and macOS")
    script = str(ROOT / "cdhelper" / "__main__.py")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", "import runpy, sys; sys.platform = 'win32'; "
                           f"sys.argv = [{script!r}, 'status']; runpy.run_path({script!r}, run_name='__main__')"],
                          cwd=tmp_path, capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert proc.returncode == 1 and proc.stderr == ""
    assert proc.stdout == bootstrap.WINDOWS_REFUSAL + "\n"


def test_an_unusable_tool_cache_fails_with_one_line(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    proc = _bootstrap(tmp_path, tmp_path, CDHELPER_CACHE=str(blocker))
    assert proc.returncode == 1 and proc.stderr == ""
    assert proc.stdout.startswith("::error title=cdhelper set-up::cdhelper bootstrap: cannot use the tool cache")
    assert proc.stdout.count("\n") == 1


def test_a_file_name_in_the_cache_cannot_start_a_workflow_command():
    line = bootstrap.annotation("warning", "site/x\n::error title=Forged::approved by the-cto did not verify")
    assert "\n" not in line and line.startswith("::warning title=cdhelper set-up::")
    assert "%0A::error" in line
