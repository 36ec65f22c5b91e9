"""The outside security review, finding by finding: each test performs the attack, then shows it
refused. (The launcher, token isolation, digest, version and escaping findings have their own files.)"""

from __future__ import annotations

import json

import pytest
import requests

from cdhelper.release.tagging import Candidate
from tests.conftest import SENTINEL
from tests.escapes import ESCAPES, kill_marked, marked_alive

BOT = "github-actions[bot]"


class Forger:
    """Someone else's token talking to the same repository: a PAT, another App, a stray workflow."""

    def __init__(self, double, login: str = "mallory", kind: str = "user", permissions=None, token: str = "forged"):
        double.register_token(SENTINEL)  # the pipeline's own token stays the Actions bot, unrestricted
        double.register_token(token, login=login, kind=kind, permissions=permissions)
        self.url, self.headers = f"{double.url}/repos/acme/app", {"Authorization": f"token {token}"}

    def post(self, path: str, body: dict) -> dict:
        answer = requests.post(self.url + path, json=body, headers=self.headers, timeout=5)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def deployment(self, environment: str, payload: dict, sha: str, state: str = "success") -> int:
        made = self.post("/deployments", {"ref": sha, "environment": environment, "payload": payload,
                                          "required_contexts": [], "auto_merge": False})
        self.post(f"/deployments/{made['id']}/statuses", {"state": state})
        return made["id"]


def _config(pipeline, text: str) -> None:
    (pipeline.tmp / ".github").mkdir(exist_ok=True)
    (pipeline.tmp / ".github" / "cd.yml").write_text(text)


def _gate(double, *, reviewers=("alice",), prevent_self_review=True, actor="bob", run_id=4242):
    double.set_environment("acme/app", "production-approval", reviewers=list(reviewers),
                           prevent_self_review=prevent_self_review)
    double.create_run("acme/app", run_id=run_id, actor=actor, waiting_on=["production-approval"])


def _approved_by(pipeline, double, reviewer: str, *, actor: str, comment: str = ""):
    """Release, stage, let `reviewer` approve the gate, and promote to production as run by `actor`."""
    assert pipeline.release().code == 0
    assert pipeline.promote("staging", mode="delivery").code == 0
    double.review("acme/app", 4242, "production-approval", reviewer, comment=comment)
    return pipeline.promote("production", mode="delivery", GITHUB_ACTOR=actor)


def _payload_like(pipeline, record: dict, **changes) -> dict:
    return {**record["payload"], **changes}


# --- 2. the deployed commit's cd.yml cannot switch the production gate off ----------------------

def test_gate_protects_naming_another_environment_is_refused_and_production_stays_gated(pipeline, double):
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    _config(pipeline, "gate: {protects: [staging]}\n")
    double.create_run("acme/app", run_id=4242)
    refused = pipeline.promote("production", mode="delivery")
    assert refused.code == 2, refused.out
    assert "gate/protects" in refused.out and "leave 'production' ungated" in refused.out
    assert pipeline.deployments("production") == []


def test_an_environment_after_production_does_not_ungate_production(pipeline, double):
    _config(pipeline, "environments: [{name: staging}, {name: production}, {name: afterwards}]\n")
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    double.create_run("acme/app", run_id=4242)
    refused = pipeline.promote("production", mode="delivery")
    assert refused.code == 6, refused.out
    assert pipeline.deployments("production") == []


def test_production_false_on_the_last_environment_is_refused(pipeline, double):
    _config(pipeline, "environments: [{name: staging}, {name: live, production: false}]\n")
    refused = pipeline.promote("staging")
    assert refused.code == 2 and "production: false" in refused.out and "'live'" in refused.out


def test_the_workflow_can_mark_a_promotion_gated_whatever_cd_yml_says(pipeline, double):
    _config(pipeline, "environments: [{name: staging}, {name: prod}, {name: canary}]\n")
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    double.create_run("acme/app", run_id=4242)
    refused = pipeline.promote("prod", "1.0.0", "--gated", mode="delivery")
    assert refused.code == 6, refused.out
    assert pipeline.deployments("prod") == []
    ungated = pipeline.promote("prod", "1.0.0", "--gated", mode="deployment")
    assert ungated.code == 0, ungated.out  # Continuous Deployment: the workflow skips the gate job


