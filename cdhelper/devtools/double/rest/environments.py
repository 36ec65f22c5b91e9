"""Environments and their deployment branch policies
(https://docs.github.com/rest/deployments/environments, https://docs.github.com/rest/deployments/branch-policies)."""

from __future__ import annotations

import fnmatch
import re
from urllib.parse import quote

from ..http import Request, Response, not_found, paginate, validation_failed
from ..model import Repo, iso
from .common import Ctx, _body_fields, node_id, router
from .people import team_json

ENV_NAME = re.compile(r"^[^\x00-\x1f'\"`,;\\]{1,255}$")


# Within one REST PUT GitHub adds the rules in this order (PyGithub replay data, Environment.testUpdateEnvironment,
# 2022: required_reviewers, wait_timer, branch_policy, ids ascending).
RULE_ORDER = ("required_reviewers", "wait_timer", "branch_policy")
# An environment protected from its settings page lists branch_policy, required_reviewers, wait_timer, ids
# ascending (PyGithub replay data, 2022: the `dev` environment of Environment.setUp, testReviewers and
# testGetEnvironments, set up in the web UI); the admin route (set_protection) is that page. GitHub's docs
# example lists wait_timer, required_reviewers, branch_policy (ids 3736, 3755, 3756): an example, not a
# recording; ids ascending there too, so every source agrees the list is in the order the rules were made.
SETTINGS_PAGE_ORDER = ("branch_policy", "required_reviewers", "wait_timer")


def protection_rules(world, env: dict, order: tuple[str, ...] = RULE_ORDER) -> list[dict]:
    """The environment's rules in the order they were added (ids ascending), each keeping its id while it
    exists; rules added at once come in `order`. A rule switched off goes; on again, it is new (last)."""
    on = {"required_reviewers": bool(env["reviewers"]), "wait_timer": bool(env["wait_timer"]),
          "branch_policy": bool(env["deployment_branch_policy"])}
    rules = [r for r in env.get("rules", []) if on[r["type"]]]
    for kind in order:
        if on[kind] and not any(r["type"] == kind for r in rules):
            rules.append({"type": kind, "id": world.next_id()})
    env["rules"] = rules
    return rules


def environment_json(ctx: Ctx, repo: Repo, env: dict) -> dict:
    rules = []
    for rule in protection_rules(ctx.world, env):
        item = {"id": rule["id"], "node_id": node_id("GA", rule["id"]), "type": rule["type"]}
        if rule["type"] == "wait_timer":
            item["wait_timer"] = env["wait_timer"]
        elif rule["type"] == "required_reviewers":
            item["prevent_self_review"] = env["prevent_self_review"]
            item["reviewers"] = [_reviewer_json(ctx, r) for r in env["reviewers"]]
        rules.append(item)
    # url carries the name as it is, html_url percent-encodes it (PyGithub replay data,
    # Environment.testCreateEnvironment: environments/test/env and environments_filter=test%2Fenv).
    return {
        "id": env["id"], "node_id": node_id("EN", env["id"]), "name": env["name"],
        "url": f"{ctx.repo_url(repo)}/environments/{env['name']}",
        "html_url": f"{ctx.web}/{repo.full_name}/deployments/activity_log?environments_filter={quote(env['name'], safe='')}",
        "created_at": iso(env["created_at"]), "updated_at": iso(env["updated_at"]), "protection_rules": rules,
        "deployment_branch_policy": env["deployment_branch_policy"], "can_admins_bypass": env["can_admins_bypass"],
    }


def _reviewer_json(ctx: Ctx, reviewer: dict) -> dict:
    if reviewer["type"] == "User":
        return {"type": "User", "reviewer": ctx.user(ctx.world.login_of(reviewer["id"]) or f"user{reviewer['id']}")}
    return {"type": "Team", "reviewer": team_json(ctx, reviewer["id"], ctx.repo.owner)}


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
               "branch_policies": [], "can_admins_bypass": True, "rules": []}
        repo.environments[name.lower()] = env
    return env


