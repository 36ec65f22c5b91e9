"""Running the user's commands (the deploy command; later, the strategies' hooks).

A hook is the pushed repository's code, run inside a job that holds a token. It gets:
- the job's environment minus every credential and every action input (`INPUT_*`), plus the
  `CD_*` variables it is documented to receive;
- scratch files for the runner's file commands, so it can neither set the step's outputs (a forged
  `deployment-id`) nor the environment and PATH of later steps (LD_PRELOAD, BASH_ENV, a fake
  python3 for `finish`, which holds the token);
- no afterlife: it runs in its own session, and whatever it leaves running when it ends (a
  background poller waiting to read a later step's token from /proc, a process that rewrites
  files) is killed. On Linux the helper becomes a child subreaper for the duration, so even a
  double-forked `setsid` daemon is reparented to it and found.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from . import import_seal

SCRUBBED = {"GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN", "ACTIONS_RUNTIME_TOKEN",
            "CDHELPER_SECRETS_FD", "CDHELPER_ROOT", "CDHELPER_PYTHON", "GITHUB_ACTION_PATH"}
SCRUBBED_PREFIXES = ("INPUT_",)
FILE_COMMANDS = ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STATE")
PR_SET_CHILD_SUBREAPER = 36


def environment(base: Mapping[str, str], extra: Mapping[str, str], *, secrets: tuple[str, ...] = ()) -> dict:
    """`base` without credentials, inputs or any variable holding one of `secrets`, plus `extra`."""
    kept = {k: v for k, v in base.items()
            if k.upper() not in SCRUBBED and not k.upper().startswith(SCRUBBED_PREFIXES)
            and not any(s and v == s for s in secrets)}
    return kept | dict(extra)


def run(command: str, environ: dict) -> int:
    """Run `command` with bash (-eo pipefail) and `environ`; its exit status. Nothing it started
    outlives it. From here on the helper imports nothing (import_seal.py)."""
    import_seal.seal()
    with tempfile.TemporaryDirectory(prefix="cdhelper-hook-") as scratch:
        environ = dict(environ)
        for name in FILE_COMMANDS:
            environ[name] = str(Path(scratch) / name.lower())
            Path(environ[name]).touch()
        return _contained(["bash", "-eo", "pipefail", "-c", command], environ)


def _contained(argv: list[str], environ: dict) -> int:
    before = _children(os.getpid())
    reaper = _subreaper(True)
    proc = subprocess.Popen(argv, env=environ, start_new_session=True)
    try:
        return proc.wait()
    except BaseException:  # cancelled: give the command a moment to stop cleanly
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    finally:
        _stop_leftovers(proc.pid, before)
        if reaper:
            _subreaper(False)


def _subreaper(on: bool) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, session id, state) of every process, from /proc (Linux); empty elsewhere."""
    out = {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "; comm may hold anything
        if len(fields) > 3:
            out[int(entry.name)] = (int(fields[1]), int(fields[3]), fields[0])
    return out


def _processes(*, zombies: bool = False) -> dict[int, tuple[int, int]]:
    return {pid: (parent, sid) for pid, (parent, sid, state) in processes().items() if zombies or state != "Z"}


def _children(pid: int) -> set[int]:
    return {p for p, (parent, _) in _processes().items() if parent == pid}


def _stop_leftovers(session: int, before: set[int]) -> None:
    """Kill what the command left: its session, whatever was reparented to us (a subreaper) since
    it started, and all their descendants. A few rounds, in case something forks meanwhile."""
    me = os.getpid()
    for _ in range(20):
        table = _processes()
        doomed = {p for p, (parent, sid) in table.items()
                  if p != me and (sid == session or (parent == me and p not in before))}
        grew = True
        while grew:
            more = {p for p, (parent, _) in table.items() if parent in doomed and p not in doomed and p != me}
            doomed |= more
            grew = bool(more)
        if not doomed:
            break
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
    # Orphans reparented to us and killed (or already dead) are our zombies now: collect them.
    _reap({p for p, (parent, _) in _processes(zombies=True).items() if parent == me and p not in before})
    if not os.path.isdir("/proc"):  # elsewhere: at least the command's own process group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(session, signal.SIGKILL)


def _reap(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
