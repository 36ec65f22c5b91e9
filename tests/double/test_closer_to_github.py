"""Issue 22 item 7: where a replay of recorded github.com exchanges still found the double apart from
GitHub. Each test names the behaviour and cites the recording (or answer quoted whole) it reproduces;
where recordings disagree, both answers are tested (the second under a variant)."""

from __future__ import annotations

import requests

from cdhelper.core.config import Environment
from cdhelper.deploy.promotion import _refusal
from cdhelper.devtools.double import Fault, GitHubDouble
from cdhelper.github.client import ApiFailure
from cdhelper.release.tagging import Candidate

H = {"Authorization": "token t0ken"}


def _gql(double, query: str, headers: dict = H) -> requests.Response:
    return requests.post(f"{double.url}/graphql", headers=headers, json={"query": query}, timeout=5)


# --- Link headers: /repositories/ID ---------------------------------------------------------------

def test_link_headers_name_the_repository_by_id_and_those_links_are_served(double, github):
    # PyGithub replay data: 213 recorded Link headers read <https://api.github.com/repositories/3544490/...>
    double.seed_deployments("acme/app", 5, ["staging"])
    first = requests.get(f"{double.url}/repos/acme/app/deployments?per_page=2", headers=H, timeout=5)
    repo_id = double.repo("acme/app").id
    assert first.links["next"]["url"] == f"{double.url}/repositories/{repo_id}/deployments?per_page=2&page=2"
    second = requests.get(first.links["next"]["url"], headers=H, timeout=5)
    assert second.status_code == 200 and len(second.json()) == 2
    assert {d["id"] for d in second.json()}.isdisjoint({d["id"] for d in first.json()})
    # PyGithub follows them as they are
    assert len(list(github.get_repo("acme/app").get_deployments())) == 5
    assert requests.get(f"{double.url}/repositories/999999/deployments", headers=H, timeout=5).status_code == 404


def test_ghes_links_keep_api_v3_and_are_served(double):
    double.set_variants("ghes")
    double.seed_deployments("acme/app", 3, ["staging"])
    first = requests.get(f"{double.url}/repos/acme/app/deployments?per_page=2", headers=H, timeout=5)
    assert double.url.endswith("/api/v3")
    assert first.links["next"]["url"].startswith(f"{double.url}/repositories/{double.repo('acme/app').id}/deployments?")
    assert len(requests.get(first.links["next"]["url"], headers=H, timeout=5).json()) == 1


# --- a ref's url ------------------------------------------------------------------------------------

def test_a_ref_read_by_git_ref_has_that_path_as_its_url_and_takes_patch_and_delete_there(double):
    # PyGithub replay data, 2020 (PullRequest.testDeleteBranch): GET .../git/ref/heads/NAME answers
    # "url": ".../git/ref/heads/NAME", and DELETE at that url is 204. Created refs say .../git/refs/...
    sha = double.repo("acme/app").resolve("main")
    base = f"{double.url}/repos/acme/app/git"
    made = requests.post(f"{base}/refs", headers=H, json={"ref": "refs/heads/topic", "sha": sha}, timeout=5)
    assert made.json()["url"] == f"{base}/refs/heads/topic"
    read = requests.get(f"{base}/ref/heads/topic", headers=H, timeout=5).json()
    assert read["url"] == f"{base}/ref/heads/topic"
    moved = requests.patch(read["url"], headers=H, json={"sha": sha}, timeout=5)
    assert moved.status_code == 200 and moved.json()["url"] == f"{base}/ref/heads/topic"
    assert requests.delete(read["url"], headers=H, timeout=5).status_code == 204
    assert "refs/heads/topic" not in double.repo("acme/app").refs


def test_ref_url_plural_variant_answers_as_github3py_recorded_it(double):
    # github3.py's cassette Repository_ref (2017): GET .../git/ref/tags/0.9.3 -> "url": ".../git/refs/tags/0.9.3"
    double.set_variants("ref-url-plural")
    read = requests.get(f"{double.url}/repos/acme/app/git/ref/heads/main", headers=H, timeout=5).json()
    assert read["url"] == f"{double.url}/repos/acme/app/git/refs/heads/main"


