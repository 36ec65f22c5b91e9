"""The helper end to end against the double: release, staging, production, in both modes."""

from __future__ import annotations

import json

from cdhelper.devtools.double import Fault


def test_deployment_mode_promotes_to_production_without_approval_in_at_most_12_requests(pipeline, double):
    double.reset_log()
    released = pipeline.release()
    assert released.code == 0, released.err
    staging = pipeline.promote("staging")
    production = pipeline.promote("production")
    assert (staging.code, production.code) == (0, 0), production.err
    assert double.total_requests() <= 12, double.counts()
    [stg], [prd] = pipeline.deployments("staging"), pipeline.deployments("production")
    assert pipeline.states(stg["id"]) == ["queued", "in_progress", "success"]
    assert pipeline.states(prd["id"]) == ["queued", "in_progress", "success"]
    payload = prd["payload"]
    assert payload["digest"] == released.outputs["digest"] == staging.outputs["digest"]
    assert payload["gate"] == {"required": False, "environment": "production-approval"}
    assert payload["promoted_from"] == {"environment": "staging", "deployment_id": stg["id"]}
    assert payload["mode"] == "deployment" and payload["run"]["id"] == 4242 and payload["commit"] == pipeline.sha
    assert prd["sha"] == pipeline.sha and prd["production_environment"] is True and stg["production_environment"] is False
    assert double.repo("acme/app").statuses[prd["id"]][-1]["log_url"] == "https://github.example/acme/app/actions/runs/4242"


def test_request_count_is_the_same_with_5000_past_deployments(pipeline, double):
    double.seed_deployments("acme/app", 5000, ["staging", "production"])
    double.reset_log()
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    assert pipeline.promote("production").code == 0
    assert double.total_requests() <= 12, double.counts()


def test_delivery_mode_refuses_production_when_the_run_holds_no_approval(pipeline, double):
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    pipeline.release()
    pipeline.promote("staging", mode="delivery")
    double.create_run("acme/app", run_id=4242)
    before = double.writes()
    refused = pipeline.promote("production", mode="delivery")
    assert refused.code == 6
    assert "needs an approval of environment 'production-approval'" in refused.out
    assert "::error title=Production gate not passed::" in refused.out
    assert "Production gate not passed" in refused.summary
    assert pipeline.deployments("production") == [] and double.writes() == before


def test_delivery_mode_proceeds_after_the_reviewer_approves_and_records_them(pipeline, double):
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    double.create_run("acme/app", run_id=4242, actor="bob", waiting_on=["production-approval"])
    pipeline.release()
    pipeline.promote("staging", mode="delivery")
    double.review("acme/app", 4242, "production-approval", "alice", comment="LGTM")
    done = pipeline.promote("production", mode="delivery")
    assert done.code == 0, done.out
    assert done.outputs["approved-by"] == "alice"
    [prd] = pipeline.deployments("production")
    assert prd["payload"]["gate"] == {"required": True, "environment": "production-approval",
                                      "approvers": [{"login": "alice", "comment": "LGTM"}]}


def test_a_rejection_refuses_production(pipeline, double):
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    double.create_run("acme/app", run_id=4242, waiting_on=["production-approval"])
    pipeline.release()
    pipeline.promote("staging", mode="delivery")
    double.review("acme/app", 4242, "production-approval", "alice", state="rejected", comment="not now")
    refused = pipeline.promote("production", mode="delivery")
    assert refused.code == 6 and "alice rejected production-approval" in refused.out and "not now" in refused.out


def test_empty_mode_means_delivery(pipeline, double):
    pipeline.release()
    pipeline.promote("staging", mode="")
    double.create_run("acme/app", run_id=4242)
    assert pipeline.promote("production", mode="").code == 6


def test_a_bad_cd_mode_fails_before_anything_is_written(pipeline, double):
    pipeline.release()
    double.reset_log()
    bad = pipeline.promote("staging", mode="continuous")
    assert bad.code == 2
    assert "mode 'continuous' is not recognised" in bad.out and "delivery or deployment" in bad.out
    assert double.total_requests() == 0


