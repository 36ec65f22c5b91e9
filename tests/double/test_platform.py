"""Authentication, permissions, rate limits, faults, variables, dispatch, commit statuses, the
request log, persistence and GraphQL of the double."""

from __future__ import annotations

import pytest
import requests
from github import Auth, Github, GithubException

from cdhelper.devtools.double import Fault, GitHubDouble

H = {"Authorization": "token t0ken"}


def test_missing_token_reads_public_repositories_only_and_unknown_repository_is_404(double):
    # GitHub answers unauthenticated reads of public repositories (60 an hour); writes and GraphQL need a token
    assert requests.get(f"{double.url}/repos/acme/app").status_code == 200
    r = requests.post(f"{double.url}/repos/acme/app/deployments", json={"ref": "main", "required_contexts": []})
    assert r.status_code == 401 and r.json()["message"] == "Requires authentication"
    assert requests.post(f"{double.url}/graphql", json={"query": "{ rateLimit { limit } }"}).status_code == 401
    assert requests.get(f"{double.url}/repos/acme/app/actions/variables").status_code == 401
    double.repo("acme/app").private = True
    assert requests.get(f"{double.url}/repos/acme/app").status_code == 404
    assert requests.get(f"{double.url}/repos/acme/app", headers=H).status_code == 200
    assert requests.get(f"{double.url}/repos/acme/nope", headers=H).status_code == 404


def test_registered_tokens_are_enforced_with_github_403_for_missing_permission(double):
    # https://docs.github.com/rest/overview/permissions-required-for-github-apps
    double.register_token("ro", permissions={"contents": "read", "metadata": "read"})
    assert requests.get(f"{double.url}/repos/acme/app", headers={"Authorization": "token other"}).status_code == 401
    r = requests.post(f"{double.url}/repos/acme/app/deployments", headers={"Authorization": "token ro"},
                      json={"ref": "main", "required_contexts": []})
    assert r.status_code == 403 and r.json()["message"] == "Resource not accessible by integration"
    assert double.repo("acme/app").deployments == {}


def test_github_token_cannot_read_variables(double):
    # GITHUB_TOKEN has no `variables` permission: 403 even with actions: write
    double.register_token("ghs", permissions={"actions": "write", "contents": "write"})
    r = requests.get(f"{double.url}/repos/acme/app/actions/variables", headers={"Authorization": "token ghs"})
    assert r.status_code == 403


def test_rate_limit_headers_count_down_and_exhaustion_is_403(openapi):
    with GitHubDouble(repos=["acme/app"], rate_limit=3) as gh:
        gh.observe(openapi)
        seen = [requests.get(f"{gh.url}/repos/acme/app", headers=H) for _ in range(4)]
        assert [r.headers.get("x-ratelimit-remaining") for r in seen] == ["2", "1", "0", "0"]
        assert seen[3].status_code == 403 and seen[3].json()["message"].startswith("API rate limit exceeded")
        limits = requests.get(f"{gh.url}/rate_limit", headers=H).json()
        assert limits["resources"]["core"]["remaining"] == 0


def test_faults_are_scoped_per_route_and_deterministic(double):
    double.inject(Fault("5xx", route="POST /repos/{owner}/{repo}/deployments", times=1, status=502))
    url = f"{double.url}/repos/acme/app/deployments"
    body = {"ref": "main", "required_contexts": [], "auto_merge": False}
    assert requests.get(url, headers=H).status_code == 200
    assert requests.post(url, headers=H, json=body).status_code == 502
    assert double.repo("acme/app").deployments == {}  # a "before" fault is never applied
    assert requests.post(url, headers=H, json=body).status_code == 201

    def pattern(seed):
        with GitHubDouble(repos=["acme/app"]) as gh:
            gh.inject(Fault("5xx", probability=0.5, seed=seed))
            return [requests.get(f"{gh.url}/repos/acme/app", headers=H).status_code for _ in range(12)]
    assert pattern(7) == pattern(7) and pattern(7) != pattern(8)


