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
from .model import Repo, check_state, iso
from .rest import add_status, apply_planned_reviews, node_id, parse_node_id, router
from .rest.common import ACTIONS_APP_ID
from .rest.environments import protection_rules
from .rest.runs import reviews_in_order

_schemas: dict[bool, Any] = {}
_schema_lock = threading.Lock()
GRAPHQL_SCHEMA_VERSION = "@octokit/graphql-schema@15.26.1"
# What a schema member still behind a preview takes out of the schema GitHub shows (without the preview's
# media type): the mutation and the types only it reaches.
STATUS_MUTATION_TYPES = {"CreateDeploymentStatusInput", "CreateDeploymentStatusPayload"}


def schema(*, without_status_mutation: bool = False):
    """Build GitHub's schema once per process (about 0.7 s), on the first GraphQL request; the one
    without createDeploymentStatus (the `status-mutation-refused` variant) on the first that needs it,
    so introspection (`__type(name: "CreateDeploymentStatusPayload")`) tells what GitHub's would."""
    with _schema_lock:
        if without_status_mutation not in _schemas:
            from graphql import DocumentNode, parse
            from graphql.utilities import build_ast_schema
            raw = resources.files("cdhelper.devtools.double").joinpath("data/github-schema.graphql.gz").read_bytes()
            doc = parse(gzip.decompress(raw).decode())
            if without_status_mutation:
                kept = []
                for definition in doc.definitions:
                    name = getattr(getattr(definition, "name", None), "value", None)
                    if name in STATUS_MUTATION_TYPES:
                        continue
                    if name == "Mutation":
                        parts = {key: getattr(definition, key) for key in definition.keys}
                        parts["fields"] = tuple(f for f in definition.fields if f.name.value != "createDeploymentStatus")
                        definition = type(definition)(**parts)
                    kept.append(definition)
                doc = DocumentNode(definitions=tuple(kept))
            # The published SDL defines two enterprise fields twice; graphql-core's SDL check
            # rejects that, so the document is trusted as GitHub serves it.
            built = build_ast_schema(doc, assume_valid_sdl=True)
            # graphql-core 3.3 also rejects deprecated implementations of non-deprecated interface
            # fields, which GitHub's schema has; mark it valid so queries are still checked against it.
            built._validation_errors = []
            _schemas[without_status_mutation] = built
        return _schemas[without_status_mutation]


ACTIONS_APP = {"__typename": "App", "id": node_id("A", ACTIONS_APP_ID), "databaseId": ACTIONS_APP_ID,
               "slug": "github-actions", "name": "GitHub Actions", "url": "https://github.com/apps/github-actions",
               "createdAt": "2018-07-30T09:30:17Z", "updatedAt": "2019-12-10T19:04:12Z",
               "logoBackgroundColor": "000000", "logoUrl": lambda info, size=None: "https://avatars.example/github-actions",
               "description": "Automate your workflow from idea to production"}
# check-run conclusion (or "pending") -> how it counts in the status rollup
ROLLUP_STATE = {"success": "success", "neutral": "success", "skipped": "success", "pending": "pending"}


class NotFound(Exception):
    gh_type = "NOT_FOUND"


class Forbidden(Exception):
    gh_type = "FORBIDDEN"


class BadPagination(Exception):
    """A connection's arguments GitHub refuses, with its error `type`: MISSING_PAGINATION_BOUNDARIES (no
    `first` nor `last`), EXCESSIVE_PAGINATION (more than 100), INVALID_CURSOR_ARGUMENTS (a cursor it did
    not make). The message names the connection (`{field}`, filled in from the error's path) as GitHub's
    does: "Requesting 101 records on the `issues` connection exceeds the `first` limit of 100 records."
    (answers quoted in public projects' notes and tests, e.g. `gh api graphql` with `issues(first:101)`)."""

    def __init__(self, gh_type: str, template: str):
        super().__init__(template.format(field="").replace("  ", " "))
        self.gh_type, self.template = gh_type, template


class PreviewRequired(Exception):
    """A schema member still behind a preview (the `status-mutation-refused:preview-required` variant)."""


