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
