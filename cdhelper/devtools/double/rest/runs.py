"""Workflow runs, their attempts, pending deployments, review history and jobs
(https://docs.github.com/rest/actions/workflow-runs, https://docs.github.com/rest/actions/workflow-jobs)."""

from __future__ import annotations

import random

from ..http import ApiError, Request, Response, not_found, paginate, validation_failed
from ..model import Repo, iso
from .common import Ctx, node_id, repo_minimal, router
from .environments import _reviewer_json, ensure_environment, environment_json
from .jobs import find_job, job_url


def _run(repo: Repo, raw_id: str) -> dict:
    try:
        run = repo.runs.get(int(raw_id))
    except ValueError:
        run = None
    if run is None:
        raise not_found()
    return run


def new_run(repo: Repo, *, run_id: int | None = None, head_sha: str | None = None, actor: str = "octocat",
            event: str = "push", path: str = ".github/workflows/pipeline.yml", pending: list[str] | None = None,
            head_branch: str | None = None) -> dict:
    run_id = run_id or repo.world.next_id()
    now = repo.world.clock.now()
    repo.world.user_id(actor)
    run = {"id": run_id, "run_number": len(repo.runs) + 1, "run_attempt": 1, "event": event, "path": path,
           "head_sha": head_sha or repo.resolve(repo.default_branch), "head_branch": head_branch or repo.default_branch,
           "actor": actor, "triggering_actor": actor, "status": "in_progress", "conclusion": None,
           "created_at": now, "updated_at": now, "run_started_at": now, "check_suite_id": repo.world.next_id(),
           "gates": list(pending or []), "pending": {}, "reviews": [], "planned_reviews": {}, "jobs": []}
    for name in pending or []:
        request_review(repo, run, name)
    repo.runs[run_id] = run
    return run


def rerun(repo: Repo, run: dict, *, actor: str | None = None, waiting_on: list[str] | None = None) -> dict:
    """Re-run all jobs: the next attempt (run_attempt + 1) waits again on the environments it binds
    (by default those the run waited on at first); reviews given to earlier attempts stay in the
    history (GET .../approvals lists the run's reviews, whatever the attempt)."""
    now = repo.world.clock.now()
    run["run_attempt"] += 1
    run["triggering_actor"] = actor or run["actor"]
    repo.world.user_id(run["triggering_actor"])
    run["status"], run["conclusion"] = "in_progress", None
    run["updated_at"] = run["run_started_at"] = now
    run["pending"] = {}
    for name in run["gates"] if waiting_on is None else waiting_on:
        request_review(repo, run, name)
    return run


def request_review(repo: Repo, run: dict, environment: str) -> None:
    """A job bound to `environment` is waiting: record a pending deployment if the env has reviewers."""
    env = ensure_environment(repo, environment)
    if env["reviewers"] or env["wait_timer"]:
        run["pending"][env["name"].lower()] = repo.world.clock.now()
        run["status"] = "waiting"


def apply_planned_reviews(repo: Repo, run: dict) -> None:
    """Rehearsals plan a reviewer's answer; it is given once the run is seen waiting at the gate."""
    for env_key, plan in list(run["planned_reviews"].items()):
        if env_key in run["pending"]:
            review(repo, run, [env_key], plan["reviewer"], plan["state"], plan.get("comment", ""))
            del run["planned_reviews"][env_key]


def review(repo: Repo, run: dict, env_keys: list[str], login: str, state: str, comment: str) -> None:
    if state not in {"approved", "rejected"}:
        raise validation_failed(f"Invalid request.\n\nstate must be approved or rejected, not {state!r}.")
    uid = repo.world.user_id(login)
    for key in env_keys:
        env = repo.environments.get(key)
        if env is None or key not in run["pending"]:
            raise validation_failed(f"Invalid request.\n\nNo pending deployment for environment {key!r} in this run.")
        reviewer_ids = {r["id"] for r in env["reviewers"] if r["type"] == "User"}
        if uid not in reviewer_ids:
            raise ApiError(403, f"{login} is not a required reviewer for environment {env['name']}.")
        if env["prevent_self_review"] and login in {run["actor"], run.get("triggering_actor", run["actor"])}:
            raise ApiError(403, f"{login} triggered this run and {env['name']} prevents self-review.")
    for key in env_keys:
        del run["pending"][key]
    run["reviews"].append({"state": state, "comment": comment, "user": login,
                           "environments": [repo.environments[k]["name"] for k in env_keys],
                           "at": repo.world.clock.now()})
    if state == "rejected":
        run["status"], run["conclusion"] = "completed", "failure"
    elif not run["pending"]:
        run["status"] = "in_progress"


