"""Actions variables (https://docs.github.com/rest/actions/variables; GITHUB_TOKEN has no access at all)
and the two dispatch events (https://docs.github.com/rest/actions/workflows,
https://docs.github.com/rest/repos/repos#create-a-repository-dispatch-event)."""

from __future__ import annotations

import re

from ..http import ApiError, Request, Response, not_found, paginate, validation_failed
from ..model import iso
from .common import Ctx, router
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
    if not isinstance(name, str) or not isinstance(value, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name) \
            or name.upper().startswith("GITHUB_"):
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


@router.add("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", ("actions", "write"))
def dispatch_workflow(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    workflow = req.params["workflow_id"]
    if not (workflow.isdigit() or workflow.endswith((".yml", ".yaml"))):
        raise not_found()
    ref = body.get("ref")
    if not isinstance(ref, str):
        raise validation_failed("Invalid request.\n\n\"ref\" wasn't supplied.")
    inputs = body.get("inputs") or {}
    if len(inputs) > 25:
        raise validation_failed("Invalid request.\n\nNo more than 25 inputs are allowed.")
    sha = repo.resolve(ref.removeprefix("refs/heads/").removeprefix("refs/tags/"))
    if sha is None:
        raise validation_failed(f"No ref found for: {ref}")
    run = new_run(repo, head_sha=sha, actor=req.principal.login, event="workflow_dispatch",
                  path=f".github/workflows/{workflow}", head_branch=ref)
    run["status"] = "queued"
    repo.dispatches.append({"kind": "workflow_dispatch", "workflow": workflow, "ref": ref, "inputs": inputs,
                            "run_id": run["id"]})
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
        raise validation_failed("Invalid request.\n\nevent_type must be 1 to 100 characters.")
    payload = body.get("client_payload") or {}
    if len(payload) > 10:
        raise validation_failed("Invalid request.\n\nNo more than 10 properties are allowed; 11 were supplied.")
    repo.dispatches.append({"kind": "repository_dispatch", "event_type": event_type, "client_payload": payload})
    return Response(204)
