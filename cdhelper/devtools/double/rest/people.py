"""Users and teams, as far as environment reviewers need them: a login or an ORG/SLUG to the id GitHub
wants in `reviewers` (https://docs.github.com/rest/users/users#get-a-user,
https://docs.github.com/rest/teams/teams#get-a-team-by-name)."""

from __future__ import annotations

from ..http import Request, Response, not_found
from ..model import World
from .common import Ctx, node_id, router

# The double has no clock of its own for people: every account is this old.
ACCOUNT_CREATED = "2020-01-01T00:00:00Z"


@router.add("GET", "/users/{username}")
def get_user(req: Request) -> Response:
    # Only people the double knows exist (a token's login, a reviewer, a commit author...); others are 404.
    ctx = Ctx(req)
    login = ctx.world.known_login(req.params["username"])
    if login is None:
        raise not_found()
    body = ctx.user(login)
    body.update({"user_view_type": "public", "name": None, "company": None, "blog": "", "location": None,
                 "email": None, "hireable": None, "bio": None, "twitter_username": None, "public_repos": 0,
                 "public_gists": 0, "followers": 0, "following": 0, "created_at": ACCOUNT_CREATED,
                 "updated_at": ACCOUNT_CREATED})
    return Response(200, body)


@router.add("GET", "/orgs/{org}/teams/{team_slug}", ("members", "read"))
def get_team(req: Request) -> Response:
    ctx = Ctx(req)
    team_id = ctx.world.team_id(req.params["org"], req.params["team_slug"])
    if team_id is None:
        raise not_found()
    body = team_json(ctx, team_id, req.params["org"])
    org = ctx.world.team_parts(team_id, req.params["org"])[0]
    org_url = f"{ctx.api}/orgs/{org}"
    body.update({"members_count": 0, "repos_count": 0, "created_at": ACCOUNT_CREATED, "updated_at": ACCOUNT_CREATED,
                 "organization": {
                     "login": org, "id": ctx.world.user_id(org), "node_id": node_id("O", ctx.world.user_id(org)),
                     "url": org_url, "repos_url": f"{org_url}/repos", "events_url": f"{org_url}/events",
                     "hooks_url": f"{org_url}/hooks", "issues_url": f"{org_url}/issues",
                     "members_url": f"{org_url}/members{{/member}}",
                     "public_members_url": f"{org_url}/public_members{{/member}}",
                     "avatar_url": f"{ctx.web}/avatars/{ctx.world.user_id(org)}", "description": None,
                     "html_url": f"{ctx.web}/{org}", "has_organization_projects": True,
                     "has_repository_projects": True, "public_repos": 0, "public_gists": 0, "followers": 0,
                     "following": 0, "type": "Organization", "created_at": ACCOUNT_CREATED,
                     "updated_at": ACCOUNT_CREATED, "archived_at": None}})
    return Response(200, body)


def team_json(ctx: Ctx, team_id: int, default_org: str) -> dict:
    """The `team` shape (what environment reviewers embed); html_url names the org and slug."""
    org, slug = ctx.world.team_parts(team_id, default_org)
    url = f"{ctx.api}/organizations/{_org_id(ctx.world, org)}/team/{team_id}"
    return {"id": team_id, "node_id": node_id("T", team_id), "url": url, "html_url": f"{ctx.web}/orgs/{org}/teams/{slug}",
            "name": slug, "slug": slug, "description": None, "privacy": "closed",
            "notification_setting": "notifications_enabled", "permission": "pull",
            "members_url": f"{url}/members{{/member}}", "repositories_url": f"{url}/repos", "parent": None,
            "type": "organization"}


def _org_id(world: World, org: str) -> int:
    return world.user_id(org)
