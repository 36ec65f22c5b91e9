"""The helper's secrets: out of its environment, and out of its children's reach.

A composite step gets its inputs as environment variables, the token among them, and a process's
initial environment stays readable in /proc/<pid>/environ for as long as it runs: by the deploy
command reading its parent's, for one. So the launcher (`cdhelper/__main__.py`, run by path) moves
the secrets into a pipe at once and re-executes itself (same pid, `os.execve`) with an environment
that no longer holds them plus `CDHELPER_SECRETS_FD`; the new image first makes itself non-dumpable
(Linux), so a child that is not root can read neither its memory nor its environ nor its fds
through /proc (nor ptrace it), then reads the pipe once and closes it. Children never inherit it.

    Credentials(github_token, registry_password)   frozen; its repr says only which are set
    load(environ) -> Credentials                    the one way commands get their secrets

`load` returns what the launcher received; without the launcher (tests, `python -m cdhelper`,
the console script) it reads INPUT_GITHUB_TOKEN, then GITHUB_TOKEN, then GH_TOKEN, and
INPUT_REGISTRY_PASSWORD from `environ`.

Started without the launcher in Actions (`cdhelper flags set` in a workflow step, `python -m
cdhelper`), cdhelper hands the secrets over the same way before it does anything (`start`): it
re-executes the same interpreter (same pid) to run `cdhelper.cli.main.main` with the same arguments and
sys.path less the working directory (a push controls it), and the new image checks that it is the
same cdhelper package before it reads the pipe; otherwise it refuses in one line.

Limits. A child running as root (CAP_SYS_PTRACE) can still read the helper's memory, where the
token is while the helper runs; run deploy commands as an unprivileged user to get the protection.
The runner hands the step's shell the inputs in its environment before the helper starts: a process
an earlier step of the same job left running could read them in that window, which `exec` in the
action's `run:` line narrows to the helper's start-up (the shell does not linger as a parent).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

#: Moved out of the environment by the launcher (in any spelling: INPUT_GITHUB-TOKEN too), in this
#: order of precedence for the token.
TOKEN_VARIABLES = ("INPUT_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN")
PASSWORD_VARIABLES = ("INPUT_REGISTRY_PASSWORD",)
# a Slack webhook URL is itself a credential; the HMAC secret signs the notifications (notify.py)
NOTIFY_VARIABLES = ("INPUT_NOTIFY_WEBHOOKS", "INPUT_NOTIFY_SECRET")
SECRET_VARIABLES = TOKEN_VARIABLES + PASSWORD_VARIABLES + NOTIFY_VARIABLES
FD_VARIABLE = "CDHELPER_SECRETS_FD"
# The same cdhelper on the same sys.path, less the working directory ('' is how -c and -m put it first)
RESTART = "import sys; sys.path = [p for p in sys.path if p]; sys.argv[0] = 'cdhelper'; from cdhelper.cli.main import main; sys.exit(main())"
FROM_VARIABLE = "CDHELPER_HANDED_OVER_BY"  # the package directory of the image that handed over
MAX_BYTES = 16 * 1024  # fits any pipe's buffer (macOS: 16 KiB), so writing never blocks
PR_SET_DUMPABLE = 4

_received: Credentials | None = None


class CredentialsError(Exception):
    """The hand-over of secrets failed; str() is one line with the fix."""


@dataclass(frozen=True, repr=False)
class Credentials:
    github_token: str = ""
    registry_password: str = ""
    notify_webhooks: str = ""
    notify_secret: str = ""

    def __repr__(self) -> str:  # never the values: a repr ends up in tracebacks and logs
        shown = ", ".join(f"{name}={'<set>' if getattr(self, name) else '<empty>'}"
                          for name in ("github_token", "registry_password", "notify_webhooks", "notify_secret"))
        return f"Credentials({shown})"


def _canonical(name: str) -> str:
    """INPUT_GITHUB-TOKEN (how act, and the runner for JavaScript actions, spell an input) -> INPUT_GITHUB_TOKEN."""
    return name.replace("-", "_")


def secret_names(environ: Mapping[str, str]) -> list[str]:
    """The variables of `environ` that hold a secret, in any spelling."""
    return [name for name in environ if _canonical(name) in SECRET_VARIABLES]


def from_mapping(values: Mapping[str, str]) -> Credentials:
    canonical: dict[str, str] = {}
    for name in sorted(values, key=lambda n: n != _canonical(n)):  # the exact spelling wins over INPUT_X-Y
        canonical.setdefault(_canonical(name), values[name])
    token = next((canonical[name] for name in TOKEN_VARIABLES if canonical.get(name)), "")
    return Credentials(github_token=token, registry_password=canonical.get("INPUT_REGISTRY_PASSWORD") or "",
                       notify_webhooks=canonical.get("INPUT_NOTIFY_WEBHOOKS") or "",
                       notify_secret=canonical.get("INPUT_NOTIFY_SECRET") or "")


def load(environ: MutableMapping[str, str]) -> Credentials:
    """The secrets of this process: received from the launcher, else read from `environ`."""
    if _received is not None:
        return _received
    if FD_VARIABLE in environ:
        return receive(environ)
    return from_mapping(environ)


def hand_over(environ: Mapping[str, str], argv: list[str]) -> None:
    """Re-execute `argv` (same pid) without the secrets in its environment, passing them in a pipe.
    Returns only when `environ` holds none of them (nothing to hand over)."""
    present = {name: environ[name] for name in secret_names(environ)}
    if not present:
        return
    payload = json.dumps(present).encode()
    if len(payload) > MAX_BYTES:
        raise CredentialsError(f"the secrets passed to cdhelper add up to {len(payload)} bytes, more than "
                               f"{MAX_BYTES}. Fix: pass a token, not a file, in github-token/registry-password")
    read_end, write_end = os.pipe()
    try:
        os.set_blocking(write_end, False)
        view = memoryview(payload)
        while view:
            view = view[os.write(write_end, view):]
    finally:
        os.close(write_end)
    os.set_inheritable(read_end, True)
    env = {name: value for name, value in environ.items() if name not in present}
    env[FD_VARIABLE] = str(read_end)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)


def start(environ: MutableMapping[str, str], args: list[str]) -> None:
    """For a command started without the launcher: in Actions (GITHUB_ACTIONS=true), no secret stays in
    this process's environment, where a user command could read it from /proc/<pid>/environ."""
    if environ.get("GITHUB_ACTIONS") != "true" or _received is not None:
        return
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    if secret_names(environ):
        if not sys.executable:
            raise CredentialsError("the Python interpreter's path is unknown, so cdhelper cannot re-execute itself "
                                   "without the secrets. Fix: run the action, or python3 -m cdhelper")
        hand_over({**environ, FROM_VARIABLE: here}, [sys.executable, "-c", RESTART, *args])
    make_undumpable()
    handed_by = environ.pop(FROM_VARIABLE, None)
    if FD_VARIABLE not in environ:
        return
    if handed_by != here:
        os.close(int(environ.pop(FD_VARIABLE)))
        raise CredentialsError(f"cdhelper re-executed without the secrets is {here}, not {handed_by}, which "
                               "was started with the secrets. Fix: install cdhelper (pip install) and run it as "
                               "cdhelper or python -m cdhelper from outside its source tree")
    receive(environ)


def receive(environ: MutableMapping[str, str]) -> Credentials:
    """Read the launcher's pipe once, close it, and forget where it was."""
    global _received
    raw = environ.pop(FD_VARIABLE, "")
    try:
        fd = int(raw)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            raise CredentialsError(f"{FD_VARIABLE}={raw} is not the launcher's pipe. Fix: do not set {FD_VARIABLE}")
    except (ValueError, OSError) as exc:
        raise CredentialsError(f"{FD_VARIABLE}={raw!r} is not an open pipe ({exc}). "
                               f"Fix: do not set {FD_VARIABLE}; the launcher does") from exc
    chunks = []
    try:
        os.set_inheritable(fd, False)
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    try:
        values = json.loads(b"".join(chunks) or b"{}")
    except ValueError as exc:
        raise CredentialsError("the launcher's secrets pipe held no valid data. Fix: re-run the job") from exc
    _received = from_mapping(values)
    return _received


def make_undumpable() -> bool:
    """PR_SET_DUMPABLE=0: /proc/<pid>/{mem,environ,fd} of this process become root's, and a child
    without CAP_SYS_PTRACE cannot read them or attach. Linux only; elsewhere a quiet no-op."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError, ImportError):
        return False
