"""Environments (https://docs.github.com/rest/deployments/environments), branch policies
(https://docs.github.com/rest/deployments/branch-policies), and workflow-run reviews
(https://docs.github.com/rest/actions/workflow-runs#get-pending-deployments-for-a-workflow-run,
#review-pending-deployments-for-a-workflow-run, #get-the-review-history-for-a-workflow-run)."""

from __future__ import annotations

import pytest
import requests
from github import GithubException

H = {"Authorization": "token t0ken"}


def test_put_environment_creates_and_updates_with_200(double, github):
    reviewer = double.user_id("alice")
    r = requests.put(f"{double.url}/repos/acme/app/environments/production-approval", headers=H,
                     json={"wait_timer": 5, "prevent_self_review": True, "reviewers": [{"type": "User", "id": reviewer}],
                           "deployment_branch_policy": None})
    assert r.status_code == 200
    rules = {rule["type"]: rule for rule in r.json()["protection_rules"]}
    assert rules["wait_timer"]["wait_timer"] == 5
    assert rules["required_reviewers"]["prevent_self_review"] is True
    assert rules["required_reviewers"]["reviewers"][0]["reviewer"]["login"] == "alice"
    env = github.get_repo("acme/app").get_environment("production-approval")
    assert env.name == "production-approval"
    # an update that names only wait_timer keeps the reviewers (choice documented in docs/github-double.md)
    requests.put(f"{double.url}/repos/acme/app/environments/production-approval", headers=H, json={"wait_timer": 0})
    again = requests.get(f"{double.url}/repos/acme/app/environments/production-approval", headers=H).json()
    assert [r["type"] for r in again["protection_rules"]] == ["required_reviewers"]


def test_environment_names_are_case_insensitive(double):
    requests.put(f"{double.url}/repos/acme/app/environments/Production", headers=H)
    r = requests.get(f"{double.url}/repos/acme/app/environments/production", headers=H)
    assert r.status_code == 200 and r.json()["name"] == "Production"


def test_environment_validation_errors_are_422(double):
    url = f"{double.url}/repos/acme/app/environments/prod"
    assert requests.put(url, headers=H, json={"wait_timer": 43201}).status_code == 422
    assert requests.put(url, headers=H, json={"deployment_branch_policy": {
        "protected_branches": True, "custom_branch_policies": True}}).status_code == 422
    too_many = [{"type": "User", "id": double.user_id(f"u{i}")} for i in range(7)]
    assert requests.put(url, headers=H, json={"reviewers": too_many}).status_code == 422


def test_missing_environment_is_404_and_delete_is_204(double, github):
    with pytest.raises(GithubException) as err:
        _ = github.get_repo("acme/app").get_environment("nope").protection_rules
    assert err.value.status == 404
    requests.put(f"{double.url}/repos/acme/app/environments/tmp", headers=H)
    assert requests.delete(f"{double.url}/repos/acme/app/environments/tmp", headers=H).status_code == 204
    listing = requests.get(f"{double.url}/repos/acme/app/environments", headers=H).json()
    assert listing == {"total_count": 0, "environments": []}


def test_branch_policies_need_custom_policies_and_duplicates_are_303(double):
    env_url = f"{double.url}/repos/acme/app/environments/production"
    requests.put(env_url, headers=H)
    assert requests.post(f"{env_url}/deployment-branch-policies", headers=H, json={"name": "main"}).status_code == 404
    requests.put(env_url, headers=H, json={"deployment_branch_policy": {"protected_branches": False,
                                                                         "custom_branch_policies": True}})
    first = requests.post(f"{env_url}/deployment-branch-policies", headers=H, json={"name": "release/*", "type": "branch"})
    assert first.status_code == 200 and first.json()["name"] == "release/*"
    dup = requests.post(f"{env_url}/deployment-branch-policies", headers=H, json={"name": "release/*", "type": "branch"},
                        allow_redirects=False)
    assert dup.status_code == 303
    listing = requests.get(f"{env_url}/deployment-branch-policies", headers=H).json()
    assert listing["total_count"] == 1


