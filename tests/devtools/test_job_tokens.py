"""The double makes each job's GITHUB_TOKEN when the job starts, with the permissions planned for
it, and names the job and the permission when a request is refused; the rehearsal's scratch copies
use that token wherever a workflow or cdhelper's actions say github.token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from cdhelper.devtools.double import GitHubDouble
from cdhelper.devtools.rehearsal import for_act, without_token_default


def call(url: str, method: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"token {token}"} if token else {})}
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}"), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}"), dict(err.headers)


@pytest.fixture
def double():
    with GitHubDouble(["acme/app"]) as gh:
        gh.register_token("act-level", permissions={})
        gh.create_run("acme/app", run_id=7, head_sha="a" * 40)
        gh.plan_job_tokens({"ci.yml#acceptance": {"job": "Acceptance (acceptance in ci.yml)",
                                                  "permissions": {"statuses": "read", "metadata": "read"}},
                            "ci.yml#report": {"job": "Report (report in ci.yml)",
                                              "permissions": {"statuses": "write", "metadata": "read"}}})
        yield gh


def start(gh: GitHubDouble, key: str) -> tuple[int, dict]:
    status, body, _ = call(f"{gh.root_url}/_double/repos/acme/app/runs/7/jobs", "POST",
                           {"name": key, "token_for": key})
    return status, body


def test_each_started_job_gets_a_token_of_its_own_with_its_planned_permissions(double):
    _, acceptance = start(double, "ci.yml#acceptance")
    _, report = start(double, "ci.yml#report")
    assert acceptance["token"] != report["token"]
    status_url = f"{double.url}/repos/acme/app/statuses/{double.repo('acme/app').resolve('main')}"
    assert call(status_url, "POST", {"state": "success", "context": "c"}, report["token"])[0] == 201
    status, body, headers = call(status_url, "POST", {"state": "success", "context": "c"}, acceptance["token"])
    assert (status, body["message"]) == (403, "Resource not accessible by integration")
    assert headers["X-Accepted-GitHub-Permissions"] == "statuses=write"
    [refusal] = double.refusals
    assert refusal.line().startswith("job Acceptance (acceptance in ci.yml) lacks `statuses: write` "
                                     "(POST /repos/{owner}/{repo}/statuses/{sha} was refused")
    assert "the job's token has statuses: read" in refusal.line()
    assert call(f"{double.root_url}/_double/refusals", "GET")[1]["refusals"][0]["line"] == refusal.line()


def test_a_job_with_no_planned_permissions_gets_no_token(double):
    status, body = start(double, "ci.yml#unplanned")
    assert status == 422 and "'ci.yml#unplanned'" in body["message"]


def test_the_token_act_hands_every_job_can_do_nothing(double):
    status, _, _ = call(f"{double.url}/repos/acme/app/statuses/{'a' * 40}", "POST",
                        {"state": "success", "context": "c"}, "act-level")
    assert status == 403
    assert double.refusals[0].line().startswith("a token made for no job lacks `statuses: write`")


def test_the_scratch_copy_reads_the_jobs_token_where_the_workflow_says_github_token():
    workflow = """name: x
on: push
env:
  GH_TOKEN: ${{ github.token }}
jobs:
  a:
    runs-on: ubuntu-latest
    env:
      OTHER: ${{ secrets.GITHUB_TOKEN }}
    steps:
      - uses: cdhelper/cdhelper/actions/report-check@v0
        with:
          github-token: ${{ github.token }}
          context: ${{ github.sha }}
      - run: echo hi
        env:
          T: ${{ inputs.token || secrets['GITHUB_TOKEN'] }}
"""
    copy = for_act(workflow, source="x.yml")
    assert "key: \"x.yml#a\"" in copy
    assert "token-env: \"GH_TOKEN OTHER\"" in copy  # the job's first step exports these with the job's token
    assert "github-token: ${{ env.GITHUB_TOKEN }}" in copy and "context: ${{ github.sha }}" in copy
    assert "T: ${{ inputs.token || env.GITHUB_TOKEN }}" in copy
    # act allows no `env` context in a job's or the workflow's keys: those stay, the start step overrides them
    assert "  GH_TOKEN: ${{ github.token }}" in copy and "OTHER: ${{ secrets.GITHUB_TOKEN }}" in copy


def test_cdhelpers_actions_default_to_an_empty_token_input_so_the_helper_reads_the_jobs():
    manifest = "inputs:\n  github-token:\n    default: '${{ github.token }}'\n  state:\n    default: 'success'\n"
    assert without_token_default(manifest) == "inputs:\n  github-token:\n    default: ''\n  state:\n    default: 'success'\n"
