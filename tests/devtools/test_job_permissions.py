"""Each job's GITHUB_TOKEN permissions, as GitHub computes them (cdhelper/devtools/rehearsal/permissions.py)."""

from __future__ import annotations

import pytest
import yaml

from cdhelper.devtools.rehearsal import permissions as p


def wf(text: str) -> dict:
    return yaml.safe_load(text)


def granted(perms: dict) -> dict:
    return {k: v for k, v in perms.items() if v != "none"}


def test_a_jobs_own_permissions_win_over_the_workflows_and_unnamed_scopes_are_none():
    data = wf("permissions: {contents: write}\njobs:\n  a:\n    permissions: {statuses: write}\n")
    assert granted(p.token_permissions(data["jobs"]["a"], data)) == {"statuses": "write", "metadata": "read"}


def test_a_job_without_permissions_gets_the_workflows():
    data = wf("permissions: {contents: read, deployments: write}\njobs:\n  a: {}\n")
    assert granted(p.token_permissions(data["jobs"]["a"], data)) == {
        "contents": "read", "deployments": "write", "metadata": "read"}


def test_no_permissions_anywhere_is_the_repositorys_default_restricted_or_permissive():
    data = wf("jobs:\n  a: {}\n")
    assert granted(p.token_permissions(data["jobs"]["a"], data)) == {
        "contents": "read", "packages": "read", "metadata": "read"}
    permissive = p.token_permissions(data["jobs"]["a"], data, policy="permissive")
    assert permissive["deployments"] == permissive["contents"] == permissive["statuses"] == "write"
    assert permissive["id-token"] == "none" and permissive["metadata"] == "read"
    with pytest.raises(p.PermissionsError, match="'lenient'"):
        p.default("lenient")


def test_read_all_and_write_all_set_every_scope_and_empty_braces_none():
    data = wf("jobs:\n  r: {permissions: read-all}\n  w: {permissions: write-all}\n  n: {permissions: {}}\n")
    read = p.token_permissions(data["jobs"]["r"], data)
    write = p.token_permissions(data["jobs"]["w"], data)
    assert read["contents"] == read["deployments"] == "read" and read["id-token"] == "none"
    assert write["contents"] == write["deployments"] == write["id-token"] == "write" and write["models"] == "read"
    assert granted(p.token_permissions(data["jobs"]["n"], data)) == {"metadata": "read"}


def test_a_permission_github_does_not_know_is_refused_naming_it():
    with pytest.raises(p.PermissionsError, match="`deployment: write`"):
        p.parse({"deployment": "write"})
    with pytest.raises(p.PermissionsError, match="`id-token: read`"):
        p.parse({"id-token": "read"})
    with pytest.raises(p.PermissionsError, match="'read-some'"):
        p.parse("read-some")


CALLER = wf("permissions: {}\njobs:\n  pipeline:\n    uses: ./.github/workflows/called.yml\n"
            "    permissions: {contents: write, deployments: write, statuses: read}\n")


def test_a_called_job_gets_its_own_permissions_within_the_callers():
    caller = p.explicit(CALLER["jobs"]["pipeline"], CALLER)
    called = wf("on: workflow_call\njobs:\n  deploy:\n    permissions: {contents: read, deployments: write}\n")
    assert granted(p.token_permissions(called["jobs"]["deploy"], called, caller=caller, called=True)) == {
        "contents": "read", "deployments": "write", "metadata": "read"}


def test_a_called_workflow_that_says_nothing_gets_the_callers_permissions():
    caller = p.explicit(CALLER["jobs"]["pipeline"], CALLER)
    called = wf("on: workflow_call\njobs:\n  deploy: {}\n")
    assert granted(p.token_permissions(called["jobs"]["deploy"], called, caller=caller, called=True)) == {
        "contents": "write", "deployments": "write", "statuses": "read", "metadata": "read"}


def test_a_called_workflows_top_level_permissions_apply_to_its_jobs_within_the_callers():
    caller = p.explicit(CALLER["jobs"]["pipeline"], CALLER)
    called = wf("on: workflow_call\npermissions: {contents: read}\njobs:\n  deploy: {}\n")
    assert granted(p.token_permissions(called["jobs"]["deploy"], called, caller=caller, called=True)) == {
        "contents": "read", "metadata": "read"}


def test_a_called_job_asking_more_than_its_caller_is_refused_as_github_refuses_the_run():
    caller = p.explicit(CALLER["jobs"]["pipeline"], CALLER)
    called = wf("on: workflow_call\njobs:\n  report:\n    permissions: {statuses: write}\n")
    with pytest.raises(p.ExceedsCaller) as err:
        p.token_permissions(called["jobs"]["report"], called, job_id="report", caller=caller, called=True)
    assert str(err.value) == "the nested job 'report' is requesting 'statuses: write', but is only allowed 'statuses: read'"


def test_a_caller_without_permissions_passes_the_repositorys_default_as_the_ceiling():
    called = wf("on: workflow_call\njobs:\n  deploy:\n    permissions: {deployments: write}\n  build: {}\n")
    with pytest.raises(p.ExceedsCaller, match="'deployments: none'"):
        p.token_permissions(called["jobs"]["deploy"], called, job_id="deploy", called=True)
    assert granted(p.token_permissions(called["jobs"]["build"], called, called=True)) == {
        "contents": "read", "packages": "read", "metadata": "read"}
    assert p.token_permissions(called["jobs"]["deploy"], called, called=True, policy="permissive")["deployments"] == "write"


def test_the_meet_of_two_grants_keeps_the_lower_level_of_each_scope():
    assert p.meet({"contents": "write", "statuses": "read"}, {"contents": "read", "statuses": "write"}) == {
        "contents": "read", "statuses": "read"}
