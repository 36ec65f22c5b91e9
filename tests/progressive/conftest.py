"""The sample platform for the progressive-delivery tests: real nginx, real Prometheus, real
services, started once per test session (per xdist worker) and stopped at its end, with a check
that nothing of it is still running.

`platform` is the shared `Platform`; `app` gives each test an app of its own on it (its own URL,
upstreams and Prometheus label `app`), removed when the test ends, so tests stay independent.
A missing part skips these tests with the command that installs it, unless
CDHELPER_REQUIRE_PROGRESSIVE=1 (CI), where it fails them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re

import pytest

from cdhelper.devtools.rehearsal.platform import Platform, PlatformError
from cdhelper.devtools.rehearsal.platform.common import in_session

_apps = itertools.count(1)


def require_platform() -> None:
    """Skip (or, with CDHELPER_REQUIRE_PROGRESSIVE=1, fail) when a part of the platform is missing."""
    lacking = Platform.missing()
    if not lacking:
        return
    message = "the sample platform cannot run: " + "; ".join(lacking)
    if os.environ.get("CDHELPER_REQUIRE_PROGRESSIVE") == "1":
        pytest.fail(message + " (CDHELPER_REQUIRE_PROGRESSIVE=1: .ci/run installs them)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    require_platform()
    p = Platform(tmp_path_factory.mktemp("platform"))
    try:
        p.start()
    except PlatformError as exc:
        pytest.fail(f"the sample platform did not start: {exc}", pytrace=False)
    sid = p.pid
    yield p
    p.stop()  # raises when anything of it is still running
    assert not in_session(sid), "a process of the platform outlived the tests"


@pytest.fixture
def app(request, platform) -> str:
    """An app name of this test's own on the shared platform; everything of it is removed after."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{name}-{next(_apps)}"
    yield name
    with contextlib.suppress(PlatformError):
        platform.remove(name)


FLAG_PACKAGES = {"openfeature": "openfeature-sdk==0.10.0",
                 "openfeature.contrib.provider.flagd": "openfeature-provider-flagd==0.6.1"}


def require_flag_packages() -> None:
    """Skip (or, with CDHELPER_REQUIRE_PROGRESSIVE=1, fail) when the sample app cannot evaluate
    feature flags: the OpenFeature SDK or its flagd provider is not installed."""
    import importlib.util

    lacking = []
    for module, requirement in FLAG_PACKAGES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # its parent package is absent
            found = False
        if not found:
            lacking.append(requirement)
    if not lacking:
        return
    message = (f"the sample app cannot evaluate feature flags: {', '.join(lacking)} not installed: "
               f"pip install {' '.join(repr(r) for r in lacking)} (or pip install -e '.[dev]')")
    if os.environ.get("CDHELPER_REQUIRE_PROGRESSIVE") == "1":
        pytest.fail(message + " (CDHELPER_REQUIRE_PROGRESSIVE=1)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def flag_packages() -> None:
    require_flag_packages()
