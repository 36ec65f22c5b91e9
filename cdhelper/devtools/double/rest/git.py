"""Git refs and annotated tags (https://docs.github.com/rest/git/refs, https://docs.github.com/rest/git/tags)."""

from __future__ import annotations

from datetime import datetime, timezone

from ..http import ApiError, Request, Response, not_found, paginate, validation_failed
from ..model import Repo, git_object_sha, iso
from .common import Ctx, node_id, router


def ref_json(ctx: Ctx, repo: Repo, name: str, sha: str, *, read_as: str = "refs") -> dict:
    """`read_as`: the path segment the ref was addressed by, which its `url` repeats (see get_ref)."""
    kind = "tag" if repo.tag_object(sha) is not None else "commit"
    obj_url = f"{ctx.repo_url(repo)}/git/{'tags' if kind == 'tag' else 'commits'}/{sha}"
    url = f"{ctx.repo_url(repo)}/git/{read_as}/{name.removeprefix('refs/')}"
    return {"ref": name, "node_id": node_id("REF", abs(hash(name)) % 10**9), "url": url,
            "object": {"type": kind, "sha": sha, "url": obj_url}}


def tag_json(ctx: Ctx, repo: Repo, tag: dict) -> dict:
    kind = tag["type"]
    return {
        "node_id": node_id("TAG", int(tag["sha"][:8], 16)), "sha": tag["sha"],
        "url": f"{ctx.repo_url(repo)}/git/tags/{tag['sha']}", "tag": tag["tag"], "message": tag["message"],
        "tagger": {"date": iso(tag["tagger"]["date"]), "email": tag["tagger"]["email"], "name": tag["tagger"]["name"]},
        "object": {"sha": tag["object"], "type": kind,
                   "url": f"{ctx.repo_url(repo)}/git/{kind}s/{tag['object']}"},
        "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                         "verified_at": None},
    }


