"""A flag flip keeps the promotion's guarantees: a kill switch is declared, never guessed from a
name; flag files are regular files inside .github/flags/, never followed through a link; the flip's
record is written by the one record writer (a lost response is looked up before a retry, a SIGTERM
closes the record as error); a manual rollback after a flip undoes the release, not the flip."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from cdhelper.devtools.double import Fault
from tests.conftest import SENTINEL

from .test_flags import FLAGS, flag_file, flag_records, flip, write_flags

CREATE = "POST /repos/{owner}/{repo}/deployments"
DECLARED = ".github/flags/production.flagd.json#/flags/new-checkout/metadata/cdhelper.kill-switch"


def freeze_now(pipeline) -> None:
    now = datetime.now(timezone.utc)
    (pipeline.tmp / ".github" / "cd.yml").write_text(
        f"freeze:\n  - from: '{(now - timedelta(hours=1)):%Y-%m-%dT%H:%M}'\n"
        f"    to: '{(now + timedelta(hours=2)):%Y-%m-%dT%H:%M}'\n    timezone: UTC\n")


def declared(doc: dict, flag: str, variant) -> dict:
    doc = copy.deepcopy(doc)
    doc["flags"][flag].setdefault("metadata", {})["cdhelper.kill-switch"] = variant
    return doc


MISLEADING = {"flags": {
    # `off` means "bypass the fraud check": switching to it is no kill switch.
    "fraud-check": {"state": "ENABLED", "variants": {"on": "check", "off": "bypass"}, "defaultVariant": "on"},
    # false switches the NEW payment path on.
    "use-legacy-payments": {"state": "ENABLED", "variants": {"yes": True, "no": False}, "defaultVariant": "yes"},
    "rate-limit": {"state": "ENABLED", "variants": {"on": 100, "off": 0}, "defaultVariant": "on"},
}}


# --- 2. a kill switch is declared, never inferred ---------------------------------------------------

@pytest.mark.parametrize(("flag", "variant"), [("fraud-check", "off"), ("use-legacy-payments", "no"),
                                                ("rate-limit", "off")])
def test_a_variant_named_off_or_false_is_no_kill_switch_unless_declared_so_a_freeze_holds_it(live, double, flag,
                                                                                              variant):
    text = write_flags(live, "production", MISLEADING)
    freeze_now(live)
    writes = double.writes()
    refused = flip(live, flag, variant, mode="deployment")
    assert refused.code == 12, refused.out
    assert "::error title=Deploy freeze::" in refused.out
    assert flag_file(live, "production").read_text() == text and double.writes() == writes


def test_a_declared_kill_switch_passes_a_freeze_and_the_record_says_where_it_was_declared(live, double):
    doc = declared(FLAGS, "new-checkout", "off")
    doc["flags"]["new-checkout"]["defaultVariant"] = "on"
    write_flags(live, "production", doc)
    freeze_now(live)
    killed = flip(live, "new-checkout", "off", mode="deployment")
    assert killed.code == 0, killed.out
    [record] = flag_records(live)
    release = record["payload"]["flag_release"]
    assert release["kill_switch"] is True and release["kill_switch_source"] == DECLARED


def test_a_flip_to_another_variant_than_the_declared_kill_switch_is_frozen(live, double):
    write_flags(live, "production", declared(FLAGS, "new-checkout", "off"))
    freeze_now(live)
    refused = flip(live, "new-checkout", "on", mode="deployment")
    assert refused.code == 12, refused.out
    assert flag_records(live) == []


def test_a_declared_kill_switch_still_needs_the_gate_in_delivery_mode(live, double):
    doc = declared(FLAGS, "new-checkout", "off")
    doc["flags"]["new-checkout"]["defaultVariant"] = "on"
    text = write_flags(live, "production", doc)
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    double.create_run("acme/app", run_id=4242)
    writes = double.writes()
    refused = flip(live, "new-checkout", "off")
    assert refused.code == 6, refused.out
    assert flag_file(live, "production").read_text() == text and double.writes() == writes


def test_a_declared_kill_switch_that_is_no_variant_is_a_one_line_config_error(live, double):
    text = write_flags(live, "production", declared(FLAGS, "new-checkout", "of"))
    writes = double.writes()
    refused = flip(live, "banner", "red", mode="deployment")
    assert refused.code == 2, refused.out
    [error] = [line for line in refused.out.splitlines() if line.startswith("::error")]
    assert "cdhelper.kill-switch" in error and "'of'" in error and "Fix:" in error
    assert flag_file(live, "production").read_text() == text and double.writes() == writes


def test_kill_switch_names_the_declared_variant_and_where_it_is_declared(live):
    from cdhelper.deploy import flags
    write_flags(live, "production", declared(FLAGS, "new-checkout", "off"))
    production = flags.load(live.tmp, "production")
    assert flags.kill_switch(production, "new-checkout") == ("off", DECLARED)
    assert flags.kill_switch(production, "banner") is None


# --- 3. flag files are regular files inside .github/flags/ -----------------------------------------

def test_a_staging_flag_file_linked_to_production_is_refused_and_production_is_unchanged(live, double):
    staging, production = flag_file(live, "staging"), flag_file(live, "production")
    staging.unlink()
    staging.symlink_to("production.flagd.json")
    before, writes = production.read_text(), double.writes()
    refused = flip(live, "banner", "red", environment="staging")  # ungated in delivery mode
    assert refused.code == 2, refused.out
    [error] = [line for line in refused.out.splitlines() if line.startswith("::error")]
    assert "staging.flagd.json" in error and "link" in error and "Fix:" in error
    assert production.read_text() == before and staging.is_symlink() and double.writes() == writes


def test_a_flag_file_linked_outside_the_workspace_is_never_written_through(live, double, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "victim.json"
    outside.write_text(flag_file(live, "staging").read_text())
    before = outside.read_text()
    flag_file(live, "staging").unlink()
    flag_file(live, "staging").symlink_to(outside)
    writes = double.writes()
    assert flip(live, "banner", "red", environment="staging").code == 2
    assert outside.read_text() == before and double.writes() == writes


def test_a_linked_flags_folder_is_refused(live, double, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    folder = live.tmp / ".github" / "flags"
    for path in folder.iterdir():
        path.rename(elsewhere / path.name)
    folder.rmdir()
    folder.symlink_to(elsewhere, target_is_directory=True)
    before, writes = (elsewhere / "staging.flagd.json").read_text(), double.writes()
    refused = flip(live, "banner", "red", environment="staging")
    assert refused.code == 2, refused.out
    assert ".github/flags" in refused.out and "link" in refused.out
    assert (elsewhere / "staging.flagd.json").read_text() == before and double.writes() == writes


def test_a_flag_file_that_is_a_fifo_is_refused_without_blocking(live, double):
    flag_file(live, "staging").unlink()
    os.mkfifo(flag_file(live, "staging"))
    refused = live.run("flags", "status")
    assert refused.code == 2 and "not a regular file" in refused.out


def test_a_flip_replaces_the_file_and_never_writes_into_a_hard_linked_copy(live, double, tmp_path_factory):
    copy_elsewhere = tmp_path_factory.mktemp("copy") / "staging.json"
    os.link(flag_file(live, "staging"), copy_elsewhere)
    before = copy_elsewhere.read_text()
    assert flip(live, "banner", "red", environment="staging").code == 0
    assert copy_elsewhere.read_text() == before
    assert json.loads(flag_file(live, "staging").read_text())["flags"]["banner"]["defaultVariant"] == "red"
    assert sorted(p.name for p in flag_file(live, "staging").parent.iterdir()) == \
        ["production.flagd.json", "staging.flagd.json"]  # no temporary file left behind


# --- 4. the flip is written by the one record writer -----------------------------------------------

def test_a_lost_response_on_the_flips_create_is_looked_up_before_retrying(live, double):
    double.inject(Fault("5xx", route=CREATE, times=1, when="after"))
    done = flip(live, "banner", "red", environment="staging")
    assert done.code == 0, done.out
    [record] = flag_records(live, "staging")
    assert live.states(record["id"]) == ["in_progress", "success"]
    assert done.outputs["deployment-id"] == str(record["id"])


def test_a_sigterm_during_the_flips_hook_closes_its_record_as_error(live, double):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "CD_", "RUNNER_"))}
    env |= {"GITHUB_API_URL": double.url, "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": str(live.run_id),
            "GITHUB_RUN_ATTEMPT": "1", "GITHUB_SHA": live.sha, "GITHUB_TOKEN": SENTINEL,
            "RUNNER_TEMP": str(live.tmp / "runner"), "GITHUB_WORKSPACE": str(live.tmp), "CDHELPER_BACKOFF": "0"}
    # The hook's parent is cdhelper: the hook plays the runner cancelling the job.
    proc = subprocess.run([sys.executable, "-m", "cdhelper", "flags", "set", "banner", "red", "--environment",
                           "staging", "--mode", "delivery", "--run", "kill -TERM $PPID; sleep 30"],
                          env=env, cwd=live.tmp, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stdout + proc.stderr
    [record] = flag_records(live, "staging")
    assert live.states(record["id"]) == ["in_progress", "error"]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_flip_and_a_promotion_post_the_same_run_block(live, double):
    assert flip(live, "banner", "red", environment="staging").code == 0
    [flipped] = flag_records(live, "staging")
    promoted = next(d for d in live.deployments("staging") if "flag_release" not in d["payload"])
    assert flipped["payload"]["run"] == promoted["payload"]["run"]


# --- 10b. a manual rollback after a flip undoes the release the flip sits on -----------------------

def test_a_manual_rollback_after_a_flip_names_the_release_it_undoes(live, double):
    (live.artifact / "app.txt").write_text("v2\n")
    live.new_run(5000)
    assert live.release("2.0.0").code == 0
    assert live.promote("staging", "2.0.0").code == 0
    assert live.promote("production", "2.0.0").code == 0
    release = max(live.deployments("production"), key=lambda d: d["id"])
    live.new_run(5001)
    assert flip(live, "banner", "red", mode="deployment").code == 0
    assert flip(live, "banner", "blue", mode="deployment").code == 0  # a second flip on top of the first
    live.new_run(5002)
    back = live.promote("production", "1.0.0", "--rollback")
    assert back.code == 0, back.out
    rollback = max(live.deployments("production"), key=lambda d: d["id"])
    assert rollback["payload"]["rollback_of"] == release["id"]
