"""Steady load: a background thread sending `rate` requests a second through the splitter, so that
Prometheus sees traffic per version and errors rise when a bad version gets a share.

Each request is a fresh connection (as many clients would be), so a weight change applies to the
very next request. Requests are paced on a fixed schedule; a slow answer delays the next one
rather than causing a burst to catch up.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from .common import http_get


@dataclass(frozen=True)
class Answer:
    at: float  # Unix time the request was sent
    status: int  # 0: no answer (connection refused, timeout)
    version: str  # the X-Version header ("" when none)


class Load:
    """`with Load(url, rate=50):` or `.start()` / `.stop()`; `answers` is what came back."""

    def __init__(self, url: str, *, rate: float = 50.0, timeout: float = 2.0, keep: int = 100_000):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.url, self.rate, self.timeout, self.keep = url, rate, timeout, keep
        self.answers: list[Answer] = []
        self.sent = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, name=f"load {self.url}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1)

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        period = 1.0 / self.rate
        due = time.monotonic()
        while not self._stop.is_set():
            at = time.time()
            try:
                status, headers, _ = http_get(self.url, timeout=self.timeout)
                answer = Answer(at, status, headers.get("x-version", ""))
            except OSError:
                answer = Answer(at, 0, "")
            with self._lock:
                self.sent += 1
                self.answers.append(answer)
                if len(self.answers) > self.keep:
                    del self.answers[: len(self.answers) - self.keep]
            due = max(due + period, time.monotonic() - period)  # behind: no burst to catch up
            self._stop.wait(max(0.0, due - time.monotonic()))

    def since(self, t: float = 0.0) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.at >= t]

    def summary(self, since: float = 0.0) -> dict:
        """{"sent": n, "by_version": {version: n}, "by_status": {status: n}} since Unix time `since`."""
        answers = self.since(since)
        return {"sent": len(answers), "rate": self.rate,
                "by_version": dict(Counter(a.version or "-" for a in answers)),
                "by_status": {str(k): v for k, v in Counter(a.status for a in answers).items()}}
