"""REST endpoints of the GitHub double, with GitHub's documented semantics.

Each handler cites the docs page whose behaviour it reproduces. Where GitHub's behaviour is not
documented the choice is noted (see docs/github-double.md for the list).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
from typing import Any
from urllib.parse import quote

from .http import ApiError, Request, Response, Router, not_found, paginate, token_of, validation_failed
from .model import Repo, World, git_object_sha, iso

router = Router()
WORLD_KEY = "world"
DEPLOY_DOCS = "https://docs.github.com/rest/deployments/deployments"
STATUS_STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
COMMIT_STATES = {"error", "failure", "pending", "success"}
ENV_NAME = re.compile(r"^[^\x00-\x1f'\"`,;\\]{1,255}$")


class Ctx:
    """Per-request view: the world, the repository addressed and the base URL for links."""

    def __init__(self, req: Request):
        self.req, self.base = req, req.base_url
        self.world: World = req.app.world

    @property
    def repo(self) -> Repo:
        repo = self.world.repo(self.req.params["owner"], self.req.params["repo"])
        if repo is None:
            raise not_found()
        return repo

    def repo_url(self, repo: Repo) -> str:
        return f"{self.base}/repos/{repo.full_name}"

    def user(self, login: str) -> dict:
        uid = self.world.user_id(login)
        url = f"{self.base}/users/{login}"
        is_bot = login.endswith("[bot]")
        return {
            "login": login, "id": uid, "node_id": node_id("U", uid), "avatar_url": f"{self.base}/avatars/{uid}",
            "gravatar_id": "", "url": url, "html_url": f"{self.base}/{login}", "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}", "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs", "repos_url": f"{url}/repos", "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events", "type": "Bot" if is_bot else "User",
            "site_admin": False,
        }


def parse_node_id(raw: str) -> tuple[str, int] | None:
    try:
        prefix, _, ident = base64.b64decode(raw + "=" * (-len(raw) % 4)).decode().partition("_")
        return prefix, int(ident)
    except (ValueError, UnicodeDecodeError):
        return None


def node_id(prefix: str, ident: int) -> str:
    """Global node ids, the same in REST and GraphQL."""
    return base64.b64encode(f"{prefix}_{ident}".encode()).decode().rstrip("=")


def _body_fields(body: dict, allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise validation_failed(f"Invalid request.\n\n{unknown[0]!r} is not a permitted key.")


# ---------------------------------------------------------------------------------------------
# Repository and rate limit
# ---------------------------------------------------------------------------------------------

def repo_json(ctx: Ctx, repo: Repo) -> dict:
    url = ctx.repo_url(repo)
    html = f"{ctx.base}/{repo.full_name}"
    body: dict[str, Any] = {
        "id": repo.id, "node_id": node_id("R", repo.id), "name": repo.name, "full_name": repo.full_name,
        "owner": ctx.user(repo.owner), "private": repo.private, "html_url": html, "description": None,
        "fork": False, "url": url, "homepage": None, "language": "Python", "forks_count": 0, "forks": 0,
        "stargazers_count": 0, "watchers_count": 0, "watchers": 0, "size": 1, "default_branch": repo.default_branch,
        "open_issues_count": 0, "open_issues": 0, "is_template": False, "topics": [], "has_issues": True,
        "has_projects": True, "has_wiki": True, "has_pages": False, "has_downloads": True, "has_discussions": False,
        "archived": False, "disabled": False, "visibility": "private" if repo.private else "public",
        "pushed_at": iso(repo.created_at), "created_at": iso(repo.created_at), "updated_at": iso(repo.created_at),
        "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
        "allow_forking": True, "web_commit_signoff_required": False, "network_count": 0, "subscribers_count": 0,
        "license": None, "mirror_url": None, "clone_url": f"{html}.git", "git_url": f"git://{html}.git",
        "ssh_url": f"git@example.com:{repo.full_name}.git", "svn_url": html,
    }
    for key in ("archive", "assignees", "blobs", "branches", "collaborators", "comments", "commits", "compare",
                "contents", "contributors", "deployments", "downloads", "events", "forks", "git_commits", "git_refs",
                "git_tags", "hooks", "issue_comment", "issue_events", "issues", "keys", "labels", "languages",
                "merges", "milestones", "notifications", "pulls", "releases", "stargazers", "statuses",
                "subscribers", "subscription", "tags", "teams", "trees"):
        body[f"{key}_url"] = f"{url}/{key.replace('_', '/')}"
    return body


@router.add("GET", "/repos/{owner}/{repo}", ("metadata", "read"))
def get_repo(req: Request) -> Response:
    # https://docs.github.com/rest/repos/repos#get-a-repository
    ctx = Ctx(req)
    return Response(200, repo_json(ctx, ctx.repo))


@router.add("GET", "/rate_limit")
def get_rate_limit(req: Request) -> Response:
    # https://docs.github.com/rest/rate-limit/rate-limit ; does not count against the primary limit
    token = token_of(req.headers) or ""
    resources = {}
    for name, quota in req.app.quotas.items():
        used = quota.used.get(token, 0)
        resources[name] = {"limit": quota.limit, "remaining": max(quota.limit - used, 0), "reset": quota.reset_at,
                           "used": used}
    return Response(200, {"resources": resources, "rate": resources["core"]})


# ---------------------------------------------------------------------------------------------
# Deployments  https://docs.github.com/rest/deployments/deployments
# ---------------------------------------------------------------------------------------------

def deployment_json(ctx: Ctx, repo: Repo, dep: dict) -> dict:
    url = f"{ctx.repo_url(repo)}/deployments/{dep['id']}"
    return {
        "url": url, "id": dep["id"], "node_id": node_id("DE", dep["id"]), "sha": dep["sha"], "ref": dep["ref"],
        "task": dep["task"], "payload": dep["payload"], "original_environment": dep["original_environment"],
        "environment": dep["environment"], "description": dep["description"], "creator": ctx.user(dep["creator"]),
        "created_at": iso(dep["created_at"]), "updated_at": iso(dep["updated_at"]), "statuses_url": f"{url}/statuses",
        "repository_url": ctx.repo_url(repo), "transient_environment": dep["transient_environment"],
        "production_environment": dep["production_environment"],
    }


def status_json(ctx: Ctx, repo: Repo, status: dict) -> dict:
    dep_url = f"{ctx.repo_url(repo)}/deployments/{status['deployment_id']}"
    return {
        "url": f"{dep_url}/statuses/{status['id']}", "id": status["id"], "node_id": node_id("DES", status["id"]),
        "state": status["state"], "creator": ctx.user(status["creator"]), "description": status["description"],
        "environment": status["environment"], "target_url": status["target_url"], "log_url": status["log_url"],
        "environment_url": status["environment_url"], "created_at": iso(status["created_at"]),
        "updated_at": iso(status["updated_at"]), "deployment_url": dep_url, "repository_url": ctx.repo_url(repo),
    }


def _deployment(repo: Repo, raw_id: str) -> dict:
    try:
        dep = repo.deployments.get(int(raw_id))
    except ValueError:
        dep = None
    if dep is None:
        raise not_found()
    return dep


def _failed_contexts(repo: Repo, sha: str, required: list[str] | None) -> list[dict]:
    latest: dict[str, str] = {}
    for status in repo.commit_statuses.get(sha, []):
        latest[status["context"]] = status["state"]
    contexts = sorted(latest) if required is None else required
    return [{"context": c, "state": latest.get(c, "missing")} for c in contexts if latest.get(c) != "success"]


@router.add("POST", "/repos/{owner}/{repo}/deployments", ("deployments", "write"))
def create_deployment(req: Request) -> Response:
    # https://docs.github.com/rest/deployments/deployments#create-a-deployment
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    _body_fields(body, {"ref", "task", "auto_merge", "required_contexts", "payload", "environment", "description",
                        "transient_environment", "production_environment"})
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        raise validation_failed("Invalid request.\n\n\"ref\" wasn't supplied.", docs=DEPLOY_DOCS)
    sha = repo.resolve(ref)
    if sha is None:
        raise validation_failed(f"No ref found for: {ref}", docs=DEPLOY_DOCS)
    environment = body.get("environment", "production")
    if not isinstance(environment, str) or not environment:
        raise validation_failed("Invalid request.\n\nFor 'properties/environment', nil is not a string.")
    payload = body.get("payload", {})
    if isinstance(payload, str):
        try:
            payload = json.loads(payload) if payload else {}
        except ValueError as exc:
            raise validation_failed("Invalid request.\n\npayload is not valid JSON.") from exc
    description = body.get("description", "")
    if description is not None and len(description) > 140:
        raise validation_failed("Invalid request.\n\ndescription is too long (maximum is 140 characters).")
    # auto_merge defaults to true: a branch behind the default branch is merged, not deployed (202).
    if body.get("auto_merge", True) and f"refs/heads/{ref}" in repo.refs and ref != repo.default_branch:
        default_sha = repo.resolve(repo.default_branch)
        behind = default_sha != sha and (repo.git is None or repo.git.is_ancestor(default_sha, sha) is False)
        if behind:
            return Response(202, {"message": f"Auto-merged {repo.default_branch} into {ref} on deployment."})
    required = body.get("required_contexts")
    failed = _failed_contexts(repo, sha, required)
    if failed:
        raise ApiError(409, f"Conflict: Commit status checks failed for {ref}.", docs=DEPLOY_DOCS,
                       errors=[{"resource": "Deployment", "field": "required_contexts", "code": "invalid",
                                "contexts": failed}])
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
    del repo.deployments[dep["id"]]
    repo.statuses.pop(dep["id"], None)
    return Response(204)


# ---------------------------------------------------------------------------------------------
# Deployment statuses  https://docs.github.com/rest/deployments/statuses
# ---------------------------------------------------------------------------------------------

@router.add("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", ("deployments", "write"))
def create_deployment_status(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    dep = _deployment(repo, req.params["deployment_id"])
    _body_fields(body, {"state", "target_url", "log_url", "description", "environment", "environment_url",
                        "auto_inactive"})
    state = body.get("state")
    if state not in STATUS_STATES:
        raise validation_failed("Validation Failed", errors=[{"resource": "DeploymentStatus", "field": "state",
                                                             "code": "invalid"}])
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
    """One deployment status, as REST and GraphQL both create it."""
    environment = environment or repo.current_environment(dep)
    now = repo.world.clock.now()
    status = {"id": repo.world.next_id(), "deployment_id": dep["id"], "state": state, "description": description,
              "environment": environment, "target_url": log_url or target_url,  # log_url also sets target_url
              "log_url": log_url, "environment_url": environment_url, "creator": creator,
              "created_at": now, "updated_at": now}
    repo.statuses.setdefault(dep["id"], []).append(status)
    dep["updated_at"] = now
    dep["environment"] = environment
    if state == "success" and auto_inactive:
        _inactivate_prior(repo, dep, environment, now)
    return status


def _inactivate_prior(repo: Repo, dep: dict, environment: str, now: float) -> None:
    """Documented rule: prior non-transient, non-production deployments of the same environment
    whose state is success get an `inactive` status."""
    for other in repo.deployments.values():
        if other["id"] == dep["id"] or other["transient_environment"] or other["production_environment"]:
            continue
        latest = repo.latest_status(other["id"])
        if latest and latest["state"] == "success" and latest["environment"] == environment:
            repo.statuses[other["id"]].append({**latest, "id": repo.world.next_id(), "state": "inactive",
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


# ---------------------------------------------------------------------------------------------
# Environments  https://docs.github.com/rest/deployments/environments
# ---------------------------------------------------------------------------------------------

def environment_json(ctx: Ctx, repo: Repo, env: dict) -> dict:
    rules = []
    if env["wait_timer"]:
        rules.append({"id": env["id"] * 10 + 1, "node_id": node_id("GA", env["id"] * 10 + 1), "type": "wait_timer",
                      "wait_timer": env["wait_timer"]})
    if env["reviewers"]:
        rules.append({"id": env["id"] * 10 + 2, "node_id": node_id("GA", env["id"] * 10 + 2),
                      "type": "required_reviewers", "prevent_self_review": env["prevent_self_review"],
                      "reviewers": [_reviewer_json(ctx, r) for r in env["reviewers"]]})
    if env["deployment_branch_policy"]:
        rules.append({"id": env["id"] * 10 + 3, "node_id": node_id("GA", env["id"] * 10 + 3), "type": "branch_policy"})
    return {
        "id": env["id"], "node_id": node_id("EN", env["id"]), "name": env["name"],
        "url": f"{ctx.repo_url(repo)}/environments/{env['name']}",
        "html_url": f"{ctx.base}/{repo.full_name}/deployments/activity_log?environments_filter={quote(env['name'])}",
        "created_at": iso(env["created_at"]), "updated_at": iso(env["updated_at"]), "protection_rules": rules,
        "deployment_branch_policy": env["deployment_branch_policy"], "can_admins_bypass": env["can_admins_bypass"],
    }


def _reviewer_json(ctx: Ctx, reviewer: dict) -> dict:
    if reviewer["type"] == "User":
        return {"type": "User", "reviewer": ctx.user(ctx.world.login_of(reviewer["id"]) or f"user{reviewer['id']}")}
    name = ctx.world.teams.get(reviewer["id"], f"team-{reviewer['id']}")
    url = f"{ctx.base}/teams/{reviewer['id']}"
    return {"type": "Team", "reviewer": {
        "id": reviewer["id"], "node_id": node_id("T", reviewer["id"]), "url": url, "html_url": url, "name": name,
        "slug": name, "description": None, "privacy": "closed", "notification_setting": "notifications_enabled",
        "permission": "pull", "members_url": f"{url}/members{{/member}}", "repositories_url": f"{url}/repos",
        "parent": None}}


def _environment(repo: Repo, name: str) -> dict:
    env = repo.environments.get(name.lower())
    if env is None:
        raise not_found()
    return env


def ensure_environment(repo: Repo, name: str) -> dict:
    """Jobs that name an unknown environment create it, unprotected (GitHub's auto-creation)."""
    env = repo.environments.get(name.lower())
    if env is None:
        now = repo.world.clock.now()
        env = {"id": repo.world.next_id(), "name": name, "created_at": now, "updated_at": now, "wait_timer": 0,
               "prevent_self_review": False, "reviewers": [], "deployment_branch_policy": None,
               "branch_policies": [], "can_admins_bypass": True}
        repo.environments[name.lower()] = env
    return env


@router.add("GET", "/repos/{owner}/{repo}/environments", ("actions", "read"))
def list_environments(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    envs = sorted(repo.environments.values(), key=lambda e: e["name"].lower())
    page, headers = paginate(req, envs)
    return Response(200, {"total_count": len(envs), "environments": [environment_json(ctx, repo, e) for e in page]},
                    headers)


@router.add("GET", "/repos/{owner}/{repo}/environments/{environment_name}", ("actions", "read"))
def get_environment(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    return Response(200, environment_json(ctx, repo, _environment(repo, req.params["environment_name"])))


@router.add("PUT", "/repos/{owner}/{repo}/environments/{environment_name}", ("administration", "write"))
def put_environment(req: Request) -> Response:
    # Create or update; fields left out keep their current values (documented choice: GitHub is silent).
    ctx, body = Ctx(req), req.json_object() if req.body else {}
    repo = ctx.repo
    name = req.params["environment_name"]
    _body_fields(body, {"wait_timer", "prevent_self_review", "reviewers", "deployment_branch_policy"})
    if not ENV_NAME.match(name) or name.strip() != name:
        raise validation_failed(f"Invalid environment name: {name!r}")
    wait = body.get("wait_timer")
    if wait is not None and (not isinstance(wait, int) or not 0 <= wait <= 43200):
        raise validation_failed("Invalid request.\n\nwait_timer must be between 0 and 43200.")
    reviewers = body.get("reviewers")
    if reviewers is not None:
        if len(reviewers) > 6:
            raise validation_failed("Invalid request.\n\nNo more than 6 reviewers are allowed.")
        for reviewer in reviewers:
            if reviewer.get("type") not in {"User", "Team"} or not isinstance(reviewer.get("id"), int):
                raise validation_failed("Invalid request.\n\nreviewers must be {type: User|Team, id: integer}.")
            if reviewer["type"] == "User" and repo.world.login_of(reviewer["id"]) is None:
                raise validation_failed(f"Invalid request.\n\nUser with id {reviewer['id']} not found.")
    policy = body.get("deployment_branch_policy", "unset")
    if isinstance(policy, dict) and bool(policy.get("protected_branches")) == bool(policy.get("custom_branch_policies")):
        raise validation_failed("Invalid request.\n\nprotected_branches and custom_branch_policies cannot have the same value.")
    env = ensure_environment(repo, name)
    if wait is not None:
        env["wait_timer"] = wait
    if "prevent_self_review" in body:
        env["prevent_self_review"] = bool(body["prevent_self_review"])
    if reviewers is not None:
        env["reviewers"] = [{"type": r["type"], "id": r["id"]} for r in reviewers]
    if policy != "unset":
        env["deployment_branch_policy"] = policy
    env["updated_at"] = repo.world.clock.now()
    return Response(200, environment_json(ctx, repo, env))


@router.add("DELETE", "/repos/{owner}/{repo}/environments/{environment_name}", ("administration", "write"))
def delete_environment(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    _environment(repo, req.params["environment_name"])
    del repo.environments[req.params["environment_name"].lower()]
    repo.env_variables.pop(req.params["environment_name"].lower(), None)
    return Response(204)


@router.add("GET", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
            ("actions", "read"))
def list_branch_policies(req: Request) -> Response:
    ctx = Ctx(req)
    env = _environment(ctx.repo, req.params["environment_name"])
    page, headers = paginate(req, env["branch_policies"])
    return Response(200, {"total_count": len(env["branch_policies"]), "branch_policies": page}, headers)


@router.add("POST", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
            ("administration", "write"))
def create_branch_policy(req: Request) -> Response:
    # 200 (not 201); 303 for a duplicate pattern; 404 unless custom branch policies are on.
    ctx, body = Ctx(req), req.json_object()
    env = _environment(ctx.repo, req.params["environment_name"])
    policy = env["deployment_branch_policy"] or {}
    if not policy.get("custom_branch_policies"):
        raise not_found()
    name, kind = body.get("name"), body.get("type", "branch")
    if not isinstance(name, str) or kind not in {"branch", "tag"}:
        raise validation_failed("Invalid request.\n\nname is required; type is branch or tag.")
    for existing in env["branch_policies"]:
        if existing["name"] == name and existing["type"] == kind:
            return Response(303, None, {"Location": f"{req.base_url}{req.path}/{existing['id']}"})
    ident = ctx.world.next_id()
    record = {"id": ident, "node_id": node_id("DBP", ident), "name": name, "type": kind}
    env["branch_policies"].append(record)
    return Response(200, record)


def branch_allowed(repo: Repo, env: dict, ref: str) -> bool:
    """Whether a run on `ref` (refs/heads/x or refs/tags/x) may use the environment."""
    policy = env["deployment_branch_policy"]
    if not policy:
        return True
    if policy.get("protected_branches"):
        return True  # the double has no branch protection; GitHub allows all when none is protected
    kind, _, name = ref.removeprefix("refs/").partition("/")
    want = "tag" if kind == "tags" else "branch"
    return any(p["type"] == want and fnmatch.fnmatchcase(name, p["name"]) and ("/" not in name or "/" in p["name"])
               for p in env["branch_policies"])


# ---------------------------------------------------------------------------------------------
# Workflow runs, pending deployments and approvals  https://docs.github.com/rest/actions/workflow-runs
# ---------------------------------------------------------------------------------------------

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
    minimal = {k: v for k, v in repo_json(ctx, repo).items()
               if k in {"id", "node_id", "name", "full_name", "owner", "private", "html_url", "description", "fork",
                        "url"} or k.endswith("_url")}
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


# ---------------------------------------------------------------------------------------------
# Git refs and tags  https://docs.github.com/rest/git/refs , /rest/git/tags
# ---------------------------------------------------------------------------------------------

def ref_json(ctx: Ctx, repo: Repo, name: str, sha: str) -> dict:
    kind = "tag" if repo.tag_object(sha) is not None else "commit"
    obj_url = f"{ctx.repo_url(repo)}/git/{'tags' if kind == 'tag' else 'commits'}/{sha}"
    return {"ref": name, "node_id": node_id("REF", abs(hash(name)) % 10**9), "url": f"{ctx.repo_url(repo)}/git/{name}",
            "object": {"type": kind, "sha": sha, "url": obj_url}}


def tag_json(ctx: Ctx, repo: Repo, tag: dict) -> dict:
    kind = tag["type"]
    return {
        "node_id": node_id("TAG", int(tag["sha"][:8], 16)), "sha": tag["sha"],
        "url": f"{ctx.repo_url(repo)}/git/tags/{tag['sha']}", "tag": tag["tag"], "message": tag["message"],
        "tagger": {"date": iso(tag["tagger"]["date"]), "email": tag["tagger"]["email"], "name": tag["tagger"]["name"]},
        "object": {"sha": tag["object"], "type": kind,
                   "url": f"{ctx.repo_url(repo)}/git/{kind}s/{tag['object']}"},
        "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                         "verified_at": None},
    }


@router.add("POST", "/repos/{owner}/{repo}/git/refs", ("contents", "write"))
def create_ref(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    ref, sha = body.get("ref"), body.get("sha")
    if not isinstance(ref, str) or not isinstance(sha, str):
        raise validation_failed("Invalid request.\n\n\"ref\" and \"sha\" are required.")
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise validation_failed("Reference name must start with 'refs/' and have at least two slashes.",
                                docs="https://docs.github.com/rest/git/refs#create-a-reference")
    if not any(r.startswith("refs/heads/") for r in repo.refs):
        raise ApiError(409, "Git Repository is empty.")
    if ref in repo.refs:
        raise validation_failed("Reference already exists",
                                docs="https://docs.github.com/rest/git/refs#create-a-reference")
    if repo.commit(sha) is None and repo.tag_object(sha) is None:
        raise validation_failed("Object does not exist", docs="https://docs.github.com/rest/git/refs#create-a-reference")
    repo.refs[ref] = sha
    rendered = ref_json(ctx, repo, ref, sha)
    return Response(201, rendered, {"Location": rendered["url"]})


@router.add("GET", "/repos/{owner}/{repo}/git/ref/{ref}", ("contents", "read"))
def get_ref(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    name = f"refs/{req.params['ref']}"
    if name not in repo.refs:
        raise not_found()
    return Response(200, ref_json(ctx, repo, name, repo.refs[name]))


@router.add("GET", "/repos/{owner}/{repo}/git/matching-refs/{ref}", ("contents", "read"))
def matching_refs(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    prefix = f"refs/{req.params['ref']}"
    return Response(200, [ref_json(ctx, repo, n, s) for n, s in sorted(repo.refs.items()) if n.startswith(prefix)])


@router.add("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}", ("contents", "write"))
def update_ref(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    name = f"refs/{req.params['ref']}"
    if name not in repo.refs:
        raise validation_failed("Reference does not exist")
    sha = body.get("sha")
    if not isinstance(sha, str) or (repo.commit(sha) is None and repo.tag_object(sha) is None):
        raise validation_failed("Object does not exist")
    old = repo.peel(repo.refs[name])
    if not body.get("force", False) and old != sha:
        ancestor = repo.git.is_ancestor(old, sha) if repo.git else (old in (repo.commit(sha) or {}).get("parents", []))
        if not ancestor:
            raise validation_failed("Update is not a fast forward")
    repo.refs[name] = sha
    return Response(200, ref_json(ctx, repo, name, sha))


@router.add("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}", ("contents", "write"))
def delete_ref(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    name = f"refs/{req.params['ref']}"
    if name not in repo.refs:
        raise validation_failed("Reference does not exist")
    if name == f"refs/heads/{repo.default_branch}":
        raise validation_failed("Cannot delete the default branch")
    del repo.refs[name]
    return Response(204)


@router.add("POST", "/repos/{owner}/{repo}/git/tags", ("contents", "write"))
def create_tag(req: Request) -> Response:
    # Creates the tag object only; the ref is made separately with POST git/refs.
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    missing = [k for k in ("tag", "message", "object", "type") if not isinstance(body.get(k), str)]
    if missing:
        raise validation_failed(f"Invalid request.\n\n\"{missing[0]}\" wasn't supplied.")
    if body["type"] not in {"commit", "tree", "blob"}:
        raise validation_failed("Invalid request.\n\ntype must be commit, tree or blob.")
    if body["type"] == "commit" and repo.commit(body["object"]) is None:
        raise validation_failed("Object does not exist")
    tagger = body.get("tagger") or {}
    name = tagger.get("name") or req.principal.login
    email = tagger.get("email") or f"{repo.world.user_id(req.principal.login)}+{req.principal.login}@users.noreply.github.com"
    date = repo.world.clock.now()
    raw = (f"object {body['object']}\ntype {body['type']}\ntag {body['tag']}\n"
           f"tagger {name} <{email}> {int(date)} +0000\n\n{body['message']}")
    sha = git_object_sha("tag", raw.encode())
    tag = {"sha": sha, "tag": body["tag"], "message": body["message"], "object": body["object"],
           "type": body["type"], "tagger": {"name": name, "email": email, "date": date}}
    repo.tag_objects[sha] = tag
    rendered = tag_json(ctx, repo, tag)
    return Response(201, rendered, {"Location": rendered["url"]})


@router.add("GET", "/repos/{owner}/{repo}/git/tags/{tag_sha}", ("contents", "read"))
def get_tag(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    tag = repo.tag_object(req.params["tag_sha"])
    if tag is None:
        raise not_found()
    return Response(200, tag_json(ctx, repo, tag))


# ---------------------------------------------------------------------------------------------
# Releases and assets  https://docs.github.com/rest/releases
# ---------------------------------------------------------------------------------------------

def release_json(ctx: Ctx, repo: Repo, rel: dict) -> dict:
    url = f"{ctx.repo_url(repo)}/releases/{rel['id']}"
    html = f"{ctx.base}/{repo.full_name}/releases/tag/{rel['tag_name']}"
    return {
        "url": url, "html_url": html, "assets_url": f"{url}/assets", "upload_url": f"{url}/assets{{?name,label}}",
        "tarball_url": f"{ctx.repo_url(repo)}/tarball/{rel['tag_name']}",
        "zipball_url": f"{ctx.repo_url(repo)}/zipball/{rel['tag_name']}", "id": rel["id"],
        "node_id": node_id("RE", rel["id"]), "tag_name": rel["tag_name"], "target_commitish": rel["target_commitish"],
        "name": rel["name"], "body": rel["body"], "draft": rel["draft"], "prerelease": rel["prerelease"],
        "immutable": False, "created_at": iso(rel["created_at"]),
        "published_at": None if rel["draft"] else iso(rel["published_at"]), "author": ctx.user(rel["author"]),
        "assets": [asset_json(ctx, repo, repo.assets[a]) for a in rel["assets"]],
    }


def asset_json(ctx: Ctx, repo: Repo, asset: dict) -> dict:
    return {
        "url": f"{ctx.repo_url(repo)}/releases/assets/{asset['id']}",
        "browser_download_url": f"{ctx.base}/_double/assets/{repo.full_name}/{asset['id']}",
        "id": asset["id"], "node_id": node_id("RA", asset["id"]), "name": asset["name"], "label": asset["label"],
        "state": "uploaded", "content_type": asset["content_type"], "size": len(asset["data"]),
        "digest": f"sha256:{hashlib.sha256(asset['data']).hexdigest()}", "download_count": asset["downloads"],
        "created_at": iso(asset["created_at"]), "updated_at": iso(asset["created_at"]),
        "uploader": ctx.user(asset["uploader"]),
    }


def _release(repo: Repo, raw_id: str) -> dict:
    try:
        rel = repo.releases.get(int(raw_id))
    except ValueError:
        rel = None
    if rel is None:
        raise not_found()
    return rel


@router.add("POST", "/repos/{owner}/{repo}/releases", ("contents", "write"))
def create_release(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    tag = body.get("tag_name")
    if not isinstance(tag, str) or not tag:
        raise validation_failed("Validation Failed", errors=[{"resource": "Release", "code": "missing_field",
                                                             "field": "tag_name"}])
    if any(r["tag_name"] == tag for r in repo.releases.values()):
        raise validation_failed("Validation Failed", errors=[{"resource": "Release", "code": "already_exists",
                                                             "field": "tag_name"}])
    target = body.get("target_commitish") or repo.default_branch
    draft = bool(body.get("draft", False))
    if f"refs/tags/{tag}" not in repo.refs:
        sha = repo.resolve(target)
        if sha is None:
            raise validation_failed("Validation Failed", errors=[{"resource": "Release", "code": "invalid",
                                                                 "field": "target_commitish"}])
        if not draft:  # publishing a release creates its (lightweight) tag
            repo.refs[f"refs/tags/{tag}"] = sha
    now = repo.world.clock.now()
    rel = {"id": repo.world.next_id(), "tag_name": tag, "target_commitish": target, "name": body.get("name") or tag,
           "body": body.get("body"), "draft": draft, "prerelease": bool(body.get("prerelease", False)),
           "created_at": now, "published_at": now, "author": req.principal.login, "assets": []}
    repo.releases[rel["id"]] = rel
    rendered = release_json(ctx, repo, rel)
    return Response(201, rendered, {"Location": rendered["url"]})


@router.add("GET", "/repos/{owner}/{repo}/releases", ("contents", "read"))
def list_releases(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    page, headers = paginate(req, list(reversed(repo.releases.values())))
    return Response(200, [release_json(ctx, repo, r) for r in page], headers)


@router.add("GET", "/repos/{owner}/{repo}/releases/{release_id}", ("contents", "read"))
def get_release(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    return Response(200, release_json(ctx, repo, _release(repo, req.params["release_id"])))


@router.add("PATCH", "/repos/{owner}/{repo}/releases/{release_id}", ("contents", "write"))
def update_release(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    rel = _release(repo, req.params["release_id"])
    for key in ("name", "body", "prerelease", "target_commitish"):
        if key in body:
            rel[key] = body[key]
    if rel["draft"] and body.get("draft") is False:
        rel["draft"], rel["published_at"] = False, repo.world.clock.now()
        repo.refs.setdefault(f"refs/tags/{rel['tag_name']}", repo.resolve(rel["target_commitish"]))
    return Response(200, release_json(ctx, repo, rel))


@router.add("GET", "/repos/{owner}/{repo}/releases/tags/{tag}", ("contents", "read"))
def get_release_by_tag(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    for rel in repo.releases.values():
        if rel["tag_name"] == req.params["tag"] and not rel["draft"]:
            return Response(200, release_json(ctx, repo, rel))
    raise not_found()


@router.add("GET", "/repos/{owner}/{repo}/releases/{release_id}/assets", ("contents", "read"))
def list_assets(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    rel = _release(repo, req.params["release_id"])
    page, headers = paginate(req, [repo.assets[a] for a in rel["assets"]])
    return Response(200, [asset_json(ctx, repo, a) for a in page], headers)


@router.add("POST", "/repos/{owner}/{repo}/releases/{release_id}/assets", ("contents", "write"))
def upload_asset(req: Request) -> Response:
    # GitHub serves this from uploads.github.com; the double serves it where upload_url points.
    ctx = Ctx(req)
    repo = ctx.repo
    rel = _release(repo, req.params["release_id"])
    name = req.query.get("name")
    if not name:
        raise validation_failed("Validation Failed", errors=[{"resource": "ReleaseAsset", "code": "missing_field",
                                                             "field": "name"}])
    if any(repo.assets[a]["name"] == name for a in rel["assets"]):
        raise validation_failed("Validation Failed", errors=[{"resource": "ReleaseAsset", "code": "already_exists",
                                                             "field": "name"}])
    asset = {"id": repo.world.next_id(), "name": name, "label": req.query.get("label") or "",
             "content_type": req.headers.get("content-type", "application/octet-stream"), "data": req.body,
             "uploader": req.principal.login, "created_at": repo.world.clock.now(), "downloads": 0}
    repo.assets[asset["id"]] = asset
    rel["assets"].append(asset["id"])
    return Response(201, asset_json(ctx, repo, asset))


@router.add("GET", "/repos/{owner}/{repo}/releases/assets/{asset_id}", ("contents", "read"))
def get_asset(req: Request) -> Response:
    # With Accept: application/octet-stream GitHub answers 302 to the download location.
    ctx = Ctx(req)
    repo = ctx.repo
    try:
        asset = repo.assets[int(req.params["asset_id"])]
    except (KeyError, ValueError):
        raise not_found() from None
    rendered = asset_json(ctx, repo, asset)
    if "application/octet-stream" in req.headers.get("accept", ""):
        return Response(302, None, {"Location": rendered["browser_download_url"]})
    return Response(200, rendered)


# ---------------------------------------------------------------------------------------------
# Variables  https://docs.github.com/rest/actions/variables (GITHUB_TOKEN has no access at all)
# ---------------------------------------------------------------------------------------------

def _variable_scope(req: Request) -> dict[str, dict]:
    repo = Ctx(req).repo
    if "environment_name" in req.params:
        env = _environment(repo, req.params["environment_name"])
        return repo.env_variables.setdefault(env["name"].lower(), {})
    return repo.variables


def _variable_json(var: dict) -> dict:
    return {"name": var["name"], "value": var["value"], "created_at": iso(var["created_at"]),
            "updated_at": iso(var["updated_at"])}


def _list_variables(req: Request) -> Response:
    scope = _variable_scope(req)
    items = sorted(scope.values(), key=lambda v: v["name"])
    page, headers = paginate(req, items, default=10, maximum=30)
    return Response(200, {"total_count": len(items), "variables": [_variable_json(v) for v in page]}, headers)


def _create_variable(req: Request) -> Response:
    scope, body = _variable_scope(req), req.json_object()
    name, value = body.get("name"), body.get("value")
    if not isinstance(name, str) or not isinstance(value, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name) \
            or name.upper().startswith("GITHUB_"):
        raise validation_failed("Invalid request.\n\nname must be [A-Za-z0-9_], not start with a digit or GITHUB_.")
    if name.upper() in scope:
        raise ApiError(409, "Already exists - Variable already exists")
    now = req.app.world.clock.now()
    scope[name.upper()] = {"name": name.upper(), "value": value, "created_at": now, "updated_at": now}
    return Response(201, {})


def _get_variable(req: Request) -> Response:
    var = _variable_scope(req).get(req.params["name"].upper())
    if var is None:
        raise not_found()
    return Response(200, _variable_json(var))


def _update_variable(req: Request) -> Response:
    scope, body = _variable_scope(req), req.json_object()
    var = scope.get(req.params["name"].upper())
    if var is None:
        raise not_found()
    if "value" in body:
        var["value"] = body["value"]
    if "name" in body and body["name"].upper() != var["name"]:
        scope.pop(var["name"])
        var["name"] = body["name"].upper()
        scope[var["name"]] = var
    var["updated_at"] = req.app.world.clock.now()
    return Response(204)


def _delete_variable(req: Request) -> Response:
    scope = _variable_scope(req)
    if scope.pop(req.params["name"].upper(), None) is None:
        raise not_found()
    return Response(204)


for _prefix in ("/repos/{owner}/{repo}/actions/variables", "/repos/{owner}/{repo}/environments/{environment_name}/variables"):
    router.add("GET", _prefix, ("variables", "read"))(_list_variables)
    router.add("POST", _prefix, ("variables", "write"))(_create_variable)
    router.add("GET", _prefix + "/{name}", ("variables", "read"))(_get_variable)
    router.add("PATCH", _prefix + "/{name}", ("variables", "write"))(_update_variable)
    router.add("DELETE", _prefix + "/{name}", ("variables", "write"))(_delete_variable)


# ---------------------------------------------------------------------------------------------
# Dispatch  https://docs.github.com/rest/actions/workflows , /rest/repos/repos#create-a-repository-dispatch-event
# ---------------------------------------------------------------------------------------------

@router.add("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", ("actions", "write"))
def dispatch_workflow(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    workflow = req.params["workflow_id"]
    if not (workflow.isdigit() or workflow.endswith((".yml", ".yaml"))):
        raise not_found()
    ref = body.get("ref")
    if not isinstance(ref, str):
        raise validation_failed("Invalid request.\n\n\"ref\" wasn't supplied.")
    inputs = body.get("inputs") or {}
    if len(inputs) > 25:
        raise validation_failed("Invalid request.\n\nNo more than 25 inputs are allowed.")
    sha = repo.resolve(ref.removeprefix("refs/heads/").removeprefix("refs/tags/"))
    if sha is None:
        raise validation_failed(f"No ref found for: {ref}")
    run = new_run(repo, head_sha=sha, actor=req.principal.login, event="workflow_dispatch",
                  path=f".github/workflows/{workflow}", head_branch=ref)
    run["status"] = "queued"
    repo.dispatches.append({"kind": "workflow_dispatch", "workflow": workflow, "ref": ref, "inputs": inputs,
                            "run_id": run["id"]})
    if body.get("return_run_details"):
        url = f"{ctx.repo_url(repo)}/actions/runs/{run['id']}"
        return Response(200, {"workflow_run_id": run["id"], "run_url": url,
                              "html_url": f"{ctx.base}/{repo.full_name}/actions/runs/{run['id']}"})
    return Response(204)


@router.add("POST", "/repos/{owner}/{repo}/dispatches", ("contents", "write"))
def repository_dispatch(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    event_type = body.get("event_type")
    if not isinstance(event_type, str) or not 1 <= len(event_type) <= 100:
        raise validation_failed("Invalid request.\n\nevent_type must be 1 to 100 characters.")
    payload = body.get("client_payload") or {}
    if len(payload) > 10:
        raise validation_failed("Invalid request.\n\nNo more than 10 properties are allowed; 11 were supplied.")
    repo.dispatches.append({"kind": "repository_dispatch", "event_type": event_type, "client_payload": payload})
    return Response(204)


# ---------------------------------------------------------------------------------------------
# Commit statuses  https://docs.github.com/rest/commits/statuses (they feed required_contexts)
# ---------------------------------------------------------------------------------------------

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
    minimal = {k: v for k, v in repo_json(ctx, repo).items()
               if k in {"id", "node_id", "name", "full_name", "owner", "private", "html_url", "description", "fork",
                        "url"} or k.endswith("_url")}
    statuses = [{k: v for k, v in commit_status_json(ctx, repo, s).items() if k != "creator"}
                | {"required": False} for s in latest.values()]
    return Response(200, {"state": state, "statuses": statuses, "sha": sha, "total_count": len(latest),
                          "repository": minimal, "commit_url": f"{ctx.repo_url(repo)}/commits/{sha}",
                          "url": f"{ctx.repo_url(repo)}/commits/{sha}/status"})
