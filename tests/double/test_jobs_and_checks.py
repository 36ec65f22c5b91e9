"""Jobs of workflow runs and the check runs GitHub makes of them
(https://docs.github.com/rest/actions/workflow-jobs, https://docs.github.com/rest/checks/runs),
re-runs, and required_contexts counting check runs."""

from __future__ import annotations

import pytest
import requests

H = {"Authorization": "token t0ken"}


def _admin(double, method: str, path: str, **body):
    r = requests.request(method, f"{double.root_url}/_double/repos/acme/app{path}", json=body, timeout=5)
    assert r.status_code < 300, r.text
    return r.json()


def test_a_job_is_a_check_run_with_the_same_id_in_the_runs_check_suite(double):
    # PyGithub replay data (WorkflowJob.setUp): a job's check_run_url ends in its own id, its node_id is a CheckRun's
    run = double.create_run("acme/app")
    made = _admin(double, "POST", f"/runs/{run['id']}/jobs", name="build (0)")
    job = requests.get(f"{double.url}/repos/acme/app/actions/jobs/{made['id']}", headers=H).json()
    assert (job["name"], job["status"], job["run_id"], job["run_attempt"]) == ("build (0)", "in_progress", run["id"], 1)
    assert job["check_run_url"].endswith(f"/check-runs/{made['id']}")
    assert job["html_url"].endswith(f"/acme/app/actions/runs/{run['id']}/job/{made['id']}")
    check = requests.get(job["check_run_url"], headers=H).json()
    assert (check["id"], check["name"], check["app"]["slug"]) == (made["id"], "build (0)", "github-actions")
    got_run = requests.get(f"{double.url}/repos/acme/app/actions/runs/{run['id']}", headers=H).json()
    assert check["check_suite"]["id"] == got_run["check_suite_id"]
    assert check["node_id"] == job["node_id"]


def test_a_job_completes_through_the_admin_route(double):
    run = double.create_run("acme/app")
    made = _admin(double, "POST", f"/runs/{run['id']}/jobs", name="deploy", status="queued")
    assert _admin(double, "PATCH", f"/jobs/{made['id']}", status="completed", conclusion="failure") == {
        "id": made["id"], "status": "completed", "conclusion": "failure"}
    job = requests.get(f"{double.url}/repos/acme/app/actions/jobs/{made['id']}", headers=H).json()
    assert (job["status"], job["conclusion"]) == ("completed", "failure") and job["completed_at"]
    bad = requests.patch(f"{double.root_url}/_double/repos/acme/app/jobs/{made['id']}", json={"status": "completed"})
    assert bad.status_code == 422  # a completed job needs no more, and a completion needs a conclusion


def test_check_runs_of_a_commit_filter_by_name_and_keep_the_latest_per_suite(double):
    sha = double.repo("acme/app").resolve("main")
    run = double.create_run("acme/app")
    double.add_job("acme/app", run["id"], "test", status="completed", conclusion="failure")
    double.rerun("acme/app", run["id"])
    again = double.add_job("acme/app", run["id"], "test", status="completed", conclusion="success")
    double.add_job("acme/app", run["id"], "lint", status="completed", conclusion="success")
    url = f"{double.url}/repos/acme/app/commits/{sha}/check-runs"
    latest = requests.get(url, headers=H).json()
    assert latest["total_count"] == 2 and {c["name"] for c in latest["check_runs"]} == {"test", "lint"}
    assert requests.get(url, headers=H, params={"filter": "all"}).json()["total_count"] == 3
    named = requests.get(url, headers=H, params={"check_name": "test"}).json()
    assert [c["id"] for c in named["check_runs"]] == [again]


def test_jobs_of_a_run_list_the_latest_attempt_unless_asked_for_all(double):
    run = double.create_run("acme/app")
    first = double.add_job("acme/app", run["id"], "build", status="completed", conclusion="failure")
    double.rerun("acme/app", run["id"], actor="hubot")
    second = double.add_job("acme/app", run["id"], "build")
    base = f"{double.url}/repos/acme/app/actions/runs/{run['id']}"
    assert [j["id"] for j in requests.get(f"{base}/jobs", headers=H).json()["jobs"]] == [second]
    assert [j["id"] for j in requests.get(f"{base}/jobs?filter=all", headers=H).json()["jobs"]] == [first, second]
    assert [j["id"] for j in requests.get(f"{base}/attempts/1/jobs", headers=H).json()["jobs"]] == [first]
    assert requests.get(f"{base}/attempts/3/jobs", headers=H).status_code == 404
    got = requests.get(base, headers=H).json()
    assert got["run_attempt"] == 2 and got["previous_attempt_url"] == f"{base}/attempts/1"
    assert got["triggering_actor"]["login"] == "hubot" and got["actor"]["login"] == "octocat"


def test_a_rerun_waits_again_on_its_gate_and_keeps_the_earlier_reviews(double):
    double.set_environment("acme/app", "gate", reviewers=["alice"])
    run = double.create_run("acme/app", waiting_on=["gate"])
    double.review("acme/app", run["id"], "gate", "alice", state="rejected", comment="no")
    made = _admin(double, "POST", f"/runs/{run['id']}/rerun")
    assert made == {"id": run["id"], "run_attempt": 2, "pending": ["gate"]}
    pending = requests.get(f"{double.url}/repos/acme/app/actions/runs/{run['id']}/pending_deployments", headers=H)
    assert [p["environment"]["name"] for p in pending.json()] == ["gate"]
    double.review("acme/app", run["id"], "gate", "alice", comment="now yes")
    approvals = requests.get(f"{double.url}/repos/acme/app/actions/runs/{run['id']}/approvals", headers=H).json()
    assert [a["state"] for a in approvals] == ["approved", "rejected"]


