"""The double is as lenient as GitHub, no more and no less. Each test is named after a behaviour and
cites the recorded exchange (or documentation) it reproduces. "PyGithub replay data" means the
recordings of github.com in PyGithub's tests/ReplayData (v2.10.0)."""

from __future__ import annotations

import subprocess

import requests

from cdhelper.devtools.double import GitHubDouble

H = {"Authorization": "token t0ken"}


def _post(double, path: str, body: dict, headers: dict = H) -> requests.Response:
    return requests.post(f"{double.url}/repos/acme/app{path}", headers=headers, json=body, timeout=5)


def _deploy(double, **body) -> dict:
    r = _post(double, "/deployments", {"ref": "main", "auto_merge": False, "required_contexts": [], **body})
    assert r.status_code == 201, r.text
    return r.json()


# --- item 5: unknown keys --------------------------------------------------------------------------

def test_unknown_body_keys_are_ignored_as_github_ignores_them(double):
    # Deployment actions send `sha` with create-deployment and `ref` with create-deployment-status; GitHub's
    # description leaves additionalProperties open there, and GitHub answers 201.
    dep = _deploy(double, sha=double.repo("acme/app").resolve("main"), environment="preview")
    r = _post(double, f"/deployments/{dep['id']}/statuses", {"state": "success", "ref": "main", "unknown": 1})
    assert r.status_code == 201


def test_unknown_environment_keys_are_refused_because_the_description_forbids_them(double):
    # PUT environments is the one body GitHub's description closes (additionalProperties: false)
    r = requests.put(f"{double.url}/repos/acme/app/environments/staging", headers=H, json={"wait_timer": 1, "bogus": 1})
    assert r.status_code == 422 and "not a permitted key" in r.json()["message"]


# --- item 7: /rate_limit ---------------------------------------------------------------------------

def test_rate_limit_answers_without_a_token_with_every_resource_and_headers(double):
    # A recorded anonymous answer: core 60, search 10, graphql 0; with a token (PyGithub replay data,
    # RateLimiting.testGetRateLimit) core, search, graphql, integration_manifest, source_import,
    # code_scanning_upload, code_scanning_autofix, actions_runner_registration, scim,
    # dependency_snapshots, audit_log, audit_log_streaming, code_search; x-ratelimit-* headers on the answer.
    anonymous = requests.get(f"{double.url}/rate_limit")
    assert anonymous.status_code == 200
    res = anonymous.json()["resources"]
    assert (res["core"]["limit"], res["search"]["limit"], res["graphql"]["limit"]) == (60, 10, 0)
    assert anonymous.headers["x-ratelimit-limit"] == "60" and anonymous.headers["x-ratelimit-resource"] == "core"
    mine = requests.get(f"{double.url}/rate_limit", headers=H)
    names = set(mine.json()["resources"])
    assert {"core", "search", "graphql", "integration_manifest", "source_import", "code_scanning_upload",
            "actions_runner_registration", "scim", "dependency_snapshots", "code_search"} <= names
    assert mine.json()["resources"]["core"]["limit"] == 5000 and mine.json()["rate"]["limit"] == 5000
    assert mine.headers["x-ratelimit-used"] == "0"  # /rate_limit does not count against the limit


def test_unauthenticated_reads_count_against_60_an_hour(openapi):
    with GitHubDouble(repos=["acme/app"]) as gh:
        gh.observe(openapi)
        r = requests.get(f"{gh.url}/repos/acme/app")
        assert (r.headers["x-ratelimit-limit"], r.headers["x-ratelimit-remaining"]) == ("60", "59")


# --- item 11: defaults when a field is omitted -------------------------------------------------------

def test_deployment_description_is_null_when_omitted(double):
    # PyGithub replay data, Repository.testGetDeployments: a deployment made without one lists "description": null
    dep = _deploy(double)
    assert dep["description"] is None
    assert _deploy(double, description="")["description"] == ""


def test_string_payload_stays_a_string(double):
    # payload is oneOf object|string; a string is kept as sent, "" included
    assert _deploy(double, payload="")["payload"] == ""
    assert _deploy(double, payload='{"url": "https://pr-1.example"}')["payload"] == '{"url": "https://pr-1.example"}'
    assert _deploy(double)["payload"] == {}
    query = '{ repository(owner: "acme", name: "app") { deployments(last: 1) { nodes { payload } } } }'
    gql = requests.post(f"{double.url}/graphql", headers=H, json={"query": query}).json()
    assert gql["data"]["repository"]["deployments"]["nodes"] == [{"payload": "{}"}]


