"""State of the GitHub double: repositories, git objects, deployments, environments, runs.

Records are kept small (plain dicts, epoch timestamps) and rendered into GitHub's JSON shapes
by `rest.py` and `graphql_api.py` only when served, so seeding thousands is cheap.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INITIAL_COMMIT_DATE = 1704067200.0  # 2024-01-01T00:00:00Z


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def check_state(job: dict) -> str:
    """How a check run counts where states are compared (required_contexts, the status rollup): its
    conclusion once completed, else pending."""
    return job["conclusion"] if job["status"] == "completed" else "pending"


def git_object_sha(kind: str, body: bytes) -> str:
    """The sha1 git itself gives an object, so tag shas look and behave like GitHub's."""
    return hashlib.sha1(f"{kind} {len(body)}\0".encode() + body).hexdigest()


class GitDir:
    """Read-only view of a local checkout: its real commits, branches and tags."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._known: dict[str, bool] = {}

    def _git(self, *args: str) -> str:
        out = subprocess.run(
            ["git", "-C", self.path, *args], capture_output=True, text=True, check=False,
            env={"GIT_PAGER": "cat", "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": "/tmp"},
        )
        if out.returncode != 0:
            raise LookupError(out.stderr.strip())
        return out.stdout

    def refs(self) -> dict[str, str]:
        # Oldest first, as GitHub lists matching refs in the order they were made (creation dates stand
        # in for that here).
        lines = self._git("for-each-ref", "--sort=creatordate", "--format=%(refname) %(objectname)", "refs/heads",
                          "refs/tags")
        return dict(line.split(" ", 1) for line in lines.splitlines() if line)

    def head_branch(self) -> str | None:
        try:
            return self._git("symbolic-ref", "--short", "HEAD").strip()
        except LookupError:
            return None

    def commit(self, sha: str) -> dict[str, Any] | None:
        try:
            out = self._git("log", "-1", "--format=%H%n%T%n%P%n%an%n%ae%n%at%n%B", sha, "--")
        except LookupError:
            return None
        full, tree, parents, name, email, at, *message = out.split("\n")
        return {"sha": full, "tree": tree, "parents": parents.split(), "author": name, "email": email,
                "date": float(at), "message": "\n".join(message).strip()}

    def tag_object(self, sha: str) -> dict[str, Any] | None:
        try:
            if self._git("cat-file", "-t", sha).strip() != "tag":
                return None
            raw = self._git("cat-file", "tag", sha)
        except LookupError:
            return None
        head, _, message = raw.partition("\n\n")
        fields = dict(line.split(" ", 1) for line in head.splitlines())
        tagger = fields.get("tagger", "unknown <unknown> 0 +0000")
        name, _, rest = tagger.partition(" <")
        email, _, stamp = rest.partition("> ")
        return {"sha": sha, "tag": fields["tag"], "message": message, "object": fields["object"],
                "type": fields["type"], "tagger": {"name": name, "email": email, "date": float(stamp.split()[0])}}

    def file(self, ref: str, path: str) -> str | None:
        """A file's text as of `ref`, or None."""
        try:
            return self._git("show", f"{ref}:{path}")
        except LookupError:
            return None

    def files(self, ref: str, directory: str) -> list[str]:
        try:
            return [line for line in self._git("ls-tree", "--name-only", ref, directory).splitlines() if line]
        except LookupError:
            return []

    def is_ancestor(self, older: str, newer: str) -> bool | None:
        proc = subprocess.run(["git", "-C", self.path, "merge-base", "--is-ancestor", older, newer],
                              capture_output=True, check=False)
        return {0: True, 1: False}.get(proc.returncode)


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    world: World
    default_branch: str = "main"
    private: bool = False
    git: GitDir | None = None
    created_at: float = field(default_factory=time.time)
    refs: dict[str, str] = field(default_factory=dict)  # "refs/tags/v1" -> sha (commit or tag object)
    commits: dict[str, dict] = field(default_factory=dict)  # commits made up by the double
    tag_objects: dict[str, dict] = field(default_factory=dict)
    deployments: dict[int, dict] = field(default_factory=dict)  # insertion order == id order
    statuses: dict[int, list[dict]] = field(default_factory=dict)  # deployment id -> oldest first
    environments: dict[str, dict] = field(default_factory=dict)  # lower-cased name -> record
    variables: dict[str, dict] = field(default_factory=dict)
    env_variables: dict[str, dict[str, dict]] = field(default_factory=dict)
    runs: dict[int, dict] = field(default_factory=dict)
    jobs: dict[int, dict] = field(default_factory=dict)  # job id == check run id (GitHub makes one per job)
    check_runs: dict[str, list[int]] = field(default_factory=dict)  # head sha -> job ids, oldest first
    workflows: dict[str, dict] = field(default_factory=dict)  # registered workflow files: path -> {id, text}
    releases: dict[int, dict] = field(default_factory=dict)
    latest_release: int | None = None  # the release made latest (make_latest); None: by created_at
    assets: dict[int, dict] = field(default_factory=dict)
    commit_statuses: dict[str, list[dict]] = field(default_factory=dict)  # sha -> oldest first
    # Index for auto_inactive (so a status does not scan every deployment): environment -> ids of the
    # non-transient, non-production deployments whose latest status is success there. Not persisted.
    inactivatable: dict[str, set[int]] = field(default_factory=dict)
    dispatches: list[dict] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    # --- git ---------------------------------------------------------------------------
    def commit(self, sha: str) -> dict | None:
        if sha in self.commits:
            return self.commits[sha]
        if self.git is not None and len(sha) >= 7 and all(c in "0123456789abcdef" for c in sha):
            found = self.git.commit(sha)
            if found is not None:
                self.commits[found["sha"]] = found
            return found
        return None

    def tag_object(self, sha: str) -> dict | None:
        if sha in self.tag_objects:
            return self.tag_objects[sha]
        if self.git is not None:
            found = self.git.tag_object(sha)
            if found is not None:
                self.tag_objects[sha] = found
            return found
        return None

    def peel(self, sha: str) -> str:
        """Follow annotated tags down to the commit they point at."""
        for _ in range(10):
            tag = self.tag_object(sha)
            if tag is None:
                return sha
            sha = tag["object"]
        return sha

    def resolve(self, ref: str) -> str | None:
        """A branch, tag or (full or abbreviated) commit sha -> commit sha, as the deployments API does."""
        for candidate in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
            if candidate.startswith("refs/") and candidate in self.refs:
                return self.peel(self.refs[candidate])
        found = self.commit(ref)
        return found["sha"] if found else None

    # --- deployments ---------------------------------------------------------------------
    def latest_status(self, deployment_id: int) -> dict | None:
        statuses = self.statuses.get(deployment_id)
        return statuses[-1] if statuses else None

    def current_environment(self, deployment: dict) -> str:
        status = self.latest_status(deployment["id"])
        return status["environment"] if status else deployment["environment"]

    def latest_check_runs(self, sha: str, *, per: str = "suite") -> list[dict]:
        """The latest check run (job) of each name on a commit: per check suite (what `filter=latest`
        lists) or, with per="name", across suites (what required_contexts compares)."""
        latest: dict[tuple | str, dict] = {}
        for job_id in self.check_runs.get(sha, []):
            job = self.jobs[job_id]
            latest[(job["check_suite_id"], job["name"]) if per == "suite" else job["name"]] = job
        return list(latest.values())

    def append_status(self, deployment: dict, status: dict) -> None:
        """Every deployment status goes through here, so the auto_inactive index stays right."""
        before = self.latest_status(deployment["id"])
        if before is not None:
            self.inactivatable.get(before["environment"], set()).discard(deployment["id"])
        self.statuses.setdefault(deployment["id"], []).append(status)
        if status["state"] == "success" and not deployment["transient_environment"] \
                and not deployment["production_environment"]:
            self.inactivatable.setdefault(status["environment"], set()).add(deployment["id"])

    def forget_deployment(self, deployment_id: int) -> None:
        latest = self.latest_status(deployment_id)
        if latest is not None:
            self.inactivatable.get(latest["environment"], set()).discard(deployment_id)
        self.deployments.pop(deployment_id, None)
        self.statuses.pop(deployment_id, None)

    def reindex(self) -> None:
        self.inactivatable = {}
        for dep_id, statuses in self.statuses.items():
            dep = self.deployments.get(dep_id)
            if dep is not None and statuses and statuses[-1]["state"] == "success" \
                    and not dep["transient_environment"] and not dep["production_environment"]:
                self.inactivatable.setdefault(statuses[-1]["environment"], set()).add(dep_id)


