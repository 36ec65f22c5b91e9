"""Running the user's commands (the deploy command; later, the strategies' hooks).

A hook is the pushed repository's code, run inside a job that holds a token. It gets:
- the job's environment minus every credential and every action input (`INPUT_*`), plus the
  `CD_*` variables it is documented to receive;
- scratch files for the runner's file commands, so it can neither set the step's outputs (a forged
  `deployment-id`) nor the environment and PATH of later steps (LD_PRELOAD, BASH_ENV, a fake
  python3 for `finish`, which holds the token);
- no afterlife: whatever it leaves running when it ends (a background poller waiting to read a
  later step's token from /proc, a process that rewrites files) is killed, in a way a fork storm
  cannot outrun (containment.py: a cgroup, a PID namespace, else kill rounds); if anything
  survives, the step fails saying so;
- no say over the runner: its stdout and stderr pass through the helper line by line, and every
  workflow command in them but the display ones (`::group::`, `::warning::`, `::add-mask::`...)
  is made inert (escaping.neutralise_user_output), so it cannot forge a step output.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from . import containment
from ._boot import import_seal, programs
from .core import escaping

SCRUBBED = {"GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN", "ACTIONS_RUNTIME_TOKEN",
            "CDHELPER_SECRETS_FD", "CDHELPER_ROOT", "CDHELPER_PYTHON", "GITHUB_ACTION_PATH"}
SCRUBBED_PREFIXES = ("INPUT_",)
FILE_COMMANDS = ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STATE")
MAX_LINE = 64 * 1024  # bytes of output the helper holds for one line at most
SURVIVED = 125  # the exit status when the command's own succeeded but something it started survived


def environment(base: Mapping[str, str], extra: Mapping[str, str], *, secrets: tuple[str, ...] = ()) -> dict:
    """`base` without credentials, inputs or any variable holding one of `secrets`, plus `extra`."""
    kept = {k: v for k, v in base.items()
            if k.upper() not in SCRUBBED and not k.upper().startswith(SCRUBBED_PREFIXES)
            and not any(s and v == s for s in secrets)}
    return kept | dict(extra)


def run(command: str, environ: dict) -> int:
    """Run `command` with bash (-eo pipefail) and `environ`; its exit status. Nothing it started
    outlives it. From here on the helper imports nothing (import_seal.py)."""
    containment.detect()  # probed before the seal: nothing it may need is refused
    import_seal.seal()
    with tempfile.TemporaryDirectory(prefix="cdhelper-hook-") as scratch:
        environ = dict(environ)
        for name in FILE_COMMANDS:
            environ[name] = str(Path(scratch) / name.lower())
            Path(environ[name]).touch()
        bash = programs.find("bash", environ) or "/bin/bash"  # never a bash in the workspace (programs.py)
        return _contained([bash, "-eo", "pipefail", "-c", command], environ)


def _contained(argv: list[str], environ: dict, mechanism: str | None = None) -> int:
    box = containment.start(mechanism)
    proc = subprocess.Popen(box.argv(argv, environ), env=environ, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=box.preexec)
    survivors: list[int] | None = None
    try:
        with _Relay(proc) as relay:
            relay.until_exit()
            survivors = box.stop(proc.pid)
            relay.drain()
        code = proc.wait()
    except BaseException:  # cancelled: give the command a moment to stop cleanly
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    finally:
        if survivors is None:
            survivors = box.stop(proc.pid)
    if survivors:
        print(f"cdhelper: {len(survivors)} process(es) the command started survived its end and could not be "
              f"killed (pids {' '.join(map(str, survivors[:10]))}, containment: {box.mechanism}); the step fails "
              "rather than leave them running. Fix: do not leave processes running as another user (sudo)",
              file=sys.stderr, flush=True)
        return code or SURVIVED
    return code


class _Relay:
    """The command's stdout and stderr, line by line onto the helper's, through
    escaping.neutralise_user_output: no workflow command but display ones reaches the runner.
    Lines stream as they come; one longer than MAX_LINE is cut, so a child that never prints a
    newline cannot make the helper buffer without bound."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.selector = selectors.DefaultSelector()
        self.pending: dict[int, bytearray] = {}
        for pipe, target in ((proc.stdout, sys.stdout), (proc.stderr, sys.stderr)):
            fd = pipe.fileno()
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ, target)
            self.pending[fd] = bytearray()

    def __enter__(self) -> _Relay:
        return self

    def __exit__(self, *exc) -> None:
        for key in list(self.selector.get_map().values()):
            self._end(key.fd, key.data)
        self.selector.close()
        self.proc.stdout.close()
        self.proc.stderr.close()

    def until_exit(self) -> None:
        while self.proc.poll() is None and self.selector.get_map():
            self._pump(0.05)
        if self.proc.poll() is None:  # both pipes closed: the command still runs
            self.proc.wait()

    def drain(self) -> None:
        """After the clean-up: what is still in the pipes (nothing can write to them any more)."""
        deadline = time.monotonic() + 5
        while self.selector.get_map() and time.monotonic() < deadline:
            self._pump(0.05)

    def _pump(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                self._end(key.fd, key.data)
                continue
            buf = self.pending[key.fd]
            buf += chunk
            lines = []
            while True:
                end = buf.find(b"\n", 0, MAX_LINE) + 1
                if not end and len(buf) < MAX_LINE:
                    break
                lines.append(bytes(buf[:end]) if end else bytes(buf[:MAX_LINE]) + b"\n")  # a line too long: cut
                del buf[:end or MAX_LINE]
            if lines:
                _write(key.data, b"".join(lines))

    def _end(self, fd: int, target) -> None:
        self.selector.unregister(fd)
        rest = self.pending.pop(fd)
        if rest:  # a last line without newline: kept, and ended, so the helper's next line starts a line
            _write(target, bytes(rest) + b"\n")


def _write(stream, data: bytes) -> None:
    text = escaping.neutralise_user_output(data.decode("utf-8", "surrogateescape"))
    stream.flush()
    if hasattr(stream, "buffer"):
        stream.buffer.write(text.encode("utf-8", "surrogateescape"))
        stream.buffer.flush()
    else:  # a text-only stream (some test harnesses): undecodable bytes shown escaped
        stream.write(text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
        stream.flush()


processes = containment.processes
