"""What the split layout (issue 20) costs beside the single-job layout it replaced, in one run:

- jobs on the critical path of the template pipeline, commit -> production live (the production
  deploy job ends) and commit -> production's record success, per mode;
- GitHub API requests for release, staging and production against the double, each layout run
  in-process the way its jobs run it;
- with --act, wall time of both templates under act (the rehearsal), per environment.

    python benchmarks/layout.py [--act]

The baseline is benchmarks/baseline/cd-pipeline.single-job.yml: the template as it was before the
split (commit 850a00c), without its doctor job (which now refuses that layout). benchmarks/run.py
calls bench().
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BASELINE = ROOT / "benchmarks" / "baseline" / "cd-pipeline.single-job.yml"
SPLIT = ROOT / "workflows-templates" / "cd-pipeline.yml"
ONLY_WHEN_PAUSED = {"soak", "production-resume", "production-resume-record"}
ONLY_WHEN_CANCELLED_OR_FAILED = {"staging-undo", "production-undo", "production-resume-undo"}  # the cleanup undo


def critical_path(text: str, target: str, mode: str) -> list[str]:
    """The longest chain of `needs` ending at `target` among the jobs that run in `mode` (the gate job
    is skipped in deployment mode; the soak and resume jobs run only after a `pause: hold`)."""
    import yaml
    jobs = yaml.safe_load(text)["jobs"]
    skipped = ONLY_WHEN_PAUSED | ONLY_WHEN_CANCELLED_OR_FAILED | ({"gate"} if mode == "deployment" else set())

    def needs(job: str) -> list[str]:
        raw = jobs[job].get("needs") or []
        return [n for n in ([raw] if isinstance(raw, str) else raw) if n not in skipped]

    def longest(job: str) -> list[str]:
        chains = [longest(n) for n in needs(job)]
        return max(chains, key=len, default=[]) + [job]
    return longest(target)


def paths() -> dict:
    out = {}
    for name, path, record in (("single-job", BASELINE, "production"), ("split", SPLIT, "production-record")):
        text = path.read_text()
        for mode in ("delivery", "deployment"):
            live, recorded = critical_path(text, "production", mode), critical_path(text, record, mode)
            out[f"{name}/{mode}"] = {"to_production_live": len(live), "to_production_record": len(recorded),
                                     "chain": " -> ".join(recorded)}
    return out


def _requests(split: bool) -> dict:
    """Release, staging and production through the CLI in-process, as the jobs of each layout run it."""
    import os
    from unittest import mock

    from cdhelper.cli import main as cli
    from cdhelper.devtools.double import GitHubDouble
    with GitHubDouble(repos=["acme/app"]) as gh, tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / "dist"
        artifact.mkdir()
        (artifact / "app.txt").write_text("hello\n")
        env = {"GITHUB_API_URL": gh.url, "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": "4242",
               "GITHUB_RUN_ATTEMPT": "1", "GITHUB_RUN_NUMBER": "7", "GITHUB_SHA": gh.repo("acme/app").resolve("main"),
               "GITHUB_TOKEN": "bench", "RUNNER_TEMP": str(Path(tmp) / "runner"), "GITHUB_WORKSPACE": tmp}
        outputs = Path(tmp) / "out"

        def run(*argv: str) -> dict:
            outputs.write_text("")
            with mock.patch.dict(os.environ, {**env, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs)}), \
                    open(os.devnull, "w") as quiet, mock.patch("sys.stdout", quiet), mock.patch("sys.stderr", quiet):
                assert cli.main(list(argv)) == 0, argv
            return dict(line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
        gh.reset_log()
        run("release", "--version", "1.0.0", "--artifact", str(artifact))
        per_environment = {}
        for environment in ("staging", "production"):
            before = gh.total_requests()
            common = ("promote", "--environment", environment, "--version", "1.0.0", "--mode", "deployment")
            if split:
                handoff = run(*common, "--phase", "open")["handoff"]
                report = run(*common, "--phase", "deploy", "--handoff", handoff, "--artifact", str(artifact))["report"]
                run(*common, "--phase", "close", "--handoff", handoff, "--job-result", "success", "--report", report)
            else:
                run(*common, "--artifact", str(artifact))
            per_environment[environment] = gh.total_requests() - before
        return {"total": gh.total_requests(), "writes": gh.writes(), **per_environment}


def requests() -> dict:
    return {"single-job": _requests(False), "split": _requests(True)}


def _act_times(workflow_text: str, mode: str) -> dict:
    """One run of a template under act; when each job ended, from the first job's start."""
    from cdhelper.devtools.rehearsal import Rehearsal, for_act
    with tempfile.TemporaryDirectory() as tmp:
        r = Rehearsal(mode=mode, workdir=Path(tmp))
        try:
            (r.repo_dir / ".github" / "workflows" / "bench.yml").write_text(for_act(workflow_text, source="bench.yml"))
            r.commit("bench", {})
            r.plan_run()
            code = r.act(workflow="bench.yml")
            start = min((rec.started for rec in r.jobs.values()), default=0.0)  # the double's clock
            ends = {job: round(rec.ended - start, 1) for job, rec in r.jobs.items() if rec.ended}
            return {"act_exit": code, "production_live_s": ends.get("production"),
                    "production_record_s": ends.get("production-record", ends.get("production")),
                    "staging_s": ends.get("staging"), "jobs": len(r.jobs)}
        finally:
            r.close(keep=False)


def act_times() -> dict:
    return {f"{name}/{mode}": _act_times(path.read_text(), mode)
            for mode in ("deployment",) for name, path in (("single-job", BASELINE), ("split", SPLIT))}


def bench(with_act: bool = False) -> dict:
    out = {"critical_path": paths(), "requests": requests()}
    if with_act:
        out["act"] = act_times()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--act", action="store_true", help="also time both templates under act (about a minute)")
    print(json.dumps(bench(parser.parse_args().act), indent=2))
