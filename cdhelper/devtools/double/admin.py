"""Admin routes under /_double/: control a double from another process (tests, rehearsals, CLI).

They are not GitHub's: no authentication, never faulted, never counted in the request log.
"""

from __future__ import annotations

from dataclasses import asdict

from . import variants
from .http import ApiError, Fault, Request, Response, not_found, validation_failed
from .rest import ensure_environment, new_run, review, router
from .rest.environments import set_protection
from .rest.jobs import add_job, find_job, update_job
from .rest.runs import rerun
from .rest.variables import register_workflow, workflow_id


def _repo(req: Request):
    repo = req.app.world.repo(req.params["owner"], req.params["repo"])
    if repo is None:
        raise not_found()
    return repo


@router.add("GET", "/_double/log", admin=True)
def get_log(req: Request) -> Response:
    entries = [{k: v for k, v in asdict(e).items()} for e in list(req.app.log)]
    return Response(200, {"total": len(entries), "counts": dict(req.app.counts()), "entries": entries})


@router.add("DELETE", "/_double/log", admin=True)
def clear_log(req: Request) -> Response:
    req.app.reset_log()
    return Response(204)


@router.add("POST", "/_double/faults", admin=True)
def add_fault(req: Request) -> Response:
    body = req.json_object()
    try:
        req.app.faults.append(Fault(**body))
    except (TypeError, ValueError) as exc:
        raise ApiError(422, f"bad fault: {exc}") from exc
    return Response(201, body)


@router.add("DELETE", "/_double/faults", admin=True)
def clear_faults(req: Request) -> Response:
    req.app.faults.clear()
    return Response(204)


@router.add("POST", "/_double/tokens", admin=True)
def add_token(req: Request) -> Response:
    body = req.json_object()
    req.app.register_token(body["token"], login=body.get("login", "github-actions[bot]"),
                           kind=body.get("kind", "integration"), permissions=body.get("permissions"))
    return Response(201, {"login": body.get("login", "github-actions[bot]")})


@router.add("PUT", "/_double/job-permissions", admin=True)
def put_job_permissions(req: Request) -> Response:
    """{KEY: {"job": NAME, "permissions": {scope: level}}}: the GITHUB_TOKEN each job gets when it
    starts (KEY as the job's start call sends it in `token_for`); replaces the plan."""
    body = req.json_object()
    if not all(isinstance(v, dict) and isinstance(v.get("job"), str) and isinstance(v.get("permissions"), dict)
               for v in body.values()):
        raise validation_failed("each job needs a `job` name and a `permissions` mapping")
    req.app.job_permissions = {k: {"job": v["job"], "permissions": dict(v["permissions"])} for k, v in body.items()}
    return Response(200, {"jobs": sorted(req.app.job_permissions)})


@router.add("GET", "/_double/refusals", admin=True)
def get_refusals(req: Request) -> Response:
    """The requests refused for a permission their token lacks, each naming the job and the scope."""
    return Response(200, {"refusals": [{**asdict(r), "line": r.line()} for r in req.app.refusals]})


@router.add("POST", "/_double/clock", admin=True)
def advance_clock(req: Request) -> Response:
    req.app.world.clock.offset += float(req.json_object().get("advance", 0))
    return Response(200, {"offset": req.app.world.clock.offset})


@router.add("PUT", "/_double/repos/{owner}/{repo}/environments/{environment_name}", admin=True)
def set_environment(req: Request) -> Response:
    body, world = req.json_object(), req.app.world
    with world.lock:
        env = ensure_environment(_repo(req), req.params["environment_name"])
        set_protection(world, env, reviewers=body.get("reviewers", []),
                       prevent_self_review=bool(body.get("prevent_self_review", False)),
                       wait_timer=int(body.get("wait_timer", 0)), branches=body.get("branches"),
                       tags=body.get("tags", []))
    return Response(200, {"name": env["name"]})


@router.add("POST", "/_double/repos/{owner}/{repo}/runs", admin=True)
def create_run(req: Request) -> Response:
    body = req.json_object()
    with req.app.world.lock:
        repo = _repo(req)
        run = new_run(repo, run_id=body.get("id"), head_sha=body.get("head_sha"), actor=body.get("actor", "octocat"),
                      event=body.get("event", "push"), pending=body.get("waiting_on", []))
        for env_name, plan in (body.get("planned_reviews") or {}).items():
            run["planned_reviews"][env_name.lower()] = plan
    return Response(201, {"id": run["id"], "pending": list(run["pending"])})


def _run_of(req: Request):
    repo = _repo(req)
    try:
        run = repo.runs.get(int(req.params["run_id"]))
    except ValueError:
        run = None
    if run is None:
        raise not_found()
    return repo, run


@router.add("POST", "/_double/repos/{owner}/{repo}/runs/{run_id}/planned-reviews", admin=True)
def plan_review(req: Request) -> Response:
    """{"environment", "reviewer", "state"?, "comment"?}: the reviewer answers when the run is next seen
    waiting on that environment (also after a re-run)."""
    body = req.json_object()
    if not isinstance(body.get("environment"), str) or not isinstance(body.get("reviewer"), str):
        raise validation_failed("environment and reviewer are required")
    with req.app.world.lock:
        _, run = _run_of(req)
        run["planned_reviews"][body["environment"].lower()] = {
            "reviewer": body["reviewer"], "state": body.get("state", "approved"), "comment": body.get("comment", "")}
    return Response(201, {"planned": sorted(run["planned_reviews"])})


