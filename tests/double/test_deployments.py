"""Deployments and deployment statuses, as documented at
https://docs.github.com/rest/deployments/deployments and https://docs.github.com/rest/deployments/statuses"""

from __future__ import annotations

import pytest
import requests
from github import GithubException

H = {"Authorization": "token t0ken"}


def test_create_deployment_defaults_environment_to_production_and_task_to_deploy(github):
    # docs: environment default "production", task default "deploy", production_environment true for production
    dep = github.get_repo("acme/app").create_deployment(ref="main", auto_merge=False, required_contexts=[])
    assert (dep.environment, dep.task, dep.production_environment) == ("production", "deploy", True)
    assert dep.payload == {}


def test_create_deployment_returns_201_with_location(double):
    r = requests.post(f"{double.url}/repos/acme/app/deployments", headers=H,
                      json={"ref": "main", "environment": "staging", "required_contexts": [], "auto_merge": False})
    assert r.status_code == 201
    assert r.headers["Location"] == r.json()["url"]
    assert r.json()["production_environment"] is False


def test_create_deployment_unknown_ref_is_422(github):
    with pytest.raises(GithubException) as err:
        github.get_repo("acme/app").create_deployment(ref="nope", auto_merge=False, required_contexts=[])
    assert err.value.status == 422
    assert "No ref found for: nope" in err.value.data["message"]


def test_create_deployment_without_required_contexts_checks_every_status_context(double, github):
    # docs: required_contexts defaults to all unique contexts; any non-success one -> 409
    repo = github.get_repo("acme/app")
    sha = double.repo("acme/app").resolve("main")
    requests.post(f"{double.url}/repos/acme/app/statuses/{sha}", headers=H, json={"state": "failure", "context": "ci/test"})
    with pytest.raises(GithubException) as err:
        repo.create_deployment(ref="main", auto_merge=False)
    assert err.value.status == 409
    assert err.value.data["errors"][0]["contexts"] == [{"context": "ci/test", "state": "failure"}]
    # an explicit empty list skips the check
    assert repo.create_deployment(ref="main", auto_merge=False, required_contexts=[]).id


def test_create_deployment_listed_context_not_yet_reported_is_409(github):
    with pytest.raises(GithubException) as err:
        github.get_repo("acme/app").create_deployment(ref="main", auto_merge=False, required_contexts=["acceptance"])
    assert err.value.status == 409


def test_create_deployment_of_branch_behind_default_auto_merges_and_creates_nothing(double):
    # docs: auto_merge defaults to true; a ref behind the default branch is merged -> 202, no deployment
    repo = double.repo("acme/app")
    base = repo.resolve("main")
    double.world.add_commit(repo, "feature work", parent=base, branch="feature")
    double.world.add_commit(repo, "main moved on", parent=base, branch="main")
    r = requests.post(f"{double.url}/repos/acme/app/deployments", headers=H, json={"ref": "feature", "required_contexts": []})
    assert r.status_code == 202
    assert r.json() == {"message": "Auto-merged main into feature on deployment."}
    assert repo.deployments == {}


def test_list_deployments_filters_and_returns_newest_first(github):
    repo = github.get_repo("acme/app")
    ids = [repo.create_deployment(ref="main", environment=env, auto_merge=False, required_contexts=[], task=task).id
           for env, task in [("staging", "deploy"), ("production", "deploy"), ("staging", "deploy:migrate")]]
    assert [d.id for d in repo.get_deployments()] == list(reversed(ids))
    assert [d.id for d in repo.get_deployments(environment="staging")] == [ids[2], ids[0]]
    assert [d.id for d in repo.get_deployments(task="deploy:migrate")] == [ids[2]]
    assert [d.id for d in repo.get_deployments(environment="nowhere")] == []


def test_list_deployments_paginates_with_link_headers_pygithub_follows(double, github):
    double.seed_deployments("acme/app", 75, ["staging"])
    double.reset_log()
    deployments = list(github.get_repo("acme/app").get_deployments())
    assert len(deployments) == 75 and len({d.id for d in deployments}) == 75
    assert double.counts()["GET /repos/{owner}/{repo}/deployments"] == 3  # 30 + 30 + 15


