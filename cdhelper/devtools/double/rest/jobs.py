"""Jobs of workflow runs, which are check runs: GitHub makes one check run per job, with the job's id,
in the `github-actions` App's check suite of the run (PyGithub replay data: a job's `check_run_url`
ends in its own id; its `node_id` is a CheckRun's). The rehearsal, which runs workflows under act,
tells the double which jobs ran (admin routes); REST and GraphQL then show them.

A job bound to an environment makes its own deployment record when Actions creates one: always on
GitHub Enterprise Server (no `deployment: false` there), and on github.com only for a job without
`deployment: false` (cdhelper's jobs have it, so by default no record is made).
"""

from __future__ import annotations

from ..http import not_found, validation_failed
from ..model import Repo
from .deployments import add_status

JOB_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CONCLUSIONS = ("success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required")
ACTIONS_BOT = "github-actions[bot]"
# The record's last status when the job ends. Only success and failure are observed; the rest is a choice.
FINAL_STATE = {"success": "success", "failure": "failure", "timed_out": "failure", "cancelled": "error",
               "action_required": "failure", "neutral": "success", "skipped": "inactive"}


def job_url(web: str, repo: Repo, job: dict) -> str:
    """Where a job's log is on the web: what Actions puts in its deployment statuses' log_url."""
    return f"{web}/{repo.full_name}/actions/runs/{job['run_id']}/job/{job['id']}"


def find_job(repo: Repo, raw_id: str | int) -> dict:
    try:
        job = repo.jobs.get(int(raw_id))
    except ValueError:
        job = None
    if job is None:
        raise not_found()
    return job


def add_job(repo: Repo, run: dict, *, name: str, web: str, attempt: int | None = None, environment: str | None = None,
            status: str = "in_progress", conclusion: str | None = None, environment_url: str = "",
            deployment: bool | None = None) -> dict:
    """A job of `run` (of its current attempt unless `attempt` names an earlier one). `deployment`:
    whether Actions records a deployment for its environment (default: only on GitHub Enterprise Server)."""
    if not isinstance(name, str) or not name:
        raise validation_failed("a job needs a name")
    attempt = run["run_attempt"] if attempt is None else int(attempt)
    if not 1 <= attempt <= run["run_attempt"]:
        raise validation_failed(f"run {run['id']} has no attempt {attempt} (it is at {run['run_attempt']})")
    if status not in JOB_STATUSES:
        raise validation_failed(f"job status must be one of {', '.join(JOB_STATUSES)}")
    if status == "completed" and conclusion not in CONCLUSIONS:
        raise validation_failed(f"a completed job needs a conclusion: {', '.join(CONCLUSIONS)}")
    world = repo.world
    now = world.clock.now()
    job = {"id": world.next_id(), "run_id": run["id"], "attempt": attempt, "name": name, "status": status,
           "conclusion": conclusion if status == "completed" else None, "created_at": now,
           "started_at": now, "completed_at": now if status == "completed" else None,
           "head_sha": run["head_sha"], "head_branch": run["head_branch"], "check_suite_id": run["check_suite_id"],
           "environment": environment or None, "environment_url": environment_url or "", "deployment_id": None,
           "web": web}
    repo.jobs[job["id"]] = job
    run.setdefault("jobs", []).append(job["id"])
    repo.check_runs.setdefault(job["head_sha"], []).append(job["id"])
    if deployment is None:
        deployment = world.variant("ghes") is not None
    if environment and deployment and not (status == "completed" and conclusion == "skipped"):
        _record_deployment(repo, run, job)
    return job


def update_job(repo: Repo, job: dict, *, status: str | None = None, conclusion: str | None = None,
               environment_url: str | None = None) -> dict:
    """Move a job on (queued -> in_progress -> completed with a conclusion); its record follows."""
    status = status or ("completed" if conclusion else job["status"])
    if status not in JOB_STATUSES:
        raise validation_failed(f"job status must be one of {', '.join(JOB_STATUSES)}")
    if status == "completed" and conclusion not in CONCLUSIONS:
        raise validation_failed(f"a completed job needs a conclusion: {', '.join(CONCLUSIONS)}")
    if job["status"] == "completed":
        raise validation_failed(f"job {job['id']} has completed already")
    now = repo.world.clock.now()
    if environment_url is not None:
        job["environment_url"] = environment_url
    if job["status"] in {"queued", "waiting", "pending", "requested"} and status != job["status"]:
        job["started_at"] = now
    job["status"] = status
    dep = repo.deployments.get(job["deployment_id"]) if job["deployment_id"] else None
    if status == "completed":
        job["conclusion"], job["completed_at"] = conclusion, now
        if dep is not None:
            _status(repo, dep, job, FINAL_STATE[conclusion])
    elif status == "in_progress" and dep is not None:
        _status(repo, dep, job, "in_progress")
    return job


def _record_deployment(repo: Repo, run: dict, job: dict) -> None:
    """The record Actions makes for an environment job: created by the Actions bot through its App,
    for the run's branch and commit, payload {} and no description (observed on github.com:
    hephaestus-build/Hephaestus#1828 quotes one as `ref=main sha=… description=null payload={}`),
    with statuses queued -> in_progress -> success|failure whose log_url is the job's page."""
    env = job["environment"]
    now = repo.world.clock.now()
    dep = {"id": repo.world.next_id(), "sha": run["head_sha"], "ref": run["head_branch"], "task": "deploy",
           "environment": env, "original_environment": env, "payload": {}, "description": None,
           "creator": ACTIONS_BOT, "created_at": now, "updated_at": now,
           "transient_environment": False, "production_environment": env.lower() == "production"}
    repo.deployments[dep["id"]] = dep
    job["deployment_id"] = dep["id"]
    _status(repo, dep, job, "queued")
    if job["status"] in {"in_progress", "completed"}:
        _status(repo, dep, job, "in_progress")
    if job["status"] == "completed":
        _status(repo, dep, job, FINAL_STATE[job["conclusion"]])


def _status(repo: Repo, dep: dict, job: dict, state: str) -> None:
    url = job_url(job["web"], repo, job)
    add_status(repo, dep, state=state, description="", log_url=url, target_url=url, environment="",
               environment_url=job["environment_url"], auto_inactive=True, creator=ACTIONS_BOT)
