"""Actions variables (https://docs.github.com/rest/actions/variables; GITHUB_TOKEN has no access at all)
and the two dispatch events (https://docs.github.com/rest/actions/workflows,
https://docs.github.com/rest/repos/repos#create-a-repository-dispatch-event)."""

from __future__ import annotations

import json
import re
import zlib
from urllib.parse import quote

import yaml

from ..http import ApiError, Request, Response, not_found, paginate, validation_failed
from ..model import Repo, iso
from .common import Ctx, node_id, router
from .environments import _environment
from .runs import new_run


def _variable_scope(req: Request) -> dict[str, dict]:
    repo = Ctx(req).repo
    if "environment_name" in req.params:
        env = _environment(repo, req.params["environment_name"])
        return repo.env_variables.setdefault(env["name"].lower(), {})
    return repo.variables


def _variable_json(var: dict) -> dict:
    return {"name": var["name"], "value": var["value"], "created_at": iso(var["created_at"]),
            "updated_at": iso(var["updated_at"])}


def _list_variables(req: Request) -> Response:
    scope = _variable_scope(req)
    items = sorted(scope.values(), key=lambda v: v["name"])
    page, headers = paginate(req, items, default=10, maximum=30)
    return Response(200, {"total_count": len(items), "variables": [_variable_json(v) for v in page]}, headers)


def _create_variable(req: Request) -> Response:
    scope, body = _variable_scope(req), req.json_object()
    name, value = body.get("name"), body.get("value")
    if not isinstance(name, str) or not isinstance(value, str):
        raise validation_failed("Invalid request.\n\n\"name\" and \"value\" are required strings.", shape=True)
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name) or name.upper().startswith("GITHUB_"):
        raise validation_failed("Invalid request.\n\nname must be [A-Za-z0-9_], not start with a digit or GITHUB_.")
    if name.upper() in scope:
        raise ApiError(409, "Already exists - Variable already exists")
    now = req.app.world.clock.now()
    scope[name.upper()] = {"name": name.upper(), "value": value, "created_at": now, "updated_at": now}
    return Response(201, {})


def _get_variable(req: Request) -> Response:
    var = _variable_scope(req).get(req.params["name"].upper())
    if var is None:
        raise not_found()
    return Response(200, _variable_json(var))


def _update_variable(req: Request) -> Response:
    scope, body = _variable_scope(req), req.json_object()
    var = scope.get(req.params["name"].upper())
    if var is None:
        raise not_found()
    if "value" in body:
        var["value"] = body["value"]
    if "name" in body and body["name"].upper() != var["name"]:
        scope.pop(var["name"])
        var["name"] = body["name"].upper()
        scope[var["name"]] = var
    var["updated_at"] = req.app.world.clock.now()
    return Response(204)


def _delete_variable(req: Request) -> Response:
    scope = _variable_scope(req)
    if scope.pop(req.params["name"].upper(), None) is None:
        raise not_found()
    return Response(204)


for _prefix in ("/repos/{owner}/{repo}/actions/variables", "/repos/{owner}/{repo}/environments/{environment_name}/variables"):
    router.add("GET", _prefix, ("variables", "read"))(_list_variables)
    router.add("POST", _prefix, ("variables", "write"))(_create_variable)
    router.add("GET", _prefix + "/{name}", ("variables", "read"))(_get_variable)
    router.add("PATCH", _prefix + "/{name}", ("variables", "write"))(_update_variable)
    router.add("DELETE", _prefix + "/{name}", ("variables", "write"))(_delete_variable)


WORKFLOWS_DIR = ".github/workflows/"
DISPATCH_DOCS = "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event"


def workflow_id(path: str) -> int:
    """A stable numeric id for a workflow file (GitHub's are opaque numbers)."""
    return 10_000_000 + zlib.crc32(path.encode()) % 90_000_000


def register_workflow(repo: Repo, path: str, text: str) -> str:
    """Let the double know a workflow file (for repositories without a git directory)."""
    path = path if "/" in path else WORKFLOWS_DIR + path
    repo.workflows[path] = {"id": workflow_id(path), "text": text}
    return path


def workflow_file(repo: Repo, workflow: str, ref: str) -> tuple[str, str | None] | None:
    """(path, text) of the workflow a dispatch names (file name or numeric id) as of `ref`, text None
    when the double cannot know it (no git directory, no registered workflows: anything goes, as before).
    None: the repository has no such workflow."""
    knows = bool(repo.workflows) or repo.git is not None
    if workflow.isdigit():
        paths = [*repo.workflows, *(repo.git.files(repo.default_branch, WORKFLOWS_DIR) if repo.git else [])]
        path = next((p for p in paths if workflow_id(p) == int(workflow)), None)
        if path is None:
            return None if knows else (WORKFLOWS_DIR + workflow, None)
    elif workflow.endswith((".yml", ".yaml")):
        path = WORKFLOWS_DIR + workflow
    else:
        return None
    if path in repo.workflows:
        return path, repo.workflows[path]["text"]
    if repo.git is not None:
        text = repo.git.file(ref, path)
        return (path, text) if text is not None else None
    return None if knows else (path, None)


