"""The template pipeline run for real under act (host mode) against the GitHub double."""

from __future__ import annotations

import json
import os

import pytest

from cdhelper.devtools.rehearsal import REPOSITORY, RUN_ID, TOKEN, Rehearsal, for_act

pytestmark = pytest.mark.act


@pytest.fixture
def rehearsal_factory(tmp_path):
    made = []

    def make(mode: str = "delivery", **kwargs) -> Rehearsal:
        r = Rehearsal(mode=mode, workdir=tmp_path / f"r{len(made)}", **kwargs)
        made.append(r)
        return r
    yield make
    for r in made:
        # act masks the secret itself; neither its log nor anything stored in GitHub may hold it.
        assert TOKEN not in r.output(), "the token leaked into the job logs"
        assert TOKEN not in json.dumps(r.double.snapshot(), default=str)
        r.close(keep=True)


def _deployments(r: Rehearsal, env: str | None = None) -> list[dict]:
    repo = r.double.repo(REPOSITORY)
    return [d for d in repo.deployments.values() if env is None or d["environment"] == env]


def _states(r: Rehearsal, dep: dict) -> list[str]:
    return [s["state"] for s in r.double.repo(REPOSITORY).statuses[dep["id"]]]


def _tags(r: Rehearsal) -> list[str]:
    return sorted(ref for ref in r.double.repo(REPOSITORY).refs if ref.startswith("refs/tags/"))


def test_deployment_mode_deploys_production_automatically_without_approval(rehearsal_factory):
    r = rehearsal_factory("deployment")
    r.plan_run(review=None)
    assert r.act() == 0, r.output()[-3000:]
    assert {j: rec.result for j, rec in r.jobs.items()} == {
        "doctor": "success", "build": "success", "release": "success", "staging": "success",
        "staging-record": "success", "acceptance": "success", "production-open": "success", "production": "success",
        "production-record": "success"}  # the gate job is skipped (and soak, nothing paused): act prints no result for it
    assert _tags(r) == ["refs/tags/v0.1.1"]
    [staging], [production] = _deployments(r, "staging"), _deployments(r, "production")
    assert _states(r, staging) == _states(r, production) == ["queued", "in_progress", "success"]
    assert production["payload"]["gate"] == {"required": False, "environment": "production-approval"}
    assert production["payload"]["digest"] == staging["payload"]["digest"]
    assert production["payload"]["promoted_from"]["deployment_id"] == staging["id"]
    assert r.double.repo(REPOSITORY).runs[RUN_ID]["reviews"] == []
    assert (r.targets / "production" / "VERSION").read_text().strip() == "0.1.1"


def test_delivery_mode_refuses_production_without_approval_then_proceeds_after_the_reviewer_approves(rehearsal_factory):
    r = rehearsal_factory("delivery")
    r.plan_run(review=None)  # nobody has approved yet (act does not hold the gate job as GitHub would)
    r.act()
    assert r.jobs["production-open"].result == "failure"  # refused before the record, before the deploy job
    assert "production" not in r.jobs  # the deploy job never ran
    # The record job ran after the failed open job, to close whatever it left in flight: nothing here.
    assert r.jobs["production-record"].result == "success"
    assert "needs an approval of environment 'production-approval'" in r.output()
    assert _deployments(r, "production") == []
    assert not (r.targets / "production").exists()
    # The run is re-run (attempt 2) and the reviewer approves it: only production is new.
    r.rerun(comment="ship it")
    assert r.act() == 0, r.output()[-3000:]
    assert _tags(r) == ["refs/tags/v0.1.1"]
    assert len(_deployments(r, "staging")) == 1
    [production] = _deployments(r, "production")
    assert _states(r, production) == ["queued", "in_progress", "success"]
    assert production["payload"]["gate"]["approvers"] == [{"login": "rehearsal-reviewer", "comment": "ship it"}]


def test_rerunning_the_whole_pipeline_changes_nothing(rehearsal_factory):
    r = rehearsal_factory("delivery")
    r.plan_run()
    assert r.act() == 0, r.output()[-3000:]
    repo = r.double.repo(REPOSITORY)
    before = json.dumps([repo.deployments, repo.statuses, _tags(r)], default=str)
    r.rerun()
    assert r.act() == 0, r.output()[-3000:]
    assert json.dumps([repo.deployments, repo.statuses, _tags(r)], default=str) == before


