from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from cdhelper.cli import main as cli
from cdhelper.devtools.double import GitHubDouble

from .openapi_check import OpenAPIChecker


@pytest.fixture(scope="session")
def openapi() -> OpenAPIChecker:
    return OpenAPIChecker()


SENTINEL = "ghs_sentinel_token_0123456789"


def assert_no_sentinel(text: str, where: str) -> None:
    """The runner consumes `::add-mask::VALUE` lines and never shows them; nothing else may carry it."""
    shown = "\n".join(line for line in text.splitlines() if not line.endswith(f"::add-mask::{SENTINEL}"))
    assert SENTINEL not in shown, f"the token leaked into {where}"


@pytest.fixture
def double(openapi):
    """A started double with one repository; every exchange is checked against GitHub's OpenAPI,
    and nothing it stores (payloads, descriptions, tag messages) may hold the sentinel token."""
    before = len(openapi.mismatches)
    with GitHubDouble(repos=["acme/app"]) as gh:
        gh.observe(openapi)
        yield gh
        assert_no_sentinel(json.dumps(gh.snapshot(), default=str), "what GitHub stores")
    found = openapi.mismatches[before:]
    assert not found, "the double drifted from GitHub's OpenAPI description:\n" + "\n".join(found)


@pytest.fixture
def github(double):
    """PyGithub configured the way cdhelper configures it (no throttling, no blind retries)."""
    from github import Auth, Github
    client = Github(base_url=double.url, auth=Auth.Token("t0ken"), retry=None, timeout=10,
                    seconds_between_requests=None, seconds_between_writes=None, lazy=True)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _nothing_imported_after_user_code():
    """No command may need a module it did not load before its first user command (import_seal.py)."""
    from cdhelper._boot import import_seal
    before = len(import_seal.refused)
    yield
    assert import_seal.refused[before:] == [], "imported after a user command ran: add them to import_seal.PRELOAD"


@pytest.fixture(autouse=True)
def _clean_actions_env(monkeypatch):
    """Tests never inherit the Actions environment of whoever runs them."""
    for key in list(os.environ):
        if key.startswith(("GITHUB_", "INPUT_", "CD_", "RUNNER_")) or key in {"ACTIONS_STEP_DEBUG", "CI"}:
            monkeypatch.delenv(key, raising=False)

@dataclass
class Outcome:
    code: int
    out: str
    err: str
    outputs: dict
    summary: str

    @property
    def data(self) -> dict:
        """stdout without workflow commands (the runner consumes those)."""
        return json.loads("\n".join(line for line in self.out.splitlines() if not line.startswith("::")))


class Pipeline:
    """Runs cdhelper commands in-process as a job of run `run_id` would, against the double."""

    def __init__(self, double, tmp_path: Path, monkeypatch, capsys):
        self.double, self.tmp, self.mp, self.capsys = double, tmp_path, monkeypatch, capsys
        self.sha = double.repo("acme/app").resolve("main")
        self.run_id, self.attempt, self.run_number = 4242, 1, 7
        self.token = SENTINEL
        self.artifact = tmp_path / "dist"
        self.artifact.mkdir()
        (self.artifact / "app.txt").write_text("hello v1\n")
        (self.artifact / "lib").mkdir()
        (self.artifact / "lib" / "core.bin").write_bytes(b"\x00\x01" * 100)

    def env(self, **extra: str) -> None:
        base = {"GITHUB_API_URL": self.double.url, "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": str(self.run_id),
                "GITHUB_RUN_ATTEMPT": str(self.attempt), "GITHUB_RUN_NUMBER": str(self.run_number),
                "GITHUB_SHA": self.sha, "GITHUB_TOKEN": self.token, "RUNNER_TEMP": str(self.tmp / "runner"),
                "GITHUB_WORKSPACE": str(self.tmp), "GITHUB_SERVER_URL": "https://github.example",
                "CDHELPER_BACKOFF": "0.001"}
        for key, value in {**base, **extra}.items():
            self.mp.setenv(key, value)

    def run(self, *argv: str, actions: bool = True, **env: str) -> Outcome:
        self.env(**env)
        out_file, summary_file = self.tmp / "out.txt", self.tmp / "summary.md"
        out_file.write_text("")
        summary_file.write_text("")
        if actions:
            self.mp.setenv("GITHUB_ACTIONS", "true")
            self.mp.setenv("GITHUB_OUTPUT", str(out_file))
            self.mp.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
        self.capsys.readouterr()
        code = cli.main(list(argv))
        captured = self.capsys.readouterr()
        outputs = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line)
        result = Outcome(code, captured.out, captured.err, outputs, summary_file.read_text())
        for text, where in ((result.out, "stdout"), (result.err, "stderr"), (result.summary, "the job summary"),
                            (out_file.read_text(), "step outputs")):
            assert_no_sentinel(text, where)
        return result

    def release(self, version: str = "1.0.0", *extra: str, **env: str) -> Outcome:
        return self.run("release", "--version", version, "--artifact", str(self.artifact), *extra, **env)

    def promote(self, environment: str, version: str = "1.0.0", *extra: str, mode: str = "deployment",
                **env: str) -> Outcome:
        return self.run("promote", "--environment", environment, "--version", version, "--mode", mode, *extra, **env)

    def new_run(self, run_id: int) -> None:
        self.run_id, self.attempt = run_id, 1

    def deployments(self, environment: str | None = None) -> list[dict]:
        repo = self.double.repo("acme/app")
        return [d for d in repo.deployments.values() if environment is None or d["environment"] == environment]

    def states(self, deployment_id: int) -> list[str]:
        return [s["state"] for s in self.double.repo("acme/app").statuses.get(deployment_id, [])]


@pytest.fixture
def pipeline(double, tmp_path, monkeypatch, capsys) -> Pipeline:
    return Pipeline(double, tmp_path, monkeypatch, capsys)
