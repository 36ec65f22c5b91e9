"""Repository contents, one file (https://docs.github.com/rest/repos/contents): GET a file at a ref,
PUT to create or update it with a commit that moves the branch; `sha` guards an update as on GitHub.
Every exchange is checked against GitHub's OpenAPI description (the `double` fixture)."""

from __future__ import annotations

import base64
import subprocess

import pytest
import requests
from github import GithubException

H = {"Authorization": "token t0ken"}
PATH = ".github/flags/production.flagd.json"


def put(double, body: dict, path: str = PATH, headers: dict = H) -> requests.Response:
    return requests.put(f"{double.url}/repos/acme/app/contents/{path}", json=body, headers=headers)


def encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def git_blob_sha(text: str, tmp_path) -> str:
    return subprocess.run(["git", "hash-object", "--stdin"], input=text, capture_output=True, text=True, check=True,
                          cwd=tmp_path).stdout.strip()


def test_a_new_file_is_committed_on_the_branch_and_read_back_with_its_blob_sha(double, github, tmp_path):
    model = double.repo("acme/app")
    before = model.resolve("main")
    made = github.get_repo("acme/app").create_file(PATH, "Flags", '{"flags": {}}\n', branch="main")
    after = model.resolve("main")
    assert after == made["commit"].sha and after != before
    assert model.commit(after)["parents"] == [before]  # the branch moved by one commit
    got = github.get_repo("acme/app").get_contents(PATH, ref="main")
    assert got.decoded_content == b'{"flags": {}}\n'
    assert got.sha == made["content"].sha == git_blob_sha('{"flags": {}}\n', tmp_path)  # git's blob sha


def test_the_file_is_absent_at_the_commit_before_it_was_made(double):
    before = double.repo("acme/app").resolve("main")
    assert put(double, {"message": "Flags", "content": encoded("{}\n")}).status_code == 201
    r = requests.get(f"{double.url}/repos/acme/app/contents/{PATH}", params={"ref": before}, headers=H)
    assert r.status_code == 404 and r.json()["message"] == "Not Found"
    assert requests.get(f"{double.url}/repos/acme/app/contents/{PATH}", headers=H).status_code == 200  # default branch


def test_updating_needs_the_blob_sha_of_the_file_on_the_branch(double):
    created = put(double, {"message": "Flags", "content": encoded("one\n")}).json()
    head = double.repo("acme/app").resolve("main")
    missing = put(double, {"message": "update", "content": encoded("two\n")})
    assert missing.status_code == 422 and '"sha" wasn\'t supplied' in missing.json()["message"]
    stale = put(double, {"message": "update", "content": encoded("two\n"), "sha": "0" * 40})
    assert stale.status_code == 409 and stale.json()["message"] == f"{PATH} does not match {'0' * 40}"
    assert double.repo("acme/app").resolve("main") == head  # refused: the branch did not move
    ok = put(double, {"message": "update", "content": encoded("two\n"), "sha": created["content"]["sha"]})
    assert ok.status_code == 200
    assert double.repo("acme/app").resolve("main") == ok.json()["commit"]["sha"] != head
    # The blob it replaced is no longer the file's: a second writer holding it is refused.
    again = put(double, {"message": "race", "content": encoded("three\n"), "sha": created["content"]["sha"]})
    assert again.status_code == 409


def test_a_commit_to_another_branch_leaves_the_default_branch_alone(double, github):
    model = double.repo("acme/app")
    main = model.resolve("main")
    github.get_repo("acme/app").create_git_ref("refs/heads/flags", main)
    assert put(double, {"message": "Flags", "content": encoded("x\n"), "branch": "flags"}).status_code == 201
    assert model.resolve("main") == main and model.resolve("flags") != main
    assert requests.get(f"{double.url}/repos/acme/app/contents/{PATH}", headers=H).status_code == 404
    assert requests.get(f"{double.url}/repos/acme/app/contents/{PATH}", params={"ref": "flags"},
                        headers=H).status_code == 200


def test_unknown_branches_and_refs_are_404(double):
    assert put(double, {"message": "m", "content": encoded("x"), "branch": "nope"}).status_code == 404
    r = requests.get(f"{double.url}/repos/acme/app/contents/{PATH}", params={"ref": "nope"}, headers=H)
    assert r.status_code == 404 and "nope" in r.json()["message"]


def test_a_body_without_message_or_content_is_refused_for_its_shape(double):
    r = put(double, {"content": encoded("x")})
    assert r.status_code == 422 and '"message"' in r.json()["message"]


def test_reading_needs_contents_read_and_committing_contents_write(double):
    double.register_token("t0ken")
    double.register_token("reader", permissions={"contents": "read"})
    assert put(double, {"message": "m", "content": encoded("x\n")}).status_code == 201
    reader = {"Authorization": "token reader"}
    assert requests.get(f"{double.url}/repos/acme/app/contents/{PATH}", headers=reader).status_code == 200
    assert put(double, {"message": "m", "content": encoded("y\n")}, headers=reader).status_code == 403


def test_a_repository_backed_by_git_serves_its_files_and_commits_over_them(tmp_path, openapi):
    from cdhelper.devtools.double import GitHubDouble
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    (tmp_path / ".github" / "flags").mkdir(parents=True)
    (tmp_path / PATH).write_text('{"flags": {"a": 1}}\n')
    (tmp_path / "README").write_text("hello\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "first"]):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, env=env, capture_output=True)
    with GitHubDouble() as gh:
        gh.observe(openapi)
        gh.add_repo(f"acme/real={tmp_path}")
        url = f"{gh.url}/repos/acme/real/contents/{PATH}"
        got = requests.get(url, headers=H).json()
        assert base64.b64decode(got["content"]).decode() == '{"flags": {"a": 1}}\n'
        assert got["sha"] == git_blob_sha('{"flags": {"a": 1}}\n', tmp_path)
        r = requests.put(url, headers=H, json={"message": "flip", "content": encoded('{"flags": {"a": 2}}\n'),
                                               "sha": got["sha"]})
        assert r.status_code == 200
        assert base64.b64decode(requests.get(url, headers=H).json()["content"]) == b'{"flags": {"a": 2}}\n'
        # The other files of the checkout are still there at the new commit.
        readme = requests.get(f"{gh.url}/repos/acme/real/contents/README", headers=H).json()
        assert base64.b64decode(readme["content"]) == b"hello\n"
        assert requests.get(f"{gh.url}/repos/acme/real/contents/.github/flags", headers=H).status_code == 404  # a directory
    assert not openapi.mismatches, openapi.mismatches


def test_pygithub_update_file_with_a_stale_sha_raises_409(double, github):
    repo = github.get_repo("acme/app")
    first = repo.create_file(PATH, "Flags", "one\n")["content"]
    repo.update_file(PATH, "two", "two\n", first.sha)
    with pytest.raises(GithubException) as err:
        repo.update_file(PATH, "three", "three\n", first.sha)
    assert err.value.status == 409
