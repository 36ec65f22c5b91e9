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