def dispatch_inputs(text: str, given: dict) -> dict:
    """Check a dispatch against the workflow file and fill in defaults, with GitHub's 422s."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        doc = {}
    triggers = doc.get("on", doc.get(True)) if isinstance(doc, dict) else None  # YAML 1.1 reads `on` as true
    if isinstance(triggers, str):
        triggers = {triggers: None}
    elif isinstance(triggers, list):
        triggers = dict.fromkeys(triggers)
    if not isinstance(triggers, dict) or "workflow_dispatch" not in triggers:
        # fcetool/fcetool#1 and others quote GitHub's answer word for word
        raise validation_failed("Workflow does not have 'workflow_dispatch' trigger", docs=DISPATCH_DOCS)
    declared = ((triggers["workflow_dispatch"] or {}).get("inputs") or {})
    unexpected = [k for k in given if k not in declared]
    if unexpected:
        # peter-evans/slash-command-dispatch#95, Codex-/return-dispatch#188: 'Unexpected inputs provided: ["x"]'
        raise validation_failed(f"Unexpected inputs provided: {json.dumps(unexpected)}", docs=DISPATCH_DOCS)
    out = dict(given)
    for name, spec in declared.items():
        spec = spec or {}
        if name in out:
            continue
        if "default" in spec:
            out[name] = spec["default"]
        elif spec.get("required"):
            raise validation_failed(f"Required input '{name}' not provided", docs=DISPATCH_DOCS)
    return out


@router.add("GET", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}", ("actions", "read"))
def get_workflow(req: Request) -> Response:
    # https://docs.github.com/rest/actions/workflows#get-a-workflow , by file name or id: what PyGithub's
    # get_workflow() reads before create_dispatch() (PyGithub replay data,
    # Workflow.testCreateDispatchForNonTriggerEnabled: GET .../workflows/check.yml, then the dispatch by id).
    ctx = Ctx(req)
    repo = ctx.repo
    found = workflow_file(repo, req.params["workflow_id"], repo.resolve(repo.default_branch) or repo.default_branch)
    if found is None:
        raise not_found()
    path, text = found
    try:
        doc = yaml.safe_load(text or "") or {}
    except yaml.YAMLError:
        doc = {}
    name = doc.get("name") if isinstance(doc, dict) and isinstance(doc.get("name"), str) else path
    ident, created = workflow_id(path), iso(repo.created_at)
    web = f"{ctx.web}/{repo.full_name}"
    return Response(200, {
        "id": ident, "node_id": node_id("W", ident), "name": name, "path": path, "state": "active",
        "created_at": created, "updated_at": created, "url": f"{ctx.repo_url(repo)}/actions/workflows/{ident}",
        "html_url": f"{web}/blob/{repo.default_branch}/{path}",
        # by name, percent-encoded (".../workflows/Manual%20dispatch%20test%20workflow/badge.svg", same data)
        "badge_url": f"{web}/workflows/{quote(name)}/badge.svg"})


@router.add("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", ("actions", "write"))
def dispatch_workflow(req: Request) -> Response:
    # https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event . When the double
    # knows the repository's workflow files (its git directory, or ones registered with
    # /_double/repos/{o}/{r}/workflows) it refuses what GitHub refuses: an unknown workflow (404), one
    # without a workflow_dispatch trigger, an input it does not declare, a required input left out (422).
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    ref = body.get("ref")
    if not isinstance(ref, str):
        raise validation_failed("Invalid request.\n\n\"ref\" wasn't supplied.", shape=True)
    inputs = body.get("inputs") or {}
    ghes = repo.world.variant("ghes") is not None
    if len(inputs) > (10 if ghes else 25):  # GHES 3.19's description: at most 10
        raise validation_failed(f"Invalid request.\n\nNo more than {10 if ghes else 25} inputs are allowed.",
                                shape=True)
    if ghes and "return_run_details" in body:
        # GHES 3.19 refuses the key github.com added in February 2026 (benc-uk/workflow-dispatch#86)
        raise validation_failed("Invalid request.\n\n\"return_run_details\" is not a permitted key.")
    sha = repo.resolve(ref.removeprefix("refs/heads/").removeprefix("refs/tags/"))
    found = workflow_file(repo, req.params["workflow_id"], sha or ref)
    if found is None:
        raise not_found()
    path, text = found
    if sha is None:
        raise validation_failed(f"No ref found for: {ref}")
    if text is not None:
        inputs = dispatch_inputs(text, inputs)
    run = new_run(repo, head_sha=sha, actor=req.principal.login, event="workflow_dispatch", path=path,
                  head_branch=ref)
    run["status"] = "queued"
    repo.dispatches.append({"kind": "workflow_dispatch", "workflow": req.params["workflow_id"], "ref": ref,
                            "inputs": inputs, "run_id": run["id"]})
    if body.get("return_run_details"):
        url = f"{ctx.repo_url(repo)}/actions/runs/{run['id']}"
        return Response(200, {"workflow_run_id": run["id"], "run_url": url,
                              "html_url": f"{ctx.web}/{repo.full_name}/actions/runs/{run['id']}"})
    return Response(204)


@router.add("POST", "/repos/{owner}/{repo}/dispatches", ("contents", "write"))
def repository_dispatch(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    event_type = body.get("event_type")
    if not isinstance(event_type, str) or not 1 <= len(event_type) <= 100:
        raise validation_failed("Invalid request.\n\nevent_type must be 1 to 100 characters.", shape=True)
    payload = body.get("client_payload") or {}
    if len(payload) > 10:
        raise validation_failed(f"Invalid request.\n\nNo more than 10 properties are allowed; {len(payload)} were supplied.",
                                shape=True)
    repo.dispatches.append({"kind": "repository_dispatch", "event_type": event_type, "client_payload": payload})
    return Response(204)
