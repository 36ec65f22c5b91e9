"""`cdhelper rehearse --workflow`: a team's own workflow (written from README.md and the actions'
READMEs, tests/data/own-workflows/) run from their checkout under act against a fresh double."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cdhelper.devtools.rehearsal import RUN_ID, TOKEN
from cdhelper.devtools.rehearsal.own_workflow import OwnWorkflowRehearsal, Unrehearsable, prepare, timeline

pytestmark = pytest.mark.act

DATA = Path(__file__).resolve().parents[1] / "data" / "own-workflows"
ROOT = Path(__file__).resolve().parents[2]

# name -> (workflow, origin remote (None: no remote), path of environments, gate environment, repository)
CASES = {
    "qa-live": (".github/workflows/ship.yml", "https://github.com/shop-team/shop.git", ["qa", "live"],
                "live-approval", "shop-team/shop"),
    "three-envs": (".github/workflows/deliver.yml", None, ["dev", "staging", "production"], "prod-gate", "acme/app"),
    "reusable": (".github/workflows/release.yml", "git@github.com:octo-org/web.git", ["staging", "production"],
                 "ship-approval", "octo-org/web"),
    # staging through a local reusable workflow whose job `Staging / Verify` production requires
    "local-called": (".github/workflows/pipeline.yml", None, ["staging", "production"], "production-approval",
                     "acme/app"),
}


def make_checkout(tmp_path: Path, name: str, origin: str | None = None) -> Path:
    """A user's repository: the sample site with the case's workflow and cd.yml, committed."""
    checkout = tmp_path / "checkout"
    shutil.copytree(DATA / "app", checkout)
    shutil.copytree(DATA / name, checkout, dirs_exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@x",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@x"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "Our pipeline"]):
        subprocess.run(["git", "-C", str(checkout), *args], check=True, env=env)
    if origin:
        subprocess.run(["git", "-C", str(checkout), "remote", "add", "origin", origin], check=True, env=env)
    return checkout


def deployments(r: OwnWorkflowRehearsal, env: str) -> list[dict]:
    return [d for d in r.double.repo(r.repository).deployments.values() if d["environment"] == env]


def states(r: OwnWorkflowRehearsal, dep: dict) -> list[str]:
    return [s["state"] for s in r.double.repo(r.repository).statuses[dep["id"]]]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode, review", [("deployment", None), ("delivery", "approved"), ("delivery", "rejected")])
def test_own_workflow_promotes_one_digest_through_its_path(tmp_path, name, mode, review):
    workflow, origin, path, gate, repository = CASES[name]
    r = prepare(make_checkout(tmp_path, name, origin), workflow, mode=mode, workdir=tmp_path / "rehearsal")
    try:
        assert (r.repository, r.gate, list(r.path)) == (repository, gate, path)
        result = r.run(reject=review == "rejected")
        assert result["ok"], r.output()[-4000:]
        stopped = review == "rejected"
        reached = path[:-1] if stopped else path  # the last environment is gated in all three
        records = {env: deployments(r, env) for env in path}
        for env in reached:
            [record] = records[env]
            assert states(r, record) == ["queued", "in_progress", "success"], env
            assert record["payload"]["version"] == "0.1.1"
            assert (r.targets / env / "VERSION").read_text().strip() == "0.1.1", "the team's deploy.sh ran"
        assert len({records[env][0]["payload"]["digest"] for env in reached}) == 1, "one digest, promoted unchanged"
        assert r.double.repo(r.repository).refs.get("refs/tags/v0.1.1")
        reviews = r.double.repo(r.repository).runs[RUN_ID]["reviews"]
        last = path[-1]
        if stopped:
            assert records[last] == [] and not (r.targets / last).exists(), "a rejection leaves production untouched"
            assert [(v["state"], v["environments"]) for v in reviews] == [("rejected", [gate])]
        elif mode == "delivery":
            assert [a["login"] for a in records[last][0]["payload"]["gate"]["approvers"]] == ["rehearsal-reviewer"]
            assert [(v["state"], v["environments"]) for v in reviews] == [("approved", [gate])]
        else:
            assert records[last][0]["payload"]["gate"]["required"] is False and reviews == []
        assert TOKEN not in r.output()
    finally:
        r.close(keep=True)


def rehearse_cli(checkout: Path, *args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "INPUT_"))}
    done = subprocess.run([sys.executable, "-m", "cdhelper", "rehearse", *args], cwd=checkout, capture_output=True,
                          text=True, env=env, timeout=120)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "Cannot rehearse this workflow" in line]


def test_a_remote_action_is_named_with_the_fix_before_act_runs(tmp_path):
    checkout = make_checkout(tmp_path, "unrehearsable")
    code, out, seconds = rehearse_cli(checkout, "--workflow", ".github/workflows/remote-action.yml")
    assert code == 2, out
    [line] = error_lines(out)
    assert "aws-actions/configure-aws-credentials@e3dd6a429d7300a6a4c196c26e071d42e0343502" in line
    assert "remote-action.yml line 10" in line
    assert "uses: ./path/to/it" in line and "--action aws-actions/configure-aws-credentials@" in line
    assert "Rehearsing" not in out, "refused before the double or act started"
    assert seconds < 15


def test_a_secret_is_named_with_how_to_provide_it_and_then_reaches_the_job_masked(tmp_path, monkeypatch):
    checkout = make_checkout(tmp_path, "unrehearsable")
    code, out, seconds = rehearse_cli(checkout, "--workflow", ".github/workflows/needs-secret.yml")
    assert code == 2, out
    [line] = error_lines(out)  # GITHUB_TOKEN is the rehearsal's own: only DEPLOY_KEY is asked for
    assert "needs secret DEPLOY_KEY (.github/workflows/needs-secret.yml line 12)" in line
    assert "export DEPLOY_KEY=... and pass --secret DEPLOY_KEY" in line and "--secret DEPLOY_KEY=VALUE" in line
    assert seconds < 15
    # Given, it passes the reading and act gets it (masked in the log) through a secret file.
    r = prepare(checkout, ".github/workflows/needs-secret.yml", secrets={"DEPLOY_KEY": 'k"e\\y\nline2'},
                workdir=tmp_path / "rehearsal")
    try:
        assert r.secret_file.read_text() == 'DEPLOY_KEY="k\\"e\\\\y\\nline2"\n'
        assert oct(r.secret_file.stat().st_mode & 0o777) == "0o600"
    finally:
        r.close()


def test_a_runner_label_and_an_event_that_cannot_run_here_are_each_one_line(tmp_path):
    checkout = make_checkout(tmp_path, "unrehearsable")
    code, out, _ = rehearse_cli(checkout, "--workflow", ".github/workflows/mac-runner.yml")
    assert code == 2, out
    lines = error_lines(out)
    assert len(lines) == 2, out
    assert any("does not run on push: it runs on workflow_dispatch" in x and "--event workflow_dispatch" in x
               for x in lines)
    assert any("runs on 'macos-14'" in x and "--runner macos-14" in x for x in lines)
    # The fixes named work: the reading accepts the workflow with them.
    r = prepare(checkout, ".github/workflows/mac-runner.yml", event="workflow_dispatch", runners={"macos-14"},
                workdir=tmp_path / "rehearsal")
    try:
        assert "macos-14" in r.runner_labels
    finally:
        r.close()


def test_the_reading_maps_every_cdhelper_and_artifact_line_and_refuses_nothing_it_can_run(tmp_path):
    checkout = make_checkout(tmp_path, "three-envs")
    r = prepare(checkout, ".github/workflows/deliver.yml", workdir=tmp_path / "rehearsal")
    try:
        assert set(r.reading.cdhelper_repos) == {"platform/cdhelper@9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"}
        assert r.local_actions["platform/cdhelper@9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"] == r.action_repo
        assert r.local_actions["actions/upload-artifact@v3"].name == "upload-artifact"
        assert r.local_actions["actions/download-artifact@v3.1.0"].name == "download-artifact"
        assert set(r.runner_labels) == {"ubuntu-latest", "ubuntu-22.04", "self-hosted", "linux"}
        scratch = (r.repo_dir / ".github" / "workflows" / "deliver.yml").read_text()
        assert "deployment: false" not in scratch and "cdhelper-rehearsal/report-job@v0" in scratch
        assert not (checkout / ".github" / "workflows" / "deliver.yml").read_text().count("cdhelper-rehearsal/report-job@v0"), \
            "the user's checkout is never changed"
    finally:
        r.close()
    with pytest.raises(Unrehearsable):
        prepare(checkout, ".github/workflows/deliver.yml", event="pull_request", workdir=tmp_path / "r2")


def test_the_cli_prints_the_report_and_json(tmp_path):
    workflow, origin, *_ = CASES["qa-live"]
    checkout = make_checkout(tmp_path, "qa-live", origin)
    code, out, _ = rehearse_cli(checkout, "--workflow", workflow, "--mode", "delivery", "--json")
    assert code == 0, out
    data = json.loads(out[out.index("{"):])
    assert {n: e["state"] for n, e in data["environments"].items()} == {"qa": "success", "live": "success"}
    assert data["environments"]["live"]["approved_by"] == ["rehearsal-reviewer"]
    assert data["environments"]["qa"]["digest"] == data["environments"]["live"]["digest"]
    assert data["api_requests"] > 0 and data["jobs"]["live"] == "success"


def test_a_key_act_does_not_know_is_one_line_naming_it(tmp_path):
    checkout = make_checkout(tmp_path, "unrehearsable")
    code, out, seconds = rehearse_cli(checkout, "--workflow", ".github/workflows/newer-key.yml")
    assert code == 1, out
    [line] = [x for x in out.splitlines() if "Rehearsal failed" in x]
    assert "act could not run .github/workflows/newer-key.yml" in line and "Unknown Property snapshot" in line
    assert "act 0.2.89 does not know `snapshot`" in line
    assert "Deployment records written" not in out, "no timeline of jobs that never started"
    assert seconds < 30


def test_a_pipeline_of_its_own_names_holds_in_its_soak_environment_dispatched_from_a_release_branch(tmp_path):
    """Gate prod-signoff, soak prod-bake, the version a workflow_dispatch input, the run on release/2.x:
    nothing of the template's names, and the hold rehearsed without waiting for the soak."""
    checkout = make_checkout(tmp_path, "custom-names")
    r = prepare(checkout, ".github/workflows/bake.yml", mode="delivery", event="workflow_dispatch",
                inputs={"version": "2.3.0"}, ref="release/2.x", workdir=tmp_path / "rehearsal")
    try:
        result = r.run(event="workflow_dispatch")
        assert result["ok"], r.output()[-4000:]
        assert (result["gate"], result["soak"], result["ref"]) == ("prod-signoff", ["prod-bake"], "release/2.x")
        repo = r.double.repo(r.repository)
        [record] = deployments(r, "production")
        assert record["payload"]["version"] == "2.3.0", "the dispatch input reached the release"
        described = [s["description"] for s in repo.statuses[record["id"]]]
        assert any("paused" in d for d in described) and states(r, record)[-1] == "success", described
        assert (r.targets / "production-weights").read_text().split("\n")[:2] == ["2.3.0 50", "2.3.0 100"]
        assert [(v["state"], v["environments"]) for v in result["reviews"]] == [("approved", ["prod-signoff"])]
        assert repo.environments["prod-bake"]["wait_timer"] == 30 and "production-soak" not in repo.environments
        report = timeline(r, result)
        assert "production" in report and "paused at step 2 of 3" in report, report
    finally:
        r.close(keep=True)
