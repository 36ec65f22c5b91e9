"""Deployments and their statuses (https://docs.github.com/rest/deployments/deployments,
https://docs.github.com/rest/deployments/statuses)."""

from __future__ import annotations

from ..http import ApiError, Request, Response, not_found, paginate, validation_failed
from ..model import Repo, check_state, iso
from .common import Ctx, node_id, router

DEPLOY_DOCS = "https://docs.github.com/rest/deployments/deployments"
STATUS_STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}


def deployment_json(ctx: Ctx, repo: Repo, dep: dict) -> dict:
    url = f"{ctx.repo_url(repo)}/deployments/{dep['id']}"
    return {
        "url": url, "id": dep["id"], "node_id": node_id("DE", dep["id"]), "sha": dep["sha"], "ref": dep["ref"],
        "task": dep["task"], "payload": dep["payload"], "original_environment": dep["original_environment"],
        "environment": dep["environment"], "description": dep["description"], "creator": ctx.user(dep["creator"]),
        "created_at": iso(dep["created_at"]), "updated_at": iso(dep["updated_at"]), "statuses_url": f"{url}/statuses",
        "repository_url": ctx.repo_url(repo), "transient_environment": dep["transient_environment"],
        "production_environment": dep["production_environment"],
        "performed_via_github_app": ctx.performed_via(dep["creator"]),
    }


def status_json(ctx: Ctx, repo: Repo, status: dict) -> dict:
    dep_url = f"{ctx.repo_url(repo)}/deployments/{status['deployment_id']}"
    return {
        "url": f"{dep_url}/statuses/{status['id']}", "id": status["id"], "node_id": node_id("DES", status["id"]),
        "state": status["state"], "creator": ctx.user(status["creator"]), "description": status["description"],
        "environment": status["environment"], "target_url": status["target_url"], "log_url": status["log_url"],
        "environment_url": status["environment_url"], "created_at": iso(status["created_at"]),
        "updated_at": iso(status["updated_at"]), "deployment_url": dep_url, "repository_url": ctx.repo_url(repo),
        "performed_via_github_app": ctx.performed_via(status["creator"]),
    }


def _deployment(repo: Repo, raw_id: str) -> dict:
    try:
        dep = repo.deployments.get(int(raw_id))
    except ValueError:
        dep = None
    if dep is None:
        raise not_found()
    return dep


def commit_contexts(repo: Repo, sha: str) -> dict[str, str]:
    """What required_contexts is checked against: the latest commit status of each context, then the
    latest check run of each name (GitHub counts check runs: sbb-design-systems/sbb-angular's preview
    workflow lists its CI job names `build`, `packages`, `docs` as required_contexts, and a `skipped`
    job failed the check, #2447). A status context wins over a check run of the same name (a choice)."""
    found: dict[str, str] = {}
    for job in repo.latest_check_runs(sha, per="name"):
        found[job["name"]] = check_state(job)
    for status in repo.commit_statuses.get(sha, []):
        found[status["context"]] = status["state"]
    return found


def _contexts_in_conflict(repo: Repo, sha: str, required: list[str] | None) -> list[dict]:
    """Every context considered, each with its state, when any is not success; [] when all are. GitHub's
    409 lists them all, successes included (remind101/slashdeploy#15 shows `ci/circleci` success next to
    `container/docker` failure). A required context nobody reported reads `missing` (a choice)."""
    found = commit_contexts(repo, sha)
    names = sorted(found) if required is None else list(dict.fromkeys(required))
    listed = [{"context": name, "state": found.get(name, "missing")} for name in names]
    return listed if any(c["state"] != "success" for c in listed) else []