def test_a_bad_cd_mode_fails_before_anything_is_written(rehearsal_factory):
    r = rehearsal_factory("delivery", cd_mode="continuous")
    r.plan_run()
    assert r.act() != 0
    # the doctor job, beside the build, stops the run: the release job never starts
    assert r.jobs["doctor"].result == "failure" and "release" not in r.jobs
    assert "the repository variable CD_MODE is 'continuous'" in r.output()
    assert r.double.writes() == 0 and _tags(r) == [] and _deployments(r) == []


def test_missing_deployments_write_fails_with_the_job_and_the_permission_named(rehearsal_factory):
    r = rehearsal_factory("deployment")
    workflow = r.repo_dir / ".github" / "workflows" / "cd-pipeline.yml"
    # the doctor job would stop the run first (permissions-insufficient): a team without it reaches the
    # release job, which opens staging's record
    text = workflow.read_text().replace("needs: [build, doctor]", "needs: [build]")
    release = text.index("  release:\n")
    workflow.write_text(text[:release] + text[release:].replace(
        "      deployments: write # staging's deployment record and its first statuses\n", "", 1))
    r.plan_run(review=None)
    assert r.act() != 0
    assert r.jobs["release"].result == "failure"  # it opens staging's record, after the tag
    assert "staging" not in r.jobs  # the deploy command never ran
    assert "deployments: write" in r.output()
    assert r.refusals()[0].startswith("job Release candidate (release in cd-pipeline.yml) lacks `deployments: write`")
    assert _deployments(r) == []


def test_each_template_job_runs_with_exactly_its_own_permissions(rehearsal_factory):
    r = rehearsal_factory("delivery")
    r.plan_run()
    assert r.act() == 0, r.output()[-3000:]
    assert r.refusals() == []
    by_job = {p.job: p.permissions for p in r.double.app.tokens.values() if p.job}
    assert by_job["Release candidate (release in cd-pipeline.yml)"]["contents"] == "write"
    assert by_job["Release candidate (release in cd-pipeline.yml)"]["deployments"] == "write"  # staging's open
    for job in ("Build (build", "Staging (staging", "Acceptance (acceptance", "Production (production"):
        permissions = by_job[f"{job} in cd-pipeline.yml)"]  # the jobs that run repository code write nothing
        assert permissions["contents"] == "read" and "write" not in permissions.values(), (job, permissions)
    for job in ("Staging (record) (staging-record", "Production (open the record) (production-open",
                "Production (record) (production-record"):
        assert by_job[f"{job} in cd-pipeline.yml)"]["deployments"] == "write", job


def test_a_tag_that_exists_with_other_content_stops_the_release(rehearsal_factory):
    r = rehearsal_factory("deployment")
    repo = r.double.repo(REPOSITORY)
    sha = repo.resolve("main")
    other = f"Release candidate 0.1.1\n\ncdhelper-version: 0.1.1\ncdhelper-commit: {sha}\ncdhelper-manifest: sha256:{'0' * 64}\n"
    repo.tag_objects["f" * 40] = {"sha": "f" * 40, "tag": "v0.1.1", "message": other, "object": sha, "type": "commit",
                                  "tagger": {"name": "x", "email": "x@x", "date": 0.0}}
    repo.refs["refs/tags/v0.1.1"] = "f" * 40
    r.plan_run(review=None)
    assert r.act() != 0
    assert r.jobs["release"].result == "failure"
    assert "tag 'v0.1.1' already exists with other content" in r.output()
    assert _deployments(r) == []


def test_a_digest_changed_between_staging_and_production_is_refused(rehearsal_factory):
    r = rehearsal_factory("deployment")
    workflow = r.repo_dir / ".github" / "workflows" / "cd-pipeline.yml"
    # Something between the environments alters the stored artifact.
    workflow.write_text(workflow.read_text().replace(
        "ACCEPTANCE_COMMAND: ./acceptance-tests.sh",
        'ACCEPTANCE_COMMAND: ./acceptance-tests.sh && echo tampered >> "$CDHELPER_REHEARSAL_ARTIFACTS/candidate/index.html"'))
    r.plan_run(review=None)
    assert r.act() != 0
    # production-open checks the artifact before it writes anything; the deploy job never runs
    assert r.jobs["production-open"].result == "failure" and "production" not in r.jobs
    assert "is not release 0.1.1" in r.output() and "index.html" in r.output()
    assert _deployments(r, "production") == []


