"""Variants: GitHub behaviours that are not confirmed, or differ between github.com and GitHub
Enterprise Server, as switches. With none set the double answers as github.com does today.

A variant is named `NAME` or `NAME:SETTING` (the setting picks one of several realistic answers;
the first listed is the default). docs/github-double.md says what each reproduces and why.
"""

from __future__ import annotations

from collections.abc import Iterable

# name -> settings (first = default); None: the setting is free text (the GHES version)
KNOWN: dict[str, tuple[str, ...] | None] = {
    # GraphQL createDeploymentStatus answered as if the mutation were still behind its `flash` preview
    "status-mutation-refused": ("undefined-field", "forbidden", "preview-required"),
    # GraphQL resource(url:) of a workflow run URL resolves to null, without an error
    "run-resource-null": (),
    # ... or to a typed error on the field's path, the rest of the query answering normally
    "run-resource-forbidden": ("forbidden", "not-found"),
    # review history in no particular order (GitHub documents none and gives no timestamps)
    "approvals-any-order": ("oldest-first", "shuffled"),
    # PUT /environments/{name} resets the protection fields the body leaves out (wait_timer 0,
    # prevent_self_review false, no reviewers, no branch policy), as PyGithub's users report
    "environment-put-replaces": (),
    # GET /repos/{o}/{r} without `permissions` (UNCONFIRMED which tokens GitHub answers so; App tokens may)
    "repo-permissions-absent": (),
    # GET /rate_limit shows an installation token (GITHUB_TOKEN) ten resources, not fourteen (sources disagree)
    "rate-limit-installation-subset": (),
    # a ref read with GET /git/ref/{ref} has the url .../git/refs/{ref}, not the path it was read by (recordings disagree)
    "ref-url-plural": (),
    # GitHub Enterprise Server: /api/v3 and /api/graphql, /meta installed_version, a deployment per environment job
    "ghes": None,
}
GHES_DEFAULT_VERSION = "3.19.0"
EXCLUSIVE = [{"run-resource-null", "run-resource-forbidden"}]


def parse(specs: str | Iterable[str] | None) -> dict[str, str]:
    """`"ghes"`, `"ghes:3.17.2"`, `["approvals-any-order:shuffled", "run-resource-null"]` -> {name: setting}.
    Raises ValueError for unknown names or settings and for variants that exclude each other."""
    if specs is None:
        return {}
    if isinstance(specs, str):
        specs = [specs]
    out: dict[str, str] = {}
    for spec in specs:
        name, _, setting = str(spec).strip().partition(":")
        if name not in KNOWN:
            raise ValueError(f"unknown variant {name!r}; known: {', '.join(sorted(KNOWN))}")
        choices = KNOWN[name]
        if choices is None:
            setting = setting or GHES_DEFAULT_VERSION
            if not all(part.isdigit() for part in setting.split(".")):
                raise ValueError(f"variant {name}: {setting!r} is not a version such as {GHES_DEFAULT_VERSION}")
        elif not choices:
            if setting:
                raise ValueError(f"variant {name} takes no setting (got {setting!r})")
        else:
            setting = setting or choices[0]
            if setting not in choices:
                raise ValueError(f"variant {name}: setting {setting!r} is not one of {', '.join(choices)}")
        out[name] = setting
    for group in EXCLUSIVE:
        if len(group & set(out)) > 1:
            raise ValueError(f"variants {' and '.join(sorted(group & set(out)))} exclude each other")
    return out


def describe(variants: dict[str, str]) -> list[str]:
    """Back to `NAME[:SETTING]` strings (what the admin route and `GitHubDouble.variants` show)."""
    return [f"{name}:{setting}" if setting else name for name, setting in sorted(variants.items())]
