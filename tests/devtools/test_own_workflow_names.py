"""`cdhelper rehearse --workflow`: the names a team's workflow and .github/cd.yml give (gate, soak,
environments, dispatch inputs, the branch) are read and seeded in the double, none assumed from the
template. No act here: the reading and the double's seeding only (tests/e2e runs the workflows)."""

from __future__ import annotations

import subprocess

import pytest

from cdhelper.core.errors import InputError
from cdhelper.deploy import cd_yml
from cdhelper.devtools.rehearsal.own_workflow import Unrehearsable, branch_filtered, prepare
from tests.e2e.test_rehearse_own_workflow import make_checkout

WORKFLOW = ".github/workflows/bake.yml"


def environment(r, name: str) -> dict | None:
    return r.double.repo(r.repository).environments.get(name.lower())


@pytest.fixture
def custom(tmp_path):
    return make_checkout(tmp_path, "custom-names")


def test_the_soak_environment_the_workflow_names_gets_the_wait_timer_and_no_template_name_is_made(custom, tmp_path):
    r = prepare(custom, WORKFLOW, event="workflow_dispatch", inputs={"version": "2.3.0"}, ref="release/2.x",
                workdir=tmp_path / "rehearsal")
    try:
        assert r.gate == "prod-signoff" and list(r.path) == ["staging", "production"]
        assert environment(r, "prod-bake")["wait_timer"] == 30
        assert environment(r, "production-soak") is None and environment(r, "production-approval") is None
        gate = environment(r, "prod-signoff")
        assert gate["reviewers"] and gate["prevent_self_review"] is True and gate["wait_timer"] == 0
        assert environment(r, "production")["wait_timer"] == 0
    finally:
        r.close()


def test_dispatch_inputs_are_the_defaults_with_the_given_values_over_them(custom, tmp_path):
    r = prepare(custom, WORKFLOW, event="workflow_dispatch", inputs={"version": "2.3.0", "channel": "beta"},
                workdir=tmp_path / "rehearsal")
    try:
        assert r.reading.dispatch_inputs == {"version": "2.3.0", "channel": "beta"}
    finally:
        r.close()
    r = prepare(custom, WORKFLOW, event="workflow_dispatch", inputs={"version": "2.3.0"}, workdir=tmp_path / "r2")
    try:
        assert r.reading.dispatch_inputs == {"version": "2.3.0", "channel": "stable"}
    finally:
        r.close()


@pytest.mark.parametrize("inputs, expected", [
    ({}, "needs input version"),
    ({"version": "2.3.0", "colour": "red"}, "--input colour is not an input of .github/workflows/bake.yml"),
    ({"version": "2.3.0", "channel": "nightly"}, "--input channel=nightly is not one of its options"),
])
def test_a_dispatch_input_github_would_refuse_is_one_line_with_the_fix(custom, tmp_path, inputs, expected):
    with pytest.raises(Unrehearsable) as refused:
        prepare(custom, WORKFLOW, event="workflow_dispatch", inputs=inputs, workdir=tmp_path / "rehearsal")
    [problem] = refused.value.problems
    assert expected in problem.one_line() and "Fix:" in problem.one_line()


def test_inputs_are_for_workflow_dispatch_only(custom, tmp_path):
    with pytest.raises(Unrehearsable) as refused:
        prepare(custom, WORKFLOW, event="push", ref="release/2.x", inputs={"version": "1"}, workdir=tmp_path / "r")
    assert "only workflow_dispatch takes inputs" in refused.value.problems[0].one_line()


def test_a_push_to_a_branch_the_workflow_filters_out_is_refused_and_ref_takes_another(custom, tmp_path):
    with pytest.raises(Unrehearsable) as refused:
        prepare(custom, WORKFLOW, event="push", workdir=tmp_path / "rehearsal")
    [problem] = refused.value.problems
    assert "does not run on push to main" in problem.one_line() and "--ref" in problem.one_line()
    r = prepare(custom, WORKFLOW, event="push", ref="release/2.x", workdir=tmp_path / "r2")
    try:
        branch = subprocess.run(["git", "-C", str(r.repo_dir), "branch", "--show-current"], capture_output=True,
                                text=True, check=True).stdout.strip()
        assert branch == "release/2.x"
    finally:
        r.close()


def test_a_ref_that_is_no_branch_name_is_refused_in_one_line(custom, tmp_path):
    with pytest.raises(InputError) as refused:
        prepare(custom, WORKFLOW, event="push", ref="release..2", workdir=tmp_path / "rehearsal")
    assert "--ref 'release..2' is not a branch name" in refused.value.one_line()


