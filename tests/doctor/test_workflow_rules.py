"""The static rules against a corpus of workflows, each with exactly one seeded violation marked on
its line (`# doctor-expect: RULE`), and against the workflows this project ships as correct.

Corpus files marked `(doctor-layout: single-job)` predate the split layout (issue 20): they hold the
older rules in the single-job layout, whose deploy jobs are each a `code-with-write-token` error (held
by its own test below), left out of their one seeded violation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from cdhelper.doctor import check_workflows
from cdhelper.doctor.findings import RULES
from cdhelper.doctor.model import parse
from cdhelper.doctor.workflows import CODE_RULES, NEEDS, REUSABLE_NEEDS, Contract, check, layout

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.yml"))
SPLIT = Path(__file__).parent / "layouts" / "split-pipeline.yml"
SINGLE_JOB = re.compile(r"\(doctor-layout: single-job\)")
REFERENCE = sorted([*(ROOT / "workflows-templates").glob("*.yml"), *(ROOT / ".github" / "workflows").glob("*.yml")])
EXPECT = re.compile(r"#\s*doctor-expect:\s*([a-z-]+)")
SETTINGS_RULES = {"gate-reviewers-missing", "gate-self-review-allowed", "environment-missing", "cd-mode-unknown",
                  "soak-wait-timer-missing"}


def expected(path: Path) -> list[tuple[str, int]]:
    return [(m.group(1), number) for number, line in enumerate(path.read_text().splitlines(), 1)
            if (m := EXPECT.search(line))]


def single_job(path: Path) -> bool:
    return bool(SINGLE_JOB.search(path.read_text().splitlines()[0]))


def found(path: Path, contract: Contract | None = None) -> list[tuple[str, int]]:
    ignored = CODE_RULES if single_job(path) else ()
    return sorted((f.rule, f.line) for f in check_workflows([path], contract or Contract())[0] if f.rule not in ignored)


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
def test_the_shipped_workflows_break_no_rule_and_use_the_split_layout(path):
    """Issue 20: no shipped workflow runs repository code in a job whose token can write."""
    assert check_workflows([path], Contract())[0] == []
    assert layout(parse(path.name, path.read_text()), Contract()) in ("split", None)  # None: nothing deploys (dora)


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


def test_the_split_layout_has_no_finding_and_is_named_split():
    workflow = parse(SPLIT.name, SPLIT.read_text())
    assert check(workflow, Contract()) == []
    assert layout(workflow, Contract()) == "split"
    assert list(check_workflows([SPLIT], Contract())[2].values()) == ["split"]


def test_the_split_layouts_parts_are_all_recognised():
    """Zero findings must not come from not recognising the pipeline: every promote phase is seen."""
    workflow = parse(SPLIT.name, SPLIT.read_text())
    phases = {job_id: [s.input("phase") for s in job.steps_running("promote")] for job_id, job in workflow.jobs.items()}
    assert phases["release"] == ["open"] and phases["staging"] == ["deploy"] and phases["staging-record"] == ["close"]
    assert phases["production-open"] == ["open"] and phases["production"] == ["deploy"]
    assert phases["production-record"] == ["close"] and phases["soak"] == ["open"]
    assert workflow.jobs["gate"].steps_running("gate")


@pytest.mark.parametrize("path", [p for p in CORPUS if single_job(p)], ids=lambda p: p.stem)
def test_a_single_job_pipeline_is_an_error_on_each_deploy_job(path):
    """Today's templates' layout: promote (phase all) runs the deploy command in a job that writes records."""
    workflow = parse(path.name, path.read_text())
    deploying = {job_id for job_id, job in workflow.jobs.items() if job.steps_running("promote")
                 and not any(s.input("phase") for s in job.steps_running("promote"))
                 and "deployments" in str(job.data.get("permissions", workflow.data.get("permissions", "write-all")))}
    flagged = {f.job for f in check(workflow, Contract()) if f.rule in CODE_RULES}
    assert deploying <= flagged
    if deploying:
        assert layout(workflow, Contract()) == "single-job"


def split_with(old: str, new: str, *more: tuple[str, str]) -> list[tuple[str, str | None]]:
    text = SPLIT.read_text()
    for before, after in [(old, new), *more]:
        assert before in text
        text = text.replace(before, after, 1)
    return [(f.rule, f.job) for f in check(parse("w.yml", text), Contract())]


BUILD_PERMISSIONS = ("  build:\n    runs-on: ubuntu-latest\n    permissions:\n      contents: read\n",
                     "  build:\n    runs-on: ubuntu-latest\n")


RELEASE_STEP = "        uses: cdhelper/cdhelper/actions/release@v0\n"
OPEN_STEP = "          phase: open\n          environment: production\n          gated: true\n"


@pytest.mark.parametrize("case", [
    # a local action named like cdhelper's: the repository's code, whatever its name
    (RELEASE_STEP, "        uses: ./actions/release\n", "release"),
    # any local action in the job that tags
    (RELEASE_STEP, RELEASE_STEP + "      - uses: ./.github/actions/notify\n", "release"),
    # promote with no `run:` input and no phase: phase all still runs cd.yml's hooks and analyses
    (OPEN_STEP, "          environment: production\n          gated: true\n", "production-open"),
    # the phase left to an expression: it may be all
    (OPEN_STEP, "          phase: ${{ github.event.inputs.phase }}\n          environment: production\n"
                "          gated: true\n", "production-open"),
    # the root action's default command is promote, phase all
    ("      - id: close\n        uses: cdhelper/cdhelper/actions/promote@v0\n        with:\n          phase: close\n",
     "      - id: close\n        uses: cdhelper/cdhelper@v0\n        with:\n          command: promote\n", "production-record"),
    # flags set runs the deploy hook
    ("  production-record:\n", "  flip:\n    runs-on: ubuntu-latest\n    permissions: { contents: read, deployments: write }\n"
     "    steps:\n      - uses: cdhelper/cdhelper/actions/flags@v0\n        with: { action: set, environment: staging, "
     "flag: f, variant: 'on' }\n\n  production-record:\n", "flip"),
    # the deploy job's own permissions removed: the workflow's write-all applies
    ("permissions: {}\n", "permissions: write-all\n", "build", BUILD_PERMISSIONS),
    # no permissions anywhere: the repository's default may be write to everything
    ("permissions: {}\n", "\n", "build", BUILD_PERMISSIONS),
    # a write scope on the deploy job itself
    ("    permissions:\n      contents: read\n    outputs:\n      report:",
     "    permissions:\n      contents: read\n      statuses: write\n    outputs:\n      report:", "staging"),
])
def test_repository_code_hidden_in_a_job_that_can_write_is_an_error(case):
    old, new, job, *more = case
    assert ("code-with-write-token", job) in split_with(old, new, *more)


def test_an_oidc_token_writes_nothing_to_github():
    assert split_with("    permissions:\n      contents: read\n    outputs:\n      report:",
                      "    permissions:\n      contents: read\n      id-token: write\n    outputs:\n      report:") == []


def test_a_self_hosted_runner_makes_the_single_job_layout_a_warning():
    rules = split_with("  staging:\n    needs: release\n    runs-on: ubuntu-latest\n    environment:",
                       "  staging:\n    needs: release\n    runs-on: [self-hosted, linux]\n    environment:")
    assert rules == []  # a split job on a self-hosted runner is fine
    text = (CORPUS[0].parent / "code-with-write-token-self-hosted.yml").read_text()
    hosted = check(parse("w.yml", text.replace("[self-hosted, linux]", "ubuntu-latest")), Contract())
    assert [f.rule for f in hosted] == ["code-with-write-token"]
    group = check(parse("w.yml", text.replace("[self-hosted, linux]", "{ group: deployers }")), Contract())
    assert [f.rule for f in group] == ["code-with-write-token-self-hosted"]  # a runner group, no GitHub label


def test_in_the_split_layout_the_record_job_under_always_replaces_finish():
    always = "    if: ${{ always() && needs.production-open.outputs.handoff != '' }}\n"
    assert ("finish-missing", "production-open") in split_with(
        always, "    if: ${{ needs.production-open.outputs.handoff != '' }}\n")
    assert ("finish-missing", "production-open") in split_with(always, "    if: ${{ !cancelled() }}\n")


def test_in_the_split_layout_the_gate_must_be_upstream_of_the_open_job():
    rules = split_with("    needs: [release, acceptance, staging-record, gate]\n"
                       "    if: ${{ !cancelled() && needs.acceptance.result == 'success' && needs.staging-record.result == "
                       "'success' && (needs.gate.result == 'success' || needs.gate.result == 'skipped') }}\n",
                       "    needs: [release, acceptance, staging-record]\n")
    assert ("gate-not-needed", "production-open") in rules


def test_each_phase_is_held_to_what_it_needs():
    # deploy needs only contents: read; close needs deployments: write; open a gated one actions: read
    assert split_with("    permissions:\n      deployments: write\n    outputs:\n      paused:",
                      "    permissions:\n      contents: read\n    outputs:\n      paused:") == [
        ("permissions-insufficient", "production-record")]
    assert split_with("      deployments: write\n      actions: read\n      checks: read\n      statuses: read\n"
                      "    outputs:\n      handoff: ${{ steps.open.outputs.handoff }}\n    steps:\n      - id: open\n"
                      "        uses: cdhelper/cdhelper/actions/promote@v0\n        with:\n          phase: open\n"
                      "          environment: production\n",
                      "      deployments: write\n      checks: read\n      statuses: read\n"
                      "    outputs:\n      handoff: ${{ steps.open.outputs.handoff }}\n    steps:\n      - id: open\n"
                      "        uses: cdhelper/cdhelper/actions/promote@v0\n        with:\n          phase: open\n"
                      "          environment: production\n") == [("permissions-insufficient", "production-open")]


def test_every_fix_is_yaml_to_paste_and_a_job_snippet_has_runs_on():
    paths = [*CORPUS, *REFERENCE, SPLIT]
    for path in paths:
        for finding in check_workflows([path], Contract())[0]:
            if finding.rule in ("yaml-syntax", "cd-mode-value"):
                continue
            pasted = yaml.safe_load(finding.fix)
            assert isinstance(pasted, dict), (path.name, finding.rule, finding.fix)
            for key, value in pasted.items():
                if isinstance(value, dict) and "steps" in value:
                    assert "runs-on" in value and "permissions" in value, (path.name, finding.rule, key)


def test_the_split_fix_of_a_single_job_pipeline_is_itself_split():
    """Pasting the fix for a single-job deploy job yields jobs the doctor reads as split and deploy-safe."""
    path = CORPUS[0].parent / "finish-missing-in-job.yml"
    finding = next(f for f in check(parse("w.yml", path.read_text()), Contract())
                   if f.rule == "code-with-write-token" and f.job == "production")
    jobs = yaml.safe_load(finding.fix)
    assert set(jobs) == {"production-open", "production", "production-record"}
    assert jobs["production"]["permissions"] == {"contents": "read"}
    assert jobs["production"]["steps"][-1]["with"]["run"] == "./deploy.sh"
    assert jobs["production-open"]["steps"][0]["with"]["phase"] == "open"
    assert "run" not in jobs["production-open"]["steps"][0]["with"]
    assert jobs["production-record"]["if"].startswith("${{ always()")


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
    assert [f for f in check(parse("w.yml", text), Contract()) if f.rule not in CODE_RULES] == []
    broken = text.replace("    deployments: write\n", "")
    assert [(f.rule, f.line) for f in check(parse("w.yml", broken), Contract()) if f.rule not in CODE_RULES] == [
        ("permissions-insufficient", 5)]


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
    assert [f for f in check(workflow, Contract()) if f.rule not in CODE_RULES] == []
    fixed = Contract(gate_source=".github/cd.yml (gate.environment)", gate_fixed=True)
    assert {(f.rule, f.job) for f in check(workflow, fixed) if f.rule not in CODE_RULES} == {
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
    assert [rule for rule, _ in found(reusable, contract) if rule not in CODE_RULES] == []
    dispatched = "on:\n  workflow_dispatch:\n    inputs:\n      gate: {default: production-approval}\n" + \
        "\n".join(reusable.read_text().split("\n")[reusable.read_text().split("\n").index("jobs:"):]) \
        .replace("inputs.gate-environment", "inputs.gate")
    rules = {f.rule for f in check(parse("d.yml", dispatched), contract)}
    assert "gate-environment-mismatch" in rules, "a workflow_dispatch default is what runs: still judged"


def test_a_gate_job_named_otherwise_than_gate_job_says_is_an_error():
    """The reported setup: the gate job is `Sign-off`, promote's `gate-job` is left at its default."""
    renamed = ("    name: Approval (delivery mode)\n", "    name: Sign-off\n")
    assert split_with(*renamed) == [("gate-job-name", "production-open"), ("gate-job-name", "soak")]
    told = ("          phase: open\n          environment: production\n          gated: true\n",
            "          phase: open\n          environment: production\n          gated: true\n"
            "          gate-job: Sign-off\n")
    text = SPLIT.read_text().replace(*renamed).replace(*told)  # every gated open step told the name
    assert [f.rule for f in check(parse("w.yml", text), Contract())] == []
    # without `name:` GitHub shows the job's id
    assert split_with("    name: Approval (delivery mode)\n", "") == [
        ("gate-job-name", "production-open"), ("gate-job-name", "soak")]
    finding = next(f for f in check(parse("w.yml", SPLIT.read_text().replace(*renamed)), Contract()))
    assert finding.fix == "gate-job: Sign-off" and "(the default: the input is not set)" in finding.message


