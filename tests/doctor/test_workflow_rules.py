"""The static rules against a corpus of workflows, each with exactly one seeded violation marked on
its line (`# doctor-expect: RULE`), and against the workflows this project ships as correct."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from cdhelper.doctor import check_workflows
from cdhelper.doctor.findings import RULES
from cdhelper.doctor.model import parse
from cdhelper.doctor.workflows import NEEDS, REUSABLE_NEEDS, Contract, check

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.yml"))
REFERENCE = sorted([*(ROOT / "workflows-templates").glob("*.yml"), *(ROOT / ".github" / "workflows").glob("*.yml")])
EXPECT = re.compile(r"#\s*doctor-expect:\s*([a-z-]+)")
SETTINGS_RULES = {"gate-reviewers-missing", "gate-self-review-allowed", "environment-missing", "cd-mode-unknown"}


def expected(path: Path) -> list[tuple[str, int]]:
    return [(m.group(1), number) for number, line in enumerate(path.read_text().splitlines(), 1)
            if (m := EXPECT.search(line))]


def found(path: Path, contract: Contract | None = None) -> list[tuple[str, int]]:
    return sorted((f.rule, f.line) for f in check_workflows([path], contract or Contract())[0])


def test_the_corpus_is_large_enough_and_seeds_one_violation_per_file():
    assert len(CORPUS) >= 15
    for path in CORPUS:
        assert len(expected(path)) == 1, f"{path.name} must seed exactly one violation"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_doctor_finds_exactly_the_seeded_violation(path):
    assert found(path) == expected(path)


def test_every_static_rule_is_seeded_somewhere():
    seeded = {rule for path in CORPUS for rule, _ in expected(path)}
    assert set(RULES) - SETTINGS_RULES - {"yaml-syntax"} <= seeded


@pytest.mark.parametrize("path", REFERENCE, ids=[p.name for p in REFERENCE])
def test_the_shipped_workflows_have_no_finding(path):
    assert found(path) == []


def test_the_shipped_workflows_are_recognised_as_cdhelper_pipelines():
    """Zero findings must not come from not recognising them: the template's parts are all seen."""
    workflow = parse("cd-pipeline.yml", (ROOT / "workflows-templates" / "cd-pipeline.yml").read_text())
    actions = {job_id: [s.action for s in job.steps if s.action] for job_id, job in workflow.jobs.items()}
    assert actions["release"] == ["release", "promote"] and actions["gate"] == ["gate"]  # staging's open
    for job in ("staging", "staging-record", "production-open", "production", "production-record", "soak",
                "production-resume", "production-resume-record"):
        assert actions[job] == ["promote"], job
    # The single-job layout closes a failed job's records in a cleanup job: its finish is seen too.
    single = parse("single-job.yml", (CORPUS[0].parent / "concurrency-missing.yml").read_text())
    actions = {job_id: [s.action for s in job.steps if s.action] for job_id, job in single.jobs.items()}
    assert actions["production"] == ["promote"] and actions["cleanup"] == ["finish"]


def test_the_users_mistake_is_caught_at_the_line_of_needs():
    """The reported incident: production `needs:` a gate that deployment mode skips, no `if:`."""
    text = (ROOT / "workflows-templates" / "cd-pipeline.yml").read_text()
    line = next(n for n, row in enumerate(text.splitlines(), 1)
                if "needs: [release, acceptance, staging-record, gate]" in row)
    broken = re.sub(r"\n    if: \$\{\{ !cancelled\(\) && needs\.acceptance.*\n", "\n", text, count=1)
    assert broken != text
    findings = check(parse("cd-pipeline.yml", broken), Contract())
    # production-open: the job that opens production's record, the first one past the gate
    assert [(f.rule, f.line, f.job) for f in findings] == [("gate-skip-blocks-production", line, "production-open")]
    assert "needs.gate.result == 'skipped'" in findings[0].fix


def test_the_path_of_cd_yml_is_what_environment_names_are_held_to():
    """With a path `stage -> production`, the seeded 'stage' is right and the finish step's 'staging' is not."""
    path = CORPUS[0].parent / "environment-not-in-path.yml"
    rows = path.read_text().splitlines()
    finish = next(n for n, row in enumerate(rows, 1) if "actions/finish@v0" in row and n > 40)
    line = next(n for n, row in enumerate(rows, 1) if n > finish and "environment: staging" in row)
    assert found(path, Contract(path=("stage", "production"))) == [("environment-not-in-path", line)]


def test_ghes_has_no_deployment_false_so_the_rule_is_off():
    path = CORPUS[0].parent / "deployment-record-duplicate.yml"
    assert found(path, Contract(no_deployment_key=True)) == []


def test_cd_mode_in_a_block_scalar_is_reported_on_its_own_line():
    text = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: |\n          echo one\n" \
           "          echo ${{ vars.CD_MODE == 'prod' }}\n"
    assert [(f.rule, f.line) for f in check(parse("w.yml", text), Contract())] == [("cd-mode-value", 8)]