def test_rerunning_every_job_changes_nothing(pipeline, double):
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    assert pipeline.promote("production").code == 0
    snapshot = json.dumps(double.snapshot()["repos"][0]["deployments"]) + json.dumps(double.repo("acme/app").refs)
    pipeline.attempt = 2
    again = pipeline.release()
    assert again.code == 0 and again.outputs["created"] == "false"
    for env in ("staging", "production"):
        rerun = pipeline.promote(env)
        assert rerun.code == 0 and rerun.outputs["state"] == "unchanged"
    assert json.dumps(double.snapshot()["repos"][0]["deployments"]) + json.dumps(double.repo("acme/app").refs) == snapshot


def test_rerun_of_a_failed_promotion_continues_its_own_record(pipeline, double):
    pipeline.release()
    failed = pipeline.promote("staging", "1.0.0", "--run", "exit 3")
    assert failed.code == 10 and "exited with status 3" in failed.out
    [record] = pipeline.deployments("staging")
    assert pipeline.states(record["id"]) == ["queued", "in_progress", "failure"]
    pipeline.attempt = 2
    assert pipeline.promote("staging", "1.0.0", "--run", "true").code == 0
    assert [d["id"] for d in pipeline.deployments("staging")] == [record["id"]]
    assert pipeline.states(record["id"]) == ["queued", "in_progress", "failure", "queued", "in_progress", "success"]


def test_missing_deployments_write_permission_is_named_and_nothing_is_written(pipeline, double):
    pipeline.release()
    double.register_token(pipeline.token, permissions={"contents": "write", "metadata": "read", "actions": "read"})
    denied = pipeline.promote("staging")
    assert denied.code == 3
    assert "deployments: write" in denied.out and "403" in denied.out
    assert pipeline.deployments() == []


def test_a_digest_changed_between_staging_and_production_is_refused(pipeline, double):
    pipeline.release()
    assert pipeline.promote("staging", "1.0.0", "--artifact", str(pipeline.artifact)).code == 0
    (pipeline.artifact / "app.txt").write_text("rebuilt\n")
    refused = pipeline.promote("production", "1.0.0", "--artifact", str(pipeline.artifact))
    assert refused.code == 7
    assert "is not release 1.0.0" in refused.out and "app.txt" in refused.out
    assert pipeline.deployments("production") == []


def test_a_tag_that_exists_with_other_content_is_refused_loudly(pipeline, double):
    assert pipeline.release("2.0.0").code == 0
    (pipeline.artifact / "app.txt").write_text("different build\n")
    conflict = pipeline.release("2.0.0")
    assert conflict.code == 5
    assert "tag 'v2.0.0' already exists with other content" in conflict.out and "bump" in conflict.out


def test_a_hand_made_tag_of_that_name_is_refused(pipeline, double):
    double.repo("acme/app").refs["refs/tags/v3.0.0"] = pipeline.sha
    conflict = pipeline.release("3.0.0")
    assert conflict.code == 5 and "not a cdhelper release tag" in conflict.out


def test_production_needs_the_same_digest_to_have_succeeded_in_staging(pipeline, double):
    pipeline.release()
    refused = pipeline.promote("production")
    assert refused.code == 7 and "never succeeded in staging" in refused.out
    assert pipeline.deployments() == []


def test_an_older_candidate_never_replaces_a_newer_one_except_by_explicit_rollback(pipeline, double):
    for version in ("1.0.0", "1.1.0"):
        (pipeline.artifact / "app.txt").write_text(f"build {version}\n")
        assert pipeline.release(version).code == 0
        pipeline.new_run(pipeline.run_id + 1)
        assert pipeline.promote("staging", version).code == 0
    pipeline.new_run(9000)
    older = pipeline.promote("staging", "1.0.0")
    assert older.code == 8
    assert "1.1.0 is live there" in older.out and "is newer" in older.out and "--rollback" in older.out
    back = pipeline.promote("staging", "1.0.0", "--rollback")
    assert back.code == 0, back.out
    latest = pipeline.deployments("staging")[-1]
    assert latest["payload"]["rollback_of"] == pipeline.deployments("staging")[1]["id"]
    assert latest["payload"]["previous"]["version"] == "1.1.0"


