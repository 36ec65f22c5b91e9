"""Nothing a user command starts outlives it (hooks.py runs every user command inside one of these).

A process left running after a deploy command could read a later step's token from that step's
start-up environment, or rewrite files later steps run. Killing "what is left" by walking /proc
can be outrun (a process that forks and lets its parent exit every 2 ms), so the command runs in a
container the kernel keeps track of, chosen at run time, the first that works here:

1. `cgroup`: a cgroup v2 of its own, created under the helper's cgroup when that is writable (root,
   or a delegated cgroup). `cgroup.kill` kills every process in it at once, including any being
   forked; a fork cannot leave a cgroup. Self-hosted runners running as root, containers.
2. `pid-namespace`: the command is PID 1 of a new PID namespace (`unshare --pid --fork
   --kill-child`); when it exits the kernel kills everything else in the namespace. Needs
   CAP_SYS_ADMIN: without it, it would take a user namespace, where `sudo` in a deploy command
   stops working, so it is not used then.
3. `kill-rounds`: the helper is a child subreaper (every orphan of the command is reparented to it)
   and the command has its own session; at the end, every process of that tree is killed, round
   after round, until two rounds in a row find none (a killed process forks no more). Works
   unprivileged: GitHub-hosted runners (the runner user is not root and its cgroup is not
   delegated to it). Freezing first (SIGSTOP) does not hold: the kernel sends SIGCONT to the
   stopped members of an orphaned process group whenever one of them exits.

Whatever the mechanism, survivors (a process the helper may not signal: one that became root
through sudo) are reported and the step fails. Off Linux: the command's process group is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field

from ._boot import programs

PR_SET_CHILD_SUBREAPER = 36
CGROUP_PREFIX = "cdhelper-hook-"
DEADLINE = 10.0  # seconds to get everything stopped and killed before giving up and failing the step


@dataclass
class Box:
    """How one command is contained: wrap its argv, set up its child, stop what is left."""

    mechanism: str
    cgroup: str = ""  # the cgroup directory (mechanism "cgroup")
    before: set[int] = field(default_factory=set)  # the helper's children before the command started
    _procs_fd: int = -1

    def argv(self, argv: list[str], environ: dict[str, str]) -> list[str]:
        if self.mechanism == "pid-namespace":
            unshare = programs.find("unshare", environ) or "/usr/bin/unshare"
            return [unshare, "--pid", "--fork", "--kill-child", "--", *argv]
        return argv

    def preexec(self) -> None:
        """In the forked child, before exec: join the cgroup (writing 0 moves the writer)."""
        if self._procs_fd >= 0:
            os.write(self._procs_fd, b"0")

    def stop(self, session: int) -> list[int]:
        """Kill everything the command left; the pids that survived (empty: contained)."""
        try:
            if self.mechanism == "cgroup":
                return _kill_cgroup(self.cgroup)
            return _kill_until_quiet(session, self.before)
        finally:
            _reap_orphans(self.before)
            self.close()

    def close(self) -> None:
        if self._procs_fd >= 0:
            os.close(self._procs_fd)
            self._procs_fd = -1
        if self.cgroup:
            with contextlib.suppress(OSError):
                os.rmdir(self.cgroup)
        if self.mechanism != "off-linux":
            _subreaper(False)


def start(mechanism: str | None = None) -> Box:
    """A Box for the next command, with `mechanism` or the best one available here."""
    mechanism = mechanism or detect()
    box = Box(mechanism, before=_children(os.getpid()))
    if mechanism == "off-linux":
        return box
    _subreaper(True)
    if mechanism == "cgroup":
        box.cgroup = _new_cgroup()
        box._procs_fd = os.open(os.path.join(box.cgroup, "cgroup.procs"), os.O_WRONLY)
    return box


_detected: str | None = None


def detect() -> str:
    """The strongest mechanism that works on this machine (probed once per process)."""
    global _detected
    if _detected is None:
        _detected = next((name for name in available()), "kill-rounds")
    return _detected


def available() -> list[str]:
    """Every mechanism that works here, strongest first."""
    if not sys.platform.startswith("linux"):
        return ["off-linux"]
    found = []
    if _try_in_child(_join_new_cgroup):
        found.append("cgroup")
    if _can_unshare_pid():
        found.append("pid-namespace")
    return [*found, "kill-rounds"]


# --- cgroup v2 --------------------------------------------------------------------------------------

def _cgroup_root() -> str:
    """The helper's own cgroup v2 directory (hybrid hierarchies mount it at .../unified)."""
    with open("/proc/self/cgroup", encoding="utf-8") as fh:
        path = next((line.split(":", 2)[2].strip() for line in fh if line.startswith("0::")), None)
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        mount = next((line.split()[4] for line in fh if " - cgroup2 " in line), None)
    if path is None or mount is None:
        raise OSError(errno.ENOENT, "no cgroup v2 here")
    return os.path.join(mount, path.lstrip("/"))


_serial = 0


