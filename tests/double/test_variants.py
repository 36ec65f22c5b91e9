"""Variants: the double's switches for GitHub behaviours that are not confirmed, or that GitHub
Enterprise Server has (docs/github-double.md, "Variants")."""

from __future__ import annotations

import pytest
import requests
from github import Auth, Github

from cdhelper.devtools.double import GitHubDouble

H = {"Authorization": "token t0ken"}

QUEUE = """mutation cdhelperQueue($id: ID!) { createDeploymentStatus(input: {deploymentId: $id, state: QUEUED}) {
  deploymentStatus { state } } }"""


def _deployment(double) -> dict:
    return requests.post(f"{double.url}/repos/acme/app/deployments", headers=H,
                         json={"ref": "main", "environment": "staging", "auto_merge": False, "required_contexts": []}).json()


def test_variants_are_set_at_construction_and_over_the_admin_route(openapi):
    with GitHubDouble(repos=["acme/app"], variant=["approvals-any-order:shuffled", "run-resource-null"]) as gh:
        assert gh.variants == ["approvals-any-order:shuffled", "run-resource-null"]
        r = requests.put(f"{gh.root_url}/_double/variants", json={"variants": ["status-mutation-refused"]})
        assert r.json() == {"variants": ["status-mutation-refused:undefined-field"]}
        assert requests.get(f"{gh.root_url}/_double/variants").json() == r.json()
        bad = requests.put(f"{gh.root_url}/_double/variants", json={"variants": ["run-resource-null", "run-resource-forbidden"]})
        assert bad.status_code == 422
        assert requests.put(f"{gh.root_url}/_double/variants", json={"variants": ["nope"]}).status_code == 422
    with pytest.raises(ValueError):
        GitHubDouble(variant="approvals-any-order:backwards")


@pytest.mark.parametrize("setting", ["undefined-field", "forbidden", "preview-required"])
def test_status_mutation_refused_writes_nothing(double, setting):
    dep = _deployment(double)
    double.set_variants(f"status-mutation-refused:{setting}")
    r = requests.post(f"{double.url}/graphql", headers=H, json={"query": QUEUE, "variables": {"id": dep["node_id"]}})
    body = r.json()
    assert r.status_code == 200 and double.repo("acme/app").statuses.get(dep["id"]) is None
    [error] = body["errors"]
    if setting == "undefined-field":
        # graphql-ruby's shape, as GitHub answers an unknown field (path starts with "mutation NAME")
        assert "data" not in body
        assert error["message"] == "Field 'createDeploymentStatus' doesn't exist on type 'Mutation'"
        assert error["extensions"] == {"code": "undefinedField", "typeName": "Mutation",
                                       "fieldName": "createDeploymentStatus"}
        assert error["path"] == ["mutation cdhelperQueue", "createDeploymentStatus"]
        assert error["locations"] == [{"line": 1, "column": 36}]
    elif setting == "forbidden":
        assert body["data"] == {"createDeploymentStatus": None}
        assert (error["type"], error["path"]) == ("FORBIDDEN", ["createDeploymentStatus"])
    else:
        assert body["data"] == {"createDeploymentStatus": None} and "flash" in error["message"]
        with_preview = requests.post(f"{double.url}/graphql", json={"query": QUEUE, "variables": {"id": dep["node_id"]}},
                                     headers={**H, "Accept": "application/vnd.github.flash-preview+json"})
        assert with_preview.json()["data"]["createDeploymentStatus"]["deploymentStatus"]["state"] == "QUEUED"


RUN_QUERY = """query($url: URI!) { repository(owner: "acme", name: "app") { name }
  run: resource(url: $url) { __typename ... on WorkflowRun { databaseId } } }"""


@pytest.mark.parametrize("variant,expect", [(None, "run"), ("run-resource-null", None),
                                            ("run-resource-forbidden", "FORBIDDEN"),
                                            ("run-resource-forbidden:not-found", "NOT_FOUND")])
def test_run_resource_variants(double, variant, expect):
    run = double.create_run("acme/app")
    if variant:
        double.set_variants(variant)
    url = f"https://github.com/acme/app/actions/runs/{run['id']}"
    body = requests.post(f"{double.url}/graphql", headers=H, json={"query": RUN_QUERY, "variables": {"url": url}}).json()
    assert body["data"]["repository"] == {"name": "app"}  # the rest of the query answers normally
    if expect == "run":
        assert body["data"]["run"]["databaseId"] == run["id"] and "errors" not in body
    elif expect is None:
        assert body["data"]["run"] is None and "errors" not in body
    else:
        assert body["data"]["run"] is None
        assert [(e["type"], e["path"]) for e in body["errors"]] == [(expect, ["run"])]


def _reviewed(double) -> int:
    double.set_environment("acme/app", "a", reviewers=["alice"])
    double.set_environment("acme/app", "b", reviewers=["alice"])
    double.set_environment("acme/app", "c", reviewers=["alice"])
    run = double.create_run("acme/app", waiting_on=["a", "b", "c"])
    for env in ("a", "b", "c"):
        double.review("acme/app", run["id"], env, "alice", comment=env)
    return run["id"]


REVIEWS = """query($url: URI!) { run: resource(url: $url) { ... on WorkflowRun {
  deploymentReviews(first: 10) { nodes { comment } } } } }"""


def _orders(double, run_id: int) -> tuple[list[str], list[str]]:
    rest = requests.get(f"{double.url}/repos/acme/app/actions/runs/{run_id}/approvals", headers=H).json()
    url = f"https://github.com/acme/app/actions/runs/{run_id}"
    gql = requests.post(f"{double.url}/graphql", headers=H, json={"query": REVIEWS, "variables": {"url": url}}).json()
    return [a["comment"] for a in rest], [n["comment"] for n in gql["data"]["run"]["deploymentReviews"]["nodes"]]