def test_cd_yml_cannot_redirect_the_gate_to_another_environment(pipeline, double):
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    _config(pipeline, "gate: {environment: docs-approval}\n")
    double.create_run("acme/app", run_id=4242)
    refused = pipeline.promote("production", mode="delivery")
    assert refused.code == 2 and "'docs-approval'" in refused.out and "gate-environment" in refused.out


# --- 3. forged evidence and records are not trusted ----------------------------------------------

def test_a_statuses_write_token_cannot_satisfy_required_contexts(pipeline, double):
    _config(pipeline, "environments: [{name: staging}, {name: production, required-contexts: [acceptance]}]\n")
    forger = Forger(double, permissions={"statuses": "write", "metadata": "read"})
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    forger.post(f"/statuses/{pipeline.sha}", {"state": "success", "context": "acceptance"})
    refused = pipeline.promote("production")
    assert refused.code == 7, refused.out
    assert "acceptance" in refused.out and "mallory" in refused.out
    assert pipeline.deployments("production") == []
    pipeline.run("report-check", "--context", "acceptance")  # the acceptance job, with the Actions token
    assert pipeline.promote("production").code == 0


def test_a_forged_staging_success_does_not_let_an_unstaged_version_reach_production(pipeline, double):
    forger = Forger(double, permissions={"deployments": "write", "metadata": "read"})
    assert pipeline.release("1.0.0").code == 0
    assert pipeline.promote("staging", "1.0.0").code == 0
    (pipeline.artifact / "app.txt").write_text("never staged\n")
    assert pipeline.release("1.1.0").code == 0
    unstaged = Candidate.from_message("v1.1.0", double.repo("acme/app").tag_object(
        double.repo("acme/app").refs["refs/tags/v1.1.0"])["message"])
    [staged] = pipeline.deployments("staging")
    forged = forger.deployment("staging", _payload_like(pipeline, staged, version="1.1.0", digest=unstaged.manifest,
                                                        tag="v1.1.0"), pipeline.sha)
    refused = pipeline.promote("production", "1.1.0")
    assert refused.code == 7, refused.out
    assert "never succeeded in staging" in refused.out
    assert f"deployment {forged}" in refused.out and "mallory" in refused.out  # says which record was ignored
    assert pipeline.deployments("production") == []


def test_a_forged_success_status_on_a_failed_staging_record_is_not_evidence(pipeline, double):
    forger = Forger(double, permissions={"deployments": "write", "metadata": "read"})
    assert pipeline.release().code == 0
    assert pipeline.promote("staging", "1.0.0", "--run", "exit 1").code == 10
    [failed] = pipeline.deployments("staging")
    forger.post(f"/deployments/{failed['id']}/statuses", {"state": "success"})
    refused = pipeline.promote("production")
    assert refused.code == 7 and "never succeeded in staging" in refused.out


def test_a_forged_production_record_neither_blocks_promotions_nor_shows_a_fake_approver(pipeline, double):
    forger = Forger(double, login="evil-app[bot]", kind="integration",
                    permissions={"deployments": "write", "metadata": "read"})
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    [staged] = pipeline.deployments("staging")
    fake = forger.deployment("production", _payload_like(
        pipeline, staged, version="99.0.0", environment="production",
        gate={"required": True, "environment": "production-approval",
              "approvers": [{"login": "the-cto", "comment": "ship it"}]}), pipeline.sha)
    done = pipeline.promote("production")
    assert done.code == 0, done.out
    assert f"deployment {fake}" in done.out and "evil-app" in done.out  # the ignored record is named
    shown = pipeline.run("status", "--json")
    production = {e["environment"]: e for e in shown.data["environments"]}["production"]
    assert production["live"]["version"] == "1.0.0"
    assert "the-cto" not in shown.out and "99.0.0" not in shown.out


def test_a_record_naming_a_run_of_another_repository_is_not_evidence(pipeline, double):
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    [staged] = pipeline.deployments("staging")
    run = dict(staged["payload"]["run"], url="https://github.example/someone/else/actions/runs/4242")
    staged["payload"] = {**staged["payload"], "run": run}  # as if copied from another repository's run
    refused = pipeline.promote("production")
    assert refused.code == 7 and "another repository" in refused.out