@router.add("POST", "/repos/{owner}/{repo}/deployments", ("deployments", "write"))
def create_deployment(req: Request) -> Response:
    # https://docs.github.com/rest/deployments/deployments#create-a-deployment . Keys GitHub does not know
    # (deployment actions send `sha`, for one) are ignored, as GitHub ignores them.
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        raise validation_failed("Invalid request.\n\n\"ref\" wasn't supplied.", docs=DEPLOY_DOCS, shape=True)
    sha = repo.resolve(ref)
    if sha is None:
        raise validation_failed(f"No ref found for: {ref}", docs=DEPLOY_DOCS)
    environment = body.get("environment", "production")
    if not isinstance(environment, str) or not environment:
        raise validation_failed("Invalid request.\n\nFor 'properties/environment', nil is not a string.",
                                shape=not isinstance(environment, str))
    # A string payload is kept as the string it is (GitHub does not parse it); omitted, it is {}.
    payload = body.get("payload", {})
    if not isinstance(payload, (dict, str)):
        raise validation_failed("Invalid request.\n\npayload must be an object or a string.", shape=True)
    # Omitted, the description is null (PyGithub replay data, Repository.testGetDeployments: a deployment
    # made without one lists `"description": null`), although the description says default "".
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise validation_failed("Invalid request.\n\ndescription must be a string.", shape=True)
    if description is not None and len(description) > 140:
        raise validation_failed("Invalid request.\n\ndescription is too long (maximum is 140 characters).")
    # auto_merge defaults to true: a branch behind the default branch is merged, not deployed (202).
    if body.get("auto_merge", True) and f"refs/heads/{ref}" in repo.refs and ref != repo.default_branch:
        default_sha = repo.resolve(repo.default_branch)
        behind = default_sha != sha and (repo.git is None or repo.git.is_ancestor(default_sha, sha) is False)
        if behind:
            return Response(202, {"message": f"Auto-merged {repo.default_branch} into {ref} on deployment."})
    required = body.get("required_contexts")
    if required is not None and (not isinstance(required, list) or not all(isinstance(c, str) for c in required)):
        raise validation_failed("Invalid request.\n\nrequired_contexts must be an array of strings.", shape=True)
    conflict = _contexts_in_conflict(repo, sha, required)
    if conflict:
        raise ApiError(409, f"Conflict: Commit status checks failed for {ref}.", docs=DEPLOY_DOCS,
                       errors=[{"resource": "Deployment", "field": "required_contexts", "code": "invalid",
                                "contexts": conflict}])
    now = repo.world.clock.now()
    dep_id = repo.world.next_id()
    dep = {
        "id": dep_id, "sha": sha, "ref": ref, "task": body.get("task", "deploy"), "environment": environment,
        "original_environment": environment, "payload": payload, "description": description,
        "creator": req.principal.login, "created_at": now, "updated_at": now,
        "transient_environment": bool(body.get("transient_environment", False)),
        "production_environment": bool(body.get("production_environment", environment == "production")),
    }
    repo.deployments[dep_id] = dep
    rendered = deployment_json(ctx, repo, dep)
    return Response(201, rendered, {"Location": rendered["url"]})


@router.add("GET", "/repos/{owner}/{repo}/deployments", ("deployments", "read"))
def list_deployments(req: Request) -> Response:
    # https://docs.github.com/rest/deployments/deployments#list-deployments ; newest first (observed order)
    ctx = Ctx(req)
    repo = ctx.repo
    q = req.query
    matches = [d for d in reversed(repo.deployments.values())
               if ("sha" not in q or d["sha"] == q["sha"]) and ("ref" not in q or d["ref"] == q["ref"])
               and ("task" not in q or d["task"] == q["task"])
               and ("environment" not in q or d["environment"] == q["environment"])]
    page, headers = paginate(req, matches)
    return Response(200, [deployment_json(ctx, repo, d) for d in page], headers)


