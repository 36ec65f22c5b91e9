"""Environments as code: the protection `.github/cd.yml` declares for each environment (required
reviewers, prevent self-review, wait timer, deployment branch and tag policies) against what GitHub
has, as a plan of changes; `apply` makes those changes and nothing else.

A field the file leaves out is not managed: the plan ignores it, and apply sends GitHub's current value
back, because GitHub's PUT replaces wait_timer, prevent_self_review, reviewers and
deployment_branch_policy together (a field left out of the body would be wiped).

The file comes with the pushed commit and apply writes with an admin's token, so apply runs only where
the file is trusted: by hand, or in a workflow run of the default branch started by push,
workflow_dispatch or schedule. Everything that can refuse (context, admin rights, unknown reviewers) is
checked with reads before the first write; `dry_run` stops there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdhelper.core.config import DEFAULT_PATH, Config, Protection, Reviewer
from cdhelper.core.errors import ConfigError, GitHubAPIError, PermissionDeniedError
from cdhelper.github.client import ApiFailure

TRUSTED_EVENTS = ("push", "workflow_dispatch", "schedule")
PUT_FIELDS = ("reviewer", "prevent-self-review", "wait-timer", "deployment-branches")
ADMIN_FIX = ("pass a token of a repository admin: a fine-grained token with Administration: write (and Members: read "
             "for team reviewers) or a classic token with repo scope; GITHUB_TOKEN can never administer environments")

ReviewerId = tuple[str, int, str]  # (GitHub's type, id, the name as cd.yml writes it)


@dataclass(frozen=True)
class Origin:
    """Where apply runs: by hand (not in Actions), or a workflow run's event and ref."""

    in_actions: bool
    event: str = ""
    ref: str = ""


@dataclass(frozen=True)
class Current:
    """An environment's protection as GitHub has it."""

    exists: bool
    reviewers: tuple[ReviewerId, ...] = ()
    prevent_self_review: bool = False
    wait_timer: int = 0
    branches: str = "all"  # "all", "protected" or "custom"
    policies: tuple[tuple[str, str, int], ...] = ()  # (type, name pattern, id)


@dataclass(frozen=True)
class Change:
    environment: str
    action: str  # create | set | add | remove
    field: str  # environment | reviewer | prevent-self-review | wait-timer | deployment-branches | branch-policy | tag-policy
    before: Any = None
    after: Any = None

    def line(self) -> str:
        if self.action == "create":
            return f"+ create environment {self.environment}"
        if self.action == "set":
            return f"~ {self.environment}: {self.field} {_shown(self.before)} -> {_shown(self.after)}"
        sign, value = ("+", self.after) if self.action == "add" else ("-", self.before)
        return f"{sign} {self.environment}: {self.field.replace('-', ' ')} {value}"

    def as_json(self) -> dict:
        return {"environment": self.environment, "action": self.action, "field": self.field, "from": self.before,
                "to": self.after}


@dataclass(frozen=True)
class EnvironmentPlan:
    name: str
    current: Current
    desired: Protection
    reviewers: tuple[ReviewerId, ...] | None  # the desired reviewers with their ids; None: not managed
    changes: tuple[Change, ...]

    def put_body(self) -> dict | None:
        """The PUT that brings the four replaced-together fields to what the file says, GitHub's current
        value for each the file leaves out; None when none of them (and not the environment) changes."""
        if self.current.exists and not any(c.field in PUT_FIELDS for c in self.changes):
            return None
        desired, current = self.desired, self.current
        reviewers = self.reviewers if self.reviewers is not None else current.reviewers
        mode = _mode(desired.branches) if desired.branches is not None else current.branches
        return {"wait_timer": current.wait_timer if desired.wait_timer is None else desired.wait_timer,
                "prevent_self_review": (current.prevent_self_review if desired.prevent_self_review is None
                                        else desired.prevent_self_review),
                "reviewers": [{"type": kind, "id": ident} for kind, ident, _ in reviewers],
                "deployment_branch_policy": {"all": None,
                                             "protected": {"protected_branches": True, "custom_branch_policies": False},
                                             "custom": {"protected_branches": False, "custom_branch_policies": True}}[mode]}


@dataclass(frozen=True)
class Plan:
    environments: tuple[EnvironmentPlan, ...]
    warnings: tuple[str, ...] = ()

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(c for env in self.environments for c in env.changes)

    @property
    def drifted(self) -> tuple[EnvironmentPlan, ...]:
        return tuple(env for env in self.environments if env.changes)

    def summary(self) -> str:
        if not self.environments:
            return f"No environment protection is declared in {DEFAULT_PATH}: nothing is managed."
        if not self.changes:
            return f"No drift: {len(self.environments)} environment(s) match {DEFAULT_PATH}."
        created = sum(1 for env in self.environments if not env.current.exists)
        return (f"Drift: {len(self.changes)} change(s) in {len(self.drifted)} of {len(self.environments)} "
                f"environment(s) ({created} to create).")

    def lines(self) -> list[str]:
        """One line per change, then one per warning (`! ...`)."""
        return [c.line() for c in self.changes] + [f"! {w}" for w in self.warnings]

    def as_json(self) -> dict:
        return {"drift": bool(self.changes), "summary": self.summary(), "warnings": list(self.warnings),
                "environments": [{"name": env.name, "exists": env.current.exists,
                                  "changes": [c.as_json() for c in env.changes]} for env in self.environments]}


