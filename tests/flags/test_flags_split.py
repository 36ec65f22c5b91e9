"""A flip in the split layout: the open job records it, the deploy job (a token that writes
nothing) writes the file and runs the hook, the record job ends the record from that job's result
and commits the file, flipped again from its own checkout and checked against the record."""

from __future__ import annotations

import json

from cdhelper.devtools.double.rest.contents import commit_file

from . import test_flags_commit
from .test_flags_commit import FLAGS, PATH, flag_records, on_branch, text_of, with_default, workspace_file

live = test_flags_commit.live  # the fixture with the flag file on main too

READ_ONLY = "ghs_flags_deploy_job_contents_read"


def phases(pipeline, tmp_path, *, hook: str = "", job_result: str = "", commit: bool = True):
    """open -> deploy -> close as three jobs, each from a fresh checkout of the same commit."""
    pipeline.double.register_token(pipeline.token)
    pipeline.double.register_token(READ_ONLY, permissions={"contents": "read", "metadata": "read"})
    common = ("new-checkout", "on", "--environment", "production", "--mode", "deployment")
    branch = ("--commit-to", "main") if commit else ()
    opened = pipeline.run("flags", "set", *common, "--phase", "open", *branch)
    assert opened.code == 0, opened.out
    writes, requests = pipeline.double.writes(), pipeline.double.total_requests()
    workspace_file(pipeline).write_text(text_of(FLAGS))  # the deploy job's own checkout
    deployed = pipeline.run("flags", "set", *common, "--phase", "deploy", "--handoff", opened.outputs["handoff"],
                            "--run", hook or f'cp "$CD_FLAGS" "{tmp_path}/platform.json"', GITHUB_TOKEN=READ_ONLY)
    assert (pipeline.double.writes(), pipeline.double.total_requests()) == (writes, requests)
    workspace_file(pipeline).write_text(text_of(FLAGS))  # the record job's own checkout
    closed = pipeline.run("flags", "set", *common, "--phase", "close", "--handoff", opened.outputs["handoff"],
                          "--job-result", job_result or ("success" if deployed.code == 0 else "failure"),
                          "--report", deployed.outputs.get("report", ""), *branch)
    return opened, deployed, closed


def test_a_split_flip_records_hands_over_and_commits_as_one_job_did(live, tmp_path):
    opened, deployed, closed = phases(live, tmp_path)
    assert (deployed.code, closed.code) == (0, 0), deployed.out + closed.out
    assert json.loads((tmp_path / "platform.json").read_text())["flags"]["new-checkout"]["defaultVariant"] == "on"
    [record] = flag_records(live)
    assert live.states(record["id"]) == ["in_progress", "success"]
    assert record["payload"]["flag_release"]["new"] == "on"
    assert on_branch(live) == text_of(with_default("new-checkout", "on"))
    assert closed.outputs["commit"] and closed.outputs["state"] == "success"


def test_a_failed_hook_fails_the_record_and_commits_nothing(live, tmp_path):
    opened, deployed, closed = phases(live, tmp_path, hook="exit 3")
    assert deployed.code == 10 and closed.code == 0
    [record] = flag_records(live)
    assert live.states(record["id"])[-1] == "failure"
    assert on_branch(live) == text_of(FLAGS) and closed.outputs["commit"] == ""


def test_a_deploy_job_that_claims_success_in_its_report_cannot_end_a_failed_flip(live, tmp_path):
    opened, deployed, closed = phases(live, tmp_path, job_result="failure")
    [record] = flag_records(live)
    assert live.states(record["id"])[-1] == "failure" and on_branch(live) == text_of(FLAGS)


def test_the_record_job_commits_only_the_file_the_record_names(live, tmp_path):
    """Its checkout flipped again must give the recorded digest: a branch file that moved meanwhile is refused."""
    live.double.register_token(live.token)
    common = ("new-checkout", "on", "--environment", "production", "--mode", "deployment")
    opened = live.run("flags", "set", *common, "--phase", "open", "--commit-to", "main")
    commit_file(live.double.repo("acme/app"), "main", PATH, text_of(with_default("banner", "red")), "meanwhile",
                login="octocat")
    closed = live.run("flags", "set", *common, "--phase", "close", "--handoff", opened.outputs["handoff"],
                      "--job-result", "success", "--report", "", "--commit-to", "main")
    assert closed.code == 5 and "is not the file this run flips" in closed.out
    assert on_branch(live) == text_of(with_default("banner", "red"))
