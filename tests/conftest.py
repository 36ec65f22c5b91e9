from __future__ import annotations

import os

import pytest

from cdhelper.double import GitHubDouble

from .openapi_check import OpenAPIChecker


@pytest.fixture(scope="session")
def openapi() -> OpenAPIChecker:
    return OpenAPIChecker()


@pytest.fixture
def double(openapi):
    """A started double with one repository; every exchange is checked against GitHub's OpenAPI."""
    before = len(openapi.mismatches)
    with GitHubDouble(repos=["acme/app"]) as gh:
        gh.observe(openapi)
        yield gh
    found = openapi.mismatches[before:]
    assert not found, "the double drifted from GitHub's OpenAPI description:\n" + "\n".join(found)


@pytest.fixture
def github(double):
    """PyGithub configured the way cdhelper configures it (no throttling, no blind retries)."""
    from github import Auth, Github
    client = Github(base_url=double.url, auth=Auth.Token("t0ken"), retry=None, timeout=10,
                    seconds_between_requests=None, seconds_between_writes=None, lazy=True)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _clean_actions_env(monkeypatch):
    """Tests never inherit the Actions environment of whoever runs them."""
    for key in list(os.environ):
        if key.startswith(("GITHUB_", "INPUT_", "CD_", "RUNNER_")) or key in {"ACTIONS_STEP_DEBUG", "CI"}:
            monkeypatch.delenv(key, raising=False)