class Clock:
    """Wall time, shiftable so tests can age records (soak times, DORA windows) without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


class World:
    """Everything the double knows. One lock serialises mutations, as a single GitHub shard would."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.repos: dict[str, Repo] = {}
        self.users: dict[str, int] = {"github-actions[bot]": 41898282}
        self.teams: dict[int, str] = {}  # id -> "org/slug" (a bare slug in state saved before teams had orgs)
        self.emails: dict[str, str] = {"octocat@example.com": "octocat"}  # verified commit email -> login
        self.variants: dict[str, str] = {}  # see variants.py; empty: github.com as the double knows it
        self._ids = 1000

    def variant(self, name: str) -> str | None:
        """The setting of an active variant ("" for one without settings), None when it is off."""
        return self.variants.get(name)

    def next_id(self) -> int:
        with self.lock:
            self._ids += 1
            return self._ids

    def user_id(self, login: str) -> int:
        with self.lock:
            if login not in self.users:
                self.users[login] = 500000 + len(self.users)
            return self.users[login]

    def known_login(self, login: str) -> str | None:
        """The login as GitHub spells it (logins are case-insensitive), or None for no such user."""
        return next((known for known in self.users if known.lower() == login.lower()), None)

    def add_team(self, org: str, slug: str) -> int:
        """A team of organisation `org`; returns its id (the same one when it exists)."""
        with self.lock:
            found = self.team_id(org, slug)
            if found is None:
                found = self.next_id()
                self.teams[found] = f"{org}/{slug}"
            return found

    def team_id(self, org: str, slug: str) -> int | None:
        wanted = f"{org}/{slug}".lower()
        return next((ident for ident, name in self.teams.items() if name.lower() == wanted), None)

    def team_parts(self, team_id: int, default_org: str) -> tuple[str, str]:
        """(org, slug) of a team; a team saved without its org belongs to `default_org`."""
        org, _, slug = self.teams.get(team_id, f"team-{team_id}").rpartition("/")
        return org or default_org, slug

    def login_of(self, user_id: int) -> str | None:
        return next((login for login, uid in self.users.items() if uid == user_id), None)

    def register_email(self, email: str, login: str) -> None:
        """GitHub links a commit to a user by the user's verified emails."""
        self.user_id(login)
        self.emails[email.lower()] = login

    def login_for_email(self, email: str) -> str | None:
        """A verified email, or GitHub's noreply form ID+LOGIN@users.noreply.github.com."""
        email = (email or "").lower()
        if email in self.emails:
            return self.emails[email]
        local, _, domain = email.partition("@")
        if domain == "users.noreply.github.com":
            return local.split("+", 1)[-1] or None
        return None

    def add_repo(self, full_name: str, git_dir: str | None = None, default_branch: str | None = None) -> Repo:
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"repository {full_name!r} must look like OWNER/NAME")
        repo = Repo(id=self.next_id(), owner=owner, name=name, world=self, created_at=self.clock.now())
        if git_dir is not None:
            repo.git = GitDir(git_dir)
            repo.refs = repo.git.refs()
            repo.default_branch = default_branch or repo.git.head_branch() or "main"
        else:
            repo.default_branch = default_branch or "main"
            now = INITIAL_COMMIT_DATE  # fixed, so every double's first commit has the same sha
            body = f"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor Octo Cat <octocat@example.com> {int(now)} +0000\n\nInitial commit\n"
            sha = git_object_sha("commit", body.encode())
            repo.commits[sha] = {"sha": sha, "tree": "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "parents": [],
                                 "author": "Octo Cat", "email": "octocat@example.com", "date": now,
                                 "message": "Initial commit"}
            repo.refs[f"refs/heads/{repo.default_branch}"] = sha
        self.repos[full_name.lower()] = repo
        return repo

    def repo(self, owner: str, name: str) -> Repo | None:
        return self.repos.get(f"{owner}/{name}".lower())

    def add_commit(self, repo: Repo, message: str, parent: str | None = None, branch: str | None = None, *,
                   author: tuple[str, str] = ("Octo Cat", "octocat@example.com"), merge: str | None = None) -> str:
        """Make up a commit (for repositories without a git directory) and move `branch` to it; with
        `merge`, a merge commit whose second parent is that commit."""
        parent = parent or repo.resolve(branch or repo.default_branch)
        parents = [p for p in (parent, merge) if p]
        now = self.clock.now()
        name, email = author
        lines = "".join(f"parent {p}\n" for p in parents)
        body = f"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n{lines}author {name} <{email}> {int(now)} +0000\n\n{message}\n"
        sha = git_object_sha("commit", body.encode())
        repo.commits[sha] = {"sha": sha, "tree": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
                             "parents": parents, "author": name,
                             "email": email, "date": now, "message": message}
        if branch:
            repo.refs[f"refs/heads/{branch}"] = sha
        return sha

    # --- seeding -------------------------------------------------------------------------
    def seed_deployments(self, repo: Repo, count: int, environments: list[str], *, state: str = "success",
                         payload: Any = None, start: float | None = None, spacing: float = 60.0,
                         creator: str = "github-actions[bot]") -> list[int]:
        """Append `count` past deployments (round-robin over environments), each with one status."""
        sha = repo.resolve(repo.default_branch)
        start = start if start is not None else self.clock.now() - count * spacing
        ids = []
        with self.lock:
            for i in range(count):
                env = environments[i % len(environments)]
                ts = start + i * spacing
                dep_id = self.next_id()
                repo.deployments[dep_id] = {
                    "id": dep_id, "sha": sha, "ref": repo.default_branch, "task": "deploy", "environment": env,
                    "original_environment": env, "payload": payload if payload is not None else {},
                    "description": "", "creator": creator, "created_at": ts, "updated_at": ts,
                    "transient_environment": False, "production_environment": env == "production",
                }
                status_id = self.next_id()
                repo.append_status(repo.deployments[dep_id], {
                    "id": status_id, "deployment_id": dep_id, "state": state, "description": "",
                    "environment": env, "target_url": "", "log_url": "", "environment_url": "",
                    "creator": creator, "created_at": ts, "updated_at": ts,
                })
                ids.append(dep_id)
        return ids