PREVIEW_MESSAGE = ("The createDeploymentStatus mutation is only available with the flash preview: pass "
                   "'Accept: application/vnd.github.flash-preview+json'.")


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def _index(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor).decode().rsplit(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise BadPagination("INVALID_CURSOR_ARGUMENTS", f"`{cursor}` does not appear to be a valid cursor.") from exc


def connection(items: list, first: int | None = None, last: int | None = None, after: str | None = None,
               before: str | None = None, *, view=lambda item: item) -> dict:
    """Relay connection over `items` with GitHub's rules: `first` or `last` is required, 0..100.
    `view` renders only the items in the window, so 5,000 records cost what 50 do."""
    if first is None and last is None:
        raise BadPagination("MISSING_PAGINATION_BOUNDARIES",
                            "You must provide a `first` or `last` value to properly paginate the {field} connection.")
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= 100:
            raise BadPagination("EXCESSIVE_PAGINATION",
                                f"Requesting {value} records on the {{field}} connection exceeds the `{name}` "
                                "limit of 100 records.")
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
            "commitOid": dep["sha"], "description": dep["description"], "payload": dep["payload"] if isinstance(dep["payload"], str) else json.dumps(dep["payload"]),
            "createdAt": iso(dep["created_at"]), "updatedAt": iso(dep["updated_at"]),
            "creator": _actor(dep["creator"]), "state": self.state(dep, latest),
            "latestStatus": self.status(dep, latest) if latest else None,
            "statuses": lambda info, **args: connection(statuses, **args, view=lambda s: self.status(dep, s)),
            # the whole commit when the double knows it (its date: DORA's lead time starts there)
            "commit": lambda info: self.git_object(dep["sha"]) or {"__typename": "Commit", "oid": dep["sha"]},
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
        sha = commit["sha"]
        return {"__typename": "Commit", "oid": sha, "message": commit["message"],
                "committedDate": iso(commit["date"]), "authoredDate": iso(commit["date"]),
                "abbreviatedOid": sha[:7], "author": author, "committer": author,
                "authors": lambda info, **args: connection([author, *co], **args),
                "status": lambda info: self.commit_status(sha),
                "checkSuites": lambda info, filterBy=None, **args: connection(
                    self.check_suites(sha, filterBy), **args, view=self.check_suite),
                "statusCheckRollup": lambda info: self.rollup(sha)}

    # --- check suites and runs: one suite per workflow run (of the github-actions App), a run per job ---
    def check_suites(self, sha: str, filter_by: dict | None) -> list[dict]:
        runs = [run for run in self.repo.runs.values() if run["head_sha"] == sha and run.get("check_suite_id")]
        if filter_by and filter_by.get("appId") not in (None, ACTIONS_APP_ID):
            return []
        if filter_by and filter_by.get("checkName"):
            runs = [r for r in runs if any(self.repo.jobs[j]["name"] == filter_by["checkName"] for j in r["jobs"])]
        return runs

    def check_suite(self, run: dict) -> dict:
        jobs = [self.repo.jobs[j] for j in run.get("jobs", [])]
        states = {job["status"] for job in jobs}
        status = "COMPLETED" if jobs and states == {"completed"} else "QUEUED" if states <= {"queued"} else "IN_PROGRESS"
        conclusions = {job["conclusion"] for job in jobs}
        conclusion = None if status != "COMPLETED" else (
            "FAILURE" if conclusions & {"failure", "timed_out", "cancelled", "action_required"} else "SUCCESS")
        url = f"https://github.com/{self.repo.full_name}/commit/{run['head_sha']}/checks?check_suite_id={run['check_suite_id']}"

        def check_runs(info, filterBy=None, **args):  # noqa: N803 - GraphQL argument name
            return connection(self.filter_check_runs(jobs, filterBy), **args, view=lambda j: self.check_run(j, run))
        return {"__typename": "CheckSuite", "id": node_id("CS", run["check_suite_id"]),
                "databaseId": run["check_suite_id"], "status": status, "conclusion": conclusion,
                "app": ACTIONS_APP, "workflowRun": lambda info: _workflow_run(self.repo, run), "url": url,
                "resourcePath": url.removeprefix("https://github.com"), "createdAt": iso(run["created_at"]),
                "updatedAt": iso(run["updated_at"]), "commit": lambda info: self.git_object(run["head_sha"]),
                "repository": lambda info: self.repository(), "checkRuns": check_runs}

    @staticmethod
    def filter_check_runs(jobs: list[dict], filter_by: dict | None) -> list[dict]:
        """checkType LATEST (taken as the default, as REST's filter=latest is) keeps each name's latest."""
        filter_by = filter_by or {}
        if filter_by.get("checkType", "LATEST") == "LATEST":
            jobs = list({job["name"]: job for job in jobs}.values())
            jobs.sort(key=lambda j: j["id"])
        if filter_by.get("checkName"):
            jobs = [j for j in jobs if j["name"] == filter_by["checkName"]]
        statuses = filter_by.get("statuses") or ([filter_by["status"]] if filter_by.get("status") else None)
        if statuses:
            jobs = [j for j in jobs if j["status"].upper() in statuses]
        if filter_by.get("conclusions"):
            jobs = [j for j in jobs if (j["conclusion"] or "").upper() in filter_by["conclusions"]]
        return jobs

    def check_run(self, job: dict, run: dict | None = None) -> dict:
        run = run or self.repo.runs.get(job["run_id"], {})
        page = f"https://github.com/{self.repo.full_name}/actions/runs/{job['run_id']}/job/{job['id']}"
        dep = self.repo.deployments.get(job["deployment_id"]) if job.get("deployment_id") else None
        return {"__typename": "CheckRun", "id": node_id("CR", job["id"]), "databaseId": job["id"],
                "name": job["name"], "status": job["status"].upper(),
                "conclusion": job["conclusion"].upper() if job["conclusion"] else None,
                "startedAt": iso(job["started_at"]), "completedAt": iso(job["completed_at"]) if job["completed_at"] else None,
                "detailsUrl": page, "permalink": page, "url": page, "resourcePath": page.removeprefix("https://github.com"),
                "title": None, "summary": None, "text": None, "externalId": None,
                "isRequired": lambda info, **args: False,
                "deployment": (lambda info: self.deployment(dep)) if dep else None,
                "checkSuite": lambda info: self.check_suite(run), "repository": lambda info: self.repository()}

    def rollup(self, sha: str) -> dict | None:
        """Commit.statusCheckRollup: the latest check run of each name per suite and the latest status of
        each context, with a combined state (failure > pending > success; a choice for neutral and
        skipped, which count as success)."""
        runs = self.repo.latest_check_runs(sha)
        statuses: dict[str, dict] = {}
        for status in self.repo.commit_statuses.get(sha, []):
            statuses[status["context"]] = status
        if not runs and not statuses:
            return None
        states = {s["state"] for s in statuses.values()} | {ROLLUP_STATE.get(check_state(j), "failure") for j in runs}
        state = "FAILURE" if states & {"failure", "error"} else "PENDING" if "pending" in states else "SUCCESS"
        nodes = [*runs, *statuses.values()]

        def view(item: dict) -> dict:
            return self.status_context(item) if "context" in item else self.check_run(item)

        def contexts(info, **args):
            out = connection(nodes, **args, view=view)
            out.update(checkRunCount=len(runs), statusContextCount=len(statuses))
            return out
        return {"__typename": "StatusCheckRollup", "id": f"SCR_{sha}", "state": state,
                "commit": lambda info: self.git_object(sha), "contexts": contexts}

    def status_context(self, s: dict) -> dict:
        return {"__typename": "StatusContext", "id": node_id("SC", s["id"]), "context": s["context"],
                "state": s["state"].upper(), "description": s["description"], "targetUrl": s["target_url"],
                "createdAt": iso(s["created_at"]), "creator": _actor(s["creator"]),
                "isRequired": lambda info, **args: False}

    def commit_status(self, sha: str) -> dict | None:
        """The combined status: each context's latest, with its creator (null when there is none)."""
        latest: dict[str, dict] = {}
        for status in self.repo.commit_statuses.get(sha, []):
            latest[status["context"]] = status
        if not latest:
            return None
        contexts = [self.status_context(s) for s in latest.values()]
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
        return {"__typename": "Environment", "id": node_id("EN", env["id"]), "databaseId": env["id"], "name": env["name"],
                "isPinned": False,
                "latestCompletedDeployment": self.deployment(done[-1]) if done else None,
                "protectionRules": lambda info, **args: connection(self.protection_rules(env), **args)}

    def protection_rules(self, env: dict) -> list[dict]:
        """The same rules REST lists, with the same ids, in the order they were added."""
        world, rules = self.repo.world, []
        for item in protection_rules(world, env):
            rule = {"__typename": "DeploymentProtectionRule", "type": item["type"].upper(),
                    "databaseId": item["id"], "timeout": 0, "preventSelfReview": None,
                    "reviewers": lambda info, **args: connection([], **args)}
            if item["type"] == "wait_timer":
                rule["timeout"] = env["wait_timer"]
            elif item["type"] == "required_reviewers":
                people = [_actor(world.login_of(r["id"]) or f"user{r['id']}") if r["type"] == "User" else
                          {"__typename": "Team", "slug": world.team_parts(r["id"], self.repo.owner)[1],
                           "name": world.team_parts(r["id"], self.repo.owner)[1]} for r in env["reviewers"]]
                rule["preventSelfReview"] = env["prevent_self_review"]
                rule["reviewers"] = lambda info, people=people, **args: connection(people, **args)
            rules.append(rule)
        return rules

    def repository(self) -> dict:
        repo = self.repo
        return {
            "__typename": "Repository", "id": node_id("R", repo.id), "databaseId": repo.id, "name": repo.name,
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
    reviews = reviews_in_order(repo.world, run, newest_first=False)

    def review(item: dict) -> dict:
        names = [repo.environments[n.lower()]["name"] for n in item["environments"] if n.lower() in repo.environments]
        return {"__typename": "DeploymentReview", "state": item["state"].upper(), "comment": item["comment"],
                "user": {"__typename": "User", "login": item["user"]},
                "environments": lambda info, **args: connection(
                    names, **args, view=lambda n: {"__typename": "Environment", "name": n})}
    url = f"https://github.com/{repo.full_name}/actions/runs/{run['id']}"
    return {"__typename": "WorkflowRun", "id": node_id("WFR", run["id"]), "databaseId": run["id"],
            "runNumber": run["run_number"], "url": url, "resourcePath": url.removeprefix("https://github.com"),
            "event": run["event"], "createdAt": iso(run["created_at"]), "updatedAt": iso(run["updated_at"]),
            "checkSuite": lambda info: Views(repo).check_suite(run),
            "deploymentReviews": lambda info, **args: connection(reviews, **args, view=review)}


def _root(req: Request) -> dict:
    world = req.app.world

    def resource(info, url: str):
        # Only workflow run URLs are resolved; other resources read as null, as unknown URLs do.
        m = RUN_URL.match(url)
        if not m:
            return None
        if world.variant("run-resource-null") is not None:
            return None
        refusal = world.variant("run-resource-forbidden")
        if refusal == "forbidden":
            raise Forbidden("Resource not accessible by integration")
        if refusal == "not-found":
            raise NotFound(f"Could not resolve to a resource with the url '{url}'.")
        repo = world.repo(m["owner"], m["name"])
        run = repo.runs.get(int(m["run"])) if repo else None
        return _workflow_run(repo, run) if run else None

    def node(info, id: str):  # noqa: A002 - GraphQL argument name
        """A global id the double made; any other is GitHub's NOT_FOUND error, not a null (observed: an
        unknown id answers "Could not resolve to a node with the global id of '...'")."""
        parsed = parse_node_id(id)
        found = None
        if parsed:
            prefix, ident = parsed
            for repo in world.repos.values():
                views = Views(repo)
                if prefix == "R" and repo.id == ident:
                    found = views.repository()
                elif prefix == "DE" and ident in repo.deployments:
                    found = views.deployment(repo.deployments[ident])
                elif prefix == "WFR" and ident in repo.runs:
                    found = _workflow_run(repo, repo.runs[ident])
                elif prefix == "CR" and ident in repo.jobs:
                    found = views.check_run(repo.jobs[ident])
                elif prefix == "EN":
                    env = next((e for e in repo.environments.values() if e["id"] == ident), None)
                    found = views.environment(env["name"]) if env else None
                if found is not None:
                    break
        if found is None:
            raise NotFound(f"Could not resolve to a node with the global id of '{id}'")
        return found

    def repository(info, owner: str, name: str, followRenames: bool = True):
        with world.lock:
            repo = world.repo(owner, name)
        if repo is None:
            raise NotFound(f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return Views(repo).repository()

    def create_deployment_status(info, input: dict):  # noqa: A002 - GraphQL argument name
        refusal = world.variant("status-mutation-refused")
        if refusal == "forbidden":
            raise Forbidden("Resource not accessible by integration")
        if refusal == "preview-required" and "flash-preview" not in req.headers.get("accept", ""):
            raise PreviewRequired(PREVIEW_MESSAGE)
        principal = req.principal
        if principal is None or not principal.allows("deployments", "write"):
            req.app.refuse(req, "deployments", "write")
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
        "node": node,
        "createDeploymentStatus": create_deployment_status,
        "resource": resource,
        "rateLimit": lambda info, dryRun=False: {"limit": quota.limit, "cost": 1, "used": 0,
                                                  "remaining": quota.limit, "resetAt": iso(quota.reset_at),
                                                  "nodeCount": 0},
    }


def _mutation_undefined(req: Request, query: str, operation_name: str | None) -> dict | None:
    """`status-mutation-refused` (default setting): the schema has no createDeploymentStatus, so the
    document fails validation before anything runs, in graphql-ruby's shape as GitHub answers it
    (path starting with "mutation NAME", extensions.code undefinedField, no data)."""
    if req.app.world.variant("status-mutation-refused") != "undefined-field":
        return None
    from graphql import FieldNode, GraphQLSyntaxError, OperationDefinitionNode, OperationType, parse
    from graphql.language import get_location
    try:
        doc = parse(query)
    except GraphQLSyntaxError:
        return None
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    op = next((o for o in ops if o.name and o.name.value == operation_name), ops[0] if len(ops) == 1 else None)
    if op is None or op.operation != OperationType.MUTATION:
        return None
    field = next((f for f in op.selection_set.selections
                  if isinstance(f, FieldNode) and f.name.value == "createDeploymentStatus"), None)
    if field is None:
        return None
    where = get_location(doc.loc.source, field.loc.start)
    return {"errors": [{
        "path": ["mutation" + (f" {op.name.value}" if op.name else ""), "createDeploymentStatus"],
        "extensions": {"code": "undefinedField", "typeName": "Mutation", "fieldName": "createDeploymentStatus"},
        "locations": [{"line": where.line, "column": where.column}],
        "message": "Field 'createDeploymentStatus' doesn't exist on type 'Mutation'"}]}


# graphql-core's static validation messages -> graphql-ruby's, as GitHub answers them: message, extensions
# (code and the names involved), no `type`. GitHub's undefinedField answer, e.g. {"message": "Field
# 'discussion' doesn't exist on type 'Repository'", "path": ["query NodeId", "repository", "discussion"],
# "extensions": {"code": "undefinedField", "typeName": "Repository", "fieldName": "discussion"}} (quoted whole
# in public clients' tests); missingRequiredArguments and argumentNotAccepted are graphql-ruby's own codes.
RUBY_VALIDATION = [
    (re.compile(r"^Cannot query field '(?P<field>\w+)' on type '(?P<type>\w+)'\."),
     lambda m: ("undefinedField", f"Field '{m['field']}' doesn't exist on type '{m['type']}'",
                {"typeName": m["type"], "fieldName": m["field"]})),
    (re.compile(r"^Unknown argument '(?P<arg>\w+)' on field '\w+\.(?P<field>\w+)'\."),
     lambda m: ("argumentNotAccepted", f"Field '{m['field']}' doesn't accept argument '{m['arg']}'",
                {"name": m["field"], "typeName": "Field", "argumentName": m["arg"]})),
    (re.compile(r"^Argument '\w+\.(?P<field>\w+)\((?P<arg>\w+):\)' of type '[^']+' is required"),
     lambda m: ("missingRequiredArguments", f"Field '{m['field']}' is missing required arguments: {m['arg']}",
                {"className": "Field", "name": m["field"], "arguments": m["arg"]})),
]


def _as_graphql_ruby(err, item: dict) -> dict:
    """A validation error in GitHub's shape, with the path graphql-ruby gives (operation, then the fields
    down to the one at fault) when the field sits in the operation itself (not in a fragment)."""
    for pattern, render in RUBY_VALIDATION:
        m = pattern.match(item["message"])
        if m:
            code, message, names = render(m)
            out = {"message": message, "locations": item.get("locations", [])}
            path = _field_path(err)
            if path:
                out["path"] = path
            out["extensions"] = {"code": code, **names}
            return out
    return item


def _field_path(err) -> list[str] | None:
    from graphql import FieldNode, OperationDefinitionNode
    node = (err.nodes or [None])[0]
    doc = getattr(getattr(node, "loc", None), "source", None)
    if node is None or doc is None:
        return None
    from graphql import parse
    for definition in parse(doc).definitions:
        if isinstance(definition, OperationDefinitionNode):
            found = _walk(definition.selection_set, node.loc.start, FieldNode)
            if found is not None:
                head = definition.operation.value + (f" {definition.name.value}" if definition.name else "")
                return [head, *found]
    return None


def _walk(selection_set, start: int, field_node) -> list[str] | None:
    """The path to the field (or to the argument) at `start`."""
    for selection in getattr(selection_set, "selections", None) or []:
        if isinstance(selection, field_node):
            name = selection.alias.value if selection.alias else selection.name.value
            if selection.loc.start == start:
                return [name]
            argument = next((a for a in selection.arguments or [] if a.loc.start == start), None)
            if argument is not None:
                return [name, argument.name.value]
            below = _walk(selection.selection_set, start, field_node)
            if below is not None:
                return [name, *below]
    return None


@router.add("POST", "/graphql")
def graphql_endpoint(req: Request) -> Response:
    from graphql import GraphQLError, graphql_sync

    body = req.json_object()
    query = body.get("query")
    if not isinstance(query, str):
        raise ApiError(400, "A query attribute must be specified and must be a string.",
                       docs="https://docs.github.com/graphql")
    variables = body.get("variables") or {}
    refused = _mutation_undefined(req, query, body.get("operationName"))
    if refused is not None:
        return Response(200, refused)
    # Resolution reads shared state: hold the world lock, released around schema building above.
    sch = schema(without_status_mutation=req.app.world.variant("status-mutation-refused") == "undefined-field")
    with req.app.world.lock:
        result = graphql_sync(sch, query, root_value=_root(req), variable_values=variables,
                              operation_name=body.get("operationName"))
    out: dict[str, Any] = {}
    if result.errors:
        errors = []
        for err in result.errors:
            item = err.formatted
            original = getattr(err, "original_error", None)
            if isinstance(original, BadPagination):
                field = next((p for p in reversed(item.get("path") or []) if isinstance(p, str)), None)
                item["message"] = original.template.format(field=f"`{field}`" if field else "").replace("  ", " ")
                item["type"] = original.gh_type
            elif isinstance(original, (NotFound, Forbidden)):
                item["type"] = original.gh_type
            elif isinstance(err, GraphQLError) and original is None and not item.get("path"):
                item = _as_graphql_ruby(err, item)
            errors.append(item)
        out["errors"] = errors
    if result.data is not None or not result.errors or any(e.path for e in result.errors):
        out["data"] = result.data
    return Response(200, out)