@router.add("POST", "/repos/{owner}/{repo}/git/refs", ("contents", "write"))
def create_ref(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    ref, sha = body.get("ref"), body.get("sha")
    if not isinstance(ref, str) or not isinstance(sha, str):
        raise validation_failed("Invalid request.\n\n\"ref\" and \"sha\" are required.", shape=True)
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise validation_failed("Reference name must start with 'refs/' and have at least two slashes.",
                                docs="https://docs.github.com/rest/git/refs#create-a-reference")
    if not any(r.startswith("refs/heads/") for r in repo.refs):
        raise ApiError(409, "Git Repository is empty.")
    if ref in repo.refs:
        raise validation_failed("Reference already exists",
                                docs="https://docs.github.com/rest/git/refs#create-a-reference")
    if repo.commit(sha) is None and repo.tag_object(sha) is None:
        raise validation_failed("Object does not exist", docs="https://docs.github.com/rest/git/refs#create-a-reference")
    repo.refs[ref] = sha
    rendered = ref_json(ctx, repo, ref, sha)
    return Response(201, rendered, {"Location": rendered["url"]})


@router.add("GET", "/repos/{owner}/{repo}/git/ref/{ref}", ("contents", "read"))
def get_ref(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    name = f"refs/{req.params['ref']}"
    if name not in repo.refs:
        raise not_found()
    # The url repeats the path the ref was read by, `.../git/ref/heads/NAME` (PyGithub replay data, 2020:
    # PullRequest.testDeleteBranch; Repository.testGetGitRef, GitRef.setUp). Created, listed or updated
    # refs say `.../git/refs/...` (Repository.testCreateGitRef, octokit/fixtures git-refs). github3.py's
    # cassette Repository_ref (2017) read `git/ref/tags/0.9.3` and got `git/refs/tags/0.9.3`: the
    # `ref-url-plural` variant answers so.
    return Response(200, ref_json(ctx, repo, name, repo.refs[name], read_as=_addressed_as(req)))


@router.add("GET", "/repos/{owner}/{repo}/git/matching-refs/{ref}", ("contents", "read"))
def matching_refs(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    prefix = f"refs/{req.params['ref']}"
    # In the order the refs were made, not alphabetical: PyGithub replay data (Repository.testGetMatchingRefs)
    # lists refs/tags/v1.40a1..v1.40a4 before v1.40, and refs/tags/1.35 last, after v2.0.0-alpha.4.
    return Response(200, [ref_json(ctx, repo, n, s) for n, s in repo.refs.items() if n.startswith(prefix)])


def _addressed_as(req: Request) -> str:
    """`ref` when the request named the ref by `/git/ref/...`, else `refs`: its url repeats that form
    (see get_ref); the `ref-url-plural` variant always says `refs`."""
    if req.route.split("/git/")[1].startswith("refs/") or Ctx(req).world.variant("ref-url-plural") is not None:
        return "refs"
    return "ref"


# GitHub also takes PATCH and DELETE at `/git/ref/{ref}`, the path a ref read by get_ref names in its url
# (PyGithub replay data: PullRequest.testDeleteBranch, 2020, DELETE .../git/ref/heads/... -> 204;
# GitRef.testEdit PATCHes .../git/ref/heads/... -> 200), so clients that follow that url keep working.
@router.add("PATCH", "/repos/{owner}/{repo}/git/ref/{ref}", ("contents", "write"))
@router.add("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}", ("contents", "write"))
def update_ref(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    name = f"refs/{req.params['ref']}"
    if name not in repo.refs:
        raise validation_failed("Reference does not exist")
    sha = body.get("sha")
    if not isinstance(sha, str) or (repo.commit(sha) is None and repo.tag_object(sha) is None):
        raise validation_failed("Object does not exist")
    old = repo.peel(repo.refs[name])
    if not body.get("force", False) and old != sha:
        ancestor = repo.git.is_ancestor(old, sha) if repo.git else (old in (repo.commit(sha) or {}).get("parents", []))
        if not ancestor:
            raise validation_failed("Update is not a fast forward")
    repo.refs[name] = sha
    return Response(200, ref_json(ctx, repo, name, sha, read_as=_addressed_as(req)))


@router.add("DELETE", "/repos/{owner}/{repo}/git/ref/{ref}", ("contents", "write"))
@router.add("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}", ("contents", "write"))
def delete_ref(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    name = f"refs/{req.params['ref']}"
    if name not in repo.refs:
        raise validation_failed("Reference does not exist")
    if name == f"refs/heads/{repo.default_branch}":
        raise validation_failed("Cannot delete the default branch")
    del repo.refs[name]
    return Response(204)


@router.add("POST", "/repos/{owner}/{repo}/git/tags", ("contents", "write"))
def create_tag(req: Request) -> Response:
    # Creates the tag object only; the ref is made separately with POST git/refs.
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    missing = [k for k in ("tag", "message", "object", "type") if not isinstance(body.get(k), str)]
    if missing:
        raise validation_failed(f"Invalid request.\n\n\"{missing[0]}\" wasn't supplied.", shape=True)
    if body["type"] not in {"commit", "tree", "blob"}:
        raise validation_failed("Invalid request.\n\ntype must be commit, tree or blob.", shape=True)
    if body["type"] == "commit" and repo.commit(body["object"]) is None:
        raise validation_failed("Object does not exist")
    tagger = body.get("tagger") or {}
    name = tagger.get("name") or req.principal.login
    email = tagger.get("email") or f"{repo.world.user_id(req.principal.login)}+{req.principal.login}@users.noreply.github.com"
    # tagger.date (ISO 8601) is honoured when given, offset included, so the tag object (and its sha)
    # is the one git would write; without it, now.
    date, offset = repo.world.clock.now(), "+0000"
    if tagger.get("date"):
        try:
            when = datetime.fromisoformat(str(tagger["date"]).replace("Z", "+00:00"))
        except ValueError:
            raise validation_failed(f"Invalid request.\n\ntagger.date {tagger['date']!r} is not an ISO 8601 time.") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        minutes = int(when.utcoffset().total_seconds() // 60)
        date, offset = when.timestamp(), f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    raw = (f"object {body['object']}\ntype {body['type']}\ntag {body['tag']}\n"
           f"tagger {name} <{email}> {int(date)} {offset}\n\n{body['message']}")
    sha = git_object_sha("tag", raw.encode())
    tag = {"sha": sha, "tag": body["tag"], "message": body["message"], "object": body["object"],
           "type": body["type"], "tagger": {"name": name, "email": email, "date": date}}
    repo.tag_objects[sha] = tag
    rendered = tag_json(ctx, repo, tag)
    return Response(201, rendered, {"Location": rendered["url"]})


@router.add("GET", "/repos/{owner}/{repo}/git/tags/{tag_sha}", ("contents", "read"))
def get_tag(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    tag = repo.tag_object(req.params["tag_sha"])
    if tag is None:
        raise not_found()
    return Response(200, tag_json(ctx, repo, tag))


# --- compare (https://docs.github.com/rest/commits/commits#compare-two-commits) ------------------------

COMPARE_MAX = 250  # GitHub lists at most 250 commits in a comparison


def commit_json(ctx: Ctx, repo: Repo, commit: dict) -> dict:
    sha = commit["sha"]
    url = f"{ctx.repo_url(repo)}/commits/{sha}"
    login = ctx.world.login_for_email(commit["email"])
    person = {"name": commit["author"], "email": commit["email"], "date": iso(commit["date"])}
    return {
        "url": url, "sha": sha, "node_id": node_id("C", int(sha[:8], 16)), "html_url": f"{ctx.web}/{repo.full_name}/commit/{sha}",
        "comments_url": f"{url}/comments",
        "commit": {"url": f"{ctx.repo_url(repo)}/git/commits/{sha}", "author": person, "committer": person,
                   "message": commit["message"], "comment_count": 0,
                   "tree": {"sha": commit["tree"], "url": f"{ctx.repo_url(repo)}/git/trees/{commit['tree']}"}},
        "author": ctx.user(login) if login else None, "committer": ctx.user(login) if login else None,
        "parents": [{"sha": p, "url": f"{ctx.repo_url(repo)}/commits/{p}",
                     "html_url": f"{ctx.web}/{repo.full_name}/commit/{p}"} for p in commit["parents"]],
    }


def _ancestors(repo: Repo, sha: str, limit: int) -> list[dict]:
    """`sha` and its ancestors, newest first, breadth-first over parents (bounded)."""
    out, seen, queue = [], set(), [sha]
    while queue and len(out) < limit:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        commit = repo.commit(current)
        if commit is None:
            continue
        out.append(commit)
        queue.extend(commit["parents"])
    return out


@router.add("GET", "/repos/{owner}/{repo}/compare/{basehead}", ("contents", "read"))
def compare(req: Request) -> Response:
    """BASE...HEAD: the commits reachable from HEAD and not from BASE, in chronological order. GitHub's
    description: without `page`/`per_page` the list holds at most 250 and its last commit is the most
    recent of the whole comparison; with them, pages of it from the oldest."""
    ctx = Ctx(req)
    repo = ctx.repo
    base_name, sep, head_name = req.params["basehead"].partition("...")
    base_sha, head_sha = repo.resolve(base_name) if sep else None, repo.resolve(head_name) if sep else None
    base, head = (repo.commit(base_sha) if base_sha else None), (repo.commit(head_sha) if head_sha else None)
    if base is None or head is None:
        raise not_found()
    behind_of_base = {c["sha"] for c in _ancestors(repo, base["sha"], 10_000)}
    ahead = [c for c in _ancestors(repo, head["sha"], 10_000) if c["sha"] not in behind_of_base]
    head_side = {c["sha"] for c in _ancestors(repo, head["sha"], 10_000)}
    behind = [c for c in _ancestors(repo, base["sha"], 10_000) if c["sha"] not in head_side]
    merge_base = next((c for c in _ancestors(repo, head["sha"], 10_000) if c["sha"] in behind_of_base), base)
    status = ("identical" if not ahead and not behind else "ahead" if not behind else
              "behind" if not ahead else "diverged")
    chronological = list(reversed(ahead))
    headers: dict[str, str] = {}
    if "page" in req.query or "per_page" in req.query:  # pages run from the oldest commit
        listed, headers = paginate(req, chronological)
    else:  # at most 250, the last being the most recent of the whole comparison
        listed = chronological[-COMPARE_MAX:]
    web = f"{ctx.web}/{repo.full_name}/compare/{req.params['basehead']}"
    return Response(200, {
        "url": f"{ctx.repo_url(repo)}/compare/{req.params['basehead']}", "html_url": web,
        "permalink_url": f"{ctx.web}/{repo.full_name}/compare/{repo.owner}:{base['sha'][:7]}...{repo.owner}:{head['sha'][:7]}",
        "diff_url": f"{web}.diff", "patch_url": f"{web}.patch",
        "base_commit": commit_json(ctx, repo, base), "merge_base_commit": commit_json(ctx, repo, merge_base),
        "status": status, "ahead_by": len(ahead), "behind_by": len(behind), "total_commits": len(ahead),
        "commits": [commit_json(ctx, repo, c) for c in listed], "files": [],
    }, headers)