def test_comparisons_ignore_case_as_github_does():
    text = "on: push\njobs:\n  a:\n    if: vars.CD_MODE != 'Deployment' && 'delivery' == vars.CD_MODE\n    runs-on: x\n"
    assert check(parse("w.yml", text), Contract()) == []


def test_the_permission_table_matches_the_action_readmes():
    for action, needs in NEEDS.items():
        if action == "sweep":  # the root action's command, documented in README.md's table
            continue
        readme = (ROOT / "actions" / action / "README.md").read_text()
        line = next(row for row in readme.splitlines() if row.startswith("Job permissions:"))
        first = line.split(";")[0]
        for scope, level in needs.items():
            assert f"{scope}: {level}" in first, f"{action}: {scope}: {level} not in {line!r}"


def test_the_reusable_workflow_needs_what_its_jobs_ask_for():
    data = yaml.safe_load((ROOT / ".github" / "workflows" / "cd.yml").read_text())
    union: dict[str, str] = {}
    for job in data["jobs"].values():
        for scope, level in (job.get("permissions") or {}).items():
            if union.get(scope) != "write":
                union[scope] = level
    assert union == REUSABLE_NEEDS


def test_docs_explain_every_rule():
    docs = (ROOT / "docs" / "doctor.md").read_text()
    for rule, spec in RULES.items():
        assert f"#### `{rule}` ({spec.severity})" in docs, rule


def test_yaml_anchors_and_merge_keys_are_read_like_github_does():
    text = ("on: push\npermissions: {}\nx-deploy: &deploy\n  runs-on: ubuntu-latest\n  permissions:\n"
            "    contents: read\n    deployments: write\njobs:\n  staging:\n    <<: *deploy\n"
            "    environment: {name: staging, deployment: false}\n    concurrency: {group: s}\n    steps:\n"
            "      - uses: acme/cdhelper/actions/promote@v0\n        with: {environment: staging, version: '1'}\n"
            "      - uses: acme/cdhelper/actions/finish@v0\n        if: always()\n")
    assert check(parse("w.yml", text), Contract()) == []
    broken = text.replace("    deployments: write\n", "")
    assert [(f.rule, f.line) for f in check(parse("w.yml", broken), Contract())] == [("permissions-insufficient", 5)]


def test_a_self_referencing_alias_is_a_syntax_finding_not_a_crash(tmp_path):
    path = tmp_path / "loop.yml"
    path.write_text("on: push\njobs: &j\n  a: *j\n")
    assert [f.rule for f in check_workflows([path], Contract())[0]] == ["yaml-syntax"]


def test_without_cd_yml_a_workflow_answers_to_its_own_gate_step():
    """cd.yml may only repeat the workflow's gate: with no cd.yml, a consistent 'approvals' is right."""
    text = (CORPUS[0].parent / "gate-environment-mismatch.yml").read_text()
    text = text.replace("name: production-approval", "name: approvals").replace("release-approval", "approvals")
    text = text.replace("          mode: ${{ vars.CD_MODE }}\n\n  production:",
                        "          mode: ${{ vars.CD_MODE }}\n          gate-environment: approvals\n\n  production:")
    workflow = parse("w.yml", text.replace("# doctor-expect: gate-environment-mismatch", ""))
    assert check(workflow, Contract()) == []
    fixed = Contract(gate_source=".github/cd.yml (gate.environment)", gate_fixed=True)
    assert {(f.rule, f.job) for f in check(workflow, fixed)} == {
        ("gate-environment-mismatch", "gate"), ("gate-environment-mismatch", "production")}


def test_a_reusable_caller_is_held_to_the_gate_of_cd_yml():
    path = CORPUS[0].parent / "reusable-permissions-too-broad.yml"
    fixed = Contract(gate_source=".github/cd.yml (gate.environment)", gate_fixed=True)
    line = next(n for n, row in enumerate(path.read_text().splitlines(), 1) if "gate-environment: approvals" in row)
    assert ("gate-environment-mismatch", line) in found(path, fixed)


def test_a_called_workflows_gate_input_is_the_callers_to_set_not_its_default():
    """The reusable workflow's `gate-environment` input defaults to production-approval; a caller
    passing ship-approval is right, so the called workflow is not held to its default."""
    reusable = ROOT / ".github" / "workflows" / "cd.yml"
    contract = Contract(gate_environment="ship-approval", gate_source="--gate-environment", gate_fixed=True)
    assert [rule for rule, _ in found(reusable, contract)] == []
    dispatched = "on:\n  workflow_dispatch:\n    inputs:\n      gate: {default: production-approval}\n" + \
        "\n".join(reusable.read_text().split("\n")[reusable.read_text().split("\n").index("jobs:"):]) \
        .replace("inputs.gate-environment", "inputs.gate")
    rules = {f.rule for f in check(parse("d.yml", dispatched), contract)}
    assert "gate-environment-mismatch" in rules, "a workflow_dispatch default is what runs: still judged"
