"""What every REST module of the double shares: the router, the per-request context, global node
ids, and the user and repository JSON shapes GitHub embeds everywhere."""

from __future__ import annotations

import base64
from typing import Any

from ..http import Request, Router, not_found, validation_failed
from ..model import Repo, World, iso

router = Router()


ACTIONS_APP_ID = 15368  # the `github-actions` GitHub App (check runs of Actions jobs name it; PyGithub replay data)


class Ctx:
    """Per-request view: the world, the repository addressed and the base URLs for links: `api` for
    API URLs (with /api/v3 on GitHub Enterprise Server), `web` for html_url-style ones."""

    def __init__(self, req: Request):
        self.req, self.api, self.web = req, req.base_url, req.root_url or req.base_url
        self.world: World = req.app.world

    @property
    def repo(self) -> Repo:
        repo = self.world.repo(self.req.params["owner"], self.req.params["repo"])
        if repo is None or (repo.private and self.req.principal is not None and self.req.principal.kind == "anonymous"):
            raise not_found()
        return repo

    def repo_url(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"

    def user(self, login: str) -> dict:
        uid = self.world.user_id(login)
        url = f"{self.api}/users/{login}"
        is_bot = login.endswith("[bot]")
        return {
            "login": login, "id": uid, "node_id": node_id("U", uid), "avatar_url": f"{self.web}/avatars/{uid}",
            "gravatar_id": "", "url": url, "html_url": f"{self.web}/{login}", "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}", "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs", "repos_url": f"{url}/repos", "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events", "type": "Bot" if is_bot else "User",
            "site_admin": False,
        }

    def app(self, slug: str) -> dict:
        """A GitHub App (`integration`); `github-actions` is the one whose token GITHUB_TOKEN is."""
        ident = ACTIONS_APP_ID if slug == "github-actions" else 200000 + self.world.user_id(f"{slug}[bot]") % 100000
        owner = self.user("github")
        owner["type"] = "Organization"
        return {
            "id": ident, "slug": slug, "node_id": node_id("A", ident), "owner": owner,
            "name": "GitHub Actions" if slug == "github-actions" else slug,
            "description": "Automate your workflow from idea to production" if slug == "github-actions" else None,
            "external_url": "https://help.github.com/en/actions" if slug == "github-actions" else f"{self.web}/apps/{slug}",
            "html_url": f"{self.web}/apps/{slug}", "created_at": "2018-07-30T09:30:17Z",
            "updated_at": "2019-12-10T19:04:12Z",
            "permissions": {"actions": "write", "checks": "write", "contents": "write", "deployments": "write",
                            "metadata": "read", "statuses": "write"},
            "events": ["check_run", "check_suite", "deployment", "deployment_status", "workflow_run"],
        }

    def performed_via(self, login: str) -> dict | None:
        """`performed_via_github_app`: the App whose installation token made a record (its bot is the
        creator), null for a person's token (PyGithub replay data: deployments and statuses made with a
        personal token carry `"performed_via_github_app": null`)."""
        return self.app(login[: -len("[bot]")]) if login.endswith("[bot]") else None


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
        raise validation_failed(f"Invalid request.\n\n{unknown[0]!r} is not a permitted key.", shape=True)


def repo_json(ctx: Ctx, repo: Repo) -> dict:
    url = ctx.repo_url(repo)
    html = f"{ctx.web}/{repo.full_name}"
    body: dict[str, Any] = {
        "id": repo.id, "node_id": node_id("R", repo.id), "name": repo.name, "full_name": repo.full_name,
        "owner": ctx.user(repo.owner), "private": repo.private, "html_url": html, "description": None,
        "fork": False, "url": url, "homepage": None, "language": "Python", "forks_count": 0, "forks": 0,
        "stargazers_count": 0, "watchers_count": 0, "watchers": 0, "size": 1, "default_branch": repo.default_branch,
        "open_issues_count": 0, "open_issues": 0, "is_template": False, "topics": [], "has_issues": True,
        "has_projects": True, "has_wiki": True, "has_pages": False, "has_downloads": True, "has_discussions": False,
        "archived": False, "disabled": False, "visibility": "private" if repo.private else "public",
        "pushed_at": iso(repo.created_at), "created_at": iso(repo.created_at), "updated_at": iso(repo.created_at),
        "permissions": _permissions(ctx.req.principal),  # left out with the repo-permissions-absent variant
        "allow_forking": True, "web_commit_signoff_required": False, "network_count": 0, "subscribers_count": 0,
        "license": None, "mirror_url": None, "clone_url": f"{html}.git", "git_url": f"git://{html}.git",
        "ssh_url": f"git@example.com:{repo.full_name}.git", "svn_url": html,
    }
    if ctx.world.variant("repo-permissions-absent") is not None:
        del body["permissions"]
    for key in ("archive", "assignees", "blobs", "branches", "collaborators", "comments", "commits", "compare",
                "contents", "contributors", "deployments", "downloads", "events", "forks", "git_commits", "git_refs",
                "git_tags", "hooks", "issue_comment", "issue_events", "issues", "keys", "labels", "languages",
                "merges", "milestones", "notifications", "pulls", "releases", "stargazers", "statuses",
                "subscribers", "subscription", "tags", "teams", "trees"):
        body[f"{key}_url"] = f"{url}/{key.replace('_', '/')}"
    return body


def _permissions(principal) -> dict:
    """What the caller may do here. GitHub reports a person's role; the double, which has no roles, derives
    it from the token's permissions (a token registered without any is an admin's classic token)."""
    if principal is None or principal.permissions is None:
        return {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True}
    admin = principal.allows("administration", "write")
    push = principal.allows("contents", "write")
    return {"admin": admin, "maintain": admin, "push": push, "triage": push, "pull": True}


MINIMAL_REPOSITORY_KEYS = {"id", "node_id", "name", "full_name", "owner", "private", "html_url", "description", "fork",
                           "url"}


def repo_minimal(ctx: Ctx, repo: Repo) -> dict:
    """The `minimal-repository` shape runs and combined statuses embed."""
    return {k: v for k, v in repo_json(ctx, repo).items() if k in MINIMAL_REPOSITORY_KEYS or k.endswith("_url")}