def test_release_name_is_null_when_omitted_and_created_at_is_the_commit_date(double):
    # PyGithub replay data (GitRelease.*): releases made on 2020-07-14 report created_at 2020-07-12T07:34:42Z,
    # their commit's date; the docs for "Get the latest release" say created_at is the commit's date.
    double.world.clock.offset = 3600
    r = _post(double, "/releases", {"tag_name": "v1"})
    rel = r.json()
    assert rel["name"] is None
    assert rel["created_at"] == "2024-01-01T00:00:00Z"  # the double's initial commit
    assert rel["updated_at"] and rel["published_at"] != rel["created_at"]


def test_annotated_tag_date_is_honoured_so_the_sha_is_what_git_makes(tmp_path, openapi):
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "Rel Bot",
           "GIT_COMMITTER_EMAIL": "rel@example.com", "GIT_COMMITTER_DATE": "2025-05-06T07:08:09+02:00",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def git(*a):
        return subprocess.run(["git", "-C", str(tmp_path), *a], check=True, env=env, capture_output=True,
                              text=True).stdout.strip()
    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "first")
    git("tag", "-a", "v1", "-m", "Release v1")
    sha, tag_sha = git("rev-parse", "HEAD"), git("rev-parse", "v1")
    with GitHubDouble() as gh:
        gh.observe(openapi)
        gh.add_repo(f"acme/real={tmp_path}")
        made = requests.post(f"{gh.url}/repos/acme/real/git/tags", headers=H, json={
            "tag": "v1", "message": "Release v1\n", "object": sha, "type": "commit",
            "tagger": {"name": "Rel Bot", "email": "rel@example.com", "date": "2025-05-06T07:08:09+02:00"}}).json()
        assert made["sha"] == tag_sha
        assert made["tagger"]["date"] == "2025-05-06T05:08:09Z"


# --- item 12 / 13: statuses and keys ------------------------------------------------------------------

def test_status_given_only_target_url_reports_it_as_log_url(double):
    # PyGithub replay data, DeploymentStatus.testGetStatuses: posted target_url only, listed with log_url equal
    dep = _deploy(double)
    status = _post(double, f"/deployments/{dep['id']}/statuses",
                   {"state": "queued", "target_url": "https://example.com/deployment.log"}).json()
    assert status["log_url"] == status["target_url"] == "https://example.com/deployment.log"


def test_performed_via_github_app_is_null_for_a_person_and_the_app_for_an_installation(double):
    # PyGithub replay data: deployments and statuses made with a personal token carry "performed_via_github_app": null
    double.register_token("ghp_alice", login="alice", kind="user")
    double.register_token("ghs_actions")  # GITHUB_TOKEN: the github-actions App's installation
    mine = _post(double, "/deployments", {"ref": "main", "required_contexts": [], "auto_merge": False},
                 headers={"Authorization": "token ghp_alice"}).json()
    assert mine["performed_via_github_app"] is None
    bot = _post(double, "/deployments", {"ref": "main", "required_contexts": [], "auto_merge": False},
                headers={"Authorization": "token ghs_actions"}).json()
    assert bot["performed_via_github_app"]["slug"] == "github-actions"
    status = _post(double, f"/deployments/{bot['id']}/statuses", {"state": "success"},
                   headers={"Authorization": "token ghs_actions"}).json()
    assert status["performed_via_github_app"]["id"] == 15368


def test_run_carries_its_check_suite_and_attempt_keys(double):
    # PyGithub replay data, WorkflowRun.setUp: check_suite_id, check_suite_node_id, previous_attempt_url
    # (null on a first attempt), referenced_workflows ([])
    run = double.create_run("acme/app")
    got = requests.get(f"{double.url}/repos/acme/app/actions/runs/{run['id']}", headers=H).json()
    assert got["previous_attempt_url"] is None and got["referenced_workflows"] == []
    assert got["check_suite_url"].endswith(f"/check-suites/{got['check_suite_id']}") and got["check_suite_node_id"]


# --- item 14: routes and answers clients use ------------------------------------------------------------