def test_per_page_is_capped_at_100(double):
    double.seed_deployments("acme/app", 150, ["staging"])
    r = requests.get(f"{double.url}/repos/acme/app/deployments?per_page=500", headers=H)
    assert len(r.json()) == 100
    assert 'rel="next"' in r.headers["Link"] and "page=2" in r.headers["Link"]


def test_get_missing_deployment_is_404(github):
    with pytest.raises(GithubException) as err:
        _ = github.get_repo("acme/app").get_deployment(99999).environment
    assert err.value.status == 404 and err.value.data["message"] == "Not Found"


def test_delete_active_deployment_is_refused_unless_it_is_the_only_one(double, github):
    # docs: with more than one deployment only inactive ones can be deleted
    repo = github.get_repo("acme/app")
    first = repo.create_deployment(ref="main", environment="staging", auto_merge=False, required_contexts=[])
    first.create_status("success")
    second = repo.create_deployment(ref="main", environment="qa", auto_merge=False, required_contexts=[])
    second.create_status("success")
    r = requests.delete(first.url, headers=H)
    assert r.status_code == 422
    first.create_status("failure")  # any non-successful status makes it inactive
    assert requests.delete(first.url, headers=H).status_code == 204
    # the single remaining one can go whatever its state
    assert requests.delete(second.url, headers=H).status_code == 204


def test_status_log_url_also_sets_target_url(double, github):
    # docs: "log_url ... setting it also sets target_url"; PyGithub has no log_url argument, so raw HTTP
    dep = github.get_repo("acme/app").create_deployment(ref="main", environment="staging", auto_merge=False,
                                                         required_contexts=[])
    r = requests.post(f"{dep.url}/statuses", headers=H,
                      json={"state": "in_progress", "log_url": "https://ci/run/1", "environment_url": "https://stg"})
    assert r.status_code == 201
    assert (r.json()["target_url"], r.json()["log_url"], r.json()["environment_url"]) == (
        "https://ci/run/1", "https://ci/run/1", "https://stg")


def test_status_rejects_unknown_state_and_long_description(double, github):
    dep = github.get_repo("acme/app").create_deployment(ref="main", auto_merge=False, required_contexts=[])
    assert requests.post(f"{dep.url}/statuses", headers=H, json={"state": "bogus"}).status_code == 422
    assert requests.post(f"{dep.url}/statuses", headers=H,
                         json={"state": "success", "description": "x" * 141}).status_code == 422
    assert requests.post(f"{dep.url}/statuses", headers=H,
                         json={"state": "success", "description": "x" * 140}).status_code == 201


def test_success_inactivates_prior_successful_deployments_of_same_non_production_environment(github):
    # docs ("Inactive deployments"): auto_inactive defaults to true
    repo = github.get_repo("acme/app")
    old = repo.create_deployment(ref="main", environment="staging", auto_merge=False, required_contexts=[])
    old.create_status("success")
    other_env = repo.create_deployment(ref="main", environment="qa", auto_merge=False, required_contexts=[])
    other_env.create_status("success")
    new = repo.create_deployment(ref="main", environment="staging", auto_merge=False, required_contexts=[])
    new.create_status("success")
    assert [s.state for s in old.get_statuses()] == ["inactive", "success"]
    assert [s.state for s in other_env.get_statuses()] == ["success"]


def test_auto_inactive_false_leaves_prior_deployments_alone(github):
    repo = github.get_repo("acme/app")
    old = repo.create_deployment(ref="main", environment="staging", auto_merge=False, required_contexts=[])
    old.create_status("success")
    new = repo.create_deployment(ref="main", environment="staging", auto_merge=False, required_contexts=[])
    new.create_status("success", auto_inactive=False)
    assert [s.state for s in old.get_statuses()] == ["success"]


def test_status_environment_moves_the_deployment(github):
    repo = github.get_repo("acme/app")
    dep = repo.create_deployment(ref="main", environment="staging", auto_merge=False, required_contexts=[])
    status = dep.create_status("success", environment="production")
    assert status.environment == "production"
    assert repo.get_deployment(dep.id).environment == "production"


def test_seeding_5000_deployments_is_fast_and_listable(double, github):
    import time
    start = time.perf_counter()
    double.seed_deployments("acme/app", 5000, ["staging", "production"])
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, elapsed  # issue budget; benchmarks/ records the figure
    assert github.get_repo("acme/app").get_deployments(environment="production").totalCount == 2500