def _env_ref(ctx: Ctx, repo: Repo, env: dict) -> dict:
    full = environment_json(ctx, repo, env)
    return {k: full[k] for k in ("id", "node_id", "name", "url", "html_url", "created_at", "updated_at")}


def run_json(ctx: Ctx, repo: Repo, run: dict) -> dict:
    url = f"{ctx.repo_url(repo)}/actions/runs/{run['id']}"
    commit = repo.commit(run["head_sha"]) or {"message": "", "author": "", "email": "", "date": run["created_at"],
                                              "tree": ""}
    minimal = repo_minimal(ctx, repo)
    suite = run["check_suite_id"]
    return {
        "id": run["id"], "name": "pipeline", "node_id": node_id("WFR", run["id"]), "head_branch": run["head_branch"],
        "head_sha": run["head_sha"], "path": run["path"], "display_title": commit["message"].split("\n")[0],
        "run_number": run["run_number"], "run_attempt": run["run_attempt"], "event": run["event"],
        "status": run["status"], "conclusion": run["conclusion"], "workflow_id": 1, "url": url,
        "html_url": f"{ctx.web}/{repo.full_name}/actions/runs/{run['id']}", "pull_requests": [],
        "created_at": iso(run["created_at"]), "updated_at": iso(run["updated_at"]), "actor": ctx.user(run["actor"]),
        "triggering_actor": ctx.user(run["triggering_actor"]), "run_started_at": iso(run["run_started_at"]),
        "check_suite_id": suite, "check_suite_node_id": node_id("CS", suite),
        "previous_attempt_url": f"{url}/attempts/{run['run_attempt'] - 1}" if run["run_attempt"] > 1 else None,
        "referenced_workflows": [],
        "jobs_url": f"{url}/jobs", "logs_url": f"{url}/logs", "check_suite_url": f"{ctx.repo_url(repo)}/check-suites/{suite}",
        "artifacts_url": f"{url}/artifacts", "cancel_url": f"{url}/cancel", "rerun_url": f"{url}/rerun",
        "workflow_url": f"{ctx.repo_url(repo)}/actions/workflows/1",
        "head_commit": {"id": run["head_sha"], "tree_id": commit["tree"], "message": commit["message"],
                        "timestamp": iso(commit["date"]),
                        "author": {"name": commit["author"], "email": commit["email"]},
                        "committer": {"name": commit["author"], "email": commit["email"]}},
        "repository": minimal, "head_repository": minimal,
    }