# --- /rate_limit --------------------------------------------------------------------------------------

FOURTEEN = {"core", "search", "graphql", "integration_manifest", "source_import", "code_scanning_upload",
            "code_scanning_autofix", "actions_runner_registration", "scim", "dependency_snapshots",
            "dependency_sbom", "audit_log", "audit_log_streaming", "code_search"}


def test_rate_limit_of_an_installation_token_lists_fourteen_resources_code_scanning_upload_as_core(double):
    # A GITHUB_TOKEN's answer on a runner (January 2026): all fourteen, code_scanning_upload with core's
    # own count; dependency_sbom resets every minute.
    double.register_token("ghs_job")  # an installation token (the default kind)
    requests.get(f"{double.url}/repos/acme/app", headers={"Authorization": "token ghs_job"}, timeout=5)
    res = requests.get(f"{double.url}/rate_limit", headers={"Authorization": "token ghs_job"}, timeout=5).json()
    assert set(res["resources"]) == FOURTEEN
    assert res["resources"]["code_scanning_upload"] == res["resources"]["core"]
    assert res["resources"]["core"]["used"] == 1
    now = int(double.world.clock.now())
    assert res["resources"]["dependency_sbom"]["reset"] <= now + 60


def test_rate_limit_installation_subset_variant_shows_installation_tokens_ten(double):
    double.set_variants("rate-limit-installation-subset")
    double.register_token("ghs_job")
    double.register_token("ghp_person", login="octocat", kind="user")
    mine = requests.get(f"{double.url}/rate_limit", headers={"Authorization": "token ghs_job"}, timeout=5).json()
    assert set(mine["resources"]) == FOURTEEN - {"scim", "audit_log", "audit_log_streaming", "code_scanning_autofix"}
    person = requests.get(f"{double.url}/rate_limit", headers={"Authorization": "token ghp_person"}, timeout=5).json()
    assert set(person["resources"]) == FOURTEEN


# --- documentation_url only where GitHub gives one -------------------------------------------------------

def test_a_server_error_carries_no_documentation_url(double):
    # GitHub's 502 body, whole as PyGithub shows it: {'message': 'Server Error'} (gitcoinco/web#2824)
    double.inject(Fault("5xx", route="GET /repos/{owner}/{repo}", times=1))
    answer = requests.get(f"{double.url}/repos/acme/app", headers=H, timeout=5)
    assert answer.status_code == 502
    assert answer.json()["message"] == "Server Error" and "documentation_url" not in answer.json()


