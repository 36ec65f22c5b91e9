"""Workflow runs, their pending deployments and review history
(https://docs.github.com/rest/actions/workflow-runs)."""

from __future__ import annotations

from ..http import ApiError, Request, Response, not_found, validation_failed
from ..model import Repo, iso
from .common import Ctx, node_id, repo_minimal, router
from .environments import _reviewer_json, ensure_environment, environment_json


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
           "actor": actor, "status": "in_progress", "conclusion": None, "created_at": now, "updated_at": now,
           "pending": {}, "reviews": [], "planned_reviews": {}}
    for name in pending or []:
        request_review(repo, run, name)
    repo.runs[run_id] = run
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
        if env["prevent_self_review"] and login == run["actor"]:
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


@router.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}", ("actions", "read"))
def get_run(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    run = _run(repo, req.params["run_id"])
    url = f"{ctx.repo_url(repo)}/actions/runs/{run['id']}"
    commit = repo.commit(run["head_sha"]) or {"message": "", "author": "", "email": "", "date": run["created_at"],
                                              "tree": ""}
    minimal = repo_minimal(ctx, repo)
    return Response(200, {
        "id": run["id"], "name": "pipeline", "node_id": node_id("WFR", run["id"]), "head_branch": run["head_branch"],
        "head_sha": run["head_sha"], "path": run["path"], "display_title": commit["message"].split("\n")[0],
        "run_number": run["run_number"], "run_attempt": run["run_attempt"], "event": run["event"],
        "status": run["status"], "conclusion": run["conclusion"], "workflow_id": 1, "url": url,
        "html_url": f"{ctx.base}/{repo.full_name}/actions/runs/{run['id']}", "pull_requests": [],
        "created_at": iso(run["created_at"]), "updated_at": iso(run["updated_at"]), "actor": ctx.user(run["actor"]),
        "triggering_actor": ctx.user(run["actor"]), "run_started_at": iso(run["created_at"]),
        "jobs_url": f"{url}/jobs", "logs_url": f"{url}/logs", "check_suite_url": f"{ctx.repo_url(repo)}/check-suites/1",
        "artifacts_url": f"{url}/artifacts", "cancel_url": f"{url}/cancel", "rerun_url": f"{url}/rerun",
        "workflow_url": f"{ctx.repo_url(repo)}/actions/workflows/1",
        "head_commit": {"id": run["head_sha"], "tree_id": commit["tree"], "message": commit["message"],
                        "timestamp": iso(commit["date"]),
                        "author": {"name": commit["author"], "email": commit["email"]},
                        "committer": {"name": commit["author"], "email": commit["email"]}},
        "repository": minimal, "head_repository": minimal,
    })


@router.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/pending_deployments", ("actions", "read"))
def get_pending_deployments(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    run = _run(repo, req.params["run_id"])
    apply_planned_reviews(repo, run)
    uid = repo.world.user_id(req.principal.login)
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
        raise validation_failed(f"Invalid request.\n\n\"{missing[0]}\" wasn't supplied.")
    if req.principal.kind != "user":
        raise ApiError(403, "Resource not accessible by integration")
    by_id = {env["id"]: key for key, env in repo.environments.items()}
    keys = [by_id.get(i) for i in body["environment_ids"]]
    if None in keys:
        raise validation_failed("Invalid request.\n\nUnknown environment id.")
    review(repo, run, keys, req.principal.login, body["state"], body["comment"])
    return Response(200, [])


@router.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/approvals", ("actions", "read"))
def get_approvals(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    run = _run(repo, req.params["run_id"])
    apply_planned_reviews(repo, run)
    out = []
    for item in reversed(run["reviews"]):
        envs = [_env_ref(ctx, repo, repo.environments[n.lower()]) for n in item["environments"]
                if n.lower() in repo.environments]
        out.append({"state": item["state"], "comment": item["comment"], "environments": envs,
                    "user": ctx.user(item["user"])})
    return Response(200, out)