def test_after_fault_applies_the_write_but_loses_the_response(double):
    double.inject(Fault("5xx", route="POST /repos/{owner}/{repo}/deployments", times=1, when="after"))
    r = requests.post(f"{double.url}/repos/acme/app/deployments", headers=H,
                      json={"ref": "main", "required_contexts": [], "auto_merge": False})
    assert r.status_code == 502
    assert len(double.repo("acme/app").deployments) == 1


def test_secondary_rate_limit_carries_retry_after(double):
    double.inject(Fault("secondary", times=1, status=429, retry_after=3))
    r = requests.get(f"{double.url}/repos/acme/app", headers=H)
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert "secondary rate limit" in r.json()["message"]


def test_connection_reset_drops_the_connection(double):
    double.inject(Fault("reset", times=1))
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{double.url}/repos/acme/app", headers=H)
    assert requests.get(f"{double.url}/repos/acme/app", headers=H).status_code == 200


def test_pygithub_default_retry_silently_reposts_after_a_5xx(double):
    # Why cdhelper turns PyGithub's retry off for writes: the default GithubRetry re-POSTs.
    double.inject(Fault("5xx", route="POST /repos/{owner}/{repo}/deployments", times=1, when="after"))
    g = Github(base_url=double.url, auth=Auth.Token("x"), seconds_between_requests=None, seconds_between_writes=None)
    g.get_repo("acme/app").create_deployment(ref="main", auto_merge=False, required_contexts=[])
    assert len(double.repo("acme/app").deployments) == 2  # a duplicate


def test_request_log_counts_per_route_and_admin_routes_are_not_counted(double):
    requests.get(f"{double.url}/repos/acme/app", headers=H)
    requests.get(f"{double.url}/repos/acme/app", headers=H)
    over_http = requests.get(f"{double.url}/_double/log").json()
    assert over_http["counts"] == {"GET /repos/{owner}/{repo}": 2}
    assert double.counts() == {"GET /repos/{owner}/{repo}": 2}
    requests.delete(f"{double.url}/_double/log")
    assert double.total_requests() == 0


def test_variables_crud_with_github_status_codes(double):
    base = f"{double.url}/repos/acme/app/actions/variables"
    assert requests.post(base, headers=H, json={"name": "CD_MODE", "value": "delivery"}).status_code == 201
    assert requests.post(base, headers=H, json={"name": "CD_MODE", "value": "x"}).status_code == 409
    assert requests.get(f"{base}/CD_MODE", headers=H).json()["value"] == "delivery"
    assert requests.patch(f"{base}/CD_MODE", headers=H, json={"value": "deployment"}).status_code == 204
    assert requests.get(base, headers=H).json()["variables"][0]["value"] == "deployment"
    assert requests.delete(f"{base}/CD_MODE", headers=H).status_code == 204
    assert requests.get(f"{base}/CD_MODE", headers=H).status_code == 404


def test_environment_variables(double):
    requests.put(f"{double.url}/repos/acme/app/environments/staging", headers=H)
    base = f"{double.url}/repos/acme/app/environments/staging/variables"
    assert requests.post(base, headers=H, json={"name": "URL", "value": "https://stg"}).status_code == 201
    assert requests.get(base, headers=H).json()["total_count"] == 1


def test_workflow_dispatch_204_or_200_with_run_details(double):
    base = f"{double.url}/repos/acme/app/actions/workflows/promote.yml/dispatches"
    assert requests.post(base, headers=H, json={"ref": "main", "inputs": {"version": "1.0.0"}}).status_code == 204
    r = requests.post(base, headers=H, json={"ref": "main", "return_run_details": True})
    assert r.status_code == 200 and r.json()["workflow_run_id"] in double.repo("acme/app").runs
    assert requests.post(base, headers=H, json={"ref": "nope"}).status_code == 422
    assert requests.post(f"{double.url}/repos/acme/app/dispatches", headers=H,
                         json={"event_type": "promote"}).status_code == 204
    assert requests.post(f"{double.url}/repos/acme/app/dispatches", headers=H,
                         json={"event_type": "x" * 101}).status_code == 422


