"""Issue 22, item 6: the gate and soak environments by hand. One rule decides each (docs/cli.md, "The
gate and soak environments"): the flag, else the action input, else (run by hand) .github/cd.yml's,
else the built-in name; an error names the flag by hand and the input in Actions."""

from __future__ import annotations

import pytest

from cdhelper.cli import edge

GATE_CD_YML = "environments:\n  - name: staging\n  - name: production\ngate:\n  environment: prod-signoff\n"
HOLD_CD_YML = """environments:
  - name: staging
  - name: production
    strategy: {canary: {steps: [{weight: 25}, {pause: hold}, {weight: 100}]}}
    hooks: {deploy: 'true', shift-traffic: 'true'}
    soak-environment: {name: prod-bake}
"""


def write_config(pipeline, text: str) -> None:
    (pipeline.tmp / ".github").mkdir(exist_ok=True)
    (pipeline.tmp / ".github" / "cd.yml").write_text(text)


@pytest.mark.parametrize("flag, given, in_actions, expected", [
    (None, None, False, None),  # by hand, nothing given: cd.yml's, else the built-in
    (None, None, True, ""),  # in Actions the workflow names it: the built-in, never the pushed cd.yml's
    (None, "from-input", False, "from-input"),
    ("from-flag", "from-input", True, "from-flag"),
])
def test_one_rule_decides_the_default(monkeypatch, flag, given, in_actions, expected):
    monkeypatch.delenv("INPUT_SOAK_ENVIRONMENT", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    if given is not None:
        monkeypatch.setenv("INPUT_SOAK_ENVIRONMENT", given)
    if in_actions:
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
    parser = edge.Parser(prog="t")
    edge.soak_option(parser, help="h")
    value = parser.parse_args(["--soak-environment", flag] if flag else []).soak_environment
    assert value == expected
    chosen = edge.environment_name(value, cd_yml="from-cd-yml", builtin="production-soak")
    assert chosen == {None: "from-cd-yml", "": "production-soak"}.get(value, value)


def test_by_hand_the_gate_of_cd_yml_is_the_default(pipeline):
    """Before: every call by hand needed --gate-environment, or cd.yml's gate was refused."""
    write_config(pipeline, GATE_CD_YML)
    assert pipeline.release(actions=False).code == 0
    done = pipeline.promote("staging", actions=False)
    assert done.code == 0, done.out + done.err


def test_in_actions_the_workflow_names_the_gate_and_the_error_names_the_input(pipeline):
    write_config(pipeline, GATE_CD_YML)
    assert pipeline.release().code == 0
    refused = pipeline.promote("staging", INPUT_GATE_ENVIRONMENT="production-approval")
    assert refused.code == 2 and "pass `gate-environment: prod-signoff` to the cdhelper steps" in refused.out


@pytest.mark.parametrize("in_actions, said", [(False, "--gate-environment 'bad name!'"),
                                              (True, "the `gate-environment` input 'bad name!'")])
def test_a_bad_gate_name_is_named_as_it_was_given(pipeline, in_actions, said):
    extra = {"INPUT_GATE_ENVIRONMENT": "bad name!"} if in_actions else {}
    argv = [] if in_actions else ["--gate-environment", "bad name!"]
    refused = pipeline.promote("staging", "1.0.0", *argv, actions=in_actions, **extra)
    assert refused.code == 2 and said in refused.out + refused.err


def test_by_hand_the_soak_environment_of_cd_yml_is_checked_and_the_fix_names_the_flag(pipeline):
    write_config(pipeline, HOLD_CD_YML)
    pipeline.double.set_environment("acme/app", "production-soak", wait_timer=30)  # not the one cd.yml names
    assert pipeline.release(actions=False).code == 0
    assert pipeline.promote("staging", actions=False).code == 0
    refused = pipeline.promote("production", actions=False)
    shown = refused.out + refused.err
    assert refused.code == 6 and "the soak environment 'prod-bake' does not exist" in shown
    assert "name a soak environment that has one with --soak-environment" in shown
    pipeline.double.set_environment("acme/app", "prod-bake", wait_timer=30)
    held = pipeline.promote("production", actions=False)
    assert held.code == 0 and held.outputs == {}, held.out + held.err  # by hand: no step outputs
    assert "paused" in held.out


def test_in_actions_the_soak_input_wins_and_the_fix_names_the_input(pipeline):
    write_config(pipeline, HOLD_CD_YML)
    assert pipeline.release().code == 0
    assert pipeline.promote("staging").code == 0
    refused = pipeline.promote("production", INPUT_SOAK_ENVIRONMENT="production-soak")
    assert refused.code == 6 and "the soak environment 'production-soak' does not exist" in refused.out
    assert "with the `soak-environment` input" in refused.out
    pipeline.double.set_environment("acme/app", "production-soak", wait_timer=30)
    held = pipeline.promote("production", INPUT_SOAK_ENVIRONMENT="production-soak")
    assert held.code == 0 and held.outputs["paused"] == "true", held.out
