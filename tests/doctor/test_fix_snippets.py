"""Every fix the doctor proposes is valid where it is meant to be pasted (Finding.fix_at): each one is
pasted into its own workflow, and actionlint finds no problem in the result that the workflow did not
already have. A fix for .github/cd.yml is checked against cd.yml's schema instead."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cdhelper.core import config
from cdhelper.doctor import check_workflows
from cdhelper.doctor.findings import RULES, Finding
from cdhelper.doctor.model import Map, parse
from cdhelper.doctor.workflows import Contract

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
ACTIONLINT = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
WORKFLOWS = sorted([*(HERE / "corpus").glob("*.yml"), *(HERE / "layouts").glob("*.yml"),
                    *(ROOT / "workflows-templates").glob("*.yml"), *(ROOT / ".github" / "workflows").glob("*.yml")])
PASTED = {"jobs", "job", "with"}  # into the workflow; "cd.yml" into the configuration


def plain(value):
    """The model's Map/Seq as plain dicts and lists (for yaml.safe_dump)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def pasted(path: Path, finding: Finding) -> dict:
    """The workflow with the finding's fix pasted where its fix_at says."""
    workflow = parse(path.name, path.read_text())
    data = plain(workflow.data)
    fix = yaml.safe_load(finding.fix)
    assert isinstance(fix, dict), (finding.rule, finding.fix)
    if finding.fix_at == "jobs":
        data["jobs"].update(fix)
        return data
    job = workflow.jobs[finding.job]
    if finding.fix_at == "job":
        data["jobs"][job.id].update(fix)
        return data
    step = next((s for s in reversed(job.steps) if s.line <= finding.line), None)
    if step is not None:
        inputs = data["jobs"][job.id]["steps"][step.index].setdefault("with", {})
    else:  # a call of the reusable workflow: its `with:`
        assert isinstance(job.data.get("with"), Map), finding
        inputs = data["jobs"][job.id]["with"]
    inputs.update(fix)
    return data


def lint(path: Path) -> set[str]:
    """actionlint's problems, without their positions (pasting moves lines)."""
    result = subprocess.run([ACTIONLINT, "-no-color", "-format", "{{range $e := .}}{{$e.Kind}}: {{$e.Message}}\n{{end}}",
                             str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode in (0, 1), result.stderr
    return set(result.stdout.splitlines())


def cases() -> list[tuple[Path, Finding]]:
    out = []
    for path in WORKFLOWS:
        for finding in check_workflows([path], Contract())[0]:
            out.append((path, finding))
    return out


CASES = cases()


def test_every_rule_with_a_fix_to_paste_is_exercised():
    exercised = {f.rule for _, f in CASES if f.fix_at in PASTED | {"cd.yml"}}
    pasteable = {rule for rule, spec in RULES.items() if spec.fix_at in PASTED}
    assert pasteable <= exercised


@pytest.mark.skipif(ACTIONLINT is None, reason="actionlint is not installed (the dev extra installs it)")
@pytest.mark.parametrize("path, finding", [c for c in CASES if c[1].fix_at in PASTED],
                         ids=[f"{p.stem}-{f.rule}-{f.line}" for p, f in CASES if f.fix_at in PASTED])
def test_the_fix_pasted_into_its_workflow_passes_actionlint(tmp_path, path, finding):
    before, after = tmp_path / "before.yml", tmp_path / "after.yml"
    before.write_text(yaml.safe_dump(plain(parse(path.name, path.read_text()).data), sort_keys=False))
    after.write_text(yaml.safe_dump(pasted(path, finding), sort_keys=False))
    new = lint(after) - lint(before)
    assert not new, f"{finding.rule} fix:\n{finding.fix}\nactionlint:\n" + "\n".join(sorted(new))


def test_a_fix_for_cd_yml_is_valid_cd_yml():
    """A reusable workflow's caller held to a path without staging: the fix is cd.yml's `environments:`."""
    caller = HERE / "corpus" / "reusable-permissions-too-broad.yml"
    fixes = [f for f in check_workflows([caller], Contract(path=("stage", "production")))[0] if f.fix_at == "cd.yml"]
    assert [f.rule for f in fixes] == ["environment-not-in-path"]
    assert [e.name for e in config.from_dict(yaml.safe_load(fixes[0].fix)).environments] == ["staging", "production"]


def test_fixes_that_add_jobs_never_reuse_a_job_name():
    """Three single-job promotions each get their own cleanup job: pasted together, none overwrites another."""
    for path in WORKFLOWS:
        added = [name for f in check_workflows([path], Contract())[0] if f.fix_at == "jobs"
                 for name in yaml.safe_load(f.fix)]
        workflow = parse(path.name, path.read_text())
        fresh = [name for name in added if name not in workflow.jobs]
        assert len(fresh) == len(set(fresh)), (path.name, added)


@pytest.mark.skipif(ACTIONLINT is None, reason="actionlint is not installed (the dev extra installs it)")
def test_a_workflow_without_a_gate_job_gets_one_that_pastes(tmp_path):
    """gate-not-needed with no gate job to need: the fix is the gate job itself, under `jobs:`."""
    source = HERE / "layouts" / "split-pipeline.yml"
    data = plain(parse(source.name, source.read_text()).data)
    del data["jobs"]["gate"]
    data["jobs"]["production-open"]["needs"].remove("gate")
    data["jobs"]["production-open"]["if"] = "${{ !cancelled() && needs.acceptance.result == 'success' }}"
    path = tmp_path / "no-gate.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    findings = [f for f in check_workflows([path], Contract())[0] if f.rule == "gate-not-needed"]
    assert {f.job for f in findings} == {"production-open", "production", "soak", "production-resume"}
    # one gate job, whichever finding is fixed first, and no cycle once the gated jobs need it
    assert all(yaml.safe_load(f.fix) == yaml.safe_load(findings[0].fix) for f in findings)
    finding = findings[0]
    assert finding.fix_at == "jobs" and set(yaml.safe_load(finding.fix)) == {"gate"}
    assert yaml.safe_load(finding.fix)["gate"]["needs"] == ["release", "acceptance", "staging-record"]
    after = tmp_path / "after.yml"
    after.write_text(yaml.safe_dump(pasted(path, finding), sort_keys=False))
    assert lint(after) - lint(path) == set()
    jobs = yaml.safe_load(after.read_text())["jobs"]
    assert jobs["gate"]["environment"] == {"name": "production-approval", "deployment": False}