def test_an_ungated_promotion_reads_no_gate_job():
    text = SPLIT.read_text().replace("    name: Approval (delivery mode)\n", "    name: Sign-off\n")
    text = text.replace("          gated: true\n", "          gated: false\n")
    assert [f.rule for f in check(parse("w.yml", text), Contract(gated=()))] == []


def test_the_concurrency_fix_uses_the_group_the_workflow_has_for_that_environment():
    """The reported fix proposed cdhelper-prod where the workflow already queued prod in greeter-prod."""
    text = SPLIT.read_text().replace("group: cdhelper-production", "group: greeter-prod")
    resume = text.index("  production-resume:\n")
    head, tail = text[:resume], text[resume:]
    tail = tail.replace("    concurrency:\n      group: greeter-prod\n      cancel-in-progress: false\n", "", 1)
    findings = check(parse("w.yml", head + tail), Contract())
    assert [(f.rule, f.job) for f in findings] == [("concurrency-missing", "production-resume")]
    assert yaml.safe_load(findings[0].fix) == {"concurrency": {"group": "greeter-prod", "cancel-in-progress": False}}
    split = check(parse("w.yml", head + tail.replace("  production-resume:\n", "  production-resume:\n"
                                                    "    concurrency: prod-resume\n", 1)), Contract())
    assert [(f.rule, f.job) for f in split] == [("concurrency-group-split", "production-resume")]
    assert "greeter-prod" in split[0].fix and "'prod-resume'" in split[0].message
