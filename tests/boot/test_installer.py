"""Which installer the set-up uses (installer.py): uv on PATH, else the uv pinned by installer.lock
fetched from the package index and checked against its hashes, else pip; and the locks themselves."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from cdhelper import bootstrap
from cdhelper._boot import installer

from .test_bootstrap import _bootstrap, _runner_env, pristine  # noqa: F401 - the session's built entry
from .test_isolation import deps_cache  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
VERSION = installer.pinned()[0]
ARCH = {"amd64": "x86_64", "arm64": "aarch64"}.get(os.uname().machine.lower(), os.uname().machine.lower())
WHEEL = f"uv-{VERSION}-py3-none-manylinux_2_17_{ARCH}.manylinux2014_{ARCH}.whl"


def fake_uv_wheel(script: str = "#!/bin/sh\necho 'uv 0.13.9 (fake)'\n") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"uv-{VERSION}.data/scripts/uv", script)
        zf.writestr(f"uv-{VERSION}.dist-info/RECORD", "")
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Index:
    """A package index on loopback: a simple page for uv (JSON or HTML) and the files it links."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.listed: dict[str, str] = {}  # name -> the sha256 the page claims
        self.html = False
        self.requests: list[str] = []
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                index.requests.append(self.path)
                if self.path == "/simple/uv/":
                    if index.html:
                        links = "".join(f'<a href="../../files/{n}#sha256={d}">{n}</a>\n' for n, d in index.listed.items())
                        body, kind = f"<html><body>{links}</body></html>".encode(), "text/html"
                    else:
                        files = [{"filename": n, "url": f"/files/{n}", "hashes": {"sha256": d}}
                                 for n, d in index.listed.items()]
                        body, kind = json.dumps({"files": files}).encode(), "application/vnd.pypi.simple.v1+json"
                elif self.path.startswith("/files/") and self.path[7:] in index.files:
                    body, kind = index.files[self.path[7:]], "application/octet-stream"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"

    def offer(self, name: str, data: bytes, claimed: str | None = None) -> None:
        self.files[name] = data
        self.listed[name] = claimed or sha256(data)


@pytest.fixture
def index():
    served = Index()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def glibc_x86(monkeypatch):
    """This machine as a glibc Linux runner, whatever it really is."""
    monkeypatch.setattr(installer, "wheel_tags", lambda: [f"manylinux_2_35_{ARCH}", f"manylinux_2_17_{ARCH}"])


def lock_for(tmp_path: Path, *wheels: bytes) -> str:
    lock = tmp_path / "installer.lock"
    lock.write_text(f"uv=={VERSION} \\\n" + " \\\n".join(f"    --hash=sha256:{sha256(w)}" for w in wheels) + "\n")
    return str(lock)


# --- the pinned uv from the index ----------------------------------------------------------------------

def test_the_pinned_uv_comes_from_the_index_once_then_from_the_cache(tmp_path, index, glibc_x86):
    wheel = fake_uv_wheel()
    index.offer(WHEEL, wheel)
    index.offer(f"uv-{VERSION}-py3-none-win_amd64.whl", b"not for this runner")
    lock, cache = lock_for(tmp_path, wheel), tmp_path / "installers"
    env = {"UV_DEFAULT_INDEX": index.url}
    for scratch in ("a", "b"):
        (tmp_path / scratch).mkdir()
        uv = installer.from_index(env, str(cache), str(tmp_path / scratch), lock)
        assert uv.binary == str(tmp_path / scratch / "uv")
        assert subprocess.run([uv.binary, "--version"], capture_output=True, text=True).stdout == "uv 0.13.9 (fake)\n"
    assert index.requests == ["/simple/uv/", f"/files/{WHEEL}"], "the second set-up used the cached wheel"
    assert os.listdir(cache) == [WHEEL]


def test_a_cached_wheel_that_changed_is_never_opened_and_is_fetched_again(tmp_path, index, glibc_x86):
    wheel = fake_uv_wheel()
    index.offer(WHEEL, wheel)
    lock, cache = lock_for(tmp_path, wheel), tmp_path / "installers"
    cache.mkdir()
    planted = fake_uv_wheel("#!/bin/sh\necho planted > " + str(tmp_path / "ran") + "\n")
    (cache / WHEEL).write_bytes(planted)
    uv = installer.from_index({"UV_DEFAULT_INDEX": index.url}, str(cache), str(tmp_path), lock)
    subprocess.run([uv.binary, "--version"], check=True, capture_output=True)
    assert not (tmp_path / "ran").exists()
    assert (cache / WHEEL).read_bytes() == wheel
    assert index.requests == ["/simple/uv/", f"/files/{WHEEL}"]


