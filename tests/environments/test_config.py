"""cd.yml's environments-as-code keys parse into frozen objects; absent keys stay None (not managed)."""

from __future__ import annotations

import dataclasses

import pytest

from cdhelper.core import config
from cdhelper.core.config import Protection, Reviewer
from cdhelper.core.errors import ConfigError


def test_keys_parse_into_frozen_protections_and_absent_keys_are_not_managed():
    cfg = config.from_dict({
        "environments": [{"name": "staging"},
                         {"name": "production", "wait-timer": 0, "reviewers": [],
                          "deployment-branches": ["main"], "deployment-tags": []}],
        "gate": {"reviewers": ["alice", "team:acme/release-managers"], "prevent-self-review": True}})
    assert cfg.environment("staging").protection == Protection()
    assert cfg.environment("production").protection == Protection(reviewers=(), wait_timer=0, branches=("main",),
                                                                   tags=())
    assert cfg.gate_protection == Protection(reviewers=(Reviewer("User", "alice"),
                                                        Reviewer("Team", "acme/release-managers")),
                                             prevent_self_review=True)
    assert [name for name, _ in cfg.protections()] == ["production", "production-approval"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.gate_protection.wait_timer = 5  # type: ignore[misc]


def test_a_file_without_the_keys_manages_nothing():
    assert config.from_dict({}).protections() == ()


@pytest.mark.parametrize("gate, message", [
    ({"reviewers": []}, "key `gate/reviewers` is empty"),
    ({"prevent-self-review": False}, "key `gate/prevent-self-review` is false"),
    ({"reviewers": ["alice"], "prevent-self-review": False}, "key `gate/prevent-self-review` is false"),
])
def test_the_file_cannot_weaken_the_gate(gate, message):
    with pytest.raises(ConfigError) as err:
        config.from_dict({"gate": gate})
    assert message in err.value.one_line() and "\n" not in err.value.one_line()


def test_a_path_environment_may_drop_its_reviewers_and_self_review():
    cfg = config.from_dict({"environments": [{"name": "staging", "reviewers": [], "prevent-self-review": False},
                                             {"name": "production"}]})
    assert cfg.environment("staging").protection == Protection(reviewers=(), prevent_self_review=False)


@pytest.mark.parametrize("branches, tags, message", [
    ("protected", ["v*"], "deployment-tags` is set but deployment-branches is 'protected'"),
    (None, ["v*"], "deployment-tags` is set but deployment-branches is absent"),
    (["main", ".hidden"], None, "has '.hidden'"),
    (["a..b"], None, "has 'a..b'"),
    (["release/"], None, "has 'release/'"),
    ([], ["refs/tags/v1"], "without the refs/ prefix"),
])
def test_bad_branch_and_tag_patterns(branches, tags, message):
    env = {"name": "production"}
    if branches is not None:
        env["deployment-branches"] = branches
    if tags is not None:
        env["deployment-tags"] = tags
    with pytest.raises(ConfigError) as err:
        config.from_dict({"environments": [env]})
    assert message in err.value.one_line()


def test_reviewers_are_unique_case_insensitively():
    with pytest.raises(ConfigError, match="names 'team:acme/rm' twice"):
        config.from_dict({"gate": {"reviewers": ["team:acme/RM", "team:acme/rm"]}})


def test_a_soak_environment_is_declared_under_the_environment_it_soaks():
    cfg = config.from_dict({"environments": [{"name": "staging"}, {"name": "production", "soak-environment": {
        "name": "prod-bake", "wait-timer": 60}}]})
    assert cfg.soak_environment("production") == "prod-bake" and cfg.soak_environment("staging") == ""
    assert cfg.protections() == (("prod-bake", Protection(reviewers=(), wait_timer=60)),)
    named_only = config.from_dict({"environments": [{"name": "production", "soak-environment": {"name": "bake"}}]})
    assert named_only.soak_environment() == "bake" and named_only.protections() == ()  # no timer: not managed


@pytest.mark.parametrize("soak, said", [
    ({"name": "staging"}, "must be its own environment"),
    ({"name": "Production-Approval"}, "must be its own environment"),
    ({"name": "bake", "wait-timer": 0}, "should be at least 1"),
    ({"wait-timer": 5}, "'name' is a required property"),
])
def test_a_soak_environment_is_its_own_environment_with_a_real_timer(soak, said):
    with pytest.raises(ConfigError, match=said):
        config.from_dict({"environments": [{"name": "staging"}, {"name": "production", "soak-environment": soak}]})