def test_latest_release_and_deleting_a_release(double, github):
    # PyGithub replay data: GitRelease.testGetLatestRelease (GET releases/latest), GitRelease.testDelete
    # (DELETE 204, then GET 404)
    assert requests.get(f"{double.url}/repos/acme/app/releases/latest", headers=H).status_code == 404
    repo = github.get_repo("acme/app")
    first = repo.create_git_release("v1.0.0", "one", "")
    repo.create_git_release("v1.1.0-rc.1", "rc", "", prerelease=True)
    assert repo.get_latest_release().id == first.id
    second = repo.create_git_release("v1.1.0", "two", "")
    assert repo.get_latest_release().id == second.id
    second.delete_release()
    assert requests.get(second.url, headers=H).status_code == 404
    assert "refs/tags/v1.1.0" in double.repo("acme/app").refs  # the tag stays
    assert repo.get_latest_release().id == first.id


PROMOTE = """name: promote
on:
  workflow_dispatch:
    inputs:
      version: {required: true, type: string}
      environment: {required: false, default: staging}
jobs: {}
"""


def test_workflow_dispatch_is_checked_against_the_workflow_file(double):
    # GitHub's 422 bodies: "Workflow does not have 'workflow_dispatch' trigger" (fcetool/fcetool#1 quotes
    # it whole), 'Unexpected inputs provided: ["x"]' (peter-evans/slash-command-dispatch#95)
    double.register_workflow("acme/app", "promote.yml", PROMOTE)
    double.register_workflow("acme/app", "ci.yml", "on: [push, pull_request]\njobs: {}\n")
    base = f"{double.url}/repos/acme/app/actions/workflows"
    ci = requests.post(f"{base}/ci.yml/dispatches", headers=H, json={"ref": "main"})
    assert ci.status_code == 422 and ci.json()["message"] == "Workflow does not have 'workflow_dispatch' trigger"
    missing = requests.post(f"{base}/promote.yml/dispatches", headers=H, json={"ref": "main"})
    assert missing.status_code == 422 and missing.json()["message"] == "Required input 'version' not provided"
    extra = requests.post(f"{base}/promote.yml/dispatches", headers=H, json={"ref": "main", "inputs": {"version": "1", "x": "y"}})
    assert extra.json()["message"] == 'Unexpected inputs provided: ["x"]'
    assert requests.post(f"{base}/nope.yml/dispatches", headers=H, json={"ref": "main"}).status_code == 404
    ok = requests.post(f"{base}/promote.yml/dispatches", headers=H, json={"ref": "main", "inputs": {"version": "1"}})
    assert ok.status_code == 204
    assert double.repo("acme/app").dispatches[-1]["inputs"] == {"version": "1", "environment": "staging"}
    by_id = requests.post(f"{base}/{double.register_workflow('acme/app', 'promote.yml', PROMOTE)}/dispatches",
                          headers=H, json={"ref": "main", "inputs": {"version": "2"}})
    assert by_id.status_code == 204


def test_workflow_dispatch_reads_the_workflow_from_the_git_directory(tmp_path, openapi):
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    for cmd in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "ci"]):
        subprocess.run(["git", "-C", str(tmp_path), *cmd], check=True, env=env, capture_output=True)
    with GitHubDouble() as gh:
        gh.observe(openapi)
        gh.add_repo(f"acme/real={tmp_path}")
        r = requests.post(f"{gh.url}/repos/acme/real/actions/workflows/ci.yml/dispatches", headers=H, json={"ref": "main"})
        assert r.status_code == 422


def test_ghes_refuses_return_run_details(double):
    # GHES 3.19 answers '"return_run_details" is not a permitted key.' (benc-uk/workflow-dispatch#86)
    double.set_variants("ghes")
    r = requests.post(f"{double.url}/repos/acme/app/actions/workflows/x.yml/dispatches", headers=H,
                      json={"ref": "main", "return_run_details": True})
    assert r.status_code == 422 and '"return_run_details" is not a permitted key.' in r.json()["message"]


def test_graphql_node_of_an_unknown_id_is_a_not_found_error(double):
    dep = _deploy(double)
    query = 'query($id: ID!) { node(id: $id) { __typename ... on Deployment { databaseId } } }'
    known = requests.post(f"{double.url}/graphql", headers=H, json={"query": query, "variables": {"id": dep["node_id"]}})
    assert known.json()["data"]["node"] == {"__typename": "Deployment", "databaseId": dep["id"]}
    unknown = requests.post(f"{double.url}/graphql", headers=H, json={"query": query, "variables": {"id": "nope"}}).json()
    assert unknown["data"] == {"node": None}
    assert unknown["errors"][0]["type"] == "NOT_FOUND"
    assert unknown["errors"][0]["message"] == "Could not resolve to a node with the global id of 'nope'"


