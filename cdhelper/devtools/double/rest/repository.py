"""The repository itself and the rate limit (https://docs.github.com/rest/repos/repos,
https://docs.github.com/rest/rate-limit/rate-limit)."""

from __future__ import annotations

from ..http import Request, Response, token_of
from .common import Ctx, repo_json, router


@router.add("GET", "/repos/{owner}/{repo}", ("metadata", "read"))
def get_repo(req: Request) -> Response:
    # https://docs.github.com/rest/repos/repos#get-a-repository
    ctx = Ctx(req)
    return Response(200, repo_json(ctx, ctx.repo))


# The resources github.com reports besides core and graphql, with their limits for a token and without
# one (a token's: PyGithub replay data RateLimiting.testGetRateLimit, 2024; search and code_search reset
# every minute). Unauthenticated callers see core 60, search 10, graphql 0 (a recorded anonymous answer).
OTHER_RESOURCES = {"search": (30, 10, 60), "integration_manifest": (5000, 5000, 3600),
                   "source_import": (100, 100, 60), "code_scanning_upload": (1000, 1000, 3600),
                   "code_scanning_autofix": (10, 10, 60), "actions_runner_registration": (10000, 10000, 3600),
                   "scim": (15000, 15000, 3600), "dependency_snapshots": (100, 100, 60),
                   "dependency_sbom": (100, 100, 3600), "audit_log": (1750, 1750, 3600),
                   "audit_log_streaming": (15, 15, 3600), "code_search": (10, 10, 60)}


@router.add("GET", "/rate_limit")
def get_rate_limit(req: Request) -> Response:
    # https://docs.github.com/rest/rate-limit/rate-limit : answered without a token too; does not count
    # against the primary limit. The schema requires `core` and `search` and names these resources.
    token = token_of(req.headers) or ""
    now = int(req.app.world.clock.now())
    resources = {name: quota.peek(token) for name, quota in req.app.quotas.items()}
    for name, (limit, anonymous, window) in OTHER_RESOURCES.items():
        mine = limit if token else anonymous
        resources[name] = {"limit": mine, "used": 0, "remaining": mine, "reset": now + window}
    return Response(200, {"resources": resources, "rate": resources["core"]})


@router.add("GET", "/meta")
def get_meta(req: Request) -> Response:
    # https://docs.github.com/rest/meta/meta#get-github-meta-information . GitHub Enterprise Server adds
    # `installed_version` (its own OpenAPI description, ghes-3.19: "installed_version": "3.19.0"); that
    # is how clients tell a GHES from github.com. The address lists are made up (loopback).
    body: dict = {"verifiable_password_authentication": False, "packages": ["127.0.0.1/32"],
                  "domains": {"website": ["*.github.example"], "packages": ["*.github.example"]}}
    version = req.app.world.variant("ghes")
    if version is None:
        body.update({"ssh_key_fingerprints": {"SHA256_ED25519": "+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"},
                     "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"],
                     "hooks": ["127.0.0.1/32"], "web": ["127.0.0.1/32"], "api": ["127.0.0.1/32"],
                     "git": ["127.0.0.1/32"], "actions": ["127.0.0.1/32"]})
    else:
        body["installed_version"] = version
    return Response(200, body)
