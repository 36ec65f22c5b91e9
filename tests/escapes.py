"""What a hostile user command does to outlive its step, and how the tests find what survived:
shared by the containment tests (tests/deploy/test_hardening.py) and the stress test
(tests/reliability/test_containment_stress.py)."""

from __future__ import annotations

import contextlib
import os
import signal

# Forks and lets its parent exit every 2 ms; setsid; double forks; a burst of busy children.
ESCAPES = r"""
hop() { sleep 0.002; hop & exit 0; }
(hop &)
(setsid bash -c 'hop() { sleep 0.002; hop & exit 0; }; hop' &)
(setsid nohup sleep 300 >/dev/null 2>&1 &)
(bash -c '(sleep 300 &) ; sleep 300' &)
for i in 1 2 3 4 5 6 7 8; do (while :; do /bin/true; done) & done
sleep 0.05
"""


def marked_alive(mark: str) -> list[int]:
    """Processes still running whose environment carries `mark` (root reads every environ here)."""
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if mark.encode() in fh.read():
                    alive.append(int(pid))
        except OSError:
            continue
    return alive


def kill_marked(mark: str) -> None:
    """A failing run must not leave its fork storm to the rest of the suite: kill what carries the mark."""
    for _ in range(50):
        alive = marked_alive(mark)
        if not alive:
            return
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