# --- reading --------------------------------------------------------------------------------------

def read(client, name: str) -> Current:
    env = client.get_environment(name)
    if env is None:
        return Current(exists=False)
    owner = client.ctx.owner
    rules = {rule.get("type"): rule for rule in env.get("protection_rules") or []}
    required = rules.get("required_reviewers") or {}
    policy = env.get("deployment_branch_policy")
    branches = "all" if not policy else "protected" if policy.get("protected_branches") else "custom"
    return Current(
        exists=True, reviewers=tuple(_reviewer_id(r, owner) for r in required.get("reviewers") or []),
        prevent_self_review=bool(required.get("prevent_self_review", False)),
        wait_timer=int((rules.get("wait_timer") or {}).get("wait_timer") or 0), branches=branches,
        policies=tuple((p["type"], p["name"], p["id"]) for p in client.list_branch_policies(name)))


def _reviewer_id(entry: dict, owner: str) -> ReviewerId:
    who = entry.get("reviewer") or {}
    if entry.get("type") == "Team":
        # A team reviewer names its org only in html_url (https://github.com/orgs/ORG/teams/SLUG).
        parts = str(who.get("html_url", "")).rstrip("/").split("/")
        org = parts[-3] if len(parts) >= 4 and parts[-4] == "orgs" else owner
        return "Team", int(who["id"]), f"team:{org}/{who.get('slug', '')}"
    return "User", int(who["id"]), str(who.get("login", ""))


def resolve(client, name: str, reviewers: tuple[Reviewer, ...], current: Current, known: dict) -> tuple[ReviewerId, ...]:
    """The file's reviewers with their ids: those GitHub already lists keep theirs, others are looked up
    (`known` caches lookups across environments). An unknown one is refused here, before any write."""
    listed = {shown.lower(): (kind, ident, shown) for kind, ident, shown in current.reviewers}
    out = []
    for reviewer in reviewers:
        key = str(reviewer).lower()
        if key in listed:
            kind, ident, _ = listed[key]
        elif key in known:
            kind, ident = known[key]
        else:
            kind = reviewer.kind
            if kind == "User":
                ident = client.user_id(reviewer.name)
            else:
                org, _, slug = reviewer.name.partition("/")
                ident = client.team_id(org, slug)
            if ident is None:
                raise _unknown(reviewer, name, client.ctx.api_url)
            known[key] = (kind, ident)
        out.append((kind, ident, str(reviewer)))
    return tuple(out)


def _unknown(reviewer: Reviewer, environment: str, api_url: str) -> ConfigError:
    if reviewer.kind == "User":
        # GitHub is served over https only: a plain-http API is the GitHub double, which knows only the
        # people it was told about (docs/github-double.md).
        double = (f"; on the GitHub double at {api_url}, make the user known first: start it with "
                  f"`cdhelper github-double --user {reviewer.name}`" if api_url.startswith("http://") else "")
        return ConfigError(f"{DEFAULT_PATH}: reviewer {reviewer.name!r} of {environment} is not a GitHub user",
                           f"GitHub answered 404 for /users/{reviewer.name}",
                           "correct the login (as in https://github.com/LOGIN), or remove it from reviewers" + double)
    org, _, slug = reviewer.name.partition("/")
    return ConfigError(f"{DEFAULT_PATH}: reviewer {str(reviewer)!r} of {environment} is not a team of {org}",
                       f"GitHub answered 404 for /orgs/{org}/teams/{slug} (a team the token cannot see looks the same)",
                       "correct ORG/SLUG (the slug is the last part of the team page's URL), or use a token that can "
                       "read the organisation's teams (Members: read)")


# --- planning -------------------------------------------------------------------------------------

def diff(name: str, current: Current, desired: Protection, reviewers: tuple[ReviewerId, ...] | None) -> tuple[Change, ...]:
    """The changes that make `current` what the file says; fields the file leaves out are not compared."""
    changes: list[Change] = []
    if not current.exists:
        changes.append(Change(name, "create", "environment", after=name))
    if reviewers is not None:
        have = {(kind, ident): shown for kind, ident, shown in current.reviewers}
        want = {(kind, ident): shown for kind, ident, shown in reviewers}
        changes += [Change(name, "add", "reviewer", after=shown) for key, shown in want.items() if key not in have]
        changes += [Change(name, "remove", "reviewer", before=shown) for key, shown in have.items() if key not in want]
    # GitHub shows prevent_self_review only inside the required-reviewers rule, which exists only while
    # there are reviewers: without any, the setting cannot be seen, so it is not compared.
    after_reviewers = reviewers if reviewers is not None else current.reviewers
    if desired.prevent_self_review is not None and after_reviewers \
            and desired.prevent_self_review != current.prevent_self_review:
        changes.append(Change(name, "set", "prevent-self-review", current.prevent_self_review,
                              desired.prevent_self_review))
    if desired.wait_timer is not None and desired.wait_timer != current.wait_timer:
        changes.append(Change(name, "set", "wait-timer", current.wait_timer, desired.wait_timer))
    if desired.branches is not None:
        mode = _mode(desired.branches)
        if mode != current.branches:
            changes.append(Change(name, "set", "deployment-branches", current.branches, mode))
        if mode == "custom":
            changes += _policy_changes(name, current, "branch", desired.branches)
            if desired.tags is not None:
                changes += _policy_changes(name, current, "tag", desired.tags)
    return tuple(changes)


