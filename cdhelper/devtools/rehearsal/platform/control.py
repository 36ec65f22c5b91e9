"""The client side of the supervisor's unix socket: one JSON request, one JSON answer."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from .common import PlatformError

SOCKET = "control.sock"


class NotRunning(PlatformError):
    """No supervisor answers in that folder."""


def request(directory: str | Path, command: str, *, timeout: float = 120.0, **args: object) -> dict:
    """Send `command` with `args` to the supervisor of `directory`; its result. PlatformError with
    the supervisor's reason when it refuses; NotRunning when nothing listens there."""
    path = Path(directory) / SOCKET
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NotRunning(f"no platform is running in {directory} ({path}: {exc.strerror}); "
                             "start one with Platform(DIR).start() or `python -m cdhelper.devtools.rehearsal.platform up "
                             "--platform DIR`") from None
        s.sendall(json.dumps({"command": command, **args}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        raise PlatformError(f"the platform's supervisor closed the connection without answering {command}")
    answer = json.loads(data)
    if not answer.get("ok"):
        raise PlatformError(answer.get("error") or f"{command} failed")
    return answer["result"]