def test_a_promote_step_reads_its_own_soak_environment_or_the_default(tmp_path):
    checkout = make_checkout(tmp_path, "qa-live")
    ship = checkout / ".github" / "workflows" / "ship.yml"
    r = prepare(checkout, ".github/workflows/ship.yml", workdir=tmp_path / "r1")
    try:  # promote's default, which is what it reads when the step passes none
        assert r.soak_environments() == {"production-soak"}
    finally:
        r.close()
    ship.write_text(ship.read_text().replace("          gate-job: Sign-off\n",
                                             "          gate-job: Sign-off\n          soak-environment: live-bake\n"))
    r = prepare(checkout, ".github/workflows/ship.yml", workdir=tmp_path / "r2")
    try:
        assert r.soak_environments() == {"live-bake", "production-soak"}  # qa's step still reads the default
        assert environment(r, "live-bake")["wait_timer"] == 30
    finally:
        r.close()


@pytest.mark.parametrize("trigger, ref, filtered", [
    ({"branches": ["main"]}, "main", False),
    ({"branches": ["main"]}, "release/2.x", True),
    ({"branches": ["release/*"]}, "release/2.x", False),
    ({"branches": ["release/*"]}, "release/2.x/hotfix", True),
    ({"branches": ["release/**", "!release/old"]}, "release/old", True),
    ({"branches-ignore": ["feature/*"]}, "feature/x", True),
    ({}, "anything", False),
])
def test_branch_filters_match_as_github_matches_them(trigger, ref, filtered):
    assert branch_filtered(trigger, ref) is filtered


@pytest.mark.parametrize("name, workflow", [("qa-live", ".github/workflows/ship.yml"),
                                            ("three-envs", ".github/workflows/deliver.yml"),
                                            ("reusable", ".github/workflows/release.yml"),
                                            ("local-called", ".github/workflows/pipeline.yml"),
                                            ("custom-names", WORKFLOW)])
def test_the_required_contexts_of_each_teams_cd_yml_are_found_among_its_jobs(tmp_path, name, workflow):
    kwargs = {"event": "workflow_dispatch", "inputs": {"version": "1.0.0"}} if name == "custom-names" else {}
    checkout = make_checkout(tmp_path, name)
    r = prepare(checkout, workflow, workdir=tmp_path / "rehearsal", **kwargs)
    try:
        cfg = cd_yml.load(workspace=str(checkout), gate_environment=r.gate)
        required = {c for e in cfg.environments for c in e.required_contexts}
        assert required <= r.reading.contexts
        assert bool(required) is (name in ("qa-live", "local-called"))
    finally:
        r.close()


def test_a_required_context_no_job_reports_is_named_before_act_runs(tmp_path):
    checkout = make_checkout(tmp_path, "qa-live")
    cd = checkout / ".github" / "cd.yml"
    cd.write_text(cd.read_text().replace("required-contexts: [Smoke tests]", "required-contexts: [Smoke test, e2e]"))
    with pytest.raises(Unrehearsable) as refused:
        prepare(checkout, ".github/workflows/ship.yml", workdir=tmp_path / "rehearsal")
    lines = [p.one_line() for p in refused.value.problems]
    assert len(lines) == 2 and "required context 'Smoke test' of live is reported by no job" in lines[0]
    assert "required context 'e2e' of live" in lines[1] and all("report-check `context:`" in x for x in lines)


def test_names_passed_as_dispatch_inputs_are_seeded_by_their_values(custom, tmp_path):
    bake = custom / ".github" / "workflows" / "bake.yml"
    text = bake.read_text().replace("      channel:\n", "      soak:\n        default: canary-bake\n      channel:\n")
    bake.write_text(text.replace("soak-environment: prod-bake", "soak-environment: ${{ inputs.soak }}"))
    r = prepare(custom, WORKFLOW, event="workflow_dispatch", inputs={"version": "1", "soak": "eu-bake"},
                workdir=tmp_path / "rehearsal")
    try:
        assert r.soak_environments() == {"eu-bake"} and environment(r, "eu-bake")["wait_timer"] == 30
    finally:
        r.close()


@pytest.mark.parametrize("option", [["--input", "version=1"], ["--ref", "release/2.x"]])
def test_input_and_ref_without_a_workflow_are_one_line(capsys, option):
    from cdhelper.cli import main as cli
    assert cli.main(["rehearse", *option]) == 2
    err = capsys.readouterr().err
    assert f"{option[0]} applies to your own workflow only" in err and "add --workflow PATH" in err
