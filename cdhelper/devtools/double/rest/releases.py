"""Releases and their assets (https://docs.github.com/rest/releases)."""

from __future__ import annotations

import hashlib

from ..http import Request, Response, not_found, paginate, validation_failed
from ..model import Repo, iso
from .common import Ctx, node_id, router


def release_json(ctx: Ctx, repo: Repo, rel: dict) -> dict:
    url = f"{ctx.repo_url(repo)}/releases/{rel['id']}"
    html = f"{ctx.web}/{repo.full_name}/releases/tag/{rel['tag_name']}"
    return {
        "url": url, "html_url": html, "assets_url": f"{url}/assets", "upload_url": f"{url}/assets{{?name,label}}",
        "tarball_url": f"{ctx.repo_url(repo)}/tarball/{rel['tag_name']}",
        "zipball_url": f"{ctx.repo_url(repo)}/zipball/{rel['tag_name']}", "id": rel["id"],
        "node_id": node_id("RE", rel["id"]), "tag_name": rel["tag_name"], "target_commitish": rel["target_commitish"],
        "name": rel["name"], "body": rel["body"], "draft": rel["draft"], "prerelease": rel["prerelease"],
        "immutable": False, "created_at": iso(rel["created_at"]),
        "updated_at": iso(rel.get("updated_at", rel["published_at"])),
        "published_at": None if rel["draft"] else iso(rel["published_at"]), "author": ctx.user(rel["author"]),
        "assets": [asset_json(ctx, repo, repo.assets[a]) for a in rel["assets"]],
    }


def asset_json(ctx: Ctx, repo: Repo, asset: dict) -> dict:
    return {
        "url": f"{ctx.repo_url(repo)}/releases/assets/{asset['id']}",
        "browser_download_url": f"{ctx.web}/_double/assets/{repo.full_name}/{asset['id']}",
        "id": asset["id"], "node_id": node_id("RA", asset["id"]), "name": asset["name"], "label": asset["label"],
        "state": "uploaded", "content_type": asset["content_type"], "size": len(asset["data"]),
        "digest": f"sha256:{hashlib.sha256(asset['data']).hexdigest()}", "download_count": asset["downloads"],
        "created_at": iso(asset["created_at"]), "updated_at": iso(asset["created_at"]),
        "uploader": ctx.user(asset["uploader"]),
    }


def _release(repo: Repo, raw_id: str) -> dict:
    try:
        rel = repo.releases.get(int(raw_id))
    except ValueError:
        rel = None
    if rel is None:
        raise not_found()
    return rel


def _commit_date(repo: Repo, rel: dict) -> float | None:
    """The date of the commit the release points at: its tag's if the tag exists, else its target's."""
    sha = repo.resolve(rel["tag_name"]) if f"refs/tags/{rel['tag_name']}" in repo.refs else None
    commit = repo.commit(sha or repo.resolve(rel["target_commitish"]) or "")
    return commit["date"] if commit else None


def _make_latest(repo: Repo, rel: dict, make_latest: object) -> None:
    """make_latest "true" (the default for a newly published release) makes it the latest; "false"
    leaves the latest alone; "legacy" lets the creation date decide. Drafts and prereleases never are."""
    if rel["draft"] or rel["prerelease"] or str(make_latest).lower() == "false":
        return
    repo.latest_release = None if str(make_latest).lower() == "legacy" else rel["id"]


@router.add("POST", "/repos/{owner}/{repo}/releases", ("contents", "write"))
def create_release(req: Request) -> Response:
    # https://docs.github.com/rest/releases/releases#create-a-release . created_at is the date of the
    # release's commit, not of the request ("The created_at attribute is the date of the commit used for
    # the release", docs for "Get the latest release"; PyGithub replay data shows releases made in July
    # 2020 with the created_at of their 2020-07-12 commit); a release made without a name has none (null).
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    tag = body.get("tag_name")
    if not isinstance(tag, str) or not tag:
        raise validation_failed("Validation Failed", errors=[{"resource": "Release", "code": "missing_field",
                                                             "field": "tag_name"}], shape=True)
    if any(r["tag_name"] == tag for r in repo.releases.values()):
        raise validation_failed("Validation Failed", errors=[{"resource": "Release", "code": "already_exists",
                                                             "field": "tag_name"}])
    target = body.get("target_commitish") or repo.default_branch
    draft = bool(body.get("draft", False))
    if f"refs/tags/{tag}" not in repo.refs:
        sha = repo.resolve(target)
        if sha is None:
            raise validation_failed("Validation Failed", errors=[{"resource": "Release", "code": "invalid",
                                                                 "field": "target_commitish"}])
        if not draft:  # publishing a release creates its (lightweight) tag
            repo.refs[f"refs/tags/{tag}"] = sha
    now = repo.world.clock.now()
    rel = {"id": repo.world.next_id(), "tag_name": tag, "target_commitish": target, "name": body.get("name"),
           "body": body.get("body"), "draft": draft, "prerelease": bool(body.get("prerelease", False)),
           "created_at": now, "published_at": now, "updated_at": now, "author": req.principal.login, "assets": []}
    rel["created_at"] = _commit_date(repo, rel) or now
    repo.releases[rel["id"]] = rel
    _make_latest(repo, rel, body.get("make_latest", "true"))
    rendered = release_json(ctx, repo, rel)
    return Response(201, rendered, {"Location": rendered["url"]})