def test_records_of_a_configured_app_count_when_the_workflow_names_it(pipeline, double):
    app = Forger(double, login="deployer-app[bot]", kind="integration", token="app-token")
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    [staged] = pipeline.deployments("staging")
    (pipeline.artifact / "app.txt").write_text("deployed by the app\n")
    assert pipeline.release("1.1.0").code == 0
    tag = double.repo("acme/app").tag_object(double.repo("acme/app").refs["refs/tags/v1.1.0"])
    candidate = Candidate.from_message("v1.1.0", tag["message"])
    app.deployment("staging", _payload_like(pipeline, staged, version="1.1.0", digest=candidate.manifest,
                                            tag="v1.1.0"), pipeline.sha)
    assert pipeline.promote("production", "1.1.0").code == 7
    trusted = pipeline.promote("production", "1.1.0", "--trusted-writer", "deployer-app[bot]")
    assert trusted.code == 0, trusted.out


# --- 5. self-approval is re-verified ---------------------------------------------------------------

def test_the_commit_author_approving_someone_elses_push_is_refused(pipeline, double):
    repo = double.repo("acme/app")
    double.world.register_email("carol@example.com", "carol")
    pipeline.sha = double.world.add_commit(repo, "carol's change", branch="main", author=("Carol", "carol@example.com"))
    _gate(double, reviewers=["carol", "alice"], actor="dave")
    refused = _approved_by(pipeline, double, "carol", actor="dave", comment="mine, looks fine")
    assert refused.code == 6, refused.out
    assert "carol" in refused.out and "author" in refused.out
    assert pipeline.deployments("production") == []


def test_the_run_actor_approving_their_own_run_is_refused(pipeline, double):
    _gate(double, reviewers=["bob"], prevent_self_review=False, actor="bob")
    refused = _approved_by(pipeline, double, "bob", actor="bob")
    assert refused.code == 6 and "prevent self-review" in refused.out


def test_the_gate_requires_prevent_self_review_on_the_gate_environment(pipeline, double):
    _gate(double, reviewers=["alice"], prevent_self_review=False, actor="bob")
    double.review("acme/app", 4242, "production-approval", "alice")
    refused = pipeline.run("gate", "--mode", "delivery", "--verify", GITHUB_ACTOR="bob")
    assert refused.code == 6 and "prevent self-review" in refused.out and "Settings" in refused.out


def test_an_approval_by_another_reviewer_passes_and_is_recorded(pipeline, double):
    _gate(double, reviewers=["alice", "bob"], actor="bob")
    done = _approved_by(pipeline, double, "alice", actor="bob", comment="LGTM")
    assert done.code == 0, done.out
    assert done.outputs["approved-by"] == "alice"


# --- 8. a tag is promoted on the commit it really points at ---------------------------------------

def test_a_tag_whose_message_names_another_commit_is_refused(pipeline, double):
    repo = double.repo("acme/app")
    assert pipeline.release().code == 0
    other = double.world.add_commit(repo, "something else", branch="elsewhere")
    message = repo.tag_object(repo.refs["refs/tags/v1.0.0"])["message"]
    forged = requests.post(f"{double.url}/repos/acme/app/git/tags", timeout=5, headers={"Authorization": "token t"},
                           json={"tag": "v1.0.1", "message": message.replace("1.0.0", "1.0.1"), "object": other,
                                 "type": "commit"}).json()
    requests.post(f"{double.url}/repos/acme/app/git/refs", timeout=5, headers={"Authorization": "token t"},
                  json={"ref": "refs/tags/v1.0.1", "sha": forged["sha"]})
    refused = pipeline.promote("staging", "1.0.1")
    assert refused.code == 7, refused.out
    assert other[:12] in refused.out and pipeline.sha[:12] in refused.out
    assert pipeline.deployments() == []


# --- 10. finish closes only this run's in-flight record, read back from GitHub ---------------------

