"""The permissions GitHub gives a job's GITHUB_TOKEN, computed from the workflow as GitHub does.

    token_permissions(job, workflow, default="restricted", caller=None) -> {"contents": "read", ...}

Sources: GitHub's docs ("Controlling permissions for GITHUB_TOKEN", "GITHUB_TOKEN reference",
"Reusing workflow configurations") and the runner's workflow parser (actions/runner,
src/Sdk/WorkflowParser/Conversion/PermissionsHelper.cs and WorkflowTemplateConverter.cs):

- A job's `permissions:` wins, else the workflow's top-level `permissions:`, else the
  repository's default: "restricted" (contents: read, packages: read) or "permissive" (write on
  everything that has write). Naming any scope sets every scope not named to none; `{}` is none
  at all; `read-all` / `write-all` set every scope. metadata: read is always granted.
- A job of a called (reusable) workflow: the caller job's explicit permissions (its own, else its
  workflow's, else what its own caller passed down) are a ceiling. The called job's own
  permissions (else its workflow's top-level) must stay within it; if they do not, GitHub refuses
  the whole run before any job starts ("The nested job 'X' is requesting 'deployments: write', but
  is only allowed 'deployments: read'"), it does not cap them. A called workflow that says nothing
  gets the ceiling; with no ceiling anywhere, the repository's default.
"""

from __future__ import annotations

from collections.abc import Mapping

# GitHub's list for GITHUB_TOKEN (workflow syntax, `permissions`), plus repository-projects, which
# older workflows still name. Levels: read < write; id-token has no read, models no write.
SCOPES = ("actions", "artifact-metadata", "attestations", "checks", "code-quality", "contents", "deployments",
          "discussions", "id-token", "issues", "models", "packages", "pages", "pull-requests",
          "repository-projects", "security-events", "statuses", "vulnerability-alerts")
WRITE_ONLY = {"id-token"}
READ_ONLY = {"models"}
LEVELS = {"none": 0, "read": 1, "write": 2}
DEFAULTS = ("restricted", "permissive")


class PermissionsError(ValueError):
    """A `permissions:` GitHub would refuse; str() is one line."""


class ExceedsCaller(PermissionsError):
    """A called workflow asks for more than its caller allows: GitHub refuses the run at start."""

    def __init__(self, job: str, requested: list[str], allowed: list[str]):
        self.job, self.requested, self.allowed = job, requested, allowed
        super().__init__(f"the nested job '{job}' is requesting '{', '.join(requested)}', "
                         f"but is only allowed '{', '.join(allowed)}'")


def _all(level: str) -> dict[str, str]:
    out = {}
    for scope in SCOPES:
        if scope in WRITE_ONLY:
            out[scope] = "write" if level == "write" else "none"  # read-all grants no id-token
        elif scope in READ_ONLY:
            out[scope] = "read" if level != "none" else "none"
        else:
            out[scope] = level
    return out


def default(policy: str = "restricted") -> dict[str, str]:
    """The repository's default workflow permissions (Settings > Actions > Workflow permissions)."""
    if policy == "restricted":
        return {**_all("none"), "contents": "read", "packages": "read", "metadata": "read"}
    if policy == "permissive":
        # The docs' table gives id-token none in both defaults: a job asks for it explicitly.
        return {**_all("write"), "id-token": "none", "metadata": "read"}
    raise PermissionsError(f"unknown default workflow permissions {policy!r} (one of {', '.join(DEFAULTS)})")


def parse(spec) -> dict[str, str] | None:
    """A `permissions:` value as a full map (every scope, metadata read); None when it is absent."""
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in {"read-all", "write-all"}:
            raise PermissionsError(f"permissions: {spec!r} is not read-all, write-all or a mapping")
        return {**_all(spec.removesuffix("-all")), "metadata": "read"}
    if not isinstance(spec, Mapping):
        raise PermissionsError(f"permissions: {spec!r} is not read-all, write-all or a mapping")
    out = {**_all("none"), "metadata": "read"}
    for scope, level in spec.items():
        if scope not in SCOPES or level not in LEVELS:
            raise PermissionsError(f"permissions: `{scope}: {level}` is not a GITHUB_TOKEN permission and level")
        if (scope in WRITE_ONLY and level == "read") or (scope in READ_ONLY and level == "write"):
            raise PermissionsError(f"permissions: `{scope}: {level}` is not a level {scope} has")
        out[scope] = level
    return out


def explicit(job: Mapping, workflow: Mapping, caller: dict[str, str] | None = None) -> dict[str, str] | None:
    """What the job's workflow file says for it (its own, else the top-level), else what the caller
    passed down: the ceiling a job that calls a workflow hands on. None: nothing explicit anywhere."""
    own = parse(job.get("permissions"))
    if own is not None:
        return own
    top = parse(workflow.get("permissions"))
    return top if top is not None else caller


def token_permissions(job: Mapping, workflow: Mapping, *, job_id: str = "", policy: str = "restricted",
                      caller: dict[str, str] | None = None, called: bool = False) -> dict[str, str]:
    """The job's GITHUB_TOKEN permissions. `called`: the workflow is a reusable one; `caller`: the
    calling job's `explicit(...)` (None when nothing up the chain set permissions, then the
    repository's default is the ceiling). Raises ExceedsCaller as GitHub refuses such a run."""
    if called:
        # With no ceiling up the chain, the default policy is one; the permissive one lets a workflow
        # of the same repository (trusted, as the runner's parser says) ask for id-token too.
        ceiling = caller if caller is not None else {**default(policy), **({"id-token": "write"} if policy == "permissive" else {})}
        for requested in (parse(workflow.get("permissions")), parse(job.get("permissions"))):
            if requested is not None:
                _check_within(job_id, requested, ceiling)
    found = explicit(job, workflow, caller if called else None)
    return found if found is not None else default(policy)


def _check_within(job_id: str, requested: dict[str, str], ceiling: dict[str, str]) -> None:
    over = [s for s in SCOPES if LEVELS[requested.get(s, "none")] > LEVELS[ceiling.get(s, "none")]]
    if over:
        raise ExceedsCaller(job_id, [f"{s}: {requested[s]}" for s in over], [f"{s}: {ceiling.get(s, 'none')}" for s in over])


def meet(a: dict[str, str], b: dict[str, str]) -> dict[str, str]:
    """The lower level of each scope: what two computations for the same job both grant."""
    return {s: min(a.get(s, "none"), b.get(s, "none"), key=LEVELS.__getitem__) for s in {*a, *b}}


def shown(permissions: Mapping[str, str]) -> str:
    """The scopes a token has, as a `permissions:` block would name them."""
    return ", ".join(f"{s}: {permissions[s]}" for s in sorted(permissions) if permissions[s] != "none") or "none"