@router.add("GET", "/repos/{owner}/{repo}/releases", ("contents", "read"))
def list_releases(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    page, headers = paginate(req, list(reversed(repo.releases.values())))
    return Response(200, [release_json(ctx, repo, r) for r in page], headers)


@router.add("GET", "/repos/{owner}/{repo}/releases/latest", ("contents", "read"))
def get_latest_release(req: Request) -> Response:
    # https://docs.github.com/rest/releases/releases#get-the-latest-release : "the most recent
    # non-prerelease, non-draft release, sorted by the created_at attribute", unless one was made latest.
    ctx = Ctx(req)
    repo = ctx.repo
    rel = repo.releases.get(repo.latest_release) if repo.latest_release else None
    if rel is None or rel["draft"] or rel["prerelease"]:
        published = [r for r in repo.releases.values() if not r["draft"] and not r["prerelease"]]
        rel = max(published, key=lambda r: (r["created_at"], r["id"]), default=None)
    if rel is None:
        raise not_found()
    return Response(200, release_json(ctx, repo, rel))


@router.add("GET", "/repos/{owner}/{repo}/releases/{release_id}", ("contents", "read"))
def get_release(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    return Response(200, release_json(ctx, repo, _release(repo, req.params["release_id"])))


@router.add("PATCH", "/repos/{owner}/{repo}/releases/{release_id}", ("contents", "write"))
def update_release(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    rel = _release(repo, req.params["release_id"])
    for key in ("name", "body", "prerelease", "target_commitish"):
        if key in body:
            rel[key] = body[key]
    rel["updated_at"] = repo.world.clock.now()
    if rel["draft"] and body.get("draft") is False:
        rel["draft"], rel["published_at"] = False, repo.world.clock.now()
        repo.refs.setdefault(f"refs/tags/{rel['tag_name']}", repo.resolve(rel["target_commitish"]))
        _make_latest(repo, rel, body.get("make_latest", "true"))
    elif "make_latest" in body:
        _make_latest(repo, rel, body["make_latest"])
    return Response(200, release_json(ctx, repo, rel))


@router.add("DELETE", "/repos/{owner}/{repo}/releases/{release_id}", ("contents", "write"))
def delete_release(req: Request) -> Response:
    # https://docs.github.com/rest/releases/releases#delete-a-release : 204; the tag stays (PyGithub
    # replay data, GitRelease.testDelete: DELETE 204, then GET 404).
    repo = Ctx(req).repo
    rel = _release(repo, req.params["release_id"])
    for asset_id in rel["assets"]:
        repo.assets.pop(asset_id, None)
    del repo.releases[rel["id"]]
    if repo.latest_release == rel["id"]:
        repo.latest_release = None
    return Response(204)


@router.add("GET", "/repos/{owner}/{repo}/releases/tags/{tag}", ("contents", "read"))
def get_release_by_tag(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    for rel in repo.releases.values():
        if rel["tag_name"] == req.params["tag"] and not rel["draft"]:
            return Response(200, release_json(ctx, repo, rel))
    raise not_found()


@router.add("GET", "/repos/{owner}/{repo}/releases/{release_id}/assets", ("contents", "read"))
def list_assets(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    rel = _release(repo, req.params["release_id"])
    page, headers = paginate(req, [repo.assets[a] for a in rel["assets"]])
    return Response(200, [asset_json(ctx, repo, a) for a in page], headers)


@router.add("POST", "/repos/{owner}/{repo}/releases/{release_id}/assets", ("contents", "write"))
def upload_asset(req: Request) -> Response:
    # GitHub serves this from uploads.github.com; the double serves it where upload_url points.
    ctx = Ctx(req)
    repo = ctx.repo
    rel = _release(repo, req.params["release_id"])
    name = req.query.get("name")
    if not name:
        raise validation_failed("Validation Failed", errors=[{"resource": "ReleaseAsset", "code": "missing_field",
                                                             "field": "name"}])
    if any(repo.assets[a]["name"] == name for a in rel["assets"]):
        raise validation_failed("Validation Failed", errors=[{"resource": "ReleaseAsset", "code": "already_exists",
                                                             "field": "name"}])
    asset = {"id": repo.world.next_id(), "name": name, "label": req.query.get("label") or "",
             "content_type": req.headers.get("content-type", "application/octet-stream"), "data": req.body,
             "uploader": req.principal.login, "created_at": repo.world.clock.now(), "downloads": 0}
    repo.assets[asset["id"]] = asset
    rel["assets"].append(asset["id"])
    return Response(201, asset_json(ctx, repo, asset))


@router.add("GET", "/repos/{owner}/{repo}/releases/assets/{asset_id}", ("contents", "read"))
def get_asset(req: Request) -> Response:
    # With Accept: application/octet-stream GitHub answers 302 to the download location.
    ctx = Ctx(req)
    repo = ctx.repo
    try:
        asset = repo.assets[int(req.params["asset_id"])]
    except (KeyError, ValueError):
        raise not_found() from None
    rendered = asset_json(ctx, repo, asset)
    if "application/octet-stream" in req.headers.get("accept", ""):
        return Response(302, None, {"Location": rendered["browser_download_url"]})
    return Response(200, rendered)