def test_finish_never_touches_a_record_that_succeeded_even_if_the_marker_says_so(pipeline, double):
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    [record] = pipeline.deployments("staging")
    marker = pipeline.tmp / "runner" / "cdhelper-record-staging.json"
    marker.write_text(json.dumps({"deployment_id": record["id"], "environment": "staging", "version": "1.0.0"}))
    assert pipeline.run("finish", "--job-status", "failure").code == 0
    assert pipeline.states(record["id"]) == ["queued", "in_progress", "success"]


def test_finish_ignores_a_marker_rewritten_to_point_at_another_runs_live_record(pipeline, double):
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    assert pipeline.promote("production").code == 0
    [live] = pipeline.deployments("production")
    pipeline.new_run(5151)
    marker = pipeline.tmp / "runner" / "cdhelper-record-production.json"
    marker.write_text(json.dumps({"deployment_id": live["id"], "environment": "production", "version": "1.0.0"}))
    assert pipeline.run("finish", "--job-status", "cancelled").code == 0
    assert pipeline.states(live["id"])[-1] == "success"


def test_finish_closes_this_runs_record_even_without_a_marker_when_the_job_failed(pipeline, double):
    from cdhelper.devtools.double import Fault
    assert pipeline.release().code == 0
    double.inject(Fault("5xx", route="POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses", times=99))
    assert pipeline.promote("staging").code == 9
    double.clear_faults()
    for marker in (pipeline.tmp / "runner").glob("cdhelper-record-*.json"):
        marker.unlink()  # a deploy command deleted it
    [record] = pipeline.deployments("staging")
    assert pipeline.run("finish", "--job-status", "failure").code == 0  # no environment named: markers only
    assert pipeline.states(record["id"]) == ["queued"]
    assert pipeline.run("finish", "--job-status", "failure", "--environment", "staging").code == 0
    assert pipeline.states(record["id"]) == ["queued", "failure"]


# --- 11. status survives environments whose last good record is no longer live --------------------

@pytest.mark.parametrize("state", ["inactive", "error"])
def test_status_with_a_once_successful_record_that_is_not_live_now(pipeline, double, state):
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    [record] = pipeline.deployments("staging")
    requests.post(f"{double.url}/repos/acme/app/deployments/{record['id']}/statuses", timeout=5,
                  headers={"Authorization": "token t"}, json={"state": state})
    shown = pipeline.run("status", "--json")
    assert shown.code == 0, shown.out
    staging = {e["environment"]: e for e in shown.data["environments"]}["staging"]
    assert staging["live"] is None and staging["latest"]["state"] == state


# --- 12. build metadata never decides ordering -------------------------------------------------------

def test_equal_precedence_is_not_newer(pipeline, double):
    assert pipeline.release("2.0.0+build.2").code == 0
    assert pipeline.promote("staging", "2.0.0+build.2").code == 0
    (pipeline.artifact / "app.txt").write_text("another build\n")
    assert pipeline.release("2.0.0+build.1").code == 0
    pipeline.new_run(4343)
    refused = pipeline.promote("staging", "2.0.0+build.1")
    assert refused.code == 8, refused.out
    assert "2.0.0+build.2" in refused.out and "--rollback" in refused.out


# --- 13. CD_MODE is exactly delivery, deployment or empty ------------------------------------------

@pytest.mark.parametrize("mode", [" deployment", "Deployment", "DEPLOYMENT", "deployment\n", "Delivery"])
def test_cd_mode_other_than_the_exact_values_fails(pipeline, double, mode):
    assert pipeline.release().code == 0
    before = len(pipeline.deployments())
    refused = pipeline.promote("staging", mode=mode)
    assert refused.code == 2 and "is not recognised" in refused.out
    assert len(pipeline.deployments()) == before


# --- 15. report-check validates its inputs before any request ----------------------------------------

@pytest.mark.parametrize("argv, env, text", [
    (["--commit", "../../deployments"], {}, "'../../deployments'"),
    (["--commit", "abc123"], {}, "'abc123'"),
    ([], {"INPUT_STATE": "bogus"}, "'bogus'"),
    ([], {"INPUT_STATE": "inactive"}, "'inactive'"),
])
def test_report_check_refuses_bad_commit_or_state_before_any_request(pipeline, double, argv, env, text):
    double.reset_log()
    refused = pipeline.run("report-check", "--context", "acceptance", *argv, **env)
    assert refused.code == 2 and text in refused.out and " Fix: " in refused.out
    assert double.total_requests() == 0