@router.add("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}", ("deployments", "read"))
def get_deployment(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    return Response(200, deployment_json(ctx, repo, _deployment(repo, req.params["deployment_id"])))


@router.add("DELETE", "/repos/{owner}/{repo}/deployments/{deployment_id}", ("deployments", "write"))
def delete_deployment(req: Request) -> Response:
    # https://docs.github.com/rest/deployments/deployments#delete-a-deployment
    ctx = Ctx(req)
    repo = ctx.repo
    dep = _deployment(repo, req.params["deployment_id"])
    latest = repo.latest_status(dep["id"])
    active = latest is not None and latest["state"] == "success"
    if len(repo.deployments) > 1 and active:
        raise validation_failed(
            "We cannot delete an active deployment unless it is the only deployment in a given environment.",
            errors=["We cannot delete an active deployment unless it is the only deployment in a given environment."],
            docs=f"{DEPLOY_DOCS}#delete-a-deployment")
    repo.forget_deployment(dep["id"])
    return Response(204)


@router.add("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", ("deployments", "write"))
def create_deployment_status(req: Request) -> Response:
    # https://docs.github.com/rest/deployments/statuses#create-a-deployment-status . Unknown keys (actions
    # send `ref`, for one) are ignored, as GitHub ignores them.
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    dep = _deployment(repo, req.params["deployment_id"])
    state = body.get("state")
    if state not in STATUS_STATES:
        raise validation_failed("Validation Failed", errors=[{"resource": "DeploymentStatus", "field": "state",
                                                             "code": "invalid"}], shape=True)
    description = body.get("description") or ""
    if len(description) > 140:
        raise validation_failed("Validation Failed", errors=[{"resource": "DeploymentStatus", "field": "description",
                                                             "code": "custom",
                                                             "message": "description is too long (maximum is 140 characters)"}])
    status = add_status(repo, dep, state=state, description=description, log_url=body.get("log_url") or "",
                        target_url=body.get("target_url") or "", environment=body.get("environment") or "",
                        environment_url=body.get("environment_url") or "",
                        auto_inactive=body.get("auto_inactive", True), creator=req.principal.login)
    rendered = status_json(ctx, repo, status)
    return Response(201, rendered, {"Location": rendered["url"]})


def add_status(repo: Repo, dep: dict, *, state: str, description: str, log_url: str, target_url: str,
               environment: str, environment_url: str, auto_inactive: bool, creator: str) -> dict:
    """One deployment status, as REST and GraphQL both create it. log_url and target_url copy each
    other when only one is given: the docs say setting log_url sets target_url, and a status given only
    target_url reads back with the same log_url (PyGithub replay data, DeploymentStatus.testGetStatuses)."""
    environment = environment or repo.current_environment(dep)
    now = repo.world.clock.now()
    status = {"id": repo.world.next_id(), "deployment_id": dep["id"], "state": state, "description": description,
              "environment": environment, "target_url": log_url or target_url, "log_url": log_url or target_url,
              "environment_url": environment_url, "creator": creator, "created_at": now, "updated_at": now}
    repo.append_status(dep, status)
    dep["updated_at"] = now
    dep["environment"] = environment
    if state == "success" and auto_inactive:
        _inactivate_prior(repo, dep, environment, now)
    return status


def _inactivate_prior(repo: Repo, dep: dict, environment: str, now: float) -> None:
    """Documented rule: prior non-transient, non-production deployments of the same environment
    whose state is success get an `inactive` status (found through the index, not a scan)."""
    for other_id in sorted(repo.inactivatable.get(environment, set()) - {dep["id"]}):
        latest = repo.latest_status(other_id)
        repo.append_status(repo.deployments[other_id], {**latest, "id": repo.world.next_id(), "state": "inactive",
                                                        "created_at": now, "updated_at": now})


@router.add("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", ("deployments", "read"))
def list_deployment_statuses(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    dep = _deployment(repo, req.params["deployment_id"])
    page, headers = paginate(req, list(reversed(repo.statuses.get(dep["id"], []))))
    return Response(200, [status_json(ctx, repo, s) for s in page], headers)


@router.add("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses/{status_id}", ("deployments", "read"))
def get_deployment_status(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    dep = _deployment(repo, req.params["deployment_id"])
    for status in repo.statuses.get(dep["id"], []):
        if str(status["id"]) == req.params["status_id"]:
            return Response(200, status_json(ctx, repo, status))
    raise not_found()