def _new_cgroup() -> str:
    """A new cgroup of the helper's own. Named with a random part: a pid comes back, and a cgroup an
    earlier process of that pid left (a probe child's, still busy when it was removed) must not stop
    this one."""
    global _serial
    _serial += 1
    root = _cgroup_root()
    for _ in range(5):
        path = os.path.join(root, f"{CGROUP_PREFIX}{os.getpid()}-{_serial}-{secrets.token_hex(4)}")
        try:
            os.mkdir(path, 0o700)
            break
        except FileExistsError:
            continue
    else:
        raise OSError(errno.EEXIST, "no free cgroup name")
    if not os.path.exists(os.path.join(path, "cgroup.kill")):  # Linux < 5.14
        os.rmdir(path)
        raise OSError(errno.ENOTSUP, "cgroup.kill missing")
    return path


def _join_new_cgroup() -> None:
    """(In a probe child) create a cgroup and move into it, as a command would."""
    path = _new_cgroup()
    with open(os.path.join(path, "cgroup.procs"), "wb") as fh:
        fh.write(b"0")


def _kill_cgroup(path: str) -> list[int]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        with open(os.path.join(path, "cgroup.kill"), "wb") as fh:
            fh.write(b"1")
        with open(os.path.join(path, "cgroup.events"), "rb") as fh:
            if b"populated 0" in fh.read():
                return []
        _reap_orphans(set())
        time.sleep(0.01)
    with open(os.path.join(path, "cgroup.procs"), "rb") as fh:
        return [int(pid) for pid in fh.read().split()]


# --- PID namespace ------------------------------------------------------------------------------------

def _can_unshare_pid() -> bool:
    """CAP_SYS_ADMIN and an `unshare` that works."""
    unshare = programs.find("unshare", os.environ)
    return bool(unshare) and _try_in_child(
        lambda: os.execv(unshare, [unshare, "--pid", "--fork", "--kill-child", "--", "/bin/true"]))


def _try_in_child(probe) -> bool:
    """Whether `probe` (which may exec) succeeds in a forked child: the helper itself changes nothing."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            probe()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    ok = os.waitstatus_to_exitcode(status) == 0
    with contextlib.suppress(OSError):  # the probe child's cgroup, now empty
        root = _cgroup_root()
        for name in os.listdir(root):
            if name.startswith(f"{CGROUP_PREFIX}{pid}-"):
                os.rmdir(os.path.join(root, name))
    return ok


# --- kill rounds ---------------------------------------------------------------------------------------------

def _subreaper(on: bool) -> bool:
    try:
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


def _children(pid: int) -> set[int]:
    return {p for p, (parent, _, state) in processes().items() if parent == pid and state != "Z"}


def _tree(session: int, before: set[int]) -> dict[int, tuple[int, str]]:
    """pid -> (parent, state) of the command's session, what was reparented to the helper since, and
    their descendants."""
    me, table = os.getpid(), processes()
    found = {p for p, (parent, sid, _) in table.items()
             if p != me and (sid == session or (parent == me and p not in before))}
    grew = True
    while grew:
        more = {p for p, (parent, _, _) in table.items() if parent in found and p not in found and p != me}
        found |= more
        grew = bool(more)
    return {p: (table[p][0], table[p][2]) for p in found}


def _kill_until_quiet(session: int, before: set[int]) -> list[int]:
    """Kill every process of the tree, round after round, until two rounds in a row find the tree
    empty: nothing alive and nothing dead. A /proc listing can miss a pid allocated behind it while
    it runs (pids wrap), but never the process that made it: that one is either alive in the listing
    or, having exited, a zombie of its parent, and every parent in the tree is ours or in the tree
    (the helper is the subreaper), so its zombie stays listed until we reap it. So a round that
    reaps or sees a zombie is not quiet. A killed process cannot fork again, and what it forked
    before is found next round (reparented to the helper). SIGSTOP first would not hold: when a
    member of the orphaned process group exits, the kernel sends the stopped ones SIGHUP and
    SIGCONT. A process we may not signal never dies: it is a survivor."""
    deadline = time.monotonic() + DEADLINE
    quiet = 0
    while quiet < 2:
        reaped = _reap_orphans(before)
        tree = _tree(session, before)
        left = sorted(p for p, (_, state) in tree.items() if state not in "ZX")
        if left and time.monotonic() >= deadline:
            return left
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        ours_dead = any(parent == os.getpid() for parent, _ in tree.values())  # zombies left to reap next round
        quiet = 0 if (left or reaped or ours_dead) else quiet + 1
    return []


def _reap_orphans(before: set[int]) -> int:
    """Orphans reparented to the helper and dead are its zombies: collect them; how many."""
    me, reaped = os.getpid(), 0
    for pid, (parent, _, state) in processes().items():
        if parent == me and pid not in before and state in "ZX":
            with contextlib.suppress(ChildProcessError, OSError):
                reaped += os.waitpid(pid, os.WNOHANG)[0] == pid
    return reaped
