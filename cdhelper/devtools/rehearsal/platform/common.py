"""Small shared helpers: loopback HTTP without proxies, free ports, the process table, waiting."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from cdhelper.hooks import processes  # the same /proc table the helper uses to stop what a hook left

T = TypeVar("T")


class PlatformError(RuntimeError):
    """Something the platform could not do; the message says what and why."""


def free_port() -> int:
    """A port free now on 127.0.0.1 (for programs that must be told theirs: nginx, Prometheus)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, *, timeout: float = 5.0, headers: dict | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET on loopback with a fresh connection, never through a proxy (HTTP_PROXY is not read):
    (status, headers with lower-case names, body). Raises OSError when nothing answers."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                     headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def wait_until(what: str, check: Callable[[], T | None], *, timeout: float, interval: float = 0.02) -> T:
    """Poll `check` until it returns something other than None/False; PlatformError after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value is not None and value is not False:
                return value
        except OSError as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise PlatformError(f"timed out after {timeout:g}s waiting for {what}"
                                + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(interval)




def alive(pid: int) -> bool:
    """Running (a zombie is not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def children(pid: int) -> set[int]:
    return {p for p, (parent, _, state) in processes().items() if parent == pid and state != "Z"}


def in_session(sid: int) -> set[int]:
    """Running processes of session `sid` (a process started with start_new_session has sid = pid)."""
    return {p for p, (_, s, state) in processes().items() if s == sid and state != "Z"}