@router.add("POST", "/_double/repos/{owner}/{repo}/runs/{run_id}/rerun", admin=True)
def rerun_run(req: Request) -> Response:
    """Re-run all jobs: {"actor"?, "waiting_on"?} -> the run's next attempt."""
    body = req.json_object()
    with req.app.world.lock:
        repo, run = _run_of(req)
        rerun(repo, run, actor=body.get("actor"), waiting_on=body.get("waiting_on"))
    return Response(200, {"id": run["id"], "run_attempt": run["run_attempt"], "pending": list(run["pending"])})


@router.add("POST", "/_double/repos/{owner}/{repo}/runs/{run_id}/jobs", admin=True)
def create_job(req: Request) -> Response:
    """A job that ran: {"name", "attempt"?, "environment"?, "status"?, "conclusion"?, "environment_url"?,
    "deployment"?, "token_for"?} -> {"id", "deployment_id", "token"?} (the job id is also its check run
    id). `token_for`: the key of a planned job (PUT /_double/job-permissions): its GITHUB_TOKEN is made."""
    body = req.json_object()
    key = body.get("token_for")
    if key is not None and key not in req.app.job_permissions:
        raise validation_failed(f"no permissions planned for job {key!r} (PUT /_double/job-permissions first)")
    with req.app.world.lock:
        repo, run = _run_of(req)
        job = add_job(repo, run, name=body.get("name"), web=req.root_url, attempt=body.get("attempt"),
                      environment=body.get("environment"), status=body.get("status", "in_progress"),
                      conclusion=body.get("conclusion"), environment_url=body.get("environment_url") or "",
                      deployment=body.get("deployment"))
    made = {"id": job["id"], "deployment_id": job["deployment_id"]}
    if key is not None:
        made["token"] = req.app.mint_job_token(key)
    return Response(201, made)


@router.add("PATCH", "/_double/repos/{owner}/{repo}/jobs/{job_id}", admin=True)
def patch_job(req: Request) -> Response:
    """{"status"?, "conclusion"?, "environment_url"?} -> the job's state."""
    body = req.json_object()
    with req.app.world.lock:
        repo = _repo(req)
        job = update_job(repo, find_job(repo, req.params["job_id"]), status=body.get("status"),
                         conclusion=body.get("conclusion"), environment_url=body.get("environment_url"))
    return Response(200, {"id": job["id"], "status": job["status"], "conclusion": job["conclusion"]})


@router.add("PUT", "/_double/repos/{owner}/{repo}/workflows", admin=True)
def put_workflow(req: Request) -> Response:
    """{"path": "promote.yml" | ".github/workflows/promote.yml", "content": YAML} -> {"path", "id"}: the
    double then checks dispatches of it as GitHub would (trigger, inputs)."""
    body = req.json_object()
    if not isinstance(body.get("path"), str) or not isinstance(body.get("content"), str):
        raise validation_failed("path and content are required strings")
    with req.app.world.lock:
        path = register_workflow(_repo(req), body["path"], body["content"])
    return Response(200, {"path": path, "id": workflow_id(path)})


@router.add("GET", "/_double/variants", admin=True)
def get_variants(req: Request) -> Response:
    return Response(200, {"variants": variants.describe(req.app.world.variants)})


@router.add("PUT", "/_double/variants", admin=True)
def put_variants(req: Request) -> Response:
    """{"variants": ["ghes", "approvals-any-order:shuffled", ...]} replaces the active set ([] = none)."""
    body = req.json_object()
    try:
        parsed = variants.parse(body.get("variants") or [])
    except ValueError as exc:
        raise validation_failed(str(exc)) from exc
    with req.app.world.lock:
        req.app.world.variants = parsed
    return Response(200, {"variants": variants.describe(parsed)})


@router.add("POST", "/_double/repos/{owner}/{repo}/runs/{run_id}/review", admin=True)
def review_run(req: Request) -> Response:
    body = req.json_object()
    with req.app.world.lock:
        repo = _repo(req)
        run = repo.runs.get(int(req.params["run_id"]))
        if run is None:
            raise not_found()
        review(repo, run, [body["environment"].lower()], body["reviewer"], body.get("state", "approved"),
               body.get("comment", ""))
    return Response(200, {"pending": list(run["pending"])})


@router.add("POST", "/_double/repos/{owner}/{repo}/seed", admin=True)
def seed(req: Request) -> Response:
    body = req.json_object()
    ids = req.app.world.seed_deployments(_repo(req), int(body["count"]), list(body["environments"]),
                                         state=body.get("state", "success"), payload=body.get("payload"))
    return Response(201, {"created": len(ids)})


@router.add("GET", "/_double/assets/{owner}/{repo}/{asset_id}", admin=True)
def download_asset(req: Request) -> Response:
    asset = _repo(req).assets.get(int(req.params["asset_id"]))
    if asset is None:
        raise not_found()
    asset["downloads"] += 1
    return Response(200, raw=asset["data"], headers={"Content-Type": asset["content_type"]})