def test_promote_template_rolls_production_back_through_the_gate_without_rebuilding(rehearsal_factory):
    r = rehearsal_factory("delivery")
    r.plan_run(run_id=100)
    assert r.act(run_id=100, run_number=1) == 0, r.output()[-3000:]
    r.commit("Second version", {"app/index.html": "<p>Hello from the cdhelper rehearsal, again.</p>\n"})
    r.plan_run(run_id=200)
    assert r.act(run_id=200, run_number=2) == 0, r.output()[-3000:]
    assert (r.targets / "production" / "VERSION").read_text().strip() == "0.1.2"
    [first, second] = _deployments(r, "production")
    # An older version without rollback is refused, before anything is written.
    r.plan_run(run_id=300)
    dispatch = ["--input", "version=0.1.1", "--input", "environment=production"]
    assert r.act(*dispatch, "--input", "rollback=false", event="workflow_dispatch", workflow="cd-promote.yml",
                 run_id=300) != 0
    assert "0.1.2 is live there" in r.output() and "is newer" in r.output()
    assert len(_deployments(r, "production")) == 2
    # The rollback goes through the same gate and redeploys exactly what was released as 0.1.1.
    r.plan_run(run_id=400)
    assert r.act(*dispatch, "--input", "rollback=true", event="workflow_dispatch", workflow="cd-promote.yml",
                 run_id=400) == 0, r.output()[-3000:]
    rollback = _deployments(r, "production")[-1]
    assert rollback["payload"]["version"] == "0.1.1" and rollback["payload"]["rollback_of"] == second["id"]
    assert rollback["payload"]["digest"] == first["payload"]["digest"]
    assert rollback["payload"]["gate"]["approvers"][0]["login"] == "rehearsal-reviewer"
    assert _states(r, rollback) == ["queued", "in_progress", "success"]
    assert (r.targets / "production" / "VERSION").read_text().strip() == "0.1.1"
    assert "again" not in (r.targets / "production" / "index.html").read_text()


def test_a_failed_production_deploy_is_undone_by_the_undo_job_and_recorded_by_the_record_job(rehearsal_factory):
    """Issue 21: a deploy job that failed without undoing its rollout is not just closed: the undo job
    (contents: read, bound to production) redeploys the live version from the open job's handoff, and
    the record job records the abort, with a rollback record saying the live version serves again."""
    r = rehearsal_factory("deployment")
    r.plan_run(run_id=100)
    assert r.act(run_id=100, run_number=1) == 0, r.output()[-3000:]
    deploy = (r.repo_dir / "deploy.sh").read_text().replace(
        "set -euo pipefail\n", "set -euo pipefail\n"
        'if [ "$CD_ENVIRONMENT" = production ] && [ "$CD_ROLLBACK" != true ]; then echo "half-deployed" >&2; '
        'printf broken > "$CDHELPER_REHEARSAL_TARGETS/production/VERSION"; exit 3; fi\n', 1)
    r.commit("A deploy that breaks production", {"deploy.sh": deploy})
    r.plan_run(run_id=200)
    assert r.act(run_id=200, run_number=2) != 0
    results = {j: rec.result for j, rec in r.jobs.items()}
    assert results["production"] == "failure" and results["production-undo"] == "success", results
    assert results["production-record"] == "success", r.output()[-3000:]
    assert (r.targets / "production" / "VERSION").read_text().strip() == "0.1.1"  # traffic back on the live version
    first, failed, rollback = _deployments(r, "production")
    last = r.double.repo(REPOSITORY).statuses[failed["id"]][-1]
    assert last["state"] == "failure" and last["description"].startswith("aborted by the cleanup job of run 200")
    assert last["description"].endswith("production is back on 0.1.1")
    assert rollback["payload"]["rollback_of"] == failed["id"] and rollback["payload"]["version"] == "0.1.1"
    assert rollback["payload"]["digest"] == first["payload"]["digest"] and _states(r, rollback) == ["success"]