def test_graphql_401_points_at_the_graphql_docs(double):
    # "This endpoint requires you to be authenticated." is GitHub's GraphQL 401 (asserted against the real
    # endpoint by public API tests); its documentation_url is the GraphQL guide, not the REST docs.
    anonymous = requests.post(f"{double.url}/graphql", json={"query": "{ viewer { login } }"}, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["message"] == "This endpoint requires you to be authenticated."
    assert anonymous.json()["documentation_url"].startswith("https://docs.github.com/graphql")
    double.register_token("known")
    bad = _gql(double, "{ viewer { login } }", {"Authorization": "token unknown"})
    assert bad.status_code == 401 and bad.json()["documentation_url"] == "https://docs.github.com/graphql"
    # the REST 401 keeps the REST docs
    rest = requests.get(f"{double.url}/repos/acme/app", headers={"Authorization": "token unknown"}, timeout=5)
    assert rest.json()["documentation_url"] == "https://docs.github.com/rest"


# --- GraphQL errors carry `type` where GitHub's do -------------------------------------------------------

def test_graphql_pagination_errors_carry_githubs_type_and_name_the_connection(double):
    missing = _gql(double, '{ repository(owner: "acme", name: "app") { deployments { totalCount } } }').json()
    [error] = missing["errors"]
    assert error["type"] == "MISSING_PAGINATION_BOUNDARIES"
    assert error["message"] == ("You must provide a `first` or `last` value to properly paginate the "
                                "`deployments` connection.")
    too_many = _gql(double, '{ repository(owner: "acme", name: "app") { deployments(first: 101) { totalCount } } }')
    [error] = too_many.json()["errors"]
    assert error["type"] == "EXCESSIVE_PAGINATION"
    assert error["message"] == "Requesting 101 records on the `deployments` connection exceeds the `first` limit of 100 records."
    cursor = _gql(double, '{ repository(owner: "acme", name: "app") { deployments(first: 1, after: "zz") { totalCount } } }')
    assert cursor.json()["errors"][0]["type"] == "INVALID_CURSOR_ARGUMENTS"


def test_graphql_validation_errors_have_no_type_but_graphql_rubys_code_names_and_path(double):
    # GitHub's answer to an unknown field, quoted whole in public clients' tests: {"message": "Field
    # 'discussion' doesn't exist on type 'Repository'", "path": ["query NodeId", "repository", "discussion"],
    # "extensions": {"code": "undefinedField", "typeName": "Repository", "fieldName": "discussion"}}, no data
    # (`discussion` exists in today's schema, hence another name here)
    answer = _gql(double, 'query NodeId { repository(owner: "acme", name: "app") { deploymentz } }').json()
    assert "data" not in answer
    [error] = answer["errors"]
    assert "type" not in error
    assert error["message"] == "Field 'deploymentz' doesn't exist on type 'Repository'"
    assert error["path"] == ["query NodeId", "repository", "deploymentz"]
    assert error["extensions"] == {"code": "undefinedField", "typeName": "Repository", "fieldName": "deploymentz"}
    [error] = _gql(double, '{ repository(owner: "acme") { id } }').json()["errors"]
    assert error["extensions"]["code"] == "missingRequiredArguments" and error["path"] == ["query", "repository"]
    [error] = _gql(double, '{ repository(owner: "acme", name: "app", colour: 1) { id } }').json()["errors"]
    assert error["extensions"]["code"] == "argumentNotAccepted" and "type" not in error
    [error] = _gql(double, '{ repository(owner: "acme", name: "nope") { id } }').json()["errors"]
    assert error["type"] == "NOT_FOUND"


# --- workflow_dispatch without the trigger ---------------------------------------------------------------

def test_dispatching_by_id_a_workflow_without_the_trigger_is_422(double):
    # PyGithub replay data, Workflow.testCreateDispatchForNonTriggerEnabled: POST .../workflows/2001229/dispatches
    # {"ref": "main", "inputs": {}} -> 422 "Workflow does not have 'workflow_dispatch' trigger"
    ident = double.register_workflow("acme/app", "check.yml", "on:\n  push:\n  pull_request:\njobs: {}\n")
    answer = requests.post(f"{double.url}/repos/acme/app/actions/workflows/{ident}/dispatches", headers=H,
                           json={"ref": "main", "inputs": {}}, timeout=5)
    assert answer.status_code == 422
    assert answer.json()["message"] == "Workflow does not have 'workflow_dispatch' trigger"
    assert answer.json()["documentation_url"].endswith("#create-a-workflow-dispatch-event")
    assert double.repo("acme/app").dispatches == []


# --- required contexts and performed_via_github_app ------------------------------------------------------

def test_required_contexts_refusal_lists_every_context_and_cdhelper_names_the_failing_ones(double):
    # remind101/slashdeploy#15: the 409 lists ci/circleci success next to container/docker failure
    sha = double.repo("acme/app").resolve("main")
    for context, state in (("ci/circleci", "success"), ("container/docker", "failure")):
        requests.post(f"{double.url}/repos/acme/app/statuses/{sha}", headers=H,
                      json={"state": state, "context": context}, timeout=5)
    refused = requests.post(f"{double.url}/repos/acme/app/deployments", headers=H, json={"ref": "main"}, timeout=5)
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["contexts"] == [{"context": "ci/circleci", "state": "success"},
                                                       {"context": "container/docker", "state": "failure"}]
    error = _refusal(ApiFailure(409, refused.json()["message"], refused.json()),
                     Candidate(version="1.0.0", tag="v1.0.0", commit=sha, manifest="sha256:" + "0" * 64),
                     Environment(name="production", required_contexts=("ci/circleci", "container/docker")))
    assert "container/docker (failure)" in str(error) and "ci/circleci (success)" not in str(error)


def test_deployments_made_by_an_app_carry_performed_via_github_app(double):
    double.register_token("ghs_app", login="deployer[bot]")
    double.register_token("ghp_person", login="octocat", kind="user")
    made = []
    for token in ("ghs_app", "ghp_person"):
        made.append(requests.post(f"{double.url}/repos/acme/app/deployments", headers={"Authorization": f"token {token}"},
                                  json={"ref": "main", "required_contexts": [], "environment": "qa"}, timeout=5).json())
    assert made[0]["performed_via_github_app"]["slug"] == "deployer"
    assert made[1]["performed_via_github_app"] is None
    listed = requests.get(f"{double.url}/repos/acme/app/deployments", headers={"Authorization": "token ghs_app"},
                          timeout=5).json()
    assert [d["performed_via_github_app"] and d["performed_via_github_app"]["slug"] for d in listed] == [None, "deployer"]


def test_variants_known(openapi):
    with GitHubDouble(repos=["acme/app"], variant=["ref-url-plural", "rate-limit-installation-subset"]) as gh:
        assert gh.variants == ["rate-limit-installation-subset", "ref-url-plural"]


def test_pygithub_reads_a_workflow_then_its_dispatch_is_refused_as_github_refuses_it(double, github):
    # The whole recorded exchange (Workflow.testCreateDispatchForNonTriggerEnabled): GET .../workflows/check.yml,
    # then POST .../workflows/{id}/dispatches -> 422, which PyGithub's create_dispatch reports as False.
    double.register_workflow("acme/app", "check.yml", "name: check\non:\n  push:\njobs: {}\n")
    workflow = github.get_repo("acme/app").get_workflow("check.yml")
    assert (workflow.name, workflow.path, workflow.state) == ("check", ".github/workflows/check.yml", "active")
    assert workflow.badge_url.endswith("/acme/app/workflows/check/badge.svg")
    assert workflow.create_dispatch("main") is False
    assert double.repo("acme/app").dispatches == []
    assert requests.get(f"{double.url}/repos/acme/app/actions/workflows/nope.yml", headers=H, timeout=5).status_code == 404


# --- environment protection rules --------------------------------------------------------------------

def test_protection_rules_from_the_settings_page_and_from_one_put_come_in_githubs_orders(double):
    # Settings page (the admin route): branch_policy, required_reviewers, wait_timer (PyGithub replay data,
    # the `dev` environment of Environment.setUp); one REST PUT: required_reviewers, wait_timer,
    # branch_policy (Environment.testUpdateEnvironment). Ids ascending in both.
    double.set_environment("acme/app", "dev", reviewers=["octocat"], wait_timer=5, branches=["main"])
    dev = requests.get(f"{double.url}/repos/acme/app/environments/dev", headers=H, timeout=5).json()
    assert [r["type"] for r in dev["protection_rules"]] == ["branch_policy", "required_reviewers", "wait_timer"]
    uid = requests.get(f"{double.url}/users/octocat", headers=H, timeout=5).json()["id"]
    put = requests.put(f"{double.url}/repos/acme/app/environments/test", headers=H, timeout=5, json={
        "wait_timer": 42, "reviewers": [{"type": "User", "id": uid}],
        "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False}}).json()
    assert [r["type"] for r in put["protection_rules"]] == ["required_reviewers", "wait_timer", "branch_policy"]
    for env in (dev, put):
        ids = [r["id"] for r in env["protection_rules"]]
        assert ids == sorted(ids)