def test_rollback_to_a_version_never_live_there_is_refused(pipeline, double):
    pipeline.release("1.0.0")
    assert pipeline.promote("staging", "1.0.0").code == 0
    (pipeline.artifact / "app.txt").write_text("second\n")
    pipeline.release("0.9.0")
    refused = pipeline.promote("staging", "0.9.0", "--rollback")
    assert refused.code == 7 and "never live in staging" in refused.out


def test_unknown_version_or_environment_is_a_clear_error(pipeline, double):
    missing = pipeline.promote("staging", "9.9.9")
    assert missing.code == 4 and "tag 'v9.9.9' does not exist" in missing.out
    typo = pipeline.promote("prodution")
    assert typo.code == 2 and "'prodution' is not in the promotion path" in typo.out
    bad = pipeline.promote("staging", "1.2")
    assert bad.code == 2 and "'1.2' is not a SemVer 2.0 version" in bad.out


def test_deploy_command_gets_cd_variables_and_never_the_token(pipeline, double, tmp_path):
    pipeline.release()
    dump = tmp_path / "env.txt"
    ok = pipeline.promote("staging", "1.0.0", "--run", f'env > "{dump}"')
    assert ok.code == 0
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert seen["CD_ENVIRONMENT"] == "staging" and seen["CD_VERSION"] == "1.0.0"
    assert seen["CD_DIGEST"] == ok.outputs["digest"] and seen["CD_DEPLOYMENT_ID"] == ok.outputs["deployment-id"]
    assert pipeline.token not in dump.read_text()


def test_finish_closes_a_record_a_killed_job_left_in_progress(pipeline, double):
    pipeline.release()
    marker_dir = pipeline.tmp / "runner"
    double.inject(Fault("5xx", route="POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses", times=99))
    stuck = pipeline.promote("staging")
    assert stuck.code == 9
    double.clear_faults()
    [record] = pipeline.deployments("staging")
    assert pipeline.states(record["id"]) == ["queued"]  # queued went through GraphQL; every REST status failed
    assert list(marker_dir.glob("cdhelper-record-*.json"))
    done = pipeline.run("finish", "--job-status", "cancelled")
    assert done.code == 0
    assert pipeline.states(record["id"]) == ["queued", "error"]
    assert not list(marker_dir.glob("cdhelper-record-*.json"))
    double.reset_log()
    assert pipeline.run("finish").code == 0 and double.total_requests() == 0


def test_lost_deployment_response_is_reconciled_without_a_duplicate(pipeline, double):
    pipeline.release()
    double.inject(Fault("5xx", route="POST /repos/{owner}/{repo}/deployments", times=1, when="after"))
    assert pipeline.promote("staging").code == 0
    [record] = pipeline.deployments("staging")
    assert pipeline.states(record["id"]) == ["queued", "in_progress", "success"]


def test_lost_tag_ref_response_is_reconciled(pipeline, double):
    double.inject(Fault("reset", route="POST /repos/{owner}/{repo}/git/refs", times=1, when="after"))
    ok = pipeline.release()
    assert ok.code == 0, ok.out
    assert "refs/tags/v1.0.0" in double.repo("acme/app").refs


def test_status_shows_live_and_previous_good_per_environment(pipeline, double):
    for i, version in enumerate(("1.0.0", "1.1.0")):
        (pipeline.artifact / "app.txt").write_text(version)
        pipeline.release(version)
        pipeline.new_run(100 + i)
        pipeline.promote("staging", version)
        pipeline.promote("production", version)
    double.reset_log()
    shown = pipeline.run("status", "--json")
    assert shown.code == 0
    assert double.total_requests() == 1
    envs = {e["environment"]: e for e in shown.data["environments"]}
    assert envs["production"]["live"]["version"] == "1.1.0"
    assert envs["production"]["previous"]["version"] == "1.0.0"
    assert "What is live where" in shown.summary


def _release_config(pipeline):
    (pipeline.tmp / ".github").mkdir(exist_ok=True)
    (pipeline.tmp / ".github" / "cd.yml").write_text("tag: {release: true}\n")


