"""The settings rules against the GitHub double: each with a misconfigured and a correct setup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from cdhelper.cli import main as cli

TEMPLATE = Path(__file__).parent / "layouts" / "split-pipeline.yml"  # the template pipeline in the split layout
DOCTOR = "ghs_doctor_token"  # what a workflow's job token gets with `actions: read`
ADMIN = "ghp_admin_token"  # unrestricted, sets the scene (and reads variables, as a PAT can)


@pytest.fixture
def repo(double, monkeypatch):
    double.register_token(DOCTOR, permissions={"actions": "read", "contents": "read", "metadata": "read"})
    double.register_token(ADMIN, login="octo-admin", kind="user")
    for name in ("staging", "production"):
        double.set_environment("acme/app", name)
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    monkeypatch.setenv("GITHUB_API_URL", double.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/app")
    monkeypatch.setenv("CDHELPER_BACKOFF", "0.001")
    return double


def set_variable(double, value: str) -> None:
    response = requests.post(f"{double.url}/repos/acme/app/actions/variables", timeout=10,
                             headers={"Authorization": f"token {ADMIN}"}, json={"name": "CD_MODE", "value": value})
    assert response.status_code == 201, response.text


def doctor(capsys, monkeypatch, token: str, *argv: str) -> tuple[int, dict]:
    monkeypatch.setenv("GITHUB_TOKEN", token)
    capsys.readouterr()
    code = cli.main(["doctor", "--workflows", str(TEMPLATE), "--json", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)


def rules(data: dict) -> list[str]:
    return [f["rule"] for f in data["findings"]]


def test_a_correct_repository_has_no_finding(repo, capsys, monkeypatch):
    set_variable(repo, "deployment")
    code, data = doctor(capsys, monkeypatch, ADMIN)
    assert code == 0 and rules(data) == []
    assert data["settings"] == {"checked": True, "repository": "acme/app", "notes": []}


def test_gate_without_required_reviewers(repo, capsys, monkeypatch):
    repo.set_environment("acme/app", "production-approval", reviewers=[], prevent_self_review=False)
    code, data = doctor(capsys, monkeypatch, ADMIN)
    assert code == 2 and rules(data) == ["gate-reviewers-missing"]
    assert data["findings"][0]["file"] is None and data["findings"][0]["line"] is None


def test_gate_without_prevent_self_review(repo, capsys, monkeypatch):
    repo.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=False)
    code, data = doctor(capsys, monkeypatch, ADMIN)
    assert code == 2 and rules(data) == ["gate-self-review-allowed"]


def test_environments_of_the_path_and_the_gate_must_exist(double, capsys, monkeypatch):
    double.register_token(ADMIN, login="octo-admin", kind="user")
    double.set_environment("acme/app", "staging")
    monkeypatch.setenv("GITHUB_API_URL", double.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/app")
    code, data = doctor(capsys, monkeypatch, ADMIN)
    assert code == 2 and rules(data) == ["environment-missing", "environment-missing"]
    assert ["'production'" in data["findings"][0]["message"], "'production-approval'" in data["findings"][1]["message"]] \
        == [True, True]


@pytest.mark.parametrize("value, found", [("deploy", ["cd-mode-unknown"]), ("Deployment", ["cd-mode-unknown"]),
                                          ("delivery", []), ("", [])])
def test_cd_mode_variable(repo, capsys, monkeypatch, value, found):
    set_variable(repo, value)
    code, data = doctor(capsys, monkeypatch, ADMIN)
    assert rules(data) == found and code == (2 if found else 0)


def test_cd_mode_unset_is_delivery(repo, capsys, monkeypatch):
    code, data = doctor(capsys, monkeypatch, ADMIN)
    assert code == 0 and rules(data) == []


def test_a_job_token_cannot_read_variables_so_the_mode_is_passed_in(repo, capsys, monkeypatch):
    set_variable(repo, "deploy")
    code, data = doctor(capsys, monkeypatch, DOCTOR)
    assert code == 0 and rules(data) == []  # not readable: said, not guessed
    assert any("CD_MODE not checked" in note for note in data["settings"]["notes"])
    code, data = doctor(capsys, monkeypatch, DOCTOR, "--mode", "deploy")
    assert code == 2 and rules(data) == ["cd-mode-unknown"]


def test_a_token_that_cannot_read_environments_is_a_note_not_a_crash(repo, capsys, monkeypatch):
    repo.register_token("ghs_bare", permissions={"contents": "read"})
    code, data = doctor(capsys, monkeypatch, "ghs_bare", "--mode", "")
    assert code == 0 and rules(data) == []
    assert any(note.startswith("environments not checked") for note in data["settings"]["notes"])


def test_settings_are_only_read_in_two_requests(repo, capsys, monkeypatch):
    set_variable(repo, "delivery")
    repo.reset_log()
    doctor(capsys, monkeypatch, ADMIN)
    assert repo.writes() == 0
    assert repo.total_requests() == 2  # the environments (one page) and the variable


def test_the_gate_the_workflow_names_is_the_one_checked(repo, capsys, monkeypatch, tmp_path):
    workflow = tmp_path / "cd.yml"
    workflow.write_text(TEMPLATE.read_text().replace("production-approval", "release-approval"))
    monkeypatch.setenv("GITHUB_TOKEN", ADMIN)
    capsys.readouterr()
    code = cli.main(["doctor", "--workflows", str(workflow), "--json", "--mode", ""])
    data = json.loads(capsys.readouterr().out)
    assert code == 2 and data["contract"]["gate_environments"] == ["release-approval"]
    assert [(f["rule"], f["message"]) for f in data["findings"]] == [
        ("environment-missing", "the gate environment 'release-approval' does not exist")]


HOLD_CD_YML = """version: 1
environments:
  - name: staging
  - name: production
    hooks: {deploy: ./deploy.sh, shift-traffic: ./shift.sh}
    strategy:
      canary:
        steps: [{weight: 20}, {pause: hold}, {weight: 100}]
