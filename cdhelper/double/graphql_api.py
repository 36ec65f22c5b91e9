"""POST /graphql for the double: graphql-core executing against GitHub's published schema.

Queries are parsed and validated against the real schema (from npm @octokit/graphql-schema), so
a field or argument GitHub does not have fails here exactly as it would there. Only the objects
cdhelper reads are backed by data: repository, ref/tag targets, deployments and their statuses,
environments and the rate limit. Anything else resolves to null.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import threading
from importlib import resources
from typing import Any

from .http import ApiError, Request, Response
from .model import Repo, iso
from .rest import add_status, apply_planned_reviews, node_id, parse_node_id, router

_schema = None
_schema_lock = threading.Lock()
GRAPHQL_SCHEMA_VERSION = "@octokit/graphql-schema@15.26.1"


def schema():
    """Build GitHub's schema once per process (about 0.7 s), on the first GraphQL request."""
    global _schema
    with _schema_lock:
        if _schema is None:
            from graphql import parse
            from graphql.utilities import build_ast_schema
            raw = resources.files("cdhelper.double").joinpath("data/github-schema.graphql.gz").read_bytes()
            # The published SDL defines two enterprise fields twice; graphql-core's SDL check
            # rejects that, so the document is trusted as GitHub serves it.
            built = build_ast_schema(parse(gzip.decompress(raw).decode()), assume_valid_sdl=True)
            # graphql-core 3.3 also rejects deprecated implementations of non-deprecated interface
            # fields, which GitHub's schema has; mark it valid so queries are still checked against it.
            built._validation_errors = []
            _schema = built
        return _schema


class NotFound(Exception):
    gh_type = "NOT_FOUND"


