"""The GitHub double: a stateful GitHub REST + GraphQL server on loopback.

    with GitHubDouble(repos=["acme/app"]) as gh:
        Github(base_url=gh.url, auth=Auth.Token("t")).get_repo("acme/app")
        gh.counts()  # requests per route

It backs the test suite, the benchmarks and `cdhelper rehearse`; `cdhelper github-double`
serves one from the command line.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import admin, graphql_api, rest, variants  # noqa: F401 - importing registers the routes
from .http import App, DoubleHTTPServer, Fault, LogEntry, Refusal, Request, Response
from .model import GitDir, Repo, World
from .rest.environments import set_protection
from .rest.jobs import add_job, find_job, update_job
from .rest.runs import rerun
from .rest.variables import register_workflow, workflow_id

__all__ = ["Fault", "GitHubDouble", "LogEntry", "Refusal", "Request", "Response"]


class GitHubDouble:
    def __init__(self, repos: list[str] | tuple[str, ...] = (), *, host: str = "127.0.0.1", port: int = 0,
                 rate_limit: int = 5000, variant: str | list[str] | tuple[str, ...] | set[str] | None = None):
        """`variant`: one or several of variants.KNOWN, as "NAME" or "NAME:SETTING" (e.g. "ghes",
        ["approvals-any-order:shuffled", "run-resource-null"]); docs/github-double.md describes each."""
        self.world = World()
        self.world.variants = variants.parse(variant)
        self.app = App(self.world, rest.router, rate_limit=rate_limit)
        self._address = (host, port)
        self._server: DoubleHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for spec in repos:
            self.add_repo(spec)

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> GitHubDouble:
        self._server = DoubleHTTPServer(self._address, self.app)
        host, port = self._server.server_address[:2]
        self._server.base_url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="github-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> GitHubDouble:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """The server itself (web pages, /_double/ admin routes)."""
        if self._server is None:
            raise RuntimeError("the double is not started")
        return self._server.base_url

    @property
    def url(self) -> str:
        """Where the REST API starts: the root, or ROOT/api/v3 with the `ghes` variant (as on GHES)."""
        return self.root_url + ("/api/v3" if self.world.variant("ghes") is not None else "")

    @property
    def graphql_url(self) -> str:
        """ROOT/graphql, or ROOT/api/graphql with the `ghes` variant."""
        return self.root_url + ("/api/graphql" if self.world.variant("ghes") is not None else "/graphql")

    # --- variants --------------------------------------------------------------------------------
    @property
    def variants(self) -> list[str]:
        return variants.describe(self.world.variants)

    def set_variants(self, *names: str) -> None:
        """Replace the active variants (none: github.com as the double knows it). Raises ValueError."""
        parsed = variants.parse(list(names))
        with self.world.lock:
            self.world.variants = parsed

    # --- repositories and people -------------------------------------------------------------
    def add_repo(self, spec: str, git_dir: str | None = None) -> Repo:
        """`OWNER/NAME` or `OWNER/NAME=GIT_DIR` (serve that checkout's real commits and tags)."""
        name, _, path = spec.partition("=")
        return self.world.add_repo(name, git_dir or path or None)

    def repo(self, full_name: str) -> Repo:
        owner, _, name = full_name.partition("/")
        repo = self.world.repo(owner, name)
        if repo is None:
            raise KeyError(full_name)
        return repo

    def register_token(self, token: str, *, login: str = "github-actions[bot]", kind: str = "integration",
                       permissions: dict[str, str] | None = None, job: str = "") -> None:
        """Once any token is registered, unknown tokens get 401 and permissions are enforced. `job`:
        whose token it is, for the refusals' report."""
        self.app.register_token(token, login=login, kind=kind, permissions=permissions, job=job)

    def plan_job_tokens(self, plan: dict[str, dict]) -> None:
        """{KEY: {"job": NAME, "permissions": {...}}}: when a job starts with `token_for: KEY` (the
        rehearsal's start step), the double makes its GITHUB_TOKEN with those permissions."""
        self.app.job_permissions = {k: {"job": v["job"], "permissions": dict(v["permissions"])} for k, v in plan.items()}

    @property
    def refusals(self) -> list[Refusal]:
        """Requests refused for a permission their token lacks, oldest first."""
        return list(self.app.refusals)

    def user_id(self, login: str) -> int:
        return self.world.user_id(login)

    def add_team(self, org: str, slug: str) -> int:
        """A team of organisation `org` (GET /orgs/{org}/teams/{slug} then finds it); returns its id."""
        return self.world.add_team(org, slug)

    def set_environment(self, full_name: str, name: str, *, reviewers: list[str] = (), prevent_self_review: bool = False,
                        wait_timer: int = 0, branches: str | list[str] | None = None,
                        tags: list[str] = ()) -> dict:
        """Set an environment up as an admin would in the settings page. `reviewers`: logins or
        team:ORG/SLUG; `branches`: "all", "protected", or branch name patterns (with `tags`), None keeps them."""
        with self.world.lock:
            repo = self.repo(full_name)
            env = rest.ensure_environment(repo, name)
            set_protection(self.world, env, reviewers=reviewers, prevent_self_review=prevent_self_review,
                           wait_timer=wait_timer, branches=branches, tags=tags)
            return env

    # --- workflow runs and reviews -------------------------------------------------------------
    def create_run(self, full_name: str, *, run_id: int | None = None, head_sha: str | None = None,
                   actor: str = "octocat", event: str = "push", waiting_on: list[str] = ()) -> dict:
        with self.world.lock:
            return rest.new_run(self.repo(full_name), run_id=run_id, head_sha=head_sha, actor=actor, event=event,
                                pending=list(waiting_on))

    def review(self, full_name: str, run_id: int, environment: str, reviewer: str, state: str = "approved",
               comment: str = "") -> None:
        """Approve or reject a waiting environment as the named reviewer (their own token, in effect)."""
        with self.world.lock:
            repo = self.repo(full_name)
            rest.review(repo, repo.runs[run_id], [environment.lower()], reviewer, state, comment)

    def rerun(self, full_name: str, run_id: int, *, actor: str | None = None,
              waiting_on: list[str] | None = None) -> dict:
        """Re-run all jobs: run_attempt + 1, the run waits again on its environments (those it waited on
        at first, or `waiting_on`); reviews of earlier attempts stay in its history."""
        with self.world.lock:
            repo = self.repo(full_name)
            return rerun(repo, repo.runs[run_id], actor=actor, waiting_on=waiting_on)

    def register_workflow(self, full_name: str, path: str, text: str) -> int:
        """Let the double know a workflow file ("promote.yml" or ".github/workflows/promote.yml"), so
        dispatches of it are checked as GitHub checks them; returns its numeric id."""
        with self.world.lock:
            return workflow_id(register_workflow(self.repo(full_name), path, text))

    # --- jobs (check runs) -------------------------------------------------------------------------
    def add_job(self, full_name: str, run_id: int, name: str, *, attempt: int | None = None,
                environment: str | None = None, status: str = "in_progress", conclusion: str | None = None,
                environment_url: str = "", deployment: bool | None = None) -> int:
        """A job of the run (its current attempt unless `attempt`), which is also a check run on the
        run's commit; returns its id. With `environment` and the `ghes` variant (or deployment=True)
        Actions' own deployment record is made, its statuses following the job."""
        with self.world.lock:
            repo = self.repo(full_name)
            return add_job(repo, repo.runs[run_id], name=name, web=self.root_url, attempt=attempt,
                           environment=environment, status=status, conclusion=conclusion,
                           environment_url=environment_url, deployment=deployment)["id"]

    def update_job(self, full_name: str, job_id: int, *, status: str | None = None, conclusion: str | None = None,
                   environment_url: str | None = None) -> dict:
        """Move a job on; a `conclusion` alone completes it."""
        with self.world.lock:
            repo = self.repo(full_name)
            return update_job(repo, find_job(repo, job_id), status=status, conclusion=conclusion,
                              environment_url=environment_url)

    def plan_review(self, full_name: str, run_id: int, environment: str, reviewer: str, state: str = "approved",
                    comment: str = "") -> None:
        """The reviewer answers when the run is next inspected while waiting on `environment`."""
        with self.world.lock:
            repo = self.repo(full_name)
            repo.runs[run_id]["planned_reviews"][environment.lower()] = {
                "reviewer": reviewer, "state": state, "comment": comment}

    # --- faults and the request log -------------------------------------------------------------
    def inject(self, *faults: Fault) -> None:
        self.app.faults.extend(faults)

    def clear_faults(self) -> None:
        self.app.faults.clear()

    @property
    def log(self) -> list[LogEntry]:
        return list(self.app.log)

    def counts(self) -> Counter:
        return self.app.counts()

    def total_requests(self) -> int:
        return len(self.app.log)

    def writes(self) -> int:
        return sum(1 for e in self.app.log if e.method in {"POST", "PUT", "PATCH", "DELETE"} and e.route != "/graphql")

    def reset_log(self) -> None:
        self.app.reset_log()

    def observe(self, observer: Callable[[Request, Response], None]) -> None:
        self.app.observers.append(observer)

    # --- seeding and persistence ------------------------------------------------------------------
    def seed_deployments(self, full_name: str, count: int, environments: list[str], **kwargs: Any) -> list[int]:
        return self.world.seed_deployments(self.repo(full_name), count, environments, **kwargs)

    def snapshot(self) -> dict:
        with self.world.lock:
            repos = []
            for repo in self.world.repos.values():
                state = {k: v for k, v in vars(repo).items() if k not in {"world", "git", "inactivatable"}}
                state["git"] = repo.git.path if repo.git else None
                state["assets"] = {k: {**a, "data": base64.b64encode(a["data"]).decode()} for k, a in repo.assets.items()}
                repos.append(state)
            return {"version": 1, "users": self.world.users, "teams": self.world.teams, "ids": self.world._ids,
                    "repos": repos}

    def restore(self, data: dict) -> None:
        with self.world.lock:
            self.world.users.update(data["users"])
            self.world.teams.update({int(k): v for k, v in data["teams"].items()})
            self.world._ids = max(self.world._ids, data["ids"])
            for state in data["repos"]:
                state = dict(state)
                git = state.pop("git")
                repo = Repo(world=self.world, git=GitDir(git) if git else None, **{
                    k: v for k, v in state.items()
                    if k not in {"deployments", "statuses", "runs", "releases", "assets", "jobs", "inactivatable"}})
                repo.deployments = {int(k): v for k, v in state["deployments"].items()}
                repo.statuses = {int(k): v for k, v in state["statuses"].items()}
                repo.runs = {int(k): v for k, v in state["runs"].items()}
                repo.jobs = {int(k): v for k, v in state.get("jobs", {}).items()}
                for run in repo.runs.values():  # state saved before runs had attempts and jobs
                    run.setdefault("triggering_actor", run["actor"])
                    run.setdefault("run_started_at", run["created_at"])
                    run.setdefault("check_suite_id", self.world.next_id())
                    run.setdefault("gates", list(run["pending"]))
                    run.setdefault("jobs", [])
                repo.releases = {int(k): v for k, v in state["releases"].items()}
                repo.assets = {int(k): {**a, "data": base64.b64decode(a["data"])} for k, a in state["assets"].items()}
                repo.reindex()
                self.world.repos[repo.full_name.lower()] = repo

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.snapshot()))

    def load(self, path: str | Path) -> None:
        self.restore(json.loads(Path(path).read_text()))
