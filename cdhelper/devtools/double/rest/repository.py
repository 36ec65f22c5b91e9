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
# one (a token's: PyGithub replay data RateLimiting.testGetRateLimit; search, code_search, source_import,
# code_scanning_autofix, dependency_snapshots and dependency_sbom reset every minute). Unauthenticated
# callers see core 60, search 10, graphql 0 (a recorded anonymous answer). An installation token
# (GITHUB_TOKEN) is answered with all fourteen too: a /rate_limit read from an Actions runner, January 2026,
# lists these fourteen, "All 14 buckets appear in every /rate_limit response" (a bucket reference written
# for a rate-limit tracking action, from a CI runner's answer). code_scanning_upload is core's own count
# (same limit, used, remaining and reset: that answer, and a personal token's answer of December 2025,
# link-assistant/hive-mind#1000, where both read 5000 used).
OTHER_RESOURCES = {"search": (30, 10, 60), "integration_manifest": (5000, 5000, 3600),
                   "source_import": (100, 100, 60), "code_scanning_autofix": (10, 10, 60),
                   "actions_runner_registration": (10000, 10000, 3600), "scim": (15000, 15000, 3600),
                   "dependency_snapshots": (100, 100, 60), "dependency_sbom": (100, 100, 60),
                   "audit_log": (1750, 1750, 3600), "audit_log_streaming": (15, 15, 3600), "code_search": (10, 10, 60)}
# The `rate-limit-installation-subset` variant: what an installation token is shown instead, as the
# github-api-usage-tracker action lists the buckets github.token can track (no scim, audit_log,
# audit_log_streaming nor code_scanning_autofix: enterprise and user features).
INSTALLATION_SUBSET = ("core", "search", "graphql", "code_search", "integration_manifest", "dependency_snapshots",
                       "dependency_sbom", "code_scanning_upload", "actions_runner_registration", "source_import")


@router.add("GET", "/rate_limit")
def get_rate_limit(req: Request) -> Response:
    # https://docs.github.com/rest/rate-limit/rate-limit : answered without a token too; does not count
    # against the primary limit. The schema requires `core` and `search` and names these resources.
    token = token_of(req.headers) or ""
    now = int(req.app.world.clock.now())
    resources = {name: quota.peek(token) for name, quota in req.app.quotas.items()}
    resources["code_scanning_upload"] = dict(resources["core"])
    for name, (limit, anonymous, window) in OTHER_RESOURCES.items():
        mine = limit if token else anonymous
        resources[name] = {"limit": mine, "used": 0, "remaining": mine, "reset": now + window}
    if req.principal.kind == "integration" and req.app.world.variant("rate-limit-installation-subset") is not None:
        resources = {name: value for name, value in resources.items() if name in INSTALLATION_SUBSET}
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