# --- 4 (part). the deploy command's environment is scrubbed ------------------------------------------

def test_deploy_command_environment_holds_no_token_or_action_inputs(pipeline, double, tmp_path):
    assert pipeline.release().code == 0
    dump = tmp_path / "env.txt"
    ok = pipeline.promote("staging", "1.0.0", "--run", f'env > "{dump}"', GH_TOKEN=SENTINEL,
                          INPUT_GITHUB_TOKEN=SENTINEL, INPUT_REGISTRY_PASSWORD="registry-secret-42",
                          GITHUB_ENTERPRISE_TOKEN=SENTINEL)
    assert ok.code == 0, ok.out
    seen = dump.read_text()
    assert SENTINEL not in seen and "registry-secret-42" not in seen
    assert not [line for line in seen.splitlines() if line.startswith(("INPUT_", "CDHELPER_SECRETS_FD"))]
    assert "CD_VERSION=1.0.0" in seen


# --- 16. files the runner gives us: refused up front, or never fatal after the deployment ---------------

def test_an_unwritable_output_file_is_refused_before_anything_is_written(pipeline, double, tmp_path):
    assert pipeline.release().code == 0
    before = len(pipeline.deployments())
    refused = pipeline.run("promote", "--environment", "staging", "--version", "1.0.0", "--mode", "deployment",
                           actions=False, GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(tmp_path / "missing" / "out"))
    assert refused.code == 2 and "GITHUB_OUTPUT" in refused.out and " Fix: " in refused.out
    assert len(pipeline.deployments()) == before


def test_an_unwritable_summary_never_fails_a_deployment(pipeline, double, tmp_path):
    assert pipeline.release().code == 0
    (tmp_path / "summary-dir").mkdir()
    done = pipeline.run("promote", "--environment", "staging", "--version", "1.0.0", "--mode", "deployment",
                        actions=False, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(tmp_path / "summary-dir"))
    assert done.code == 0, done.out + done.err
    assert "Traceback" not in done.out + done.err and "summary" in (done.out + done.err).lower()
    [record] = pipeline.deployments("staging")
    assert pipeline.states(record["id"])[-1] == "success"


def test_the_deploy_command_cannot_set_outputs_or_the_environment_of_later_steps(pipeline, double, tmp_path):
    assert pipeline.release().code == 0
    job_env, job_path = tmp_path / "github_env", tmp_path / "github_path"
    job_env.write_text("")
    job_path.write_text("")
    attack = ('echo "LD_PRELOAD=/tmp/evil.so" >> "$GITHUB_ENV"; echo /tmp/evil-bin >> "$GITHUB_PATH"; '
              'echo "deployment-id=666" >> "$GITHUB_OUTPUT"; echo "environment-url=https://evil.example" >> "$GITHUB_OUTPUT"')
    done = pipeline.promote("staging", "1.0.0", "--run", attack, GITHUB_ENV=str(job_env), GITHUB_PATH=str(job_path))
    assert done.code == 0, done.out
    assert job_env.read_text() == "" and job_path.read_text() == ""
    [record] = pipeline.deployments("staging")
    assert done.outputs["deployment-id"] == str(record["id"]) and "evil" not in json.dumps(done.outputs)


def test_nothing_the_deploy_command_leaves_running_outlives_it(pipeline, double, tmp_path):
    """A background process that outlives the deploy command could read a later step's token from
    /proc or rewrite the files later steps run: the double fork and setsid do not save it."""
    assert pipeline.release().code == 0
    late = tmp_path / "late"
    poller = f'sleep 1.5; echo alive > "{late}"'
    attack = (f"(setsid nohup bash -c '{poller}' >/dev/null 2>&1 &); "
              f"(bash -c '{poller}' &); nohup bash -c '{poller}' >/dev/null 2>&1 &")
    done = pipeline.promote("staging", "1.0.0", "--run", attack)
    assert done.code == 0, done.out
    import time
    time.sleep(2.5)
    assert not late.exists(), "a process the deploy command left behind was still running"