def test_approvals_any_order(double):
    run_id = _reviewed(double)
    assert _orders(double, run_id) == (["c", "b", "a"], ["a", "b", "c"])  # the double's default choice
    double.set_variants("approvals-any-order")
    assert _orders(double, run_id) == (["a", "b", "c"], ["a", "b", "c"])
    double.set_variants("approvals-any-order:shuffled")
    rest, gql = _orders(double, run_id)
    assert sorted(rest) == ["a", "b", "c"] and rest == gql and _orders(double, run_id) == (rest, gql)


def test_meta_answers_as_github_com_by_default(double):
    meta = requests.get(f"{double.url}/meta", headers=H).json()
    assert "installed_version" not in meta and meta["verifiable_password_authentication"] is False


def test_ghes_serves_the_api_under_api_v3_and_graphql_at_api_graphql(double):
    double.set_variants("ghes:3.19.0")
    root = double.root_url
    assert double.url == f"{root}/api/v3" and double.graphql_url == f"{root}/api/graphql"
    # the installed_version GHES reports (ghes-3.19 OpenAPI description, api-overview)
    assert requests.get(f"{double.url}/meta", headers=H).json()["installed_version"] == "3.19.0"
    assert requests.get(f"{root}/repos/acme/app", headers=H).status_code == 404
    g = Github(base_url=double.url, auth=Auth.Token("t"), retry=None)
    assert g.get_repo("acme/app").full_name == "acme/app"
    dep = g.get_repo("acme/app").create_deployment(ref="main", environment="staging", auto_merge=False,
                                                   required_contexts=[])
    assert dep.url == f"{double.url}/repos/acme/app/deployments/{dep.id}"
    listed = requests.get(f"{double.url}/repos/acme/app/deployments?per_page=1", headers=H)
    assert listed.status_code == 200
    gql = requests.post(double.graphql_url, headers=H, json={"query": '{ repository(owner: "acme", name: "app") { name } }'})
    assert gql.json() == {"data": {"repository": {"name": "app"}}}
    assert requests.post(f"{root}/graphql", headers=H, json={"query": "{ rateLimit { limit } }"}).status_code == 404
    for prefix in ("", "/api/v3"):  # the admin routes answer either way
        assert requests.get(f"{root}{prefix}/_double/variants").json() == {"variants": ["ghes:3.19.0"]}


def test_ghes_environment_job_makes_its_own_deployment_record(double):
    double.set_variants("ghes")
    run = double.create_run("acme/app")
    made = requests.post(f"{double.root_url}/_double/repos/acme/app/runs/{run['id']}/jobs",
                         json={"name": "deploy", "environment": "staging", "environment_url": "https://stg"}).json()
    dep = requests.get(f"{double.url}/repos/acme/app/deployments/{made['deployment_id']}", headers=H).json()
    assert (dep["creator"]["login"], dep["ref"], dep["sha"], dep["task"], dep["environment"], dep["payload"]) == (
        "github-actions[bot]", "main", run["head_sha"], "deploy", "staging", {})
    requests.patch(f"{double.root_url}/_double/repos/acme/app/jobs/{made['id']}",
                   json={"status": "completed", "conclusion": "success"})
    statuses = requests.get(f"{dep['url']}/statuses", headers=H).json()
    job_page = f"{double.root_url}/acme/app/actions/runs/{run['id']}/job/{made['id']}"
    assert [s["state"] for s in statuses] == ["success", "in_progress", "queued"]
    assert {(s["log_url"], s["target_url"], s["environment_url"]) for s in statuses} == {(job_page, job_page, "https://stg")}
    check = requests.get(f"{double.url}/repos/acme/app/check-runs/{made['id']}", headers=H).json()
    assert check["deployment"]["id"] == dep["id"]


def test_github_com_environment_job_makes_no_record_unless_it_has_no_deployment_false(double):
    run = double.create_run("acme/app")
    none = double.add_job("acme/app", run["id"], "gate", environment="production-approval")
    assert double.repo("acme/app").jobs[none]["deployment_id"] is None and not double.repo("acme/app").deployments
    made = double.add_job("acme/app", run["id"], "deploy", environment="staging", deployment=True, status="queued")
    dep_id = double.repo("acme/app").jobs[made]["deployment_id"]
    assert [s["state"] for s in double.repo("acme/app").statuses[dep_id]] == ["queued"]
    double.update_job("acme/app", made, status="in_progress")
    double.update_job("acme/app", made, conclusion="failure")
    assert [s["state"] for s in double.repo("acme/app").statuses[dep_id]] == ["queued", "in_progress", "failure"]


def test_status_mutation_hidden_from_the_schema_too(double):
    # A member behind a preview is not in the schema GitHub shows: introspection agrees with the error
    query = '{ statusMutation: __type(name: "CreateDeploymentStatusPayload") { name } }'
    shown = requests.post(f"{double.url}/graphql", headers=H, json={"query": query}).json()
    assert shown == {"data": {"statusMutation": {"name": "CreateDeploymentStatusPayload"}}}
    double.set_variants("status-mutation-refused")
    hidden = requests.post(f"{double.url}/graphql", headers=H, json={"query": query}).json()
    assert hidden == {"data": {"statusMutation": None}}
    double.set_variants("status-mutation-refused:forbidden")  # there, the field exists and is refused
    assert requests.post(f"{double.url}/graphql", headers=H, json={"query": query}).json() == shown
