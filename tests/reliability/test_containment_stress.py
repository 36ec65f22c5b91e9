"""Whatever a user command leaves running dies with it, under load, every time (containment.py).

200 deploy-command-like runs on 2 busy cores: fork-and-exit chains every 2 ms, `setsid`, double
forks, and a storm of short-lived children, each run with a fresh mark in its environment; after
each, no process carrying the mark is alive. Runs with the mechanism this machine gets (printed)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid

import pytest

from cdhelper import containment, hooks

RUNS = 200
ESCAPES = r"""
hop() { sleep 0.002; hop & exit 0; }
(hop &)
(setsid bash -c 'hop() { sleep 0.002; hop & exit 0; }; hop' &)
(setsid nohup sleep 300 >/dev/null 2>&1 &)
(bash -c '(sleep 300 &) ; sleep 300' &)
for i in 1 2 3 4; do (while :; do /bin/true; done) & done
"""


def _marked_alive(mark: bytes) -> list[int]:
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if mark in fh.read():
                    alive.append(int(pid))
        except OSError:
            continue
    return alive


def _kill_marked(mark: bytes) -> None:
    """A failing run must not leave its fork storm to the rest of the suite: kill what carries the mark."""
    for _ in range(50):
        alive = _marked_alive(mark)
        if not alive:
            return
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux containment")
@pytest.mark.parametrize("mechanism", containment.available() if sys.platform.startswith("linux") else ["off-linux"])
def test_no_process_a_user_command_starts_survives_it_under_load(mechanism):
    """Every mechanism this machine offers (the strongest is what cdhelper picks; hosted runners get
    kill-rounds), 200 runs each."""
    print(f"containment mechanism: {mechanism} (cdhelper picks {containment.detect()} here)")
    load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    survivors, failed, marks = [], [], []
    try:
        for _ in range(RUNS):
            mark = str(uuid.uuid4())
            marks.append(mark.encode())
            code = hooks._contained(["bash", "-c", ESCAPES], {"PATH": "/usr/bin:/bin", "STRESS_MARK": mark},
                                    mechanism)
            if code != 0:
                failed.append(code)
            survivors += _marked_alive(mark.encode())
    finally:
        for proc in load:
            proc.kill()
            proc.wait()
        for mark in marks:
            _kill_marked(mark)
    assert survivors == [] and failed == [], f"{len(survivors)} survivors, {len(failed)} failed runs under {mechanism}"
