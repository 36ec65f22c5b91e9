"""What every REST module of the double shares: the router, the per-request context, global node
ids, and the user and repository JSON shapes GitHub embeds everywhere."""

from __future__ import annotations

import base64
from typing import Any

from ..http import Request, Router, not_found, validation_failed
from ..model import Repo, World, iso

router = Router()


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


MINIMAL_REPOSITORY_KEYS = {"id", "node_id", "name", "full_name", "owner", "private", "html_url", "description", "fork",
                           "url"}


def repo_minimal(ctx: Ctx, repo: Repo) -> dict:
    """The `minimal-repository` shape runs and combined statuses embed."""
    return {k: v for k, v in repo_json(ctx, repo).items() if k in MINIMAL_REPOSITORY_KEYS or k.endswith("_url")}
