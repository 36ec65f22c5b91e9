"""The sample app's feature flags: a service deployed with a flagd JSON flag file evaluates
`new-greeting` per request through the OpenFeature SDK (flagd provider, file mode), answers per the
file's defaultVariant, follows a change of the file without a restart, and honours the file's
targeting rules with the request's X-User as context. Missing packages skip (or fail, with
CDHELPER_REQUIRE_PROGRESSIVE=1) with the install command."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from cdhelper import hooks
from cdhelper.devtools.rehearsal.platform import PlatformError, service
from cdhelper.devtools.rehearsal.platform.common import http_get, wait_until

from .conftest import require_flag_packages

HOOKS = Path(__file__).resolve().parents[2] / "cdhelper" / "devtools" / "rehearsal" / "platform" / "hooks"
FLAG = "new-greeting"


def write_flags(path: Path, variants: dict, default: str, targeting: dict | None = None) -> Path:
    """The flag file in flagd's JSON format, replaced at once (the provider never reads half a file)."""
    flag = {"state": "ENABLED", "variants": variants, "defaultVariant": default}
    if targeting is not None:
        flag["targeting"] = targeting
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": {FLAG: flag}}))
    os.replace(tmp, path)
    return path


def flag(url: str, user: str = "") -> tuple[str, str]:
    """(the X-Flag-new-greeting header, the body) of one answer."""
    status, headers, body = http_get(url, headers={"X-User": user} if user else None)
    assert status == 200, body
    return headers.get(f"x-flag-{FLAG}", ""), body.decode()


def test_the_answer_follows_the_default_variant_and_its_change(platform, app, tmp_path, flag_packages):
    flags = write_flags(tmp_path / "production.flagd.json", {"on": True, "off": False}, "off")
    env = hooks.environment(os.environ, {**platform.env(app), "CD_ENVIRONMENT": "production",
                                         "CD_STRATEGY": "all-at-once", "CD_VERSION": "1.0.0", "CD_FLAGS": str(flags)})
    assert hooks.run(f'bash "{HOOKS / "deploy.sh"}"', env) == 0  # the sample hook hands CD_FLAGS on
    url = platform.app_url(app)
    assert flag(url) == ("false", f"{app} version 1.0.0; {FLAG}=false (variant off, STATIC)\n")
    pid = platform.status(app)["apps"][app]["instances"][0]["pid"]

    write_flags(flags, {"on": True, "off": False}, "on")
    wait_until("the service to answer per the new defaultVariant", lambda: flag(url)[0] == "true", timeout=3)
    assert flag(url)[1] == f"{app} version 1.0.0; {FLAG}=true (variant on, STATIC)\n"
    assert platform.status(app)["apps"][app]["instances"][0]["pid"] == pid  # re-read, not restarted


def test_targeting_rules_are_honoured(platform, app, tmp_path, flag_packages):
    """A JsonLogic `if` on the request's user, else a `fractional` split by targeting key: both
    evaluated by the SDK, the split stable per user."""
    targeting = {"if": [{"==": [{"var": "user"}, "alice"]}, "howdy",
                        {"fractional": [["hello", 50], ["hi", 50]]}]}
    flags = write_flags(tmp_path / "staging.flagd.json", {"hello": "hello", "hi": "hi", "howdy": "howdy"},
                        "hello", targeting)
    platform.deploy("2.0.0", app=app, flags=str(flags))
    url = platform.app_url(app)
    header, body = flag(url, "alice")
    assert header == "howdy" and body.endswith(f"; {FLAG}=howdy (variant howdy, TARGETING_MATCH)\n")
    users = [f"user-{n}" for n in range(40)]
    split = {user: flag(url, user)[0] for user in users}
    assert set(split.values()) == {"hello", "hi"}, split
    assert {user: flag(url, user)[0] for user in users} == split  # the same user, the same variant


def test_without_a_flag_file_nothing_changes(platform, app):
    platform.deploy("3.0.0", app=app)
    status, headers, body = http_get(platform.app_url(app))
    assert (status, body) == (200, f"{app} version 3.0.0\n".encode())
    assert not any(name.startswith("x-flag") for name in headers)


def test_a_flag_file_that_cannot_be_read_fails_the_deploy(platform, app, tmp_path, flag_packages):
    broken = tmp_path / "production.flagd.json"
    broken.write_text("{not json")
    with pytest.raises(PlatformError, match="cannot be loaded"):
        platform.deploy("1.0.0", app=app, flags=str(broken))
    with pytest.raises(PlatformError, match="absolute path of an existing file"):
        platform.deploy("1.0.0", app=app, flags=str(tmp_path / "absent.flagd.json"))


def test_missing_packages_say_how_to_install_them(monkeypatch):
    monkeypatch.setitem(sys.modules, "openfeature", None)  # import openfeature now raises ImportError
    with pytest.raises(ValueError, match="pip install 'openfeature-sdk==0.10.0' 'openfeature-provider-flagd==0.6.1'"):
        service.Flags("/nonexistent.flagd.json")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.delenv("CDHELPER_REQUIRE_PROGRESSIVE", raising=False)
    with pytest.raises(pytest.skip.Exception, match="pip install 'openfeature-sdk==0.10.0'"):
        require_flag_packages()
    monkeypatch.setenv("CDHELPER_REQUIRE_PROGRESSIVE", "1")
    with pytest.raises(pytest.fail.Exception, match="openfeature-provider-flagd==0.6.1"):
        require_flag_packages()
