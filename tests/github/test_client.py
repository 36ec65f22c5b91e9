"""The GitHub client's retry policy, against the double's faults, with a recorded (not real) sleep."""

from __future__ import annotations

import time

import pytest

from cdhelper.core.context import RunContext
from cdhelper.core.errors import GitHubAPIError, PermissionDeniedError
from cdhelper.devtools.double import Fault
from cdhelper.github.client import GitHubClient, OutcomeUnknown


@pytest.fixture
def client(double):
    sleeps: list[float] = []
    ctx = RunContext.from_environ({"GITHUB_API_URL": double.url, "GITHUB_REPOSITORY": "acme/app"}, token="t")
    c = GitHubClient(ctx, sleep=sleeps.append, max_wait=120)
    c.sleeps = sleeps
    yield c
    c.close()


def test_secondary_rate_limit_waits_exactly_retry_after_then_succeeds(client, double):
    double.inject(Fault("secondary", status=429, retry_after=7, times=1))
    assert client.get_ref("heads/main")["type"] == "commit"
    assert client.sleeps == [7.0]
    assert client.requests == 2


def test_secondary_rate_limit_on_a_write_is_retried_because_github_refused_it(client, double):
    double.inject(Fault("secondary", status=403, retry_after=3, times=1, route="POST /repos/{owner}/{repo}/git/refs"))
    sha = double.repo("acme/app").resolve("main")
    client.create_ref("refs/tags/x", sha)
    assert client.sleeps == [3.0] and "refs/tags/x" in double.repo("acme/app").refs


def test_primary_exhaustion_waits_until_the_reset(client, double):
    double.inject(Fault("primary", retry_after=30, times=1))
    before = time.time()
    client.get_ref("heads/main")
    [slept] = client.sleeps
    assert 29 <= slept <= 32 + (time.time() - before)


def test_a_wait_longer_than_the_budget_fails_clearly_instead_of_hanging(client, double):
    double.inject(Fault("secondary", status=429, retry_after=3600, times=1))
    with pytest.raises(GitHubAPIError) as err:
        client.get_ref("heads/main")
    assert "3600" in err.value.why and client.sleeps == []


def test_server_errors_on_reads_are_retried_with_backoff(client, double):
    double.inject(Fault("5xx", status=502, times=3))
    client.get_ref("heads/main")
    assert client.sleeps == [0.25, 0.5, 1.0]


def test_a_lost_create_deployment_is_never_reposted_blindly(client, double):
    double.inject(Fault("5xx", status=502, times=1, when="after", route="POST /repos/{owner}/{repo}/deployments"))
    with pytest.raises(OutcomeUnknown):
        client.create_deployment(ref="main", environment="staging", payload={}, description="", required_contexts=[],
                                 production=False)
    assert double.counts()["POST /repos/{owner}/{repo}/deployments"] == 1
    assert len(double.repo("acme/app").deployments) == 1  # it landed; the caller reconciles


def test_deployment_statuses_are_retried_since_repeating_one_is_harmless(client, double):
    dep = client.create_deployment(ref="main", environment="staging", payload={}, description="", required_contexts=[],
                                   production=False)
    double.inject(Fault("reset", times=1, when="after"))
    client.create_deployment_status(dep["id"], "success")
    assert [s["state"] for s in double.repo("acme/app").statuses[dep["id"]]] == ["success", "success"]


def test_a_plain_403_is_a_permission_error_naming_what_is_needed(client, double):
    double.register_token("t", permissions={"metadata": "read"})
    with pytest.raises(PermissionDeniedError) as err:
        client.create_deployment(ref="main", environment="staging", payload={}, description="", required_contexts=[],
                                 production=False)
    assert "deployments: write" in err.value.fix and client.sleeps == []