@router.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}", ("actions", "read"))
def get_run(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    return Response(200, run_json(ctx, repo, _run(repo, req.params["run_id"])))


@router.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/pending_deployments", ("actions", "read"))
def get_pending_deployments(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    run = _run(repo, req.params["run_id"])
    apply_planned_reviews(repo, run)
    uid = repo.world.user_id(req.principal.login) if req.principal.kind == "user" else None
    items = []
    for key, since in run["pending"].items():
        env = repo.environments[key]
        items.append({
            "environment": {k: v for k, v in _env_ref(ctx, repo, env).items() if k != "created_at" and k != "updated_at"},
            "wait_timer": env["wait_timer"], "wait_timer_started_at": iso(since) if env["wait_timer"] else None,
            "current_user_can_approve": req.principal.kind == "user" and any(
                r["type"] == "User" and r["id"] == uid for r in env["reviewers"]),
            "reviewers": [_reviewer_json(ctx, r) for r in env["reviewers"]],
        })
    return Response(200, items)


@router.add("POST", "/repos/{owner}/{repo}/actions/runs/{run_id}/pending_deployments", ("deployments", "write"))
def review_pending_deployments(req: Request) -> Response:
    # Not available to GitHub Apps (GITHUB_TOKEN included): only a reviewer's own token may approve.
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    run = _run(repo, req.params["run_id"])
    missing = [k for k in ("environment_ids", "state", "comment") if k not in body]
    if missing:
        raise validation_failed(f"Invalid request.\n\n\"{missing[0]}\" wasn't supplied.", shape=True)
    if body["state"] not in {"approved", "rejected"}:
        raise validation_failed("Invalid request.\n\nstate must be approved or rejected.", shape=True)
    if req.principal.kind != "user":
        raise ApiError(403, "Resource not accessible by integration")
    by_id = {env["id"]: key for key, env in repo.environments.items()}
    keys = [by_id.get(i) for i in body["environment_ids"]]
    if None in keys:
        raise validation_failed("Invalid request.\n\nUnknown environment id.")
    review(repo, run, keys, req.principal.login, body["state"], body["comment"])
    return Response(200, [])


def reviews_in_order(world, run: dict, *, newest_first: bool) -> list[dict]:
    """The run's reviews in the order a listing shows them. GitHub documents no order and gives no
    timestamps: by default REST lists newest first and GraphQL oldest first (what the double has always
    done); the `approvals-any-order` variant makes both oldest-first, or shuffled (seeded by the run id,
    so one run reads the same every time)."""
    order = world.variant("approvals-any-order")
    items = list(run["reviews"])
    if order == "shuffled":
        random.Random(run["id"]).shuffle(items)
        return items
    if order is None and newest_first:
        items.reverse()
    return items


@router.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/approvals", ("actions", "read"))
def get_approvals(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    run = _run(repo, req.params["run_id"])
    apply_planned_reviews(repo, run)
    out = []
    for item in reviews_in_order(repo.world, run, newest_first=True):
        envs = [_env_ref(ctx, repo, repo.environments[n.lower()]) for n in item["environments"]
                if n.lower() in repo.environments]
        out.append({"state": item["state"], "comment": item["comment"], "environments": envs,
                    "user": ctx.user(item["user"])})
    return Response(200, out)


# --- jobs (each one a check run: see jobs.py) -------------------------------------------------------

def job_json(ctx: Ctx, repo: Repo, job: dict) -> dict:
    run_url = f"{ctx.repo_url(repo)}/actions/runs/{job['run_id']}"
    started = job["status"] not in {"queued", "waiting", "pending", "requested"}
    return {
        "id": job["id"], "run_id": job["run_id"], "run_url": run_url, "run_attempt": job["attempt"],
        "node_id": node_id("CR", job["id"]), "head_sha": job["head_sha"], "head_branch": job["head_branch"],
        "url": f"{ctx.repo_url(repo)}/actions/jobs/{job['id']}", "html_url": job_url(ctx.web, repo, job),
        "status": job["status"], "conclusion": job["conclusion"], "created_at": iso(job["created_at"]),
        "started_at": iso(job["started_at"]), "completed_at": iso(job["completed_at"]) if job["completed_at"] else None,
        "name": job["name"], "steps": [], "check_run_url": f"{ctx.repo_url(repo)}/check-runs/{job['id']}",
        "labels": ["ubuntu-latest"], "runner_id": 1 if started else None,
        "runner_name": "GitHub Actions 1" if started else None, "runner_group_id": 2 if started else None,
        "runner_group_name": "GitHub Actions" if started else None, "workflow_name": "pipeline",
    }


def _jobs_page(req: Request, ctx: Ctx, repo: Repo, jobs: list[dict]) -> Response:
    page, headers = paginate(req, jobs)
    return Response(200, {"total_count": len(jobs), "jobs": [job_json(ctx, repo, j) for j in page]}, headers)


@router.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", ("actions", "read"))
def list_run_jobs(req: Request) -> Response:
    # https://docs.github.com/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run ; filter=latest
    # (the default) lists the latest attempt's jobs, filter=all every attempt's.
    ctx = Ctx(req)
    repo = ctx.repo
    run = _run(repo, req.params["run_id"])
    every = req.query.get("filter", "latest") == "all"
    jobs = [repo.jobs[j] for j in run["jobs"] if every or repo.jobs[j]["attempt"] == run["run_attempt"]]
    return _jobs_page(req, ctx, repo, jobs)


@router.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs", ("actions", "read"))
def list_attempt_jobs(req: Request) -> Response:
    # https://docs.github.com/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run-attempt
    ctx = Ctx(req)
    repo = ctx.repo
    run = _run(repo, req.params["run_id"])
    try:
        attempt = int(req.params["attempt_number"])
    except ValueError:
        raise not_found() from None
    if not 1 <= attempt <= run["run_attempt"]:
        raise not_found()
    return _jobs_page(req, ctx, repo, [repo.jobs[j] for j in run["jobs"] if repo.jobs[j]["attempt"] == attempt])


@router.add("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id}", ("actions", "read"))
def get_job(req: Request) -> Response:
    # https://docs.github.com/rest/actions/workflow-jobs#get-a-job-for-a-workflow-run
    ctx = Ctx(req)
    repo = ctx.repo
    return Response(200, job_json(ctx, repo, find_job(repo, req.params["job_id"])))
