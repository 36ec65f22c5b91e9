"""Extract the GitHub REST paths cdhelper and its double use from @octokit/openapi.

Usage: python tests/tools/extract_openapi_subset.py PATH/TO/api.github.com.json tests/data/github-openapi-subset.json

(from `npm pack @octokit/openapi@23.0.2`: package/generated/). The same paths from the GitHub Enterprise
Server description beside it (ghes-3.19.json) go under the key `x-cdhelper-ghes`, a complete description
of its own, so exchanges with the double's `ghes` variant are checked against what GHES documents.

The full description is 13 MB and takes ~30 s to validate; the subset (paths below plus every
component they reference, transitively) is small enough to commit and loads in about a second.
Regenerate it when the pinned @octokit/openapi version changes (see .ci/run for the pin).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OCTOKIT_OPENAPI_VERSION = "23.0.2"
NULL_ONLY = {"enum": [None], "nullable": True}  # an alternative that accepts null and nothing else

PATHS = [
    "/meta",
    "/rate_limit",
    "/repos/{owner}/{repo}",
    "/repos/{owner}/{repo}/deployments",
    "/repos/{owner}/{repo}/deployments/{deployment_id}",
    "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
    "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses/{status_id}",
    "/repos/{owner}/{repo}/environments",
    "/repos/{owner}/{repo}/environments/{environment_name}",
    "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
    "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies/{branch_policy_id}",
    "/users/{username}",
    "/orgs/{org}/teams/{team_slug}",
    "/repos/{owner}/{repo}/compare/{basehead}",
    "/repos/{owner}/{repo}/environments/{environment_name}/variables",
    "/repos/{owner}/{repo}/environments/{environment_name}/variables/{name}",
    "/repos/{owner}/{repo}/actions/runs/{run_id}",
    "/repos/{owner}/{repo}/actions/runs/{run_id}/approvals",
    "/repos/{owner}/{repo}/actions/runs/{run_id}/pending_deployments",
    "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
    "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs",
    "/repos/{owner}/{repo}/actions/jobs/{job_id}",
    "/repos/{owner}/{repo}/actions/variables",
    "/repos/{owner}/{repo}/actions/variables/{name}",
    "/repos/{owner}/{repo}/actions/workflows/{workflow_id}",
    "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches",
    "/repos/{owner}/{repo}/dispatches",
    "/repos/{owner}/{repo}/git/refs",
    "/repos/{owner}/{repo}/git/ref/{ref}",
    "/repos/{owner}/{repo}/git/matching-refs/{ref}",
    "/repos/{owner}/{repo}/git/refs/{ref}",
    "/repos/{owner}/{repo}/git/tags",
    "/repos/{owner}/{repo}/git/tags/{tag_sha}",
    "/repos/{owner}/{repo}/releases",
    "/repos/{owner}/{repo}/releases/{release_id}",
    "/repos/{owner}/{repo}/releases/latest",
    "/repos/{owner}/{repo}/releases/tags/{tag}",
    "/repos/{owner}/{repo}/releases/{release_id}/assets",
    "/repos/{owner}/{repo}/releases/assets/{asset_id}",
    "/repos/{owner}/{repo}/statuses/{sha}",
    "/repos/{owner}/{repo}/commits/{ref}/statuses",
    "/repos/{owner}/{repo}/commits/{ref}/status",
    "/repos/{owner}/{repo}/commits/{ref}/check-runs",
    "/repos/{owner}/{repo}/check-runs/{check_run_id}",
    "/repos/{owner}/{repo}/contents/{path}",
]


def _refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def extract(full: dict) -> dict:
    paths = {p: full["paths"][p] for p in PATHS}
    components: dict[str, dict] = {}
    pending: set[str] = set()
    _refs(paths, pending)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        obj = full["components"][kind][name]
        if kind == "examples":
            continue
        components.setdefault(kind, {})[name] = obj
        _refs(obj, pending)
    # Examples are documentation, not contract; drop their references.
    for item in _walk_dicts(paths) + _walk_dicts(components):
        item.pop("examples", None)
        # `nullable: true` next to an `enum` (a job's or check run's `conclusion`) means null is allowed:
        # OpenAPI 3.0.3 says nullable adds null to the allowed values, and GitHub sends null for a job
        # still running. openapi-core checks the enum first and refuses null, so null joins the enum.
        if item.get("nullable") is True and isinstance(item.get("enum"), list) and None not in item["enum"]:
            item["enum"] = [*item["enum"], None]
        # Likewise next to `oneOf` (a commit's `author`: null when no GitHub account is linked to the
        # git author's email): openapi-core tries only the alternatives, so null becomes one of them.
        if item.get("nullable") is True and isinstance(item.get("oneOf"), list) and NULL_ONLY not in item["oneOf"]:
            item["oneOf"] = [*item["oneOf"], NULL_ONLY]
    return {
        "openapi": full["openapi"],
        "info": {**full["info"], "x-cdhelper-subset-of": f"@octokit/openapi@{OCTOKIT_OPENAPI_VERSION}"},
        "servers": [{"url": "{scheme}://{host}", "variables": {"scheme": {"default": "https"}, "host": {"default": "api.github.com"}}}],
        "paths": paths,
        "components": components,
    }


def _walk_dicts(node) -> list[dict]:
    out: list[dict] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            out.append(cur)
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)
    return out


GHES_DESCRIPTION = "ghes-3.19.json"


def main(argv: list[str]) -> int:
    src, dst = Path(argv[1]), Path(argv[2])
    subset = extract(json.loads(src.read_text()))
    ghes = src.with_name(GHES_DESCRIPTION)
    if ghes.exists():
        subset["x-cdhelper-ghes"] = extract(json.loads(ghes.read_text()))
        subset["x-cdhelper-ghes"]["info"]["x-cdhelper-subset-of"] += f" ({GHES_DESCRIPTION})"
    dst.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
    print(f"{len(subset['paths'])} paths, {sum(len(v) for v in subset['components'].values())} components -> {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
