"""Runs cdhelper pipelines in-process against a fresh double, with or without faults."""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from cdhelper.cli import main as cli
from cdhelper.devtools.double import Fault, GitHubDouble
from tests.conftest import SENTINEL, assert_no_sentinel  # noqa: F401 - one sentinel for every suite

CLEAR_ERROR = re.compile(r"^::error title=[^:]+::.+ Fix: .+$", re.M)


@dataclass
class Step:
    argv: list[str]
    code: int
    stdout: str
    stderr: str


@dataclass
class PipelineRun:
    double: GitHubDouble
    workdir: Path
    run_id: int = 5000
    attempt: int = 1
    steps: list[Step] = field(default_factory=list)

    def environ(self) -> dict[str, str]:
        repo = self.double.repo("acme/app")
        return {"GITHUB_API_URL": self.double.url, "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": str(self.run_id),
                "GITHUB_RUN_ATTEMPT": str(self.attempt), "GITHUB_RUN_NUMBER": "3", "GITHUB_SHA": repo.resolve("main"),
                "GITHUB_TOKEN": SENTINEL, "RUNNER_TEMP": str(self.workdir / "runner"),
                "GITHUB_WORKSPACE": str(self.workdir), "GITHUB_ACTIONS": "true", "CDHELPER_BACKOFF": "0",
                "GITHUB_OUTPUT": str(self.workdir / "out"), "GITHUB_STEP_SUMMARY": str(self.workdir / "summary")}

    def run(self, *argv: str) -> Step:
        out, err = io.StringIO(), io.StringIO()
        saved = dict(os.environ)
        os.environ.update(self.environ())
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main(list(argv))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        step = Step(list(argv), code, out.getvalue(), err.getvalue())
        self.steps.append(step)
        return step

    def pipeline(self, artifact: Path, mode: str = "delivery") -> list[Step]:
        steps = []
        for argv in (["release", "--version", "1.0.0", "--artifact", str(artifact)],
                     ["promote", "--environment", "staging", "--version", "1.0.0", "--mode", mode],
                     ["promote", "--environment", "production", "--version", "1.0.0", "--mode", mode]):
            step = self.run(*argv)
            steps.append(step)
            if step.code != 0:
                self.run("finish", "--job-status", "failure")  # the workflows' `if: always()` step
                break
        return steps


def new_double(openapi=None) -> GitHubDouble:
    gh = GitHubDouble(repos=["acme/app"]).start()
    if openapi is not None:
        gh.observe(openapi)
    gh.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    gh.create_run("acme/app", run_id=5000, waiting_on=["production-approval"])
    gh.review("acme/app", 5000, "production-approval", "alice", comment="ok")
    return gh


def random_faults(seed: int, rate: float = 0.2) -> list[Fault]:
    """About `rate` of responses faulted, every kind, before and after the write; deterministic."""
    rng = random.Random(seed)
    share = rate / 5
    return [
        Fault("5xx", probability=share, status=rng.choice([500, 502, 503, 504]), when="before", seed=rng.randrange(10**9)),
        Fault("5xx", probability=share, status=502, when="after", seed=rng.randrange(10**9)),
        Fault("secondary", probability=share, status=rng.choice([403, 429]), retry_after=0, seed=rng.randrange(10**9)),
        Fault("reset", probability=share, when=rng.choice(["before", "after"]), seed=rng.randrange(10**9)),
        Fault("latency", probability=share, latency=0.002, seed=rng.randrange(10**9)),
    ]


def state(gh: GitHubDouble) -> dict:
    """What the pipeline leaves behind, independent of ids and status history."""
    repo = gh.repo("acme/app")
    tags = {}
    for ref, sha in repo.refs.items():
        if ref.startswith("refs/tags/"):
            tag = repo.tag_object(sha)
            tags[ref] = tag["message"] if tag else sha
    deployments = []
    for dep in repo.deployments.values():
        status = repo.latest_status(dep["id"])
        deployments.append((dep["environment"], dep["payload"].get("version"), dep["payload"].get("digest"),
                            status["state"] if status else "none"))
    return {"tags": tags, "deployments": sorted(deployments)}