def test_commit_statuses_combine_latest_per_context(double):
    sha = double.repo("acme/app").resolve("main")
    for state, context in [("pending", "ci"), ("success", "ci"), ("failure", "lint")]:
        requests.post(f"{double.url}/repos/acme/app/statuses/{sha}", headers=H, json={"state": state, "context": context})
    combined = requests.get(f"{double.url}/repos/acme/app/commits/main/status", headers=H).json()
    assert combined["state"] == "failure" and combined["total_count"] == 2
    assert len(requests.get(f"{double.url}/repos/acme/app/commits/{sha}/statuses", headers=H).json()) == 3


def test_state_survives_save_and_load(tmp_path, double, github):
    github.get_repo("acme/app").create_deployment(ref="main", environment="staging", auto_merge=False,
                                                  required_contexts=[]).create_status("success")
    double.save(tmp_path / "state.json")
    with GitHubDouble() as again:
        again.load(tmp_path / "state.json")
        deps = requests.get(f"{again.url}/repos/acme/app/deployments", headers=H).json()
        assert [d["environment"] for d in deps] == ["staging"]


def test_graphql_reads_deployments_with_statuses_and_tags_in_one_request(double, github):
    repo = github.get_repo("acme/app")
    sha = double.repo("acme/app").resolve("main")
    tag = repo.create_git_tag("v1", "Release v1\n\ncdhelper-version: 1\n", sha, "commit")
    repo.create_git_ref("refs/tags/v1", tag.sha)
    for env in ("staging", "production", "staging"):
        repo.create_deployment(ref="main", environment=env, auto_merge=False, required_contexts=[],
                               payload={"env": env}).create_status("success")
    double.reset_log()
    query = """query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) {
      ref(qualifiedName: "refs/tags/v1") { target { __typename ... on Tag { message target { oid } } } }
      staging: deployments(environments: ["staging"], last: 10) { totalCount nodes {
        databaseId state payload latestStatus { state } statuses(last: 5) { nodes { state } } } } } }"""
    r = requests.post(f"{double.url}/graphql", headers=H, json={"query": query, "variables": {"owner": "acme", "name": "app"}})
    data = r.json()["data"]["repository"]
    assert data["ref"]["target"]["target"]["oid"] == sha
    assert [n["state"] for n in data["staging"]["nodes"]] == ["INACTIVE", "ACTIVE"]
    assert [s["state"] for s in data["staging"]["nodes"][0]["statuses"]["nodes"]] == ["SUCCESS", "INACTIVE"]
    assert double.total_requests() == 1


def test_graphql_rejects_fields_github_does_not_have(double):
    r = requests.post(f"{double.url}/graphql", headers=H, json={"query": "{ repository(owner: \"acme\", name: \"app\") { deploymentz } }"})
    assert r.status_code == 200 and r.json()["errors"][0]["message"] == "Field 'deploymentz' doesn't exist on type 'Repository'"
    missing = requests.post(f"{double.url}/graphql", headers=H, json={"query": "{ repository(owner: \"acme\", name: \"x\") { id } }"})
    assert missing.json()["errors"][0]["type"] == "NOT_FOUND"


def test_unknown_path_is_404_not_a_crash(double):
    r = requests.get(f"{double.url}/repos/acme/app/nonsense", headers=H)
    assert r.status_code == 404 and r.json()["message"] == "Not Found"


def test_pygithub_raises_for_403_permission_errors(double):
    double.register_token("ro", permissions={"metadata": "read"})
    g = Github(base_url=double.url, auth=Auth.Token("ro"), retry=None, seconds_between_requests=None,
               seconds_between_writes=None)
    with pytest.raises(GithubException) as err:
        g.get_repo("acme/app").create_deployment(ref="main", auto_merge=False, required_contexts=[])
    assert err.value.status == 403