def test_release_assets_are_published_once_with_their_digests(pipeline, double):
    _release_config(pipeline)
    first = pipeline.release()
    assert first.code == 0, first.out
    [release] = double.repo("acme/app").releases.values()
    assets = {double.repo("acme/app").assets[a]["name"]: double.repo("acme/app").assets[a] for a in release["assets"]}
    assert sorted(assets) == ["app.txt", "lib__core.bin"]
    assert assets["app.txt"]["data"] == (pipeline.artifact / "app.txt").read_bytes()
    assert first.outputs["release-url"].endswith("/releases/tag/v1.0.0")
    pipeline.attempt = 2
    double.reset_log()
    assert pipeline.release().code == 0
    assert double.counts()["POST /repos/{owner}/{repo}/releases/{release_id}/assets"] == 0
    assert len(release["assets"]) == 2


def test_a_release_asset_with_other_content_is_refused(pipeline, double):
    _release_config(pipeline)
    repo = double.repo("acme/app")
    repo.releases[77] = {"id": 77, "tag_name": "v1.0.0", "target_commitish": "main", "name": "x", "body": "",
                         "draft": False, "prerelease": False, "created_at": 0.0, "published_at": 0.0,
                         "author": "someone", "assets": [78]}
    repo.assets[78] = {"id": 78, "name": "app.txt", "label": "", "content_type": "text/plain", "data": b"other",
                       "uploader": "someone", "created_at": 0.0, "downloads": 0}
    refused = pipeline.release()
    assert refused.code == 5 and "already has an asset 'app.txt' with other content" in refused.out


def test_missing_gate_environment_is_explained(pipeline, double):
    pipeline.release()
    pipeline.promote("staging", mode="delivery")
    double.create_run("acme/app", run_id=4242)
    refused = pipeline.promote("production", mode="delivery")
    assert refused.code == 6
    assert "'production-approval' does not exist" in refused.out and "required reviewers" in refused.out


def test_gate_environment_without_reviewers_is_explained(pipeline, double):
    double.set_environment("acme/app", "production-approval")
    pipeline.release()
    pipeline.promote("staging", mode="delivery")
    double.create_run("acme/app", run_id=4242)
    refused = pipeline.promote("production", mode="delivery")
    assert refused.code == 6 and "has no required reviewers, so the gate job ran without asking anyone" in refused.out


def test_sweep_closes_records_a_lost_runner_left_open_and_nothing_else(pipeline, double):
    pipeline.release()
    double.world.clock.offset = -7 * 3600  # this promotion happened seven hours ago
    double.inject(Fault("5xx", route="POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses", times=99))
    assert pipeline.promote("staging").code == 9  # the runner "dies": its record stays queued
    double.clear_faults()
    double.world.clock.offset = 0
    [stuck] = pipeline.deployments("staging")
    young = pipeline.run("sweep", "--older-than-hours", "8")
    assert young.code == 0 and young.outputs["closed"] == "0" and pipeline.states(stuck["id"]) == ["queued"]
    swept = pipeline.run("sweep")
    assert swept.code == 0 and swept.outputs["closed"] == "1"
    assert pipeline.states(stuck["id"]) == ["queued", "error"]
    assert "Abandoned record" in swept.out
    double.reset_log()
    assert pipeline.run("sweep").outputs["closed"] == "0" and double.total_requests() == 1


def test_an_ungated_environment_in_delivery_mode_is_not_called_continuous_deployment(pipeline, double):
    pipeline.release()
    staging = pipeline.promote("staging", mode="delivery")
    assert staging.code == 0, staging.out
    assert "Continuous Deployment" not in staging.summary
    assert "not gated: staging is promoted without approval in delivery mode too" in staging.summary.replace("\\", "")
    deployed = pipeline.promote("production")  # deployment mode: that one is Continuous Deployment
    assert "no human gate (Continuous Deployment)" in deployed.summary.replace("\\", "")


def test_the_gate_jobs_own_refusal_does_not_tell_it_to_depend_on_itself(pipeline, double):
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    double.create_run("acme/app", run_id=4242)
    refused = pipeline.run("gate", "--mode", "delivery", "--verify")
    assert refused.code == 6, refused.out
    assert "holds none" in refused.out and "`needs:` it" not in refused.out
    assert "bind this gate job to `environment: {name: production-approval, deployment: false}`" in refused.out
    pipeline.release()
    pipeline.promote("staging", mode="delivery")
    promoted = pipeline.promote("production", mode="delivery")  # the production job: it must need the gate job
    assert promoted.code == 6 and "(`needs:` it)" in promoted.out
