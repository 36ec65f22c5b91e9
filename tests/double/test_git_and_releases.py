"""Git refs and annotated tags (https://docs.github.com/rest/git/refs, /rest/git/tags) and
releases with assets (https://docs.github.com/rest/releases)."""

from __future__ import annotations

import subprocess

import pytest
import requests
from github import GithubException

H = {"Authorization": "token t0ken"}


def test_annotated_tag_needs_a_ref_and_the_ref_points_at_the_tag_object(double, github):
    repo = github.get_repo("acme/app")
    sha = double.repo("acme/app").resolve("main")
    tag = repo.create_git_tag("v1.0.0", "Release 1.0.0\n\ncdhelper-version: 1.0.0\n", sha, "commit")
    assert tag.object.sha == sha and tag.tag == "v1.0.0" and len(tag.sha) == 40
    with pytest.raises(GithubException) as err:
        _ = repo.get_git_ref("tags/v1.0.0").object
    assert err.value.status == 404  # creating the tag object does not create the ref
    ref = repo.create_git_ref("refs/tags/v1.0.0", tag.sha)
    assert (ref.object.type, ref.object.sha) == ("tag", tag.sha)
    assert repo.get_git_tag(tag.sha).message == "Release 1.0.0\n\ncdhelper-version: 1.0.0\n"


def test_creating_an_existing_ref_is_422_reference_already_exists(double, github):
    repo = github.get_repo("acme/app")
    sha = double.repo("acme/app").resolve("main")
    repo.create_git_ref("refs/tags/v1", sha)
    with pytest.raises(GithubException) as err:
        repo.create_git_ref("refs/tags/v1", sha)
    assert err.value.status == 422 and err.value.data["message"] == "Reference already exists"


def test_ref_to_missing_object_or_malformed_name_is_422(github):
    repo = github.get_repo("acme/app")
    for ref, sha in [("refs/tags/x", "0" * 40), ("tags/x", "0" * 40)]:
        with pytest.raises(GithubException) as err:
            repo.create_git_ref(ref, sha)
        assert err.value.status == 422


def test_matching_refs_update_and_delete(double, github):
    repo = github.get_repo("acme/app")
    model = double.repo("acme/app")
    base = model.resolve("main")
    repo.create_git_ref("refs/heads/release", base)
    child = double.world.add_commit(model, "next", parent=base)
    assert [r.ref for r in repo.get_git_matching_refs("heads/rel")] == ["refs/heads/release"]
    ref = repo.get_git_ref("heads/release")
    assert ref.object.sha == base  # completes the lazy object, so its url is the canonical refs/ one
    ref.edit(child)  # fast-forward
    assert repo.get_git_ref("heads/release").object.sha == child
    with pytest.raises(GithubException) as err:
        ref.edit(base)  # backwards without force
    assert err.value.status == 422
    ref.edit(base, force=True)
    ref.delete()
    with pytest.raises(GithubException):
        _ = repo.get_git_ref("heads/release").object
    r = requests.delete(f"{double.url}/repos/acme/app/git/refs/heads/main", headers=H)
    assert r.status_code == 422  # the default branch cannot be deleted


def test_repository_backed_by_a_git_directory_serves_its_real_commits_and_tags(tmp_path, openapi):
    from cdhelper.devtools.double import GitHubDouble
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], check=True, env=env, capture_output=True, text=True).stdout  # noqa: E731
    run("init", "-q", "-b", "trunk")
    run("commit", "-q", "--allow-empty", "-m", "first")
    run("tag", "-a", "v0.1.0", "-m", "annotated")
    sha = run("rev-parse", "HEAD").strip()
    tag_sha = run("rev-parse", "v0.1.0").strip()
    with GitHubDouble() as gh:
        gh.observe(openapi)
        gh.add_repo(f"acme/real={tmp_path}")
        r = requests.get(f"{gh.url}/repos/acme/real", headers=H)
        assert r.json()["default_branch"] == "trunk"
        ref = requests.get(f"{gh.url}/repos/acme/real/git/ref/tags/v0.1.0", headers=H).json()
        assert ref["object"] == {"type": "tag", "sha": tag_sha, "url": f"{gh.url}/repos/acme/real/git/tags/{tag_sha}"}
        tag = requests.get(f"{gh.url}/repos/acme/real/git/tags/{tag_sha}", headers=H).json()
        assert tag["object"]["sha"] == sha and tag["message"].strip() == "annotated"
        dep = requests.post(f"{gh.url}/repos/acme/real/deployments", headers=H,
                            json={"ref": sha[:10], "required_contexts": [], "auto_merge": False})
        assert dep.status_code == 201 and dep.json()["sha"] == sha


def test_release_with_asset_upload_and_download(double, github):
    repo = github.get_repo("acme/app")
    release = repo.create_git_release("v1.0.0", "v1.0.0", "notes")
    assert repo.get_git_ref("tags/v1.0.0").object.sha == double.repo("acme/app").resolve("main")
    r = requests.post(f"{release.url}/assets?name=app.tar.gz", headers={**H, "Content-Type": "application/gzip"},
                      data=b"\x1f\x8bpayload")
    assert r.status_code == 201 and r.json()["size"] == 9
    assert r.json()["digest"].startswith("sha256:")
    again = requests.post(f"{release.url}/assets?name=app.tar.gz", headers=H, data=b"x")
    assert again.status_code == 422 and again.json()["errors"][0]["code"] == "already_exists"
    got = requests.get(r.json()["url"], headers={**H, "Accept": "application/octet-stream"})
    assert got.content == b"\x1f\x8bpayload"  # via GitHub's 302 to the download location
    assert repo.get_release("v1.0.0").assets[0].name == "app.tar.gz"
    with pytest.raises(GithubException) as err:
        repo.create_git_release("v1.0.0", "again", "")
    assert err.value.status == 422