def test_a_wheel_whose_bytes_are_not_in_the_lock_is_deleted_unopened(tmp_path, index, glibc_x86):
    locked = fake_uv_wheel()
    served = fake_uv_wheel("#!/bin/sh\necho evil\n")
    index.offer(WHEEL, served, claimed=sha256(locked))  # the page lies about the hash
    lock, cache = lock_for(tmp_path, locked), tmp_path / "installers"
    with pytest.raises(installer.Unavailable, match=rf"served {re.escape(WHEEL)} with sha256 {sha256(served)[:12]}.*"
                                                    r"not in installer.lock; it was deleted unopened"):
        installer.from_index({"UV_DEFAULT_INDEX": index.url}, str(cache), str(tmp_path), lock)
    assert os.listdir(cache) == [] and not (tmp_path / "uv").exists()


def test_an_index_without_a_locked_wheel_for_this_platform_says_so(tmp_path, index, glibc_x86):
    index.offer(WHEEL, fake_uv_wheel())
    lock = lock_for(tmp_path, b"some other wheel")
    with pytest.raises(installer.Unavailable, match=rf"has no uv {re.escape(VERSION)} wheel for manylinux_2_35_"):
        installer.from_index({"UV_DEFAULT_INDEX": index.url}, str(tmp_path / "c"), str(tmp_path), lock)
    assert index.requests == ["/simple/uv/"]


def test_the_html_simple_api_of_a_mirror_works_too(tmp_path, index, glibc_x86):
    wheel = fake_uv_wheel()
    index.offer(WHEEL, wheel)
    index.html = True
    uv = installer.from_index({"PIP_INDEX_URL": index.url + "/"}, str(tmp_path / "c"), str(tmp_path),
                              lock_for(tmp_path, wheel))
    assert Path(uv.binary).exists() and index.requests == ["/simple/uv/", f"/files/{WHEEL}"]


def test_an_unreachable_index_is_unavailable_not_a_traceback(tmp_path, glibc_x86):
    with pytest.raises(installer.Unavailable, match=r"could not be fetched from http://127\.0\.0\.1:9/simple"):
        installer.from_index({"UV_DEFAULT_INDEX": "http://127.0.0.1:9/simple"}, str(tmp_path / "c"), str(tmp_path))


PYPI_NAMES = [f"uv-{VERSION}-py3-none-{tag}.whl" for tag in (
    "macosx_10_12_x86_64", "macosx_11_0_arm64", "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
    "manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_28_aarch64", "musllinux_1_1_x86_64", "win_amd64")]


@pytest.mark.parametrize("platform, machine, libc, expected", [
    ("linux", "x86_64", "glibc 2.35", "manylinux_2_17_x86_64.manylinux2014_x86_64"),
    ("linux", "aarch64", "glibc 2.35", "manylinux_2_28_aarch64"),
    ("linux", "aarch64", "glibc 2.17", "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64"),
    ("linux", "x86_64", None, "musllinux_1_1_x86_64"),
    ("linux", "x86_64", "glibc 2.12", None),
    ("darwin", "arm64", None, "macosx_11_0_arm64"),
    ("darwin", "x86_64", None, "macosx_10_12_x86_64"),
    ("linux", "s390x", "glibc 2.35", None),
    ("win32", "AMD64", None, None),
])
def test_the_wheel_for_each_runner_platform(monkeypatch, platform, machine, libc, expected):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "runner", "6", "#1", machine)))

    def confstr(name):
        if libc is None:
            raise ValueError(name)
        return libc
    monkeypatch.setattr(os, "confstr", confstr)
    files = {name: sha256(name.encode()) for name in PYPI_NAMES}
    picked = installer.pick_wheel(files, frozenset(files.values()), VERSION, installer.wheel_tags())
    assert picked == (f"uv-{VERSION}-py3-none-{expected}.whl" if expected else None)


# --- uv on PATH, and what uv is told ------------------------------------------------------------------

@pytest.mark.parametrize("says, used", [("uv 0.13.9 (abc 2026-11-01)", True), ("uv 0.5.0", True),
                                        ("uv 0.4.30", False), ("something else", False)])