def test_matching_refs_are_listed_in_the_order_they_were_made(double, github):
    # PyGithub replay data, Repository.testGetMatchingRefs: v1.40a1..v1.40a4 before v1.40, and 1.35 after
    # v2.0.0-alpha.4: creation order, not alphabetical
    repo = github.get_repo("acme/app")
    sha = double.repo("acme/app").resolve("main")
    for tag in ("v1.40a1", "v1.40", "1.35"):
        repo.create_git_ref(f"refs/tags/{tag}", sha)
    assert [r.ref for r in repo.get_git_matching_refs("tags/")] == ["refs/tags/v1.40a1", "refs/tags/v1.40",
                                                                   "refs/tags/1.35"]


# --- item 15: environments -----------------------------------------------------------------------------

def test_environment_update_keeps_updated_at_and_rules_keep_the_order_they_were_added(double):
    # PyGithub replay data: Environment.testUpdateEnvironment (a PUT adding three rules answers
    # updated_at == created_at; rules required_reviewers, wait_timer, branch_policy) and
    # Environment.testReviewers (branch_policy, required_reviewers, wait_timer when added in that order)
    url = f"{double.url}/repos/acme/app/environments/prod"
    made = requests.put(url, headers=H, json={"deployment_branch_policy": {"protected_branches": True,
                                                                           "custom_branch_policies": False}}).json()
    double.world.clock.offset = 600
    alice = double.user_id("alice")
    updated = requests.put(url, headers=H, json={"wait_timer": 5, "reviewers": [{"type": "User", "id": alice}]}).json()
    assert updated["updated_at"] == made["created_at"]
    assert [r["type"] for r in updated["protection_rules"]] == ["branch_policy", "required_reviewers", "wait_timer"]
    ids = [r["id"] for r in updated["protection_rules"]]
    assert ids == sorted(ids)
    fresh = requests.put(f"{double.url}/repos/acme/app/environments/other", headers=H, json={
        "wait_timer": 1, "reviewers": [{"type": "User", "id": alice}],
        "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False}}).json()
    assert [r["type"] for r in fresh["protection_rules"]] == ["required_reviewers", "wait_timer", "branch_policy"]


def test_environment_html_url_percent_encodes_the_name(double):
    # PyGithub replay data, Environment.testCreateEnvironment: url .../environments/test/env,
    # html_url ...environments_filter=test%2Fenv
    env = requests.put(f"{double.url}/repos/acme/app/environments/test%2Fenv", headers=H).json()
    assert env["url"].endswith("/environments/test/env")
    assert env["html_url"].endswith("activity_log?environments_filter=test%2Fenv")


# --- what popular deployment actions send ----------------------------------------------------------------

def test_bodies_deployment_actions_send_get_githubs_answers(double):
    # Written from the REST documentation: the keys such actions pass, `sha` and `ref` included
    sha = double.repo("acme/app").resolve("main")
    r = _post(double, "/deployments", {
        "ref": "main", "sha": sha, "task": "deploy", "auto_merge": False, "required_contexts": [],
        "payload": '{"web_url": "https://pr-7.example"}', "environment": "pr-7", "description": "Preview of #7",
        "transient_environment": True, "production_environment": False})
    assert r.status_code == 201
    dep = r.json()
    assert (dep["sha"], dep["ref"], dep["environment"], dep["transient_environment"], dep["payload"]) == (
        sha, "main", "pr-7", True, '{"web_url": "https://pr-7.example"}')
    s = _post(double, f"/deployments/{dep['id']}/statuses", {
        "state": "success", "ref": "main", "target_url": "https://ci.example/7", "environment_url": "https://pr-7.example",
        "log_url": "https://ci.example/7/log", "auto_inactive": False, "description": "Deployed"})
    assert s.status_code == 201
    status = s.json()
    # log_url wins target_url when both are given ("Setting log_url will automatically set target_url")
    assert (status["state"], status["log_url"], status["target_url"], status["environment_url"]) == (
        "success", "https://ci.example/7/log", "https://ci.example/7/log", "https://pr-7.example")
    inactive = _post(double, f"/deployments/{dep['id']}/statuses", {"state": "inactive", "ref": "main"})
    assert inactive.status_code == 201 and inactive.json()["environment"] == "pr-7"
