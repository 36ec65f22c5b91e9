"""What `cdhelper rollout abort` costs in GitHub requests, through the real CLI against the double.

    python benchmarks/abort.py

- A canary paused at its hold over a live version, aborted in one job (`--phase all`): the requests
  besides the hooks (target: at most 3 plus hooks in issue 21; the record needs 4: the ledger read,
  the aborted record's status, the rollback record's create and its status).
- The same for a first release (no rollback record).
- The split abort's deploy phase, which runs the hooks (target: 0).
- `cdhelper status` while that canary is paused against the same status once it is aborted (target:
  at most 1 request more).
benchmarks/run.py calls bench().
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = """
environments:
  - name: staging
  - name: production
    strategy: {strategy}
    hooks:
      deploy: 'true'
      shift-traffic: 'true'
      teardown: 'true'
"""
HOLD = "{canary: {steps: [{weight: 25}, {pause: hold}, {weight: 100}]}}"


@contextlib.contextmanager
def _job(gh, tmp: Path, run_id: int):
    """This process as a job of run `run_id`: its environment, its output discarded."""
    env = {"GITHUB_API_URL": gh.url, "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": str(run_id),
           "GITHUB_RUN_NUMBER": str(run_id), "GITHUB_SHA": gh.repo("acme/app").resolve("main"),
           "GITHUB_TOKEN": "bench", "RUNNER_TEMP": str(tmp / "runner"), "GITHUB_WORKSPACE": str(tmp),
           "GITHUB_ACTOR": "bench"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    real = sys.stdout, sys.stderr
    with open(os.devnull, "w") as devnull:
        try:
            sys.stdout = sys.stderr = devnull
            yield
        finally:
            sys.stdout, sys.stderr = real
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _scenario(gh, tmp: Path, *, first_release: bool) -> dict:
    from cdhelper.cli import main as cli
    gh.set_environment("acme/app", "production-soak", wait_timer=30)
    (tmp / ".github").mkdir(exist_ok=True)
    art = tmp / "dist"
    art.mkdir(exist_ok=True)
    versions = ["2.0.0"] if first_release else ["1.0.0", "2.0.0"]
    for run_id, version in enumerate(versions, start=1):
        strategy = HOLD if version == "2.0.0" else "all-at-once"
        (tmp / ".github" / "cd.yml").write_text(CONFIG.format(strategy=strategy))
        (art / "app.bin").write_text(version)
        with _job(gh, tmp, run_id):
            assert cli.main(["release", "--version", version, "--artifact", str(art)]) == 0
            assert cli.main(["promote", "--environment", "staging", "--version", version, "--mode", "deployment"]) == 0
            assert cli.main(["promote", "--environment", "production", "--version", version, "--mode", "deployment"]) == 0
    gh.reset_log()
    with _job(gh, tmp, 9):
        assert cli.main(["status", "--json"]) == 0
    status_paused = gh.total_requests()
    gh.reset_log()
    with _job(gh, tmp, 10):
        assert cli.main(["rollout", "abort", "--environment", "production"]) == 0
    figures = {"requests": gh.total_requests(), "writes": gh.writes()}
    gh.reset_log()
    with _job(gh, tmp, 11):
        assert cli.main(["status", "--json"]) == 0
    return {**figures, "status_paused": status_paused, "status_settled": gh.total_requests()}


def _deploy_phase(gh, tmp: Path) -> int:
    """The split abort: open, then the deploy phase alone counted."""
    from cdhelper.cli import main as cli
    gh.set_environment("acme/app", "production-soak", wait_timer=30)
    (tmp / ".github").mkdir(exist_ok=True)
    (tmp / ".github" / "cd.yml").write_text(CONFIG.format(strategy=HOLD))
    art = tmp / "dist"
    art.mkdir(exist_ok=True)
    (art / "app.bin").write_text("3.0.0")
    with _job(gh, tmp, 1):
        assert cli.main(["release", "--version", "3.0.0", "--artifact", str(art)]) == 0
        assert cli.main(["promote", "--environment", "staging", "--version", "3.0.0", "--mode", "deployment"]) == 0
        assert cli.main(["promote", "--environment", "production", "--version", "3.0.0", "--mode", "deployment"]) == 0
    out = io.StringIO()
    with _job(gh, tmp, 2):
        sys.stdout = out  # the open phase prints its outputs as JSON; _job puts stdout back
        assert cli.main(["rollout", "abort", "--environment", "production", "--phase", "open"]) == 0
    handoff = json.loads(out.getvalue().strip().splitlines()[-1])["handoff"]
    gh.reset_log()
    with _job(gh, tmp, 2):
        assert cli.main(["rollout", "abort", "--environment", "production", "--phase", "deploy", "--handoff", handoff]) == 0
    return gh.total_requests()


def bench() -> dict:
    from cdhelper.devtools.double import GitHubDouble
    out = {}
    for name, first in (("abort_paused_canary", False), ("abort_first_release", True)):
        with GitHubDouble(repos=["acme/app"]) as gh, tempfile.TemporaryDirectory() as tmp:
            figures = _scenario(gh, Path(tmp), first_release=first)
            out[f"{name}_requests"], out[f"{name}_writes"] = figures["requests"], figures["writes"]
            if not first:  # status while a rollout is paused against the same environments once it is not
                out["status_requests_paused"], out["status_requests_settled"] = (figures["status_paused"],
                                                                                 figures["status_settled"])
    with GitHubDouble(repos=["acme/app"]) as gh, tempfile.TemporaryDirectory() as tmp:
        out["abort_deploy_phase_requests"] = _deploy_phase(gh, Path(tmp))
    return out


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