def test_a_uv_on_path_is_used_from_the_minimum_version(tmp_path, says, used):
    (tmp_path / "uv").write_text(f"#!/bin/sh\necho '{says}'\n")
    (tmp_path / "uv").chmod(0o755)
    found = installer.on_path({"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert (found == installer.Uv(str(tmp_path / "uv"), f"uv {says.split()[1]} on PATH")) if used else found is None
    assert installer.on_path({"PATH": str(tmp_path / "nothing")}) is None


def test_the_job_environment_cannot_change_what_uv_installs_or_where():
    env = {"PATH": "/usr/bin", "UV_NO_VERIFY_HASHES": "1", "UV_CONFIG_FILE": "/tmp/evil.toml", "UV_PYTHON": "/tmp/py",
           "UV_CACHE_DIR": "/shared/cache", "UV_INDEX_URL": "https://mirror.example/simple", "SSL_CERT_FILE": "/ca.pem",
           "PYTHONPATH": "/workspace", "PYTHONSTARTUP": "/workspace/x.py", "PYTHONHOME": "/workspace"}
    assert installer._uv_env(env) == {"PATH": "/usr/bin", "UV_INDEX_URL": "https://mirror.example/simple",
                                      "SSL_CERT_FILE": "/ca.pem", "UV_NO_PROGRESS": "1", "UV_NATIVE_TLS": "1"}
    cmd = installer.uv_command(installer.Uv("/x/uv", "uv"), "/a/requirements.lock", "/e/site", "/usr/bin/python3",
                               "/s", {"PIP_INDEX_URL": "https://pip.mirror/simple", "PIP_EXTRA_INDEX_URL": "a b"})
    assert cmd[:2] == ["/x/uv", "pip"] and cmd.count("--require-hashes") == 1 and "--no-config" in cmd
    assert "--compile-bytecode" not in cmd, "uv would run Python for it, not isolated"
    assert cmd[cmd.index("--cache-dir") + 1] == "/s/uv-cache", "a cache of this build only"
    assert cmd[cmd.index("--target") + 1] == "/e/site" and cmd[cmd.index("--only-binary") + 1] == ":all:"
    assert cmd[cmd.index("--index-url") + 1] == "https://pip.mirror/simple"
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--extra-index-url"] == ["a", "b"]


# --- the set-up's choice, and its fallback to pip ----------------------------------------------------------

def _site_from(pristine_entry):
    def install_copy(lock, site, pip, scratch):
        shutil.copytree(bootstrap.site_dir(pristine_entry.path), site)
    return install_copy


def test_cdhelper_installer_pip_skips_uv_silently(tmp_path, monkeypatch, pristine):  # noqa: F811
    monkeypatch.setattr(bootstrap, "_install", _site_from(pristine))
    monkeypatch.setattr(installer, "from_index", lambda *a: pytest.fail("uv was fetched"))
    notices = []
    used = bootstrap.install(bootstrap.LOCK, str(tmp_path / "site"), {"CDHELPER_INSTALLER": "pip", "PATH": "/usr/bin"},
                             notify=notices.append)
    assert used == "pip" and notices == [] and (tmp_path / "site" / "yaml").is_dir()


def test_a_failing_uv_leaves_nothing_behind_and_pip_installs_with_a_warning_naming_why(tmp_path, monkeypatch,
                                                                                     pristine):  # noqa: F811
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text("#!/bin/sh\n[ \"$1\" = --version ] && { echo 'uv 0.13.9'; exit 0; }\n"
                                "for a; do [ \"$prev\" = --target ] && mkdir -p \"$a/half-installed\"; prev=$a; done\n"
                                "echo 'error: Failed to fetch: https://pypi.org/simple/attrs/'; exit 2\n")
    (bin_dir / "uv").chmod(0o755)
    monkeypatch.setattr(bootstrap, "_install", _site_from(pristine))
    notices = []
    used = bootstrap.install(bootstrap.LOCK, str(tmp_path / "site"), {"PATH": f"{bin_dir}:/usr/bin:/bin"},
                             notify=notices.append)
    assert used == "pip" and not (tmp_path / "site" / "half-installed").exists()
    assert notices == ["::warning title=cdhelper set-up::set-up without uv (uv 0.13.9 on PATH exited 2: error: Failed "
                       "to fetch: https://pypi.org/simple/attrs/); installing with pip, which is slower. On runners "
                       "that cannot reach uv, set CDHELPER_INSTALLER=pip to skip trying"]


def test_with_uv_out_of_reach_the_set_up_still_works_with_pip(tmp_path):
    """End to end: no uv on PATH, the index unreachable for uv (an air-gapped runner): pip installs."""
    proc = _bootstrap(tmp_path / "cache", tmp_path, PATH="/usr/bin:/bin", UV_DEFAULT_INDEX="http://127.0.0.1:9/simple")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warnings = [line for line in proc.stdout.splitlines() if line.startswith("::warning")]
    assert len(warnings) == 1 and "could not be fetched from http://127.0.0.1:9/simple" in warnings[0]
    assert "cdhelper set-up: dependencies installed with pip" in proc.stdout
    entry = bootstrap.entry_for(_runner_env(tmp_path / "cache"))
    assert bootstrap.verify(entry.path, entry.key) is None
    assert installers_of(entry) == {"pip"}


def installers_of(entry) -> set[str]:
    return {p.read_text().strip() for p in Path(bootstrap.site_dir(entry.path)).glob("*.dist-info/INSTALLER")}


def test_a_fresh_runner_gets_the_lock_installed_by_the_pinned_uv_from_the_index(tmp_path):
    """What a fresh GitHub-hosted runner does: no uv on PATH, uv's wheel from PyPI, the lock installed by it."""
    proc = _bootstrap(tmp_path / "cache", tmp_path, PATH="/usr/bin:/bin")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if "installed with pip" in proc.stdout and not os.environ.get("CI"):
        pytest.skip("PyPI was out of reach here: the set-up fell back to pip (CI requires uv)")
    assert f"cdhelper set-up: dependencies installed with uv {VERSION} pinned by installer.lock" in proc.stdout
    assert "::warning" not in proc.stdout
    entry = bootstrap.entry_for(_runner_env(tmp_path / "cache"))
    assert bootstrap.verify(entry.path, entry.key) is None and installers_of(entry) == {"uv"}
    modules = list(Path(bootstrap.site_dir(entry.path)).glob("yaml/*.py"))
    assert modules and all(list(m.parent.glob(f"__pycache__/{m.stem}.*.pyc")) for m in modules), "compiled"
    assert [n.endswith(".whl") for n in os.listdir(tmp_path / "cache" / "cdhelper" / "installers")] == [True]


# --- the locks ----------------------------------------------------------------------------------------

def test_the_dev_extra_pins_the_same_uv_as_the_installer_lock():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"uv=={VERSION}"' in pyproject
    version, hashes = installer.pinned()
    assert len(hashes) >= 10, "every platform's wheel"


def test_the_requirements_lock_is_what_uv_compiles_from_pyproject_toml(tmp_path):
    """A dependency added to or narrowed in pyproject.toml without regenerating the lock fails here.
    uv keeps the versions already in the output file, so only a real mismatch changes a pin."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        pytest.skip("uv is in the dev extra")
    out = tmp_path / "requirements.lock"
    shutil.copy(ROOT / "cdhelper" / "requirements.lock", out)
    proc = subprocess.run([uv, "pip", "compile", str(ROOT / "pyproject.toml"), "--universal", "--generate-hashes",
                           "--python-version", "3.10", "--output-file", str(out), "--no-config", "--quiet",
                           "--index-url", "https://pypi.org/simple"],
                          capture_output=True, text=True, env={**os.environ, "UV_NATIVE_TLS": "1"}, cwd=tmp_path,
                          timeout=120)
    if proc.returncode != 0 and not os.environ.get("CI"):
        pytest.skip(f"uv could not reach PyPI: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stderr

    def pins(text: str) -> set[str]:
        return {line.split(" \\")[0].strip() for line in text.splitlines() if re.match(r"[A-Za-z0-9]", line)}
    assert pins(out.read_text()) == pins((ROOT / "cdhelper" / "requirements.lock").read_text()), (
        "cdhelper/requirements.lock does not match pyproject.toml: run the command at its top")


# --- a uv the push planted ----------------------------------------------------------------------------

def _planted_uv(where: Path, marker: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    (where / "uv").write_text(f"#!/bin/sh\necho planted >> '{marker}'\necho 'uv 0.13.9 (planted)'\n")
    (where / "uv").chmod(0o755)


@pytest.mark.parametrize("path", ["/usr/bin:/bin:", ":/usr/bin:/bin", "/usr/bin::/bin", "bin:/usr/bin:/bin",
                                  "{workspace}/bin:/usr/bin:/bin", "{link}:/usr/bin:/bin"])
def test_a_uv_committed_to_the_workspace_is_never_run_whatever_path_says(tmp_path, monkeypatch, path):
    """An empty or relative PATH entry means the working directory, the pushed workspace; an absolute
    entry can point into it too, directly or through a link. None of them yields a uv there."""
    workspace, marker = tmp_path / "workspace", tmp_path / "ran"
    _planted_uv(workspace, marker)
    _planted_uv(workspace / "bin", marker)
    (tmp_path / "link").symlink_to(workspace / "bin")
    monkeypatch.chdir(workspace)
    env = {"PATH": path.format(workspace=workspace, link=tmp_path / "link"), "GITHUB_WORKSPACE": str(workspace)}
    found = installer.on_path(env)
    assert not marker.exists(), f"the planted uv ran with PATH={env['PATH']}"
    assert found is None or not found.binary.startswith(str(workspace))


def test_the_set_up_never_runs_a_uv_from_the_workspace_through_an_empty_path_entry(tmp_path):
    """End to end: the set-up step with a trailing colon on PATH, a uv committed to the repository."""
    workspace, marker = tmp_path / "workspace", tmp_path / "ran"
    _planted_uv(workspace, marker)
    proc = _bootstrap(tmp_path / "cache", workspace, PATH="/usr/bin:/bin:", GITHUB_WORKSPACE=str(workspace),
                      CDHELPER_INSTALLER="", UV_DEFAULT_INDEX="http://127.0.0.1:9/simple")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not marker.exists(), "the set-up ran the uv committed to the repository"