def _policy_changes(name: str, current: Current, kind: str, patterns: tuple[str, ...]) -> list[Change]:
    have = [pattern for policy_kind, pattern, _ in current.policies if policy_kind == kind]
    field = f"{kind}-policy"
    return ([Change(name, "add", field, after=p) for p in patterns if p not in have]
            + [Change(name, "remove", field, before=p) for p in have if p not in patterns])


def plan(client, cfg: Config) -> Plan:
    """Reads only: each managed environment (and the gate's) as GitHub has it, against the file."""
    known: dict = {}
    envs = []
    for name, desired in cfg.protections():
        current = read(client, name)
        reviewers = None if desired.reviewers is None else resolve(client, name, desired.reviewers, current, known)
        envs.append(EnvironmentPlan(name, current, desired, reviewers, diff(name, current, desired, reviewers)))
    return Plan(tuple(envs), _gate_warnings(client, cfg, envs))


def _gate_warnings(client, cfg: Config, envs: list[EnvironmentPlan]) -> tuple[str, ...]:
    """Delivery mode holds production at the gate only while the gate has required reviewers."""
    gate = next((env for env in envs if env.name == cfg.gate_environment), None)
    if gate is not None:
        after = gate.reviewers if gate.reviewers is not None else gate.current.reviewers
    else:
        after = read(client, cfg.gate_environment).reviewers
    if after:
        return ()
    return (f"gate environment {cfg.gate_environment} has no required reviewers: in delivery mode nothing holds "
            "production for an approval; name them under gate.reviewers",)


# --- applying -------------------------------------------------------------------------------------

def check_can_apply(client, origin: Origin) -> None:
    """Refuses, with reads only, an untrusted run or a token that cannot administer the repository."""
    repo = client.get_repository()
    if origin.in_actions:
        default = f"refs/heads/{repo['default_branch']}"
        if origin.event not in TRUSTED_EVENTS or origin.ref != default:
            raise PermissionDeniedError(
                f"environments apply refused in a {origin.event or 'unknown'} run of {origin.ref or 'an unknown ref'}",
                f"{DEFAULT_PATH} there comes from a commit not on the default branch, and apply writes with an "
                "admin's token", f"run it on {default} (push, workflow_dispatch or schedule), or by hand as an admin")
    if repo["admin"] is False:
        raise PermissionDeniedError(f"environments apply needs a token that can administer {client.ctx.repository}",
                                    "GitHub says this token cannot (permissions.admin is false)", ADMIN_FIX)


def apply(client, planned: Plan) -> list[Change]:
    """Makes the plan's changes: per environment one PUT (all four replaced-together fields), then the
    policies to add, then those to remove (adding first never leaves a branch locked out in between)."""
    done: list[Change] = []
    try:
        for env in planned.drifted:
            body = env.put_body()
            if body is not None:
                client.put_environment(env.name, body)
                done += [c for c in env.changes if c.field in PUT_FIELDS or c.action == "create"]
            ids = {(kind, pattern): ident for kind, pattern, ident in env.current.policies}
            for change in env.changes:
                if change.field.endswith("-policy") and change.action == "add":
                    client.create_branch_policy(env.name, change.after, change.field.removesuffix("-policy"))
                    done.append(change)
            for change in env.changes:
                if change.field.endswith("-policy") and change.action == "remove":
                    client.delete_branch_policy(env.name, ids[(change.field.removesuffix("-policy"), change.before)])
                    done.append(change)
    except PermissionDeniedError as err:
        # GitHub does not always say up front whether a token can administer (check_can_apply): the first
        # refused write says it, and every write needs the same permission, so nothing after it was made.
        raise PermissionDeniedError(f"environments apply needs a token that can administer {client.ctx.repository}",
                                    f"{err.why}; {len(done)} change(s) were made before it", ADMIN_FIX) from None
    except ApiFailure as err:  # 422: e.g. reviewers on a private repository of a plan without them
        raise GitHubAPIError(f"GitHub refused a change to environment {env.name}",
                             f"{err}; {len(done)} change(s) were made before it",
                             "correct what GitHub names in .github/cd.yml and run apply again: it makes only what "
                             "still differs") from None
    return done


def _mode(branches: str | tuple[str, ...]) -> str:
    return "custom" if isinstance(branches, tuple) else branches


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