class Forbidden(Exception):
    gh_type = "FORBIDDEN"


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def _index(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor).decode().rsplit(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise ValueError(f"`{cursor}` does not appear to be a valid cursor.") from exc


def connection(items: list, first: int | None = None, last: int | None = None, after: str | None = None,
               before: str | None = None, *, view=lambda item: item) -> dict:
    """Relay connection over `items` with GitHub's rules: `first` or `last` is required, 0..100.
    `view` renders only the items in the window, so 5,000 records cost what 50 do."""
    if first is None and last is None:
        raise ValueError("You must provide a `first` or `last` value to properly paginate the connection.")
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= 100:
            raise ValueError(f"Requesting {value} records on the connection exceeds the `{name}` limit of 100 records.")
    start, end = 0, len(items)
    if after is not None:
        start = _index(after) + 1
    if before is not None:
        end = _index(before)
    window = list(range(start, max(start, end)))
    if first is not None:
        window = window[:first]
    if last is not None:
        window = window[-last:] if last else []
    nodes = [view(items[i]) for i in window]
    return {
        "totalCount": len(items), "nodes": nodes,
        "edges": [{"cursor": _cursor(i), "node": node} for i, node in zip(window, nodes, strict=True)],
        "pageInfo": {"hasNextPage": bool(window) and window[-1] < end - 1,
                     "hasPreviousPage": bool(window) and window[0] > start,
                     "startCursor": _cursor(window[0]) if window else None,
                     "endCursor": _cursor(window[-1]) if window else None},
    }


def _actor(login: str) -> dict:
    """GraphQL names a Bot without the `[bot]` suffix REST shows (github-actions, not
    github-actions[bot]), and links it under /apps/ (observed on github.com)."""
    if login.endswith("[bot]"):
        slug = login[: -len("[bot]")]
        return {"__typename": "Bot", "login": slug, "resourcePath": f"/apps/{slug}",
                "url": f"https://github.com/apps/{slug}"}
    return {"__typename": "User", "login": login, "resourcePath": f"/{login}", "url": f"https://github.com/{login}"}


def _git_actor(world, name: str, email: str, date: float) -> dict:
    login = world.login_for_email(email)
    return {"__typename": "GitActor", "name": name, "email": email, "date": iso(date),
            "user": _actor(login) if login else None}


class Views:
    """Turns the double's records into GraphQL objects (dicts; callables take field arguments)."""

    def __init__(self, repo: Repo):
        self.repo = repo

    def status(self, dep: dict, status: dict) -> dict:
        return {"__typename": "DeploymentStatus", "id": node_id("DES", status["id"]), "state": status["state"].upper(),
                "description": status["description"], "environment": status["environment"],
                "logUrl": status["log_url"] or None, "environmentUrl": status["environment_url"] or None,
                "createdAt": iso(status["created_at"]), "updatedAt": iso(status["updated_at"]),
                "creator": _actor(status["creator"]), "deployment": lambda info: self.deployment(dep)}

    def deployment(self, dep: dict) -> dict:
        statuses = self.repo.statuses.get(dep["id"], [])
        latest = statuses[-1] if statuses else None
        return {
            "__typename": "Deployment", "id": node_id("DE", dep["id"]), "databaseId": dep["id"], "task": dep["task"],
            "repository": lambda info: self.repository(),
            "environment": dep["environment"], "originalEnvironment": dep["original_environment"],
            "latestEnvironment": latest["environment"] if latest else dep["environment"],
            "commitOid": dep["sha"], "description": dep["description"], "payload": json.dumps(dep["payload"]),
            "createdAt": iso(dep["created_at"]), "updatedAt": iso(dep["updated_at"]),
            "creator": _actor(dep["creator"]), "state": self.state(dep, latest),
            "latestStatus": self.status(dep, latest) if latest else None,
            "statuses": lambda info, **args: connection(statuses, **args, view=lambda s: self.status(dep, s)),
            "commit": {"__typename": "Commit", "oid": dep["sha"]},
        }

    def state(self, dep: dict, latest: dict | None) -> str:
        if latest is None:
            return "PENDING"
        if latest["state"] == "success":
            return "ACTIVE"
        if latest["state"] == "inactive" and dep["transient_environment"]:
            return "DESTROYED"
        return latest["state"].upper()

    def git_object(self, sha: str) -> dict | None:
        tag = self.repo.tag_object(sha)
        if tag is not None:
            return {"__typename": "Tag", "oid": sha, "name": tag["tag"], "message": tag["message"],
                    "tagger": {"name": tag["tagger"]["name"], "email": tag["tagger"]["email"],
                               "date": iso(tag["tagger"]["date"])},
                    "target": lambda info: self.git_object(tag["object"])}
        commit = self.repo.commit(sha)
        if commit is None:
            return None
        world = self.repo.world
        author = _git_actor(world, commit["author"], commit["email"], commit["date"])
        # Co-authored-by trailers count as authors on GitHub, after the commit's own author.
        co = [_git_actor(world, m.group(1).strip(), m.group(2).strip(), commit["date"])
              for m in re.finditer(r"^Co-authored-by:\s*(.*?)\s*<([^>]+)>\s*$", commit["message"], re.M | re.I)]
        return {"__typename": "Commit", "oid": commit["sha"], "message": commit["message"],
                "committedDate": iso(commit["date"]), "authoredDate": iso(commit["date"]),
                "abbreviatedOid": commit["sha"][:7], "author": author, "committer": author,
                "authors": lambda info, **args: connection([author, *co], **args),
                "status": lambda info: self.commit_status(commit["sha"])}

    def commit_status(self, sha: str) -> dict | None:
        """The combined status: each context's latest, with its creator (null when there is none)."""
        latest: dict[str, dict] = {}
        for status in self.repo.commit_statuses.get(sha, []):
            latest[status["context"]] = status
        if not latest:
            return None
        contexts = [{"__typename": "StatusContext", "id": f"SC_{s['id']}", "context": s["context"],
                     "state": s["state"].upper(), "description": s["description"], "targetUrl": s["target_url"],
                     "createdAt": iso(s["created_at"]), "creator": _actor(s["creator"])} for s in latest.values()]
        states = {c["state"] for c in contexts}
        state = "FAILURE" if states & {"FAILURE", "ERROR"} else "PENDING" if "PENDING" in states else "SUCCESS"
        return {"__typename": "Status", "id": f"ST_{sha}", "state": state, "contexts": contexts,
                "context": lambda info, name: next((c for c in contexts if c["context"] == name), None)}

    def ref(self, qualified: str) -> dict | None:
        name = qualified if qualified.startswith("refs/") else None
        if name is None:
            for candidate in (f"refs/heads/{qualified}", f"refs/tags/{qualified}"):
                if candidate in self.repo.refs:
                    name = candidate
                    break
        if name is None or name not in self.repo.refs:
            return None
        prefix, short = name.rsplit("/", 1)[0] + "/", name.split("/", 2)[2]
        return {"__typename": "Ref", "id": f"REF_{name}", "name": short, "prefix": prefix,
                "target": self.git_object(self.repo.refs[name])}

    def deployments(self, environments: list[str] | None = None, orderBy: dict | None = None, **page) -> dict:
        items = list(self.repo.deployments.values())
        if environments:
            wanted = set(environments)
            items = [d for d in items if d["environment"] in wanted]
        if (orderBy or {}).get("direction") == "DESC":
            items.reverse()
        return connection(items, **page, view=self.deployment)

    def environment(self, name: str) -> dict | None:
        env = self.repo.environments.get(name.lower())
        if env is None:
            return None
        done = [d for d in self.repo.deployments.values() if d["environment"] == env["name"]
                and (self.repo.latest_status(d["id"]) or {}).get("state") in {"success", "failure", "error", "inactive"}]
        return {"__typename": "Environment", "id": f"EN_{env['id']}", "databaseId": env["id"], "name": env["name"],
                "isPinned": False,
                "latestCompletedDeployment": self.deployment(done[-1]) if done else None,
                "protectionRules": lambda info, **args: connection(self.protection_rules(env), **args)}

    def protection_rules(self, env: dict) -> list[dict]:
        """The same rules REST lists, in the order they were added (wait timer, reviewers, branches)."""
        world, rules = self.repo.world, []

        def rule(kind: str, ident: int, **extra) -> dict:
            return {"__typename": "DeploymentProtectionRule", "type": kind, "databaseId": ident, "timeout": 0,
                    "preventSelfReview": None,
                    "reviewers": lambda info, **args: connection([], **args), **extra}
        if env["wait_timer"]:
            rules.append(rule("WAIT_TIMER", env["id"] * 10 + 1, timeout=env["wait_timer"]))
        if env["reviewers"]:
            people = [_actor(world.login_of(r["id"]) or f"user{r['id']}") if r["type"] == "User" else
                      {"__typename": "Team", "slug": world.teams.get(r["id"], f"team-{r['id']}"),
                       "name": world.teams.get(r["id"], f"team-{r['id']}")} for r in env["reviewers"]]
            rules.append(rule("REQUIRED_REVIEWERS", env["id"] * 10 + 2, preventSelfReview=env["prevent_self_review"],
                              reviewers=lambda info, **args: connection(people, **args)))
        if env["deployment_branch_policy"]:
            rules.append(rule("BRANCH_POLICY", env["id"] * 10 + 3))
        return rules

    def repository(self) -> dict:
        repo = self.repo
        return {
            "__typename": "Repository", "id": f"R_{repo.id}", "databaseId": repo.id, "name": repo.name,
            "nameWithOwner": repo.full_name, "isPrivate": repo.private,
            "defaultBranchRef": lambda info: self.ref(f"refs/heads/{repo.default_branch}"),
            "ref": lambda info, qualifiedName: self.ref(qualifiedName),
            "object": lambda info, oid=None, expression=None: self.git_object(oid or repo.resolve(expression or "") or ""),
            "deployments": lambda info, **args: self.deployments(**args),
            "environment": lambda info, name: self.environment(name),
            "environments": lambda info, **args: connection(
                list(repo.environments.values()), view=lambda e: self.environment(e["name"]),
                **{k: v for k, v in args.items() if k in {"first", "last", "after", "before"}}),
        }


RUN_URL = re.compile(r"^https?://[^/]+/(?P<owner>[^/]+)/(?P<name>[^/]+)/actions/runs/(?P<run>\d+)/?$")


def _workflow_run(repo: Repo, run: dict) -> dict:
    apply_planned_reviews(repo, run)  # a planned reviewer answers once the run is seen waiting

    def review(item: dict) -> dict:
        names = [repo.environments[n.lower()]["name"] for n in item["environments"] if n.lower() in repo.environments]
        return {"__typename": "DeploymentReview", "state": item["state"].upper(), "comment": item["comment"],
                "user": {"__typename": "User", "login": item["user"]},
                "environments": lambda info, **args: connection(
                    names, **args, view=lambda n: {"__typename": "Environment", "name": n})}
    return {"__typename": "WorkflowRun", "id": f"WFR_{run['id']}", "databaseId": run["id"],
            "runNumber": run["run_number"], "url": f"https://github.com/{repo.full_name}/actions/runs/{run['id']}",
            "deploymentReviews": lambda info, **args: connection(run["reviews"], **args, view=review)}


def _root(req: Request) -> dict:
    world = req.app.world

    def resource(info, url: str):
        # Only workflow run URLs are resolved; other resources read as null, as unknown URLs do.
        m = RUN_URL.match(url)
        if not m:
            return None
        repo = world.repo(m["owner"], m["name"])
        run = repo.runs.get(int(m["run"])) if repo else None
        return _workflow_run(repo, run) if run else None

    def repository(info, owner: str, name: str, followRenames: bool = True):
        with world.lock:
            repo = world.repo(owner, name)
        if repo is None:
            raise NotFound(f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return Views(repo).repository()

    def create_deployment_status(info, input: dict):  # noqa: A002 - GraphQL argument name
        principal = req.principal
        if principal is None or not principal.allows("deployments", "write"):
            raise Forbidden("Resource not accessible by integration")
        parsed = parse_node_id(input["deploymentId"])
        found = None
        if parsed and parsed[0] == "DE":
            found = next((r for r in world.repos.values() if parsed[1] in r.deployments), None)
        if found is None:
            raise NotFound(f"Could not resolve to a node with the global id of '{input['deploymentId']}'")
        description = input.get("description") or ""
        if len(description) > 140:
            raise ValueError("description is too long (maximum is 140 characters)")
        dep = found.deployments[parsed[1]]
        status = add_status(found, dep, state=input["state"].lower(), description=description,
                            log_url=input.get("logUrl") or "", target_url="", environment=input.get("environment") or "",
                            environment_url=input.get("environmentUrl") or "",
                            auto_inactive=input.get("autoInactive", True), creator=principal.login)
        return {"clientMutationId": input.get("clientMutationId"),
                "deploymentStatus": Views(found).status(dep, status)}

    quota = req.app.quotas["graphql"]
    return {
        "repository": repository,
        "createDeploymentStatus": create_deployment_status,
        "resource": resource,
        "rateLimit": lambda info, dryRun=False: {"limit": quota.limit, "cost": 1, "used": 0,
                                                  "remaining": quota.limit, "resetAt": iso(quota.reset_at),
                                                  "nodeCount": 0},
    }


@router.add("POST", "/graphql")
def graphql_endpoint(req: Request) -> Response:
    from graphql import GraphQLError, graphql_sync

    body = req.json_object()
    query = body.get("query")
    if not isinstance(query, str):
        raise ApiError(400, "A query attribute must be specified and must be a string.",
                       docs="https://docs.github.com/graphql")
    variables = body.get("variables") or {}
    # Resolution reads shared state: hold the world lock, released around schema building above.
    sch = schema()
    with req.app.world.lock:
        result = graphql_sync(sch, query, root_value=_root(req), variable_values=variables,
                              operation_name=body.get("operationName"))
    out: dict[str, Any] = {}
    if result.errors:
        errors = []
        for err in result.errors:
            item = err.formatted
            original = getattr(err, "original_error", None)
            if isinstance(original, (NotFound, Forbidden)):
                item["type"] = original.gh_type
            elif isinstance(err, GraphQLError) and original is None and not item.get("path"):
                item.setdefault("extensions", {})["code"] = "undefinedField"
            errors.append(item)
        out["errors"] = errors
    if result.data is not None or not result.errors or any(e.get("path") for e in out.get("errors", [])):
        out["data"] = result.data
    return Response(200, out)
