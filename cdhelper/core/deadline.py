"""Work that ends by a deadline, whatever the server at the other end does.

    finish_by(end, jobs) -> {index: result}   the jobs done by `end`, each run on its own thread
    call_by(end, job) -> result               one job; raises Overdue when `end` passes first

A socket timeout bounds each read, not an answer: a server that sends one byte before every
timeout holds a request for ever (a webhook receiver held a job, a Prometheus held a sample 42 s
with `timeout: 1s`). So work that talks to a server runs on a daemon thread and the caller waits
for it until one deadline (a time.monotonic() value). Work still running then is abandoned: the
caller goes on at once, and the thread ends when the server stops or one of its own reads times
out (a daemon thread never holds the process at exit). Used by notify.py and analysis.py.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


class Overdue(Exception):
    """The deadline passed before the job was done."""


def finish_by(end: float, jobs: Sequence[Callable[[], T]], *, name: str = "cdhelper-deadline") -> dict[int, object]:
    """Run every job on its own daemon thread at once; return {index: what it returned} for the jobs
    done by `end`, or the exception a job raised as its value. Jobs missing from the answer were
    still running at the deadline."""
    results: queue.Queue[tuple[int, object]] = queue.Queue()

    def work(index: int, job: Callable[[], T]) -> None:
        try:
            outcome: object = job()
        except Exception as exc:  # noqa: BLE001 - handed to the caller, who decides
            outcome = exc
        results.put((index, outcome))

    for index, job in enumerate(jobs):
        threading.Thread(target=work, args=(index, job), name=f"{name}-{index}", daemon=True).start()
    done: dict[int, object] = {}
    while len(done) < len(jobs):
        try:
            index, outcome = results.get(timeout=max(end - time.monotonic(), 0.0))
        except queue.Empty:
            break
        done[index] = outcome
    return done


def call_by(end: float, job: Callable[[], T], *, name: str = "cdhelper-deadline") -> T:
    """`job()`, done by `end` (time.monotonic()), or Overdue. An exception of the job is raised here."""
    done = finish_by(end, [job], name=name)
    if 0 not in done:
        raise Overdue()
    outcome = done[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome  # type: ignore[return-value]
