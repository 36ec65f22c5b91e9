"""Feature flags against the double: flagd files per environment, `flags status | diff | set`, the
flip as a gated, recorded release step, kill switches through a freeze, flags on every record."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest

FLAGS = {"flags": {
    "new-checkout": {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"},
    "banner": {"state": "ENABLED", "variants": {"blue": "blue", "red": "red"}, "defaultVariant": "blue",
               "targeting": {"if": [{"==": [{"var": "email"}, "qa@acme.test"]}, "red", None]}},
}}


def write_flags(pipeline, environment: str, doc: dict) -> str:
    folder = pipeline.tmp / ".github" / "flags"
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2) + "\n"
    (folder / f"{environment}.flagd.json").write_text(text)
    return text


def flag_file(pipeline, environment: str):
    return pipeline.tmp / ".github" / "flags" / f"{environment}.flagd.json"


def with_default(flag: str, variant: str) -> dict:
    doc = copy.deepcopy(FLAGS)
    doc["flags"][flag]["defaultVariant"] = variant
    return doc


@pytest.fixture
def live(pipeline):
    """1.0.0 live in staging and production, each with its flag file."""
    write_flags(pipeline, "staging", with_default("new-checkout", "on"))
    write_flags(pipeline, "production", FLAGS)
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    assert pipeline.promote("production").code == 0
    return pipeline


def flip(pipeline, flag: str, variant: str, *extra: str, environment: str = "production", mode: str = "delivery"):
    return pipeline.run("flags", "set", flag, variant, "--environment", environment, "--mode", mode, *extra)


def flag_records(pipeline, environment: str = "production") -> list[dict]:
    return [d for d in pipeline.deployments(environment) if "flag_release" in d["payload"]]


def test_a_flip_in_delivery_mode_is_refused_without_an_approval_and_writes_nothing(live, double):
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    double.create_run("acme/app", run_id=4242)
    before_text, before_writes = flag_file(live, "production").read_text(), double.writes()
    refused = flip(live, "new-checkout", "on")
    assert refused.code == 6, refused.out
    assert "needs an approval of environment 'production-approval'" in refused.out
    assert flag_file(live, "production").read_text() == before_text
    assert double.writes() == before_writes and flag_records(live) == []


def test_an_approved_flip_is_recorded_with_flag_old_new_approver_and_digest(live, double):
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    double.create_run("acme/app", run_id=4242, actor="bob", waiting_on=["production-approval"])
    double.review("acme/app", 4242, "production-approval", "alice", comment="ship it")
    done = flip(live, "new-checkout", "on")
    assert done.code == 0, done.out
    content = flag_file(live, "production").read_text()
    assert json.loads(content)["flags"]["new-checkout"]["defaultVariant"] == "on"
    digest = "sha256:" + hashlib.sha256(content.encode()).hexdigest()
    [record] = flag_records(live)
    assert record["payload"]["flag_release"] == {"task": "release:flags", "flag": "new-checkout", "old": "off",
                                                 "new": "on", "kill_switch": False, "kill_switch_source": "",
                                                 "digest": digest, "approver": "alice"}
    assert record["payload"]["gate"]["approvers"] == [{"login": "alice", "comment": "ship it"}]
    assert record["payload"]["flags"]["digest"] == digest and record["payload"]["flags"]["changed"] == ["new-checkout"]
    assert live.states(record["id"]) == ["in_progress", "success"]
    assert done.outputs["approver"] == "alice" and done.outputs["digest"] == digest
    assert record["task"] == "release:flags"  # GitHub's own field says what the record is
    dora = live.run("dora", "--json").data["metrics"][0]
    assert dora["excluded"]["flag_flips"] == 1 and dora["deployment_frequency"]["deployments"] == 1  # the flip is no deployment


def test_the_only_change_in_the_file_is_the_flipped_line(live, double):
    before = flag_file(live, "staging").read_text().splitlines()
    assert flip(live, "banner", "red", environment="staging").code == 0
    after = flag_file(live, "staging").read_text().splitlines()
    assert [(a, b) for a, b in zip(before, after, strict=True) if a != b] == \
        [('      "defaultVariant": "blue",', '      "defaultVariant": "red",')]


def test_a_kill_switch_goes_through_a_freeze_while_a_normal_flip_is_refused(live):
    now = datetime.now(timezone.utc)
    (live.tmp / ".github" / "cd.yml").write_text(
        f"freeze:\n  - from: '{(now - timedelta(hours=1)):%Y-%m-%dT%H:%M}'\n"
        f"    to: '{(now + timedelta(hours=2)):%Y-%m-%dT%H:%M}'\n    timezone: UTC\n")
    declared = with_default("new-checkout", "on")
    declared["flags"]["new-checkout"]["metadata"] = {"cdhelper.kill-switch": "off"}  # never guessed from the name
    write_flags(live, "production", declared)
    frozen = flip(live, "banner", "red", mode="deployment")
    assert frozen.code == 12 and "::error title=Deploy freeze::" in frozen.out and "kill switch" in frozen.out
    assert flag_records(live) == []
    killed = flip(live, "new-checkout", "off", mode="deployment")
    assert killed.code == 0, killed.out
    [record] = flag_records(live)
    assert record["payload"]["flag_release"]["kill_switch"] is True
    assert json.loads(flag_file(live, "production").read_text())["flags"]["new-checkout"]["defaultVariant"] == "off"


def test_rerunning_a_flip_writes_no_second_record(live, double):
    assert flip(live, "banner", "red", environment="staging").code == 0
    writes = double.writes()
    again = flip(live, "banner", "red", environment="staging")
    assert again.code == 0 and "(deployment" in again.out and "unchanged)" in again.out
    assert len(flag_records(live, "staging")) == 1 and double.writes() == writes


def test_the_deploy_hook_gets_cd_flags(live):
    seen = live.tmp / "seen.txt"
    done = flip(live, "banner", "red", "--run", f'echo "$CD_FLAGS $CD_FLAG=$CD_FLAG_VARIANT" > {seen}',
                environment="staging")
    assert done.code == 0, done.out
    assert seen.read_text() == f"{flag_file(live, 'staging').resolve()} banner=red\n"


def test_status_and_diff_show_what_is_on_where(live):
    status = live.run("flags", "status")
    assert status.code == 0
    assert status.out.splitlines() == [
        "flag          staging  production  kill switch",
        "banner        blue     blue        -",
        "new-checkout  on       off         -",
    ]
    diff = live.run("flags", "diff")
    assert diff.out.splitlines() == ["new-checkout: on (staging) -> off (production)"]
    data = live.run("flags", "diff", "--from", "production", "--to", "staging", "--json").data
    assert data == {"from": "production", "to": "staging",
                    "differences": [{"flag": "new-checkout", "from": "off", "to": "on"}]}
    write_flags(live, "production", with_default("new-checkout", "on"))
    assert live.run("flags", "diff").out.splitlines() == ["no flag differs between staging and production"]


def test_status_shows_which_flags_have_a_declared_kill_switch_and_where(live):
    declared = copy.deepcopy(FLAGS)
    declared["flags"]["new-checkout"]["metadata"] = {"cdhelper.kill-switch": "off"}
    write_flags(live, "production", declared)
    lines = live.run("flags", "status").out.splitlines()
    assert lines[0].split() == ["flag", "staging", "production", "kill", "switch"]
    assert lines[1].split() == ["banner", "blue", "blue", "-"]  # nothing declared: no kill switch
    assert lines[2].split() == ["new-checkout", "on", "off", "off", "(production)"]  # staging declares none
    data = live.run("flags", "status", "--json").data
    assert data["kill_switches"] == {"banner": {}, "new-checkout": {"production": {
        "variant": "off", "source": ".github/flags/production.flagd.json#/flags/new-checkout/metadata/cdhelper.kill-switch"}}}
    staging = with_default("new-checkout", "on")
    staging["flags"]["new-checkout"]["metadata"] = {"cdhelper.kill-switch": "off"}
    write_flags(live, "staging", staging)
    assert live.run("flags", "status").out.splitlines()[2].split() == ["new-checkout", "on", "off", "off"]


def test_a_promotion_records_the_flag_digest_and_the_flags_changed_since_the_last_one(live):
    [first] = live.deployments("production")
    assert first["payload"]["flags"]["changed"] == ["banner", "new-checkout"]  # nothing known before
    text = write_flags(live, "production", with_default("banner", "red"))
    (live.artifact / "app.txt").write_text("v2\n")
    live.new_run(5000)
    assert live.release("2.0.0").code == 0
    assert live.promote("staging", "2.0.0").code == 0
    assert live.promote("production", "2.0.0").code == 0
    latest = max(live.deployments("production"), key=lambda d: d["id"])
    assert latest["payload"]["flags"] == {
        "file": ".github/flags/production.flagd.json", "digest": "sha256:" + hashlib.sha256(text.encode()).hexdigest(),
        "state": {"banner": "red", "new-checkout": "off"}, "changed": ["banner"]}


BAD = {
    "schema violation": ({"flags": {"x": {"state": "MAYBE", "variants": {"on": True}, "defaultVariant": "on"}}},
                         "does not match flagd's schema at flags/x/state: 'MAYBE' is not one of"),
    "unknown default variant": ({"flags": {"x": {"state": "ENABLED", "variants": {"on": True, "off": False},
                                                 "defaultVariant": "maybe"}}}, "defaultVariant 'maybe'"),
    "targeting names an unknown variant": (
        {"flags": {"x": {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off",
                         "targeting": {"if": [{"==": [{"var": "email"}, "a"]}, "ON", "off"]}}}},
        "returns variant 'ON'"),
    "fractional bucket names an unknown variant": (
        {"flags": {"x": {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off",
                         "targeting": {"fractional": [["on", 50], ["of", 50]]}}}},
        "returns variant 'of'"),
    "broken JsonLogic": ({"flags": {"x": {"state": "ENABLED", "variants": {"on": True, "off": False},
                                          "defaultVariant": "off", "targeting": {"if": "on"}}}},
                         "does not match flagd's schema at flags/x/targeting/if: 'on' is not of type 'array'"),
    "unknown JsonLogic operator": ({"flags": {"x": {"state": "ENABLED", "variants": {"on": True, "off": False},
                                                    "defaultVariant": "off", "targeting": {"bogus": [1, 2]}}}},
                                   "('bogus' was unexpected)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_malformed_flag_file_is_one_line_error_and_nothing_is_written(live, double, case):
    doc, expected = BAD[case]
    text = write_flags(live, "staging", doc)
    writes = double.writes()
    refused = flip(live, "x", "on", environment="staging")
    assert refused.code == 2, refused.out
    [error] = [line for line in refused.out.splitlines() if line.startswith("::error")]
    assert expected in error and "Fix:" in error
    assert flag_file(live, "staging").read_text() == text and double.writes() == writes
    live.new_run(5000)
    assert live.promote("staging").code == 2  # a promotion refuses the bad file too, before any write
    assert double.writes() == writes


def test_a_promotions_deploy_hook_gets_cd_flags_and_a_flip_keeps_promotions_working(live):
    assert flip(live, "banner", "red", environment="staging").code == 0
    seen = live.tmp / "seen.txt"
    (live.artifact / "app.txt").write_text("v2\n")
    live.new_run(5000)
    assert live.release("2.0.0").code == 0
    done = live.promote("staging", "2.0.0", "--run", f'echo "$CD_FLAGS" > {seen}')
    assert done.code == 0, done.out
    assert seen.read_text() == f"{flag_file(live, 'staging').resolve()}\n"
    latest = max(live.deployments("staging"), key=lambda d: d["id"])
    assert latest["payload"]["version"] == "2.0.0" and latest["payload"]["flags"]["changed"] == []
    assert live.promote("production", "2.0.0").code == 0


def test_setting_a_flag_to_what_it_already_is_releases_nothing(live, double):
    writes = double.writes()
    live.new_run(6000)
    same = flip(live, "banner", "blue", environment="staging")
    assert same.code == 0 and "(deployment 0, unchanged)" in same.out
    assert double.writes() == writes and flag_records(live, "staging") == []


def test_a_flip_for_a_run_github_does_not_know_says_the_run_is_unknown(live, double):
    """Run 9999 does not exist: the error names the run (GITHUB_RUN_ID), not the repository."""
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    live.new_run(9999)
    refused = flip(live, "new-checkout", "on")
    assert refused.code != 0
    [line] = [x for x in refused.out.splitlines() if x.startswith("::error")]
    assert "run 9999" in line and "GITHUB_RUN_ID" in line, line
    assert "repository" not in line.split("::", 2)[-1].split(". Fix:")[0], line
    assert flag_records(live) == []
