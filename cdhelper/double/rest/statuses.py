"""Commit statuses (https://docs.github.com/rest/commits/statuses); they feed required_contexts."""

from __future__ import annotations

from ..http import Request, Response, not_found, paginate, validation_failed
from ..model import Repo, iso
from .common import Ctx, node_id, repo_minimal, router

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
        raise validation_failed("Validation Failed", errors=[{"resource": "Status", "field": "state", "code": "invalid"}])
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
