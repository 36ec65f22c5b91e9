"""The YAML users touch agrees with the Python behind it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from cdhelper.cli import main as cli
from cdhelper.cli.commands import action

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = sorted([ROOT / "action.yml", *ROOT.glob("actions/*/action.yml")])
WORKFLOWS = sorted([*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("workflows-templates/*.yml")])


def test_committed_template_is_rendered_from_the_reusable_workflow():
    spec = importlib.util.spec_from_file_location("render_template", ROOT / "tests" / "tools" / "render_template.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "workflows-templates" / "cd-pipeline.yml").read_text() == module.render(
        (ROOT / ".github" / "workflows" / "cd.yml").read_text()), "run python tests/tools/render_template.py"


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_action_input_reaches_python_through_env(path):
    action = yaml.safe_load(path.read_text())
    run_step = next(s for s in action["runs"]["steps"] if s.get("id") == "run")
    for name in action["inputs"]:
        env_name = f"INPUT_{name.upper().replace('-', '_')}"
        assert run_step["env"][env_name] == "${{ inputs." + name + " }}"
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    for output, spec in (action.get("outputs") or {}).items():
        assert spec["value"] == "${{ steps.run.outputs." + output + " }}"


def _steps(doc: dict) -> list[dict]:
    if "runs" in doc:
        return doc["runs"].get("steps", [])
    return [step for job in doc["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("path", ACTIONS + WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_expression_inside_run(path):
    scripts = [step["run"] for step in _steps(yaml.safe_load(path.read_text())) if "run" in step]
    for script in scripts:
        assert "${{" not in script, f"{path}: expression inside run: {script[:80]}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_job_has_a_timeout_and_its_own_permissions(path):
    workflow = yaml.safe_load(path.read_text())
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert "timeout-minutes" in job, name
        assert "permissions" in job, name
        env = job.get("environment")
        if env:
            assert env.get("deployment") is False, f"{name}: the helper is the single writer of deployment records"


def test_every_action_output_is_one_the_cli_writes(tmp_path, monkeypatch):
    source = "\n".join(p.read_text() for p in [ROOT / "cdhelper" / "cli/main.py", *(ROOT / "cdhelper" / "cli" / "commands").glob("*.py")])
    for path in ACTIONS:
        for output in (yaml.safe_load(path.read_text()).get("outputs") or {}):
            assert f'"{output}"' in source, f"{path}: output {output} is never set"


def test_release_and_promote_flags_default_to_the_action_inputs(monkeypatch):
    monkeypatch.setenv("INPUT_ENVIRONMENT", "staging")
    monkeypatch.setenv("INPUT_VERSION", "1.2.3")
    monkeypatch.setenv("INPUT_RUN", "./deploy.sh")
    args = cli.build_parser().parse_args(["promote"])
    assert (args.environment, args.release_version, args.deploy_command) == ("staging", "1.2.3", "./deploy.sh")


def test_action_readmes_list_the_inputs_and_outputs_of_their_action_yml():
    spec = importlib.util.spec_from_file_location("render_action_readmes",
                                                  ROOT / "tests" / "tools" / "render_action_readmes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for action_yml in sorted(ROOT.glob("actions/*/action.yml")):
        readme = action_yml.with_name("README.md").read_text()
        assert readme == module.render(readme, yaml.safe_load(action_yml.read_text())), \
            f"{action_yml.parent.name}/README.md is stale: run python tests/tools/render_action_readmes.py"


def test_flags_set_options_default_to_the_flags_action_inputs(monkeypatch):
    values = {"flag": "new-checkout", "variant": "on", "environment": "production", "mode": "deployment",
              "gate-environment": "approvals", "gate-job": "Gate", "run": "./hand-over.sh", "commit-to": "main",
              "config": "ops/cd.yml", "phase": "close", "handoff": "{}", "job-result": "success", "report": "{}"}
    for name, value in values.items():
        monkeypatch.setenv(f"INPUT_{name.upper().replace('-', '_')}", value)
    args = cli.build_parser().parse_args(["flags", "set"])
    assert (args.flag, args.variant, args.environment, args.mode, args.gate_environment, args.gate_job,
            args.run_command, args.commit_to, args.config, args.phase, args.handoff, args.job_result,
            args.report) == tuple(values.values())
    # The action declares exactly these, plus the sub-action, json, the writers and the token (read by the edge).
    action = yaml.safe_load((ROOT / "actions" / "flags" / "action.yml").read_text())
    assert set(action["inputs"]) == set(values) | {"action", "json", "trusted-writers", "github-token"}


def test_the_root_action_runs_flags_with_the_inputs_flags_set_reads():
    root = yaml.safe_load((ROOT / "action.yml").read_text())
    flags_inputs = yaml.safe_load((ROOT / "actions" / "flags" / "action.yml").read_text())["inputs"]
    assert "flags" in action.ACTION_COMMANDS
    assert set(flags_inputs) - {"json"} <= set(root["inputs"])