# --- the second review: records moved, flooded or shadowed by other tokens ---------------------------

def _two_versions_live(pipeline):
    """1.0.0 and 2.0.0 released; 2.0.0 live in production (run 5000); then run 6000 tries 1.0.0."""
    assert pipeline.release("1.0.0").code == 0
    assert pipeline.promote("staging", "1.0.0").code == 0
    (pipeline.artifact / "app.txt").write_text("v2\n")
    assert pipeline.release("2.0.0").code == 0
    pipeline.new_run(5000)
    assert pipeline.promote("staging", "2.0.0").code == 0
    assert pipeline.promote("production", "2.0.0").code == 0
    [live] = pipeline.deployments("production")
    pipeline.new_run(6000)
    assert pipeline.promote("production", "1.0.0").code == 8
    return live


def test_a_status_moving_our_record_to_another_environment_does_not_make_it_evidence_there(pipeline, double):
    _config(pipeline, "environments: [{name: qa}, {name: staging}, {name: production}]\n")
    forger = Forger(double, permissions={"deployments": "write", "metadata": "read"})
    assert pipeline.release("1.1.0").code == 0
    assert pipeline.promote("qa", "1.1.0").code == 0
    [qa] = pipeline.deployments("qa")
    forger.post(f"/deployments/{qa['id']}/statuses", {"state": "success", "environment": "staging"})
    refused = pipeline.promote("production", "1.1.0")
    assert refused.code == 7 and "never succeeded in staging" in refused.out, refused.out
    assert "counts for qa" in refused.out


def test_a_status_moving_the_live_record_away_does_not_hide_it(pipeline, double):
    forger = Forger(double, permissions={"deployments": "write", "metadata": "read"})
    live = _two_versions_live(pipeline)
    forger.post(f"/deployments/{live['id']}/statuses", {"state": "success", "environment": "elsewhere"})
    refused = pipeline.promote("production", "1.0.0")
    assert refused.code == 8 and "2.0.0 is live there" in refused.out, refused.out


def test_a_flood_of_foreign_deployments_cannot_hide_the_live_record(pipeline, double):
    forger = Forger(double, permissions={"deployments": "write", "metadata": "read"})
    _two_versions_live(pipeline)
    for _ in range(50):
        forger.post("/deployments", {"ref": pipeline.sha, "environment": "production", "required_contexts": [],
                                     "auto_merge": False})
    refused = pipeline.promote("production", "1.0.0")
    assert refused.code == 7, refused.out
    assert "cannot tell what is live" in refused.out and "mallory" in refused.out


def test_a_flood_of_foreign_statuses_makes_the_record_unknown_and_sweep_leaves_it(pipeline, double):
    forger = Forger(double, permissions={"deployments": "write", "metadata": "read"})
    live = _two_versions_live(pipeline)
    for _ in range(50):
        forger.post(f"/deployments/{live['id']}/statuses", {"state": "in_progress"})
    refused = pipeline.promote("production", "1.0.0")
    assert refused.code == 7 and "out of sight" in refused.out, refused.out
    double.world.clock.offset = 9 * 3600
    swept = pipeline.run("sweep")
    assert swept.code == 0 and swept.outputs["closed"] == "0"
    assert pipeline.states(live["id"])[-1] == "in_progress"  # the forger's, untouched by cdhelper


def test_a_co_author_beyond_the_first_page_cannot_approve(pipeline, double):
    repo = double.repo("acme/app")
    double.world.register_email("carol@example.com", "carol")
    fillers = "".join(f"Co-authored-by: Filler {i} <filler{i}@example.com>\n" for i in range(10))
    pipeline.sha = double.world.add_commit(
        repo, f"carol's change\n\n{fillers}Co-authored-by: Carol <carol@example.com>\n", branch="main",
        author=("Dave", "dave@example.com"))
    _gate(double, reviewers=["carol", "alice"], actor="dave")
    refused = _approved_by(pipeline, double, "carol", actor="dave")
    assert refused.code == 6 and "carol" in refused.out


