"""`cdhelper github-double` from the command line: prints its URL, serves, stops on SIGTERM, keeps state."""

from __future__ import annotations

import signal
import subprocess
import sys

import requests

H = {"Authorization": "token t"}


def _serve(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "cdhelper", "github-double", "--port", "0", *args],
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def test_serves_the_named_repositories_and_saves_state_on_sigterm(tmp_path):
    state = tmp_path / "state.json"
    proc, url = _serve("--repo", "acme/app", "--state", str(state))
    try:
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/repos/acme/app", headers=H, timeout=5).json()["full_name"] == "acme/app"
        assert requests.get(f"{url}/repos/acme/other", headers=H, timeout=5).status_code == 404
        made = requests.post(f"{url}/repos/acme/app/deployments", headers=H, timeout=5,
                             json={"ref": "main", "environment": "staging", "required_contexts": [], "auto_merge": False})
        assert made.status_code == 201
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
    again, url = _serve("--state", str(state))
    try:
        listed = requests.get(f"{url}/repos/acme/app/deployments", headers=H, timeout=5).json()
        assert [d["id"] for d in listed] == [made.json()["id"]]
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=10)
        again.stdout.close()


def test_a_port_in_use_is_one_line_naming_it_with_the_fix(tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "cdhelper", "github-double", "--port", str(port)],
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert f"--port {port} on 127.0.0.1 cannot be served" in line and "--port 0" in line, line
    assert "cdhelper bug" not in done.stderr and "Traceback" not in done.stderr


def test_a_user_named_with_user_is_known_to_the_double():
    proc, url = _serve("--repo", "acme/app", "--user", "alice")
    try:
        assert requests.get(f"{url}/users/alice", headers=H, timeout=5).json()["login"] == "alice"
        assert requests.get(f"{url}/users/bob", headers=H, timeout=5).status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
