"""`flags set --commit-to BRANCH`: the new flag file reaches the repository through the Contents API,
written over the blob the run read before the flip; a branch that moved is refused (before anything
is written when it can be told then), a re-run whose commit landed commits nothing. And the actions'
way in: `flags` with its sub-action and options from INPUT_*, as actions/flags and `command: flags` run it."""

from __future__ import annotations

import json

import pytest

from cdhelper.devtools.double.rest.contents import commit_file, file_at

PATH = ".github/flags/production.flagd.json"
FLAGS = {"flags": {
    "new-checkout": {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"},
    "banner": {"state": "ENABLED", "variants": {"blue": "blue", "red": "red"}, "defaultVariant": "blue"},
}}


def text_of(doc: dict) -> str:
    return json.dumps(doc, indent=2) + "\n"


def with_default(flag: str, variant: str) -> dict:
    doc = json.loads(json.dumps(FLAGS))
    doc["flags"][flag]["defaultVariant"] = variant
    return doc


def on_branch(pipeline, branch: str = "main") -> str | None:
    repo = pipeline.double.repo("acme/app")
    return file_at(repo, repo.resolve(branch), PATH)


def workspace_file(pipeline):
    return pipeline.tmp / PATH


@pytest.fixture
def live(pipeline):
    """1.0.0 live in production; the production flag file in the checkout and on main alike."""
    workspace_file(pipeline).parent.mkdir(parents=True)
    workspace_file(pipeline).write_text(text_of(FLAGS))
    commit_file(pipeline.double.repo("acme/app"), "main", PATH, text_of(FLAGS), "Flags", login="octocat")
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    assert pipeline.promote("production").code == 0
    return pipeline


def flip(pipeline, *extra: str, variant: str = "on"):
    return pipeline.run("flags", "set", "new-checkout", variant, "--environment", "production", "--mode", "deployment",
                        *extra)


def flag_records(pipeline) -> list[dict]:
    return [d for d in pipeline.deployments("production") if "flag_release" in d["payload"]]


def test_a_flip_with_commit_to_commits_the_new_file_over_the_one_it_read(live):
    head = live.double.repo("acme/app").resolve("main")
    out = flip(live, "--commit-to", "main")
    assert out.code == 0, out.err
    new_head = live.double.repo("acme/app").resolve("main")
    assert out.outputs["commit"] == new_head != head
    assert live.double.repo("acme/app").commit(new_head)["parents"] == [head]
    assert on_branch(live) == workspace_file(live).read_text()
    assert json.loads(on_branch(live))["flags"]["new-checkout"]["defaultVariant"] == "on"
    assert "Flags: new-checkout off -> on in production" in live.double.repo("acme/app").commit(new_head)["message"]


def test_without_commit_to_nothing_is_committed(live):
    head = live.double.repo("acme/app").resolve("main")
    assert flip(live).code == 0
    assert live.double.repo("acme/app").resolve("main") == head
    assert on_branch(live) == text_of(FLAGS)


def test_a_rerun_whose_commit_landed_commits_nothing_and_records_nothing_new(live):
    assert flip(live, "--commit-to", "main").code == 0
    head = live.double.repo("acme/app").resolve("main")
    workspace_file(live).write_text(text_of(FLAGS))  # a re-run checks out the same commit again
    live.attempt = 2
    again = flip(live, "--commit-to", "main")
    assert again.code == 0, again.err
    assert again.outputs["commit"] == ""
    assert live.double.repo("acme/app").resolve("main") == head
    assert len(flag_records(live)) == 1


def test_a_branch_that_moved_before_the_flip_is_refused_before_anything_is_written(live):
    repo = live.double.repo("acme/app")
    commit_file(repo, "main", PATH, text_of(with_default("banner", "red")), "Someone else's flip", login="alice")
    head, writes = repo.resolve("main"), live.double.writes()
    out = flip(live, "--commit-to", "main")
    assert out.code == 5
    assert "is not the file this run flips" in out.out and "the branch moved" in out.out
    assert "Traceback" not in out.err
    assert flag_records(live) == [] and live.double.writes() == writes
    assert workspace_file(live).read_text() == text_of(FLAGS)
    assert repo.resolve("main") == head


def test_a_branch_that_moved_during_the_flip_fails_the_commit_and_says_the_flip_is_live(live, monkeypatch):
    from cdhelper.github import client as github_api
    original = github_api.GitHubClient.put_file

    def concurrent_push(self, *args, **kwargs):  # another flip lands between the read and the write
        commit_file(live.double.repo("acme/app"), "main", PATH, text_of(with_default("banner", "red")), "race",
                    login="alice")
        return original(self, *args, **kwargs)
    monkeypatch.setattr(github_api.GitHubClient, "put_file", concurrent_push)
    out = flip(live, "--commit-to", "main")
    assert out.code == 5
    assert "the branch moved" in out.out and "recorded and live" in out.out and "new run" in out.out
    [record] = flag_records(live)
    assert live.states(record["id"])[-1] == "success"
    assert json.loads(on_branch(live))["flags"]["banner"]["defaultVariant"] == "red"  # the other change is kept


def test_a_branch_rule_refusing_the_bot_is_named_with_the_way_out(live, monkeypatch):
    from cdhelper.github import client as github_api

    def refused(self, *args, **kwargs):
        raise github_api.ApiFailure(409, "Repository rule violations found\n\nChanges must be made through a pull request.")
    monkeypatch.setattr(github_api.GitHubClient, "put_file", refused)
    out = flip(live, "--commit-to", "main")
    assert out.code == 3
    assert "Repository rule violations found" in out.out and "let the GitHub Actions bot push to main" in out.out


def test_a_branch_without_the_flag_file_is_refused_before_the_flip(live):
    live.double.repo("acme/app").refs["refs/heads/empty"] = live.sha  # before the flag file was committed
    out = flip(live, "--commit-to", "empty")
    assert out.code == 2 and "is not on branch empty" in out.out
    assert flag_records(live) == []


@pytest.mark.parametrize("argv", [["flags"], ["action"]], ids=["actions/flags", "root action command: flags"])
def test_the_actions_run_flags_set_with_every_option_from_the_inputs(live, argv):
    out = live.run(*argv, INPUT_COMMAND="flags", INPUT_ACTION="set", INPUT_FLAG="new-checkout", INPUT_VARIANT="on",
                   INPUT_ENVIRONMENT="production", INPUT_MODE="deployment", INPUT_COMMIT_TO="main", INPUT_JSON="true",
                   INPUT_RUN='test -f "$CD_FLAGS"')
    assert out.code == 0, out.out
    assert out.data["new"] == "on" and out.data["commit"] == out.outputs["commit"] != ""
    [record] = flag_records(live)
    assert record["payload"]["flag_release"]["new"] == "on"
    assert json.loads(on_branch(live))["flags"]["new-checkout"]["defaultVariant"] == "on"


def test_an_unknown_action_input_is_one_line_naming_it(live):
    out = live.run("flags", INPUT_ACTION="flip")
    assert out.code == 2 and "flags action 'flip' is not one cdhelper knows" in out.out
    assert "Traceback" not in out.err


def test_set_without_a_flag_names_what_is_missing(live):
    out = live.run("flags", INPUT_ACTION="set", INPUT_ENVIRONMENT="production")
    assert out.code == 2 and "flags set needs FLAG, VARIANT" in out.out


def test_status_from_the_action_inputs_reports_every_environment(live):
    out = live.run("flags", INPUT_ACTION="status", INPUT_JSON="true")
    assert out.code == 0
    assert out.data["flags"]["new-checkout"]["production"] == "off"


def test_a_hook_that_swaps_the_flag_file_for_a_link_cannot_get_another_file_committed(live, tmp_path):
    """The deploy hook runs between the flip and the commit, and can rewrite the workspace: the commit
    carries what cdhelper released, never what the hook left at that path."""
    secret = tmp_path / "not-for-the-repository.txt"
    secret.write_text("a file of the runner's\n")
    head = live.double.repo("acme/app").resolve("main")
    out = flip(live, "--commit-to", "main", "--run", f"rm -f \"$CD_FLAGS\" && ln -s {secret} \"$CD_FLAGS\"")
    assert out.code != 0 and "Traceback" not in out.err
    assert live.double.repo("acme/app").resolve("main") == head  # nothing committed
    assert "a file of the runner's" not in (on_branch(live) or "")