def test_root_action_reports_what_is_live_as_an_output(rehearsal_factory):
    r = rehearsal_factory("deployment")
    r.plan_run(review=None)
    assert r.act() == 0, r.output()[-3000:]
    (r.repo_dir / ".github" / "workflows" / "status.yml").write_text(for_act("""name: status
on: push
permissions: {}
jobs:
  report:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions:
      contents: read
      deployments: read
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - id: status
        uses: cdhelper/cdhelper@v0
        with:
          command: status
      - env:
          STATUS: ${{ steps.status.outputs.json }}
        run: |
          python3 -c 'import json, os; print("live:", {e["environment"]: e["live"]["version"] for e in json.loads(os.environ["STATUS"])["environments"]})'
""", source="status.yml"))  # adapted as the rehearsal adapts every workflow: the job gets its own token
    assert r.act(workflow="status.yml") == 0, r.output()[-3000:]
    assert "live: {'staging': '0.1.1', 'production': '0.1.1'}" in r.output()


def test_sweep_template_closes_a_record_a_lost_runner_left_queued(rehearsal_factory):
    import time as _time
    r = rehearsal_factory("deployment")
    payload = {"cdhelper": 1, "version": "0.0.9", "digest": "sha256:" + "e" * 64,
               "run": {"id": 1, "attempt": 1, "url": f"https://github.com/{REPOSITORY}/actions/runs/1"}}
    [stale] = r.double.seed_deployments(REPOSITORY, 1, ["production"], state="queued", payload=payload,
                                        start=_time.time() - 9 * 3600)
    [fresh] = r.double.seed_deployments(REPOSITORY, 1, ["staging"], state="in_progress", payload=payload)
    assert r.act(workflow="cd-sweep.yml", event="workflow_dispatch") == 0, r.output()[-3000:]
    statuses = r.double.repo(REPOSITORY).statuses
    assert [s["state"] for s in statuses[stale]] == ["queued", "error"]
    assert [s["state"] for s in statuses[fresh]] == ["in_progress"]


def test_a_cold_runner_sets_up_once_with_the_pinned_uv_then_every_step_reuses_the_entry(rehearsal_factory, tmp_path):
    """The set-up path users get, not a shortcut: an empty tool cache, no uv on PATH (a fresh hosted
    runner): the first cdhelper step fetches the pinned uv and installs the lock; every later one
    verifies the entry and installs nothing."""
    from cdhelper._boot import installer
    r = rehearsal_factory("deployment")
    r.plan_run(review=None)
    assert r.act(env={"CDHELPER_CACHE": str(tmp_path / "fresh-tool-cache")}) == 0, r.output()[-3000:]
    out = r.output()
    installs = [line for line in out.splitlines() if "cdhelper set-up: dependencies installed with" in line]
    if installs and "with pip" in installs[0] and not os.environ.get("CI"):
        pytest.skip("PyPI was out of reach here: the set-up fell back to pip (CI requires uv)")
    assert [line.strip() for line in installs] == [
        f"cdhelper set-up: dependencies installed with uv {installer.pinned()[0]} pinned by installer.lock"]
    assert out.count("Success - Main Set up cdhelper") >= 3, "release, staging and production each set up"
    assert "::warning" not in out and "did not verify" not in out
    assert r.jobs["production"].result == "success"


def test_the_weekly_dora_report_template_runs_after_a_pipeline(rehearsal_factory):
    r = rehearsal_factory("deployment")
    r.plan_run(review=None)
    assert r.act() == 0, r.output()[-3000:]
    r.double.reset_log()
    assert r.act(workflow="cd-dora.yml", event="workflow_dispatch", run_id=777) == 0, r.output()[-3000:]
    out = r.output()
    assert "production, " in out and "Deployment frequency" in out
    assert "1 in 30 days (0.2 a week)" in out, out[-2000:]
    assert "Change failure rate               0 % (0 of 1)" in out
    # one GraphQL page of production's records, and one for their runs' creation times (lead time's clock)
    assert r.double.total_requests() == 2
