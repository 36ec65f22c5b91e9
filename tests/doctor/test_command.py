"""`cdhelper doctor` as users run it: human and JSON output, annotations, exit codes, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cdhelper.cli import main as cli

CORPUS = Path(__file__).parent / "corpus"
ROOT = Path(__file__).resolve().parents[2]
LAYOUTS = Path(__file__).parent / "layouts"  # the template pipeline in the split layout: no finding


def marked(path: Path) -> int:
    """The line of the corpus file's seeded violation (`# doctor-expect: RULE`)."""
    return next(n for n, row in enumerate(path.read_text().splitlines(), 1) if "# doctor-expect:" in row)


def doctor(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["doctor", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_shape(capsys, tmp_path):
    code, out, err = doctor(capsys, "--workflows", str(CORPUS / "code-with-write-token-local-action.yml"),
                            "--workflows", str(CORPUS / "code-with-packages-write.yml"), "--json")
    assert code == 2
    data = json.loads(out)
    assert set(data) == {"version", "workflows", "layouts", "contract", "settings", "findings", "errors", "warnings"}
    assert data["version"] == 1 and data["errors"] == 1 and data["warnings"] == 1
    assert data["contract"] == {"path": ["staging", "production"], "gate_environments": ["production-approval"],
                                "soak_environments": []}  # no `pause: hold` in the (default) cd.yml
    assert data["settings"]["checked"] is False and "no token" in data["settings"]["notes"][0]
    assert list(data["layouts"].values()) == ["single-job", "single-job"]
    first = data["findings"][0]
    assert set(first) == {"rule", "severity", "file", "line", "job", "message", "why", "fix", "fix_at"}
    assert (first["rule"], first["severity"], first["line"], first["job"]) == (
        "code-with-write-token", "error", marked(CORPUS / "code-with-write-token-local-action.yml"), "release")
    assert first["file"].endswith("code-with-write-token-local-action.yml")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1  # the one-line error


def test_the_report_names_each_workflows_layout(capsys):
    code, out, _ = doctor(capsys, "--workflows", str(LAYOUTS / "split-pipeline.yml"))
    assert code == 0 and "split-pipeline.yml: info [layout] split (every job that runs repository code" in out
    code, out, _ = doctor(capsys, "--workflows", str(CORPUS / "finish-missing-in-job.yml"), "--json")
    assert code == 2 and list(json.loads(out)["layouts"].values()) == ["single-job"]


def test_human_output_names_file_line_rule_and_fix(capsys):
    code, out, _ = doctor(capsys, "--workflows", str(CORPUS / "gate-condition-delivery.yml"))
    assert code == 2
    line = marked(CORPUS / "gate-condition-delivery.yml")
    assert f"gate-condition-delivery.yml:{line}: error [gate-condition]" in out
    assert "why:" in out and "if: ${{ vars.CD_MODE != 'deployment' }}" in out
    assert "    fix (in job `gate`):" in out  # where the fix goes
    assert "settings checks skipped: no token" in out


def test_warnings_alone_exit_zero(capsys):
    code, out, _ = doctor(capsys, "--workflows", str(CORPUS / "code-with-packages-write.yml"))
    assert code == 0 and "[code-with-packages-write]" in out and "0 error(s), 1 warning(s)" in out


def test_default_is_the_workflows_of_the_working_directory(capsys, tmp_path, monkeypatch):
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(CORPUS / "gate-skip-plain-needs.yml", tmp_path / ".github" / "workflows" / "cd.yaml")
    monkeypatch.chdir(tmp_path)
    code, out, _ = doctor(capsys, "--json")
    assert code == 2 and json.loads(out)["workflows"] == [".github/workflows/cd.yaml"]


def test_cd_yml_sets_the_path(capsys, tmp_path, monkeypatch):
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(LAYOUTS / "split-pipeline.yml", tmp_path / ".github" / "workflows" / "cd.yml")
    (tmp_path / ".github" / "cd.yml").write_text("version: 1\nenvironments:\n  - name: stage\n  - name: staging\n"
                                                 "  - name: production\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = doctor(capsys, "--json")
    assert code == 0 and json.loads(out)["contract"]["path"] == ["stage", "staging", "production"]


def test_annotations_carry_file_and_line_escaped(capsys, tmp_path, monkeypatch):
    evil = tmp_path / "we,ird:name.yml"
    text = (CORPUS / "gate-skip-plain-needs.yml").read_text().replace("  production:", '  "prod\\n::error::x%":')
    text = text.replace("needs.production.", "needs.other.").replace("needs: production", "needs: other")
    evil.write_text(text)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    summary = tmp_path / "summary.md"
    summary.write_text("")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, _ = doctor(capsys, "--workflows", str(evil))
    assert code == 2
    lines = [line for line in out.splitlines() if line.startswith("::error title=cdhelper doctor%3A gate-skip")]
    assert len(lines) == 1
    assert lines[0].startswith("::error title=cdhelper doctor%3A gate-skip-blocks-production,"
                               f"file=we%2Cird%3Aname.yml,line={marked(CORPUS / 'gate-skip-plain-needs.yml')}::")
    assert "prod%0A\\::error::x%25" in lines[0]  # the newline escaped, the command neutralised, % escaped
    assert not any(line.startswith("::error::x") for line in out.splitlines())
    assert "gate-skip-blocks-production" in summary.read_text()


@pytest.mark.parametrize("make, expect", [
    (lambda d: d / "missing", "does not exist"),
    (lambda d: d, "no workflow in"),
])
def test_bad_paths_give_one_line_and_exit_2(capsys, tmp_path, make, expect):
    code, out, err = doctor(capsys, "--workflows", str(make(tmp_path)))
    assert code == 2 and out == ""
    assert expect in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_unreadable_workflow_gives_one_line(capsys, tmp_path, monkeypatch):
    path = tmp_path / "cd.yml"
    path.write_text("on: push\n")

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr("cdhelper.doctor.model.open", refused, raising=False)  # chmod 000 means nothing to root
    code, _, err = doctor(capsys, "--workflows", str(path))
    assert code == 2 and "cannot be read: Permission denied" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_malformed_yaml_is_a_finding_at_its_line(capsys, tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("on: push\njobs:\n  a:\n    runs-on: [x\n    steps: []\n")
    ok = tmp_path / "fine.yml"
    shutil.copy(ROOT / "workflows-templates" / "cd-sweep.yml", ok)
    code, out, err = doctor(capsys, "--workflows", str(tmp_path), "--json")
    assert code == 2 and "Traceback" not in err
    data = json.loads(out)
    assert [(f["rule"], f["line"]) for f in data["findings"]] == [("yaml-syntax", 5)]
    assert len(data["workflows"]) == 2


def test_a_workflow_that_is_not_a_mapping_is_a_finding(capsys, tmp_path):
    path = tmp_path / "list.yml"
    path.write_text("- just\n- a list\n")
    code, out, _ = doctor(capsys, "--workflows", str(path), "--json")
    assert code == 2 and json.loads(out)["findings"][0]["rule"] == "yaml-syntax"


def test_fast_enough_for_the_first_job_of_a_pipeline(capsys):
    started = time.perf_counter()
    code, _, _ = doctor(capsys, "--workflows", str(LAYOUTS), "--workflows", str(ROOT / "workflows-templates" / "cd-sweep.yml"))
    assert code == 0
    assert time.perf_counter() - started < 0.5


def test_the_command_line_starts_and_answers_in_well_under_half_a_second():
    """A fresh process, as the template pipeline runs it (generous bound: the machine is shared)."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "cdhelper", "doctor", "--workflows",
                             str(LAYOUTS)], capture_output=True, text=True, cwd=ROOT,
                            timeout=30)
    elapsed = time.perf_counter() - started
    if "invalid choice: 'doctor'" in result.stderr:
        pytest.skip("doctor is not yet wired into cli.FAMILIES")
    assert result.returncode == 0, result.stderr
    assert elapsed < 1.5


def test_an_invalid_cd_yml_is_one_line(capsys, tmp_path):
    config = tmp_path / "cd.yml"
    config.write_text("version: 1\nenvironments: oops\n")
    code, out, err = doctor(capsys, "--workflows", str(LAYOUTS), "--config", str(config))
    assert code == 2 and out == "" and "key `environments` is invalid" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
