"""Repository contents, one file at a time (https://docs.github.com/rest/repos/contents): read a file
at a ref, and create or update a file with a commit on a branch (`cdhelper flags set --commit-to`).

The double keeps no trees: a repository backed by a git directory serves that checkout's files, and a
commit made here records the file it changes over its parent (`files` on the commit), then moves the
branch, as GitHub does. GitHub's rules reproduced (its reference, and answers measured against
github.com that third parties published):
- GET answers 404 for a path or ref that does not exist; a file comes base64-encoded with its blob sha;
- PUT on an existing file needs `sha` (422 `"sha" wasn't supplied.`) equal to the file's blob sha on
  the branch, else 409 `PATH does not match SHA`; a new file ignores `sha` (201); an existing one 200;
- PUT on a branch that does not exist is 404.
Not served: directories, symlinks and submodules (cdhelper reads single files), and the 1 MB limit
above which GitHub sends no content.
"""

from __future__ import annotations

import base64
import binascii

from ..http import ApiError, Request, Response, not_found, validation_failed
from ..model import Repo, git_object_sha, iso
from .common import Ctx, node_id, router

CONTENTS = "https://docs.github.com/rest/repos/contents#create-or-update-file-contents"


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def blob_sha(text: str) -> str:
    """The sha git gives the file's blob: what GitHub calls the file's `sha`."""
    return git_object_sha("blob", _bytes(text))


def file_at(repo: Repo, sha: str | None, path: str) -> str | None:
    """The file's text at commit `sha`, or None when it has no such file."""
    for _ in range(100_000):  # bounded walk down first parents
        if not sha:
            return None
        commit = repo.commits.get(sha)
        files = (commit or {}).get("files")
        if files is not None and path in files:
            return files[path]
        if files is None and repo.git is not None:  # a commit of the git directory
            return repo.git.file(sha, path) if _is_blob(repo, sha, path) else None
        if commit is None:
            return None
        sha = commit["parents"][0] if commit["parents"] else None
    return None


def _is_blob(repo: Repo, sha: str, path: str) -> bool:
    """A file, not a directory (`git show` would print a tree's listing as if it were one)."""
    try:
        return repo.git._git("cat-file", "-t", f"{sha}:{path}").strip() == "blob"
    except LookupError:
        return False


def commit_file(repo: Repo, branch: str, path: str, text: str, message: str, *, login: str) -> dict:
    """A commit on `branch` whose parent is the branch's head, changing `path` to `text`; the branch
    moves to it. Returns the commit."""
    world = repo.world
    parent = repo.peel(repo.refs[f"refs/heads/{branch}"])
    now = world.clock.now()
    email = f"{world.user_id(login)}+{login}@users.noreply.github.com"
    tree = git_object_sha("tree", f"{parent} {path} {blob_sha(text)}".encode())  # stands for the new tree
    body = f"tree {tree}\nparent {parent}\nauthor {login} <{email}> {int(now)} +0000\n\n{message}\n"
    sha = git_object_sha("commit", body.encode())
    commit = {"sha": sha, "tree": tree, "parents": [parent], "author": login, "email": email, "date": now,
              "message": message, "files": {path: text}}
    repo.commits[sha] = commit
    repo.refs[f"refs/heads/{branch}"] = sha
    return commit


def _content_json(ctx: Ctx, repo: Repo, path: str, ref: str, text: str) -> dict:
    sha = blob_sha(text)
    url = f"{ctx.repo_url(repo)}/contents/{path}?ref={ref}"
    html = f"{ctx.web}/{repo.full_name}/blob/{ref}/{path}"
    git = f"{ctx.repo_url(repo)}/git/blobs/{sha}"
    return {"type": "file", "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha, "size": len(_bytes(text)),
            "url": url, "html_url": html, "git_url": git, "download_url": f"{ctx.web}/{repo.full_name}/raw/{ref}/{path}",
            "_links": {"self": url, "git": git, "html": html}}


@router.add("GET", "/repos/{owner}/{repo}/contents/{path}", ("contents", "read"))
def get_content(req: Request) -> Response:
    ctx = Ctx(req)
    repo = ctx.repo
    path = req.params["path"].strip("/")
    ref = req.query.get("ref") or repo.default_branch
    sha = repo.resolve(ref)
    if sha is None:
        raise ApiError(404, f"No commit found for the ref {ref}", docs=CONTENTS.replace("create-or-update-file-contents",
                                                                                         "get-repository-content"))
    text = file_at(repo, sha, path)
    if text is None:
        raise not_found()
    encoded = base64.b64encode(_bytes(text)).decode()
    # GitHub wraps the base64 at 60 characters, as `git` tools print it.
    wrapped = "".join(encoded[i:i + 60] + "\n" for i in range(0, len(encoded), 60))
    return Response(200, {**_content_json(ctx, repo, path, ref, text), "content": wrapped, "encoding": "base64"})


@router.add("PUT", "/repos/{owner}/{repo}/contents/{path}", ("contents", "write"))
def put_content(req: Request) -> Response:
    ctx, body = Ctx(req), req.json_object()
    repo = ctx.repo
    path = req.params["path"].strip("/")
    for key in ("message", "content"):
        if not isinstance(body.get(key), str):
            raise validation_failed(f"Invalid request.\n\n\"{key}\" wasn't supplied.", shape=True, docs=CONTENTS)
    try:
        text = base64.b64decode(body["content"], validate=True).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        raise validation_failed("content is not valid Base64", docs=CONTENTS) from None
    branch = body.get("branch") or repo.default_branch
    if f"refs/heads/{branch}" not in repo.refs:  # GitHub checks the branch first
        raise ApiError(404, f"Branch {branch} not found", docs=CONTENTS)
    old = file_at(repo, repo.peel(repo.refs[f"refs/heads/{branch}"]), path)
    if old is not None:
        if not isinstance(body.get("sha"), str):
            raise validation_failed("Invalid request.\n\n\"sha\" wasn't supplied.", docs=CONTENTS)
        if body["sha"] != blob_sha(old):
            raise ApiError(409, f"{path} does not match {body['sha']}", docs=CONTENTS)
    commit = commit_file(repo, branch, path, text, body["message"], login=req.principal.login)
    person = {"name": commit["author"], "email": commit["email"], "date": iso(commit["date"])}
    url = f"{ctx.repo_url(repo)}/git/commits/{commit['sha']}"
    return Response(200 if old is not None else 201, {
        "content": _content_json(ctx, repo, path, branch, text),
        "commit": {"sha": commit["sha"], "node_id": node_id("C", int(commit["sha"][:8], 16)), "url": url,
                   "html_url": f"{ctx.web}/{repo.full_name}/commit/{commit['sha']}", "author": person,
                   "committer": person, "message": commit["message"],
                   "tree": {"sha": commit["tree"], "url": f"{ctx.repo_url(repo)}/git/trees/{commit['tree']}"},
                   "parents": [{"sha": p, "url": f"{ctx.repo_url(repo)}/git/commits/{p}",
                                "html_url": f"{ctx.web}/{repo.full_name}/commit/{p}"} for p in commit["parents"]],
                   "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                                    "verified_at": None}},
    })