"""


def hold_doctor(capsys, monkeypatch, tmp_path, cd_yml: str = HOLD_CD_YML, *workflows: Path) -> tuple[int, dict]:
    config = tmp_path / "cd.yml"
    config.write_text(cd_yml)
    monkeypatch.setenv("GITHUB_TOKEN", ADMIN)
    capsys.readouterr()
    argv = [arg for path in (TEMPLATE, *workflows) for arg in ("--workflows", str(path))]
    code = cli.main(["doctor", *argv, "--config", str(config), "--json", "--mode", ""])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)


def test_a_hold_needs_the_soak_environment(repo, capsys, monkeypatch, tmp_path):
    """The reported setup: doctor said 0 errors while the soak environment did not exist."""
    code, data = hold_doctor(capsys, monkeypatch, tmp_path)
    assert code == 2 and rules(data) == ["environment-missing"]
    assert data["findings"][0]["message"] == "the soak environment 'production-soak' does not exist"
    assert data["contract"]["soak_environments"] == ["production-soak"]


def test_a_soak_environment_without_a_wait_timer_is_an_error(repo, capsys, monkeypatch, tmp_path):
    repo.set_environment("acme/app", "production-soak")
    code, data = hold_doctor(capsys, monkeypatch, tmp_path)
    assert code == 2 and rules(data) == ["soak-wait-timer-missing"]
    repo.set_environment("acme/app", "production-soak", wait_timer=30)
    code, data = hold_doctor(capsys, monkeypatch, tmp_path)
    assert code == 0 and rules(data) == []


def test_the_soak_environment_is_the_one_the_workflow_or_cd_yml_names(repo, capsys, monkeypatch, tmp_path):
    repo.set_environment("acme/app", "production-soak", wait_timer=30)  # the default exists: not the one checked
    named = HOLD_CD_YML.replace("    hooks:", "    soak-environment: {name: prod-bake}\n    hooks:")
    # the template's promote steps pass soak-environment: production-soak; without the input cd.yml's name counts
    workflow = tmp_path / "own.yml"
    workflow.write_text(TEMPLATE.read_text().replace("soak-environment: production-soak", "# soak-environment: cd.yml's"))
    config = tmp_path / "cd.yml"
    config.write_text(named)
    monkeypatch.setenv("GITHUB_TOKEN", ADMIN)
    capsys.readouterr()
    code = cli.main(["doctor", "--workflows", str(workflow), "--config", str(config), "--json", "--mode", ""])
    data = json.loads(capsys.readouterr().out)
    assert code == 2 and data["contract"]["soak_environments"] == ["prod-bake"]
    assert [f["message"] for f in data["findings"]] == ["the soak environment 'prod-bake' does not exist"]


def test_without_a_hold_no_soak_environment_is_needed(repo, capsys, monkeypatch, tmp_path):
    code, data = hold_doctor(capsys, monkeypatch, tmp_path, HOLD_CD_YML.replace("{pause: hold}", "{pause: 5m}"))
    assert code == 0 and rules(data) == [] and data["contract"]["soak_environments"] == []


@pytest.mark.parametrize("name, text", [
    ("cd-resume.yml", "on: {schedule: [{cron: '*/10 * * * *'}]}\njobs: {}\n"),
    ("resume.yml", "on: {schedule: [{cron: '*/10 * * * *'}]}\njobs:\n  r:\n    runs-on: ubuntu-latest\n"
                   "    steps:\n      - run: cdhelper rollout resume --due\n"),
])
def test_a_scheduled_resume_replaces_the_soak_environment(repo, capsys, monkeypatch, tmp_path, name, text):
    resume = tmp_path / name
    resume.write_text(text)
    code, data = hold_doctor(capsys, monkeypatch, tmp_path, HOLD_CD_YML, resume)
    assert code == 0 and rules(data) == [] and data["contract"]["soak_environments"] == []


def test_a_hold_step_with_soak_is_resumed_on_a_schedule():
    """`soak:` on a hold step (the scheduled resume's option) is read from cd.yml as data: no soak environment."""
    from cdhelper.doctor import _soak_on_hold
    steps = [{"weight": 20}, {"pause": "hold", "soak": "2h"}, {"weight": 100}]
    assert _soak_on_hold({"environments": [{"name": "production", "strategy": {"canary": {"steps": steps}}}]})
    assert not _soak_on_hold({"environments": [{"name": "production", "strategy": {"canary": {"steps": steps[::2]}}}]})
    assert not _soak_on_hold({"environments": [{"name": "production", "strategy": "blue-green"}]})


def test_the_soak_environment_a_caller_passes_to_the_reusable_workflow_is_the_one_checked(repo, capsys, monkeypatch,
                                                                                          tmp_path):
    """The whole pipeline in one `uses:` with `soak-environment: prod-bake` (a team's own name): the
    reusable workflow's default (production-soak) is not what holds its hold (found by the rehearsal of
    tests/data/own-workflows/custom-names)."""
    repo.set_environment("acme/app", "production-soak", wait_timer=30)  # the default exists: not the one checked
    caller = tmp_path / "ship.yml"
    caller.write_text("on: push\npermissions: {}\njobs:\n  pipeline:\n"
                      "    uses: cdhelper/cdhelper/.github/workflows/cd.yml@v0\n"
                      "    permissions: {contents: write, deployments: write, actions: read, checks: read, statuses: read}\n"
                      "    with:\n      mode: ${{ vars.CD_MODE }}\n      soak-environment: prod-bake\n")
    config = tmp_path / "cd.yml"
    config.write_text(HOLD_CD_YML)
    monkeypatch.setenv("GITHUB_TOKEN", ADMIN)
    capsys.readouterr()
    code = cli.main(["doctor", "--workflows", str(caller), "--config", str(config), "--json", "--mode", ""])
    data = json.loads(capsys.readouterr().out)
    assert code == 2 and data["contract"]["soak_environments"] == ["prod-bake"], data
    assert "the soak environment 'prod-bake' does not exist" in [f["message"] for f in data["findings"]]