def test_whoever_reruns_may_not_approve_when_self_review_is_prevented(double):
    double.set_environment("acme/app", "gate", reviewers=["alice", "bob"], prevent_self_review=True)
    run = double.create_run("acme/app", waiting_on=["gate"])
    double.rerun("acme/app", run["id"], actor="alice")
    with pytest.raises(Exception, match="prevents self-review"):
        double.review("acme/app", run["id"], "gate", "alice")


def test_required_contexts_omitted_counts_check_runs_and_lists_every_context(double):
    # Recorded on github.com: the 409 names job check runs such as `build (0)` and `deploy` in
    # errors[0].contexts, successes included; sbb-design-systems/sbb-angular#2447 passes job names as
    # required_contexts and a `skipped` job failed the default check.
    sha = double.repo("acme/app").resolve("main")
    run = double.create_run("acme/app")
    double.add_job("acme/app", run["id"], "build (0)", status="completed", conclusion="success")
    double.add_job("acme/app", run["id"], "deploy", status="completed", conclusion="skipped")
    requests.post(f"{double.url}/repos/acme/app/statuses/{sha}", headers=H, json={"state": "success", "context": "ci"})
    r = requests.post(f"{double.url}/repos/acme/app/deployments", headers=H, json={"ref": "main", "auto_merge": False})
    assert r.status_code == 409
    assert r.json()["message"] == "Conflict: Commit status checks failed for main."
    assert r.json()["errors"] == [{"resource": "Deployment", "field": "required_contexts", "code": "invalid", "contexts": [
        {"context": "build (0)", "state": "success"}, {"context": "ci", "state": "success"},
        {"context": "deploy", "state": "skipped"}]}]
    named = requests.post(f"{double.url}/repos/acme/app/deployments", headers=H,
                          json={"ref": "main", "auto_merge": False, "required_contexts": ["build (0)", "ci"]})
    assert named.status_code == 201
    running = double.add_job("acme/app", run["id"], "smoke", status="in_progress")
    r = requests.post(f"{double.url}/repos/acme/app/deployments", headers=H,
                      json={"ref": "main", "auto_merge": False, "required_contexts": ["smoke", "absent"]})
    assert r.json()["errors"][0]["contexts"] == [{"context": "smoke", "state": "pending"},
                                                 {"context": "absent", "state": "missing"}]
    double.update_job("acme/app", running, conclusion="success")


def test_graphql_check_suites_and_status_check_rollup(double):
    sha = double.repo("acme/app").resolve("main")
    run = double.create_run("acme/app")
    double.add_job("acme/app", run["id"], "build", status="completed", conclusion="success")
    double.add_job("acme/app", run["id"], "deploy", status="in_progress")
    requests.post(f"{double.url}/repos/acme/app/statuses/{sha}", headers=H, json={"state": "success", "context": "ci"})
    query = """query($oid: GitObjectID!) { repository(owner: "acme", name: "app") { object(oid: $oid) { ... on Commit {
      checkSuites(first: 10) { nodes { app { slug } workflowRun { databaseId } checkRuns(first: 10) {
        nodes { name status conclusion databaseId } } } }
      statusCheckRollup { state contexts(first: 10) { totalCount nodes { __typename
        ... on CheckRun { name conclusion status checkSuite { app { slug } workflowRun { databaseId } } }
        ... on StatusContext { context state creator { login } } } } } } } } }"""
    r = requests.post(f"{double.url}/graphql", headers=H, json={"query": query, "variables": {"oid": sha}}).json()
    assert "errors" not in r, r
    commit = r["data"]["repository"]["object"]
    [suite] = commit["checkSuites"]["nodes"]
    assert suite["app"]["slug"] == "github-actions" and suite["workflowRun"]["databaseId"] == run["id"]
    assert [(c["name"], c["status"], c["conclusion"]) for c in suite["checkRuns"]["nodes"]] == [
        ("build", "COMPLETED", "SUCCESS"), ("deploy", "IN_PROGRESS", None)]
    rollup = commit["statusCheckRollup"]
    assert rollup["state"] == "PENDING" and rollup["contexts"]["totalCount"] == 3
    kinds = {n["__typename"] for n in rollup["contexts"]["nodes"]}
    assert kinds == {"CheckRun", "StatusContext"}
    assert rollup["contexts"]["nodes"][0]["checkSuite"]["workflowRun"]["databaseId"] == run["id"]


def test_unknown_job_or_attempt_is_404(double):
    run = double.create_run("acme/app")
    assert requests.get(f"{double.url}/repos/acme/app/actions/jobs/1", headers=H).status_code == 404
    assert requests.get(f"{double.url}/repos/acme/app/check-runs/1", headers=H).status_code == 404
    bad = requests.post(f"{double.root_url}/_double/repos/acme/app/runs/{run['id']}/jobs", json={"name": "x", "attempt": 2})
    assert bad.status_code == 422


def test_a_planned_review_answers_the_rerun_too(double):
    double.set_environment("acme/app", "gate", reviewers=["alice"])
    run = double.create_run("acme/app", waiting_on=["gate"])
    double.review("acme/app", run["id"], "gate", "alice", state="rejected")
    _admin(double, "POST", f"/runs/{run['id']}/rerun")
    assert _admin(double, "POST", f"/runs/{run['id']}/planned-reviews", environment="gate", reviewer="alice",
                  comment="second look") == {"planned": ["gate"]}
    approvals = requests.get(f"{double.url}/repos/acme/app/actions/runs/{run['id']}/approvals", headers=H).json()
    assert [(a["state"], a["comment"]) for a in approvals] == [("approved", "second look"), ("rejected", "")]