def test_reviewer_approves_a_waiting_run_and_the_approval_is_in_its_history(double):
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    run = double.create_run("acme/app", actor="bob", waiting_on=["production-approval"])
    base = f"{double.url}/repos/acme/app/actions/runs/{run['id']}"
    pending = requests.get(f"{base}/pending_deployments", headers=H).json()
    assert pending[0]["environment"]["name"] == "production-approval"
    assert pending[0]["reviewers"][0]["reviewer"]["login"] == "alice"
    assert requests.get(f"{base}/approvals", headers=H).json() == []
    double.review("acme/app", run["id"], "production-approval", "alice", comment="ship it")
    approvals = requests.get(f"{base}/approvals", headers=H).json()
    assert [(a["state"], a["user"]["login"], a["comment"]) for a in approvals] == [("approved", "alice", "ship it")]
    assert approvals[0]["environments"][0]["name"] == "production-approval"
    assert requests.get(f"{base}/pending_deployments", headers=H).json() == []


def test_prevent_self_review_stops_the_run_author_from_approving(double):
    double.set_environment("acme/app", "gate", reviewers=["bob"], prevent_self_review=True)
    run = double.create_run("acme/app", actor="bob", waiting_on=["gate"])
    from cdhelper.devtools.double.http import ApiError
    with pytest.raises(ApiError):
        double.review("acme/app", run["id"], "gate", "bob")


def test_github_token_cannot_review_but_a_reviewers_own_token_can(double):
    # OpenAPI marks the review endpoint enabledForGitHubApps: false
    double.set_environment("acme/app", "gate", reviewers=["alice"])
    double.register_token("ghs_actions", permissions={"actions": "write", "deployments": "write"})
    double.register_token("ghp_alice", login="alice", kind="user")
    run = double.create_run("acme/app", waiting_on=["gate"])
    env_id = double.repo("acme/app").environments["gate"]["id"]
    url = f"{double.url}/repos/acme/app/actions/runs/{run['id']}/pending_deployments"
    body = {"environment_ids": [env_id], "state": "approved", "comment": "ok"}
    refused = requests.post(url, headers={"Authorization": "token ghs_actions"}, json=body)
    assert refused.status_code == 403 and refused.json()["message"] == "Resource not accessible by integration"
    pending = requests.get(url, headers={"Authorization": "token ghp_alice"}).json()
    assert pending[0]["current_user_can_approve"] is True
    assert requests.post(url, headers={"Authorization": "token ghp_alice"}, json=body).status_code == 200
    assert requests.get(url, headers={"Authorization": "token ghp_alice"}).json() == []


def test_planned_review_is_given_when_the_run_is_seen_waiting(double):
    double.set_environment("acme/app", "gate", reviewers=["alice"])
    run = double.create_run("acme/app", waiting_on=["gate"])
    double.plan_review("acme/app", run["id"], "gate", "alice", comment="rehearsal")
    approvals = requests.get(f"{double.url}/repos/acme/app/actions/runs/{run['id']}/approvals", headers=H).json()
    assert approvals[0]["user"]["login"] == "alice" and approvals[0]["comment"] == "rehearsal"


def test_rejection_fails_the_run(double):
    double.set_environment("acme/app", "gate", reviewers=["alice"])
    run = double.create_run("acme/app", waiting_on=["gate"])
    double.review("acme/app", run["id"], "gate", "alice", state="rejected", comment="not today")
    got = requests.get(f"{double.url}/repos/acme/app/actions/runs/{run['id']}", headers=H).json()
    assert (got["status"], got["conclusion"]) == ("completed", "failure")


def test_unknown_run_is_404(double):
    assert requests.get(f"{double.url}/repos/acme/app/actions/runs/424242/approvals", headers=H).status_code == 404