def test_a_tag_whose_message_names_another_version_is_refused(pipeline, double):
    assert pipeline.release("1.0.0").code == 0
    repo = double.repo("acme/app")
    message = repo.tag_object(repo.refs["refs/tags/v1.0.0"])["message"]
    auth = {"Authorization": "token t"}
    made = requests.post(f"{double.url}/repos/acme/app/git/tags", timeout=5, headers=auth,
                         json={"tag": "v9.0.0", "message": message, "object": pipeline.sha, "type": "commit"}).json()
    requests.post(f"{double.url}/repos/acme/app/git/refs", timeout=5, headers=auth,
                  json={"ref": "refs/tags/v9.0.0", "sha": made["sha"]})
    refused = pipeline.promote("staging", "9.0.0")
    assert refused.code == 7 and "records version '1.0.0'" in refused.out
    assert pipeline.deployments() == []


def test_a_marker_replaced_by_a_directory_is_no_internal_error(pipeline, double):
    assert pipeline.release().code == 0
    marker = pipeline.tmp / "runner" / "cdhelper-record-staging.json"
    done = pipeline.promote("staging", "1.0.0", "--run", f'rm -f "{marker}"; mkdir "{marker}"')
    assert done.code == 0, done.out
    closed = pipeline.run("finish", "--job-status", "failure", "--environment", "staging")
    assert closed.code == 0, closed.out
    [record] = pipeline.deployments("staging")
    assert pipeline.states(record["id"])[-1] == "success"


@pytest.mark.parametrize("target", ["/proc/self/mem", "/proc/self/task", "/dev/zero"])
def test_a_pushed_cd_yml_linking_to_a_special_file_is_a_clear_error(pipeline, double, target):
    (pipeline.tmp / ".github").mkdir(exist_ok=True)
    (pipeline.tmp / ".github" / "cd.yml").symlink_to(target)
    refused = pipeline.promote("staging", "1.0.0")
    assert refused.code == 2 and " Fix: " in refused.out, refused.out


@pytest.mark.parametrize("backoff", ["nan", "-1", "1e308", "inf"])
def test_an_unusable_retry_delay_is_refused_before_any_request(pipeline, double, backoff):
    double.reset_log()
    refused = pipeline.release("1.0.0", CDHELPER_BACKOFF=backoff)
    assert refused.code == 2 and "CDHELPER_BACKOFF" in refused.out
    assert double.total_requests() == 0


# --- containment: what a user command leaves running cannot outrun the clean-up (containment.py) -------

@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="Linux containment")
@pytest.mark.parametrize("mechanism", __import__("cdhelper.containment", fromlist=["x"]).available())
def test_nothing_a_user_command_leaves_running_outruns_the_containment(mechanism):
    import os
    import uuid

    from cdhelper import hooks
    mark = f"CDHELPER_TEST_MARK={uuid.uuid4()}"
    env = {"PATH": os.environ["PATH"], mark.split("=")[0]: mark.split("=")[1]}
    try:
        code = hooks._contained(["bash", "-c", ESCAPES], env, mechanism=mechanism)
        assert code == 0
        assert marked_alive(mark) == [], f"survivors under {mechanism}"
    finally:
        kill_marked(mark)


def test_a_process_the_helper_cannot_kill_fails_the_step_in_one_line(monkeypatch, capsys):
    """A survivor (one the helper may not signal, e.g. root through sudo) is reported and the command fails."""
    import os

    from cdhelper import containment, hooks
    monkeypatch.setattr(containment.Box, "stop", lambda self, session: (self.close(), [4242])[1])
    code = hooks._contained(["bash", "-c", "exit 0"], {"PATH": os.environ["PATH"]})
    err = capsys.readouterr().err
    assert code == hooks.SURVIVED and err.count("\n") == 1 and "survived" in err and "4242" in err, err


def test_a_deploy_command_whose_leftovers_survive_closes_the_record_as_failed(pipeline, double, monkeypatch):
    from cdhelper import containment
    assert pipeline.release().code == 0
    monkeypatch.setattr(containment.Box, "stop", lambda self, session: (self.close(), [4242])[1])
    done = pipeline.promote("staging", "1.0.0", "--run", "true")
    assert done.code != 0 and "survived" in done.err, done.out + done.err
    [record] = pipeline.deployments("staging")
    assert pipeline.states(record["id"])[-1] in ("failure", "error")
