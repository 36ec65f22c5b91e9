"""Commit statuses (https://docs.github.com/rest/commits/statuses) and check runs
(https://docs.github.com/rest/checks/runs); both feed required_contexts. The check runs are the jobs
of workflow runs (jobs.py): Actions makes no other kind here."""

from __future__ import annotations

from ..http import Request, Response, not_found, paginate, validation_failed
from ..model import Repo, iso
from .common import Ctx, node_id, repo_minimal, router
from .jobs import find_job, job_url

COMMIT_STATES = {"error", "failure", "pending", "success"}


def commit_status_json(ctx: Ctx, repo: Repo, status: dict) -> dict:
    return {"url": f"{ctx.repo_url(repo)}/statuses/{status['sha']}", "avatar_url": None, "id": status["id"],
            "node_id": node_id("SC", status["id"]), "state": status["state"], "description": status["description"],
            "target_url": status["target_url"], "context": status["context"], "created_at": iso(status["created_at"]),
            "updated_at": iso(status["created_at"]), "creator": ctx.user(status["creator"])}


@router.add("POST", "/repos/{owner}/{repo}/statuses/{sha}", ("statuses", "write"))
def create_commit_status(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    commit = repo.commit(req.params["sha"])
    if commit is None:
        raise validation_failed(f"No commit found for SHA: {req.params['sha']}")
    if body.get("state") not in COMMIT_STATES:
        raise validation_failed("Validation Failed", errors=[{"resource": "Status", "field": "state", "code": "invalid"}],
                                shape=True)
    status = {"id": repo.world.next_id(), "sha": commit["sha"], "state": body["state"],
              "description": body.get("description"), "target_url": body.get("target_url"),
              "context": body.get("context") or "default", "creator": req.principal.login,
              "created_at": repo.world.clock.now()}
    repo.commit_statuses.setdefault(commit["sha"], []).append(status)
    rendered = commit_status_json(ctx, repo, status)
    return Response(201, rendered, {"Location": rendered["url"]})


@router.add("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses", ("statuses", "read"))
def list_commit_statuses(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    sha = repo.resolve(req.params["ref"])
    if sha is None:
        raise not_found()
    page, headers = paginate(req, list(reversed(repo.commit_statuses.get(sha, []))))
    return Response(200, [commit_status_json(ctx, repo, s) for s in page], headers)


@router.add("GET", "/repos/{owner}/{repo}/commits/{ref}/status", ("statuses", "read"))
def combined_commit_status(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    sha = repo.resolve(req.params["ref"])
    if sha is None:
        raise not_found()
    latest: dict[str, dict] = {}
    for status in repo.commit_statuses.get(sha, []):
        latest[status["context"]] = status
    states = {s["state"] for s in latest.values()}
    state = "failure" if states & {"failure", "error"} else "pending" if ("pending" in states or not states) else "success"
    minimal = repo_minimal(ctx, repo)
    statuses = [{k: v for k, v in commit_status_json(ctx, repo, s).items() if k != "creator"}
                | {"required": False} for s in latest.values()]
    return Response(200, {"state": state, "statuses": statuses, "sha": sha, "total_count": len(latest),
                          "repository": minimal, "commit_url": f"{ctx.repo_url(repo)}/commits/{sha}",
                          "url": f"{ctx.repo_url(repo)}/commits/{sha}/status"})


# --- check runs ---------------------------------------------------------------------------------

def check_run_json(ctx: Ctx, repo: Repo, job: dict) -> dict:
    url = f"{ctx.repo_url(repo)}/check-runs/{job['id']}"
    page = job_url(ctx.web, repo, job)
    body = {
        "id": job["id"], "node_id": node_id("CR", job["id"]), "head_sha": job["head_sha"],
        "external_id": f"{job['run_id']}-{job['attempt']}-{job['name']}", "url": url, "html_url": page,
        "details_url": page, "status": job["status"], "conclusion": job["conclusion"],
        "started_at": iso(job["started_at"]), "completed_at": iso(job["completed_at"]) if job["completed_at"] else None,
        "output": {"title": None, "summary": None, "text": None, "annotations_count": 0,
                   "annotations_url": f"{url}/annotations"},
        "name": job["name"], "check_suite": {"id": job["check_suite_id"]}, "app": ctx.app("github-actions"),
        "pull_requests": [],
    }
    dep = repo.deployments.get(job["deployment_id"]) if job.get("deployment_id") else None
    if dep is not None:
        dep_url = f"{ctx.repo_url(repo)}/deployments/{dep['id']}"
        body["deployment"] = {
            "url": dep_url, "id": dep["id"], "node_id": node_id("DE", dep["id"]), "task": dep["task"],
            "original_environment": dep["original_environment"], "environment": dep["environment"],
            "description": dep["description"], "created_at": iso(dep["created_at"]),
            "updated_at": iso(dep["updated_at"]), "statuses_url": f"{dep_url}/statuses",
            "repository_url": ctx.repo_url(repo), "transient_environment": dep["transient_environment"],
            "production_environment": dep["production_environment"]}
    return body


@router.add("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs", ("checks", "read"))
def list_check_runs(req: Request) -> Response:
    # https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference ; filter=latest (the
    # default) keeps the latest run of each name in each check suite; check_name and status filter.
    ctx = Ctx(req)
    repo = ctx.repo
    sha = repo.resolve(req.params["ref"])
    if sha is None:
        raise validation_failed(f"No commit found for SHA: {req.params['ref']}")
    q = req.query
    if q.get("filter", "latest") == "all":
        runs = [repo.jobs[j] for j in repo.check_runs.get(sha, [])]
    else:
        runs = repo.latest_check_runs(sha)
    runs = [r for r in runs if ("check_name" not in q or r["name"] == q["check_name"])
            and ("status" not in q or r["status"] == q["status"])
            and ("app_id" not in q or q["app_id"] == str(ctx.app("github-actions")["id"]))]
    runs.sort(key=lambda r: r["id"], reverse=True)  # newest first (a choice: GitHub does not say)
    page, headers = paginate(req, runs)
    return Response(200, {"total_count": len(runs), "check_runs": [check_run_json(ctx, repo, r) for r in page]},
                    headers)


@router.add("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}", ("checks", "read"))
def get_check_run(req: Request) -> Response:
    # https://docs.github.com/rest/checks/runs#get-a-check-run
    ctx = Ctx(req)
    repo = ctx.repo
    return Response(200, check_run_json(ctx, repo, find_job(repo, req.params["check_run_id"])))