def set_protection(world, env: dict, *, reviewers, prevent_self_review: bool, wait_timer: int,
                   branches: str | list[str] | None, tags) -> None:
    """The admin's settings page: reviewers as logins or team:ORG/SLUG (teams made when unknown);
    branches "all", "protected", or name patterns, which with `tags` become custom policies (None: as
    they are)."""
    env["reviewers"] = [{"type": "Team", "id": world.add_team(*r[len("team:"):].split("/", 1))}
                        if r.startswith("team:") else {"type": "User", "id": world.user_id(r)} for r in reviewers]
    env["prevent_self_review"], env["wait_timer"] = prevent_self_review, wait_timer
    if branches is None:
        pass
    elif branches == "all":
        env["deployment_branch_policy"], env["branch_policies"] = None, []
    elif branches == "protected":
        env["deployment_branch_policy"] = {"protected_branches": True, "custom_branch_policies": False}
        env["branch_policies"] = []
    else:
        env["deployment_branch_policy"] = {"protected_branches": False, "custom_branch_policies": True}
        env["branch_policies"] = []
        for kind, names in (("branch", branches), ("tag", tags)):
            for pattern in names:
                ident = world.next_id()
                env["branch_policies"].append({"id": ident, "node_id": node_id("DBP", ident), "name": pattern,
                                               "type": kind})
    protection_rules(world, env, SETTINGS_PAGE_ORDER)


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
    # Create or update; fields left out keep their current values (documented choice: GitHub is silent), or
    # are reset with the environment-put-replaces variant (the stricter reading, which `environments apply` must survive).
    # An update leaves updated_at as it was (PyGithub replay data, Environment.testUpdateEnvironment:
    # a PUT that adds three rules answers the created_at it had as updated_at).
    ctx, body = Ctx(req), req.json_object() if req.body else {}
    repo = ctx.repo
    name = req.params["environment_name"]
    _body_fields(body, {"wait_timer", "prevent_self_review", "reviewers", "deployment_branch_policy"})
    if not ENV_NAME.match(name) or name.strip() != name:
        raise validation_failed(f"Invalid environment name: {name!r}")
    wait = body.get("wait_timer")
    if wait is not None and (not isinstance(wait, int) or not 0 <= wait <= 43200):
        raise validation_failed("Invalid request.\n\nwait_timer must be between 0 and 43200.",
                                shape=not isinstance(wait, int))
    reviewers = body.get("reviewers")
    if reviewers is not None:
        if len(reviewers) > 6:
            raise validation_failed("Invalid request.\n\nNo more than 6 reviewers are allowed.")
        for reviewer in reviewers:
            if reviewer.get("type") not in {"User", "Team"} or not isinstance(reviewer.get("id"), int):
                raise validation_failed("Invalid request.\n\nreviewers must be {type: User|Team, id: integer}.")
            if reviewer["type"] == "User" and repo.world.login_of(reviewer["id"]) is None:
                raise validation_failed(f"Invalid request.\n\nUser with id {reviewer['id']} not found.")
            # Not documented: the double refuses a team it does not know as it refuses an unknown user.
            if reviewer["type"] == "Team" and reviewer["id"] not in repo.world.teams:
                raise validation_failed(f"Invalid request.\n\nTeam with id {reviewer['id']} not found.")
    policy = body.get("deployment_branch_policy", "unset")
    if isinstance(policy, dict) and bool(policy.get("protected_branches")) == bool(policy.get("custom_branch_policies")):
        raise validation_failed("Invalid request.\n\nprotected_branches and custom_branch_policies cannot have the same value.",
                                shape=not {"protected_branches", "custom_branch_policies"} <= set(policy))
    env = ensure_environment(repo, name)
    if repo.world.variant("environment-put-replaces") is not None:
        wait = 0 if wait is None else wait
        body.setdefault("prevent_self_review", False)
        reviewers = [] if reviewers is None else reviewers
        policy = None if policy == "unset" else policy
    if wait is not None:
        env["wait_timer"] = wait
    if "prevent_self_review" in body:
        env["prevent_self_review"] = bool(body["prevent_self_review"])
    if reviewers is not None:
        env["reviewers"] = [{"type": r["type"], "id": r["id"]} for r in reviewers]
    if policy != "unset":
        env["deployment_branch_policy"] = policy
    protection_rules(repo.world, env)
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
        raise validation_failed("Invalid request.\n\nname is required; type is branch or tag.", shape=True)
    for existing in env["branch_policies"]:
        if existing["name"] == name and existing["type"] == kind:
            return Response(303, None, {"Location": f"{req.base_url}{req.path}/{existing['id']}"})
    ident = ctx.world.next_id()
    record = {"id": ident, "node_id": node_id("DBP", ident), "name": name, "type": kind}
    env["branch_policies"].append(record)
    return Response(200, record)


def _branch_policy(req: Request) -> tuple[dict, dict]:
    env = _environment(Ctx(req).repo, req.params["environment_name"])
    try:
        wanted = int(req.params["branch_policy_id"])
    except ValueError:
        raise not_found() from None
    policy = next((p for p in env["branch_policies"] if p["id"] == wanted), None)
    if policy is None:
        raise not_found()
    return env, policy


@router.add("GET", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies/{branch_policy_id}",
            ("actions", "read"))
def get_branch_policy(req: Request) -> Response:
    # https://docs.github.com/rest/deployments/branch-policies#get-a-deployment-branch-policy
    return Response(200, _branch_policy(req)[1])


@router.add("DELETE", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies/{branch_policy_id}",
            ("administration", "write"))
def delete_branch_policy(req: Request) -> Response:
    # https://docs.github.com/rest/deployments/branch-policies#delete-a-deployment-branch-policy
    env, policy = _branch_policy(req)
    env["branch_policies"].remove(policy)
    return Response(204)


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
