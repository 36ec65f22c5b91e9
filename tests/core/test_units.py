"""Pure logic: configuration, versions, digests, the gate decision, workflow commands."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from cdhelper.cli.actions_io import ActionsIO
from cdhelper.core import config, versions
from cdhelper.core.context import parse_mode
from cdhelper.core.digests import digest_paths, parse_digest, parse_image
from cdhelper.core.errors import ConfigError, GateError, InputError
from cdhelper.deploy import gate


def test_no_config_file_gives_staging_then_production_gated_by_production_approval(tmp_path):
    cfg = config.load(workspace=str(tmp_path))
    assert [e.name for e in cfg.environments] == ["staging", "production"]
    assert cfg.gate_environment == "production-approval" and cfg.is_gated("production") and not cfg.is_gated("staging")
    assert cfg.environment("production").production and not cfg.environment("staging").production


def test_config_file_defines_path_gate_and_tags(tmp_path):
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "cd.yml").write_text("""
version: 1
environments:
  - name: dev
  - name: staging
    url: https://staging.example.com
    required-contexts: [acceptance]
  - name: production
    soak-minutes: 30
gate:
  environment: release-gate
tag:
  prefix: release-
""")
    cfg = config.load(workspace=str(tmp_path), gate_environment="release-gate")
    assert [e.name for e in cfg.environments] == ["dev", "staging", "production"]
    assert cfg.previous("production").name == "staging" and cfg.previous("dev") is None
    assert cfg.environment("staging").required_contexts == ("acceptance",)
    assert cfg.gate_protects == ("production",) and cfg.tag_prefix == "release-"


@pytest.mark.parametrize("text, key, words", [
    ("environments: staging", "environments", "should be of type array"),
    ("environments: []", "environments", "should not be empty"),
    ("environments: [{name: prod, colour: red}]", "environments/0", "unknown key(s) not allowed"),
    ("environments: [{url: https://x}]", "environments/0", "'name' is a required property"),
    ("environments: [{name: 'bad name!'}]", "environments/0/name", "does not match"),
    ("environments: [{name: a, soak-minutes: -1}]", "environments/0/soak-minutes", "at least 0"),
    ("gate: {environment: 5}", "gate/environment", "should be of type string"),
    ("tag: {prefix: 'v x'}", "tag/prefix", "does not match"),
    ("versioning: {base: '1.02'}", "versioning/base", "does not match"),
    ("version: 2", "version", "2"),
    ("stages: []", "(top level)", "unknown key(s) not allowed"),
])
def test_schema_errors_name_the_key_path_and_the_fix(tmp_path, text, key, words):
    path = tmp_path / "cd.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert f"key `{key}` is invalid" in err.value.what
    assert words in err.value.why
    assert err.value.fix


@pytest.mark.parametrize("text, words", [
    ("environments: [{name: a}, {name: A}]", "appears twice"),
    ("gate: {protects: [qa]}", "gate/protects"),
    ("gate: {environment: production}", "must be its own environment"),
])
def test_semantic_config_errors(tmp_path, text, words):
    path = tmp_path / "cd.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert words in err.value.one_line()


def test_invalid_yaml_names_line_and_column(tmp_path):
    path = tmp_path / "cd.yml"
    path.write_text("environments:\n  - name: a\n   - name: b\n")
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert "not valid YAML at line 3" in err.value.what


def test_semver_precedence_including_prereleases():
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
               "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"]
    parsed = [versions.parse(v) for v in ordered]
    assert sorted(reversed(parsed)) == parsed
    assert versions.parse("v1.2.3") == versions.parse("1.2.3+build.5")


@pytest.mark.parametrize("bad", ["1.2", "01.2.3", "1.2.3.4", "latest", "", "1.2.3-"])
def test_non_semver_versions_are_refused_with_the_value(bad):
    with pytest.raises(InputError) as err:
        versions.parse(bad)
    assert repr(bad) in err.value.what


def test_default_version_is_base_dot_run_number():
    assert str(versions.default_version("0.1", 42)) == "0.1.42"
    with pytest.raises(InputError):
        versions.default_version("0.1", 0)


@pytest.mark.parametrize("raw, mode", [("", "delivery"), (None, "delivery"), ("delivery", "delivery"),
                                       ("deployment", "deployment")])
def test_mode_defaults_to_delivery(raw, mode):
    assert parse_mode(raw) == mode


@pytest.mark.parametrize("raw", ["continuous", "cd", "true", "auto", "Deployment", " deployment ", "DELIVERY"])
def test_unknown_mode_fails_closed(raw):
    with pytest.raises(InputError) as err:
        parse_mode(raw)
    assert repr(raw) in err.value.what and "CD_MODE" in err.value.fix


def test_manifest_matches_sha256sum_format_and_ignores_location(tmp_path):
    for base in ("a", "b"):
        d = tmp_path / base / "dist"
        (d / "sub").mkdir(parents=True)
        (d / "x.txt").write_text("x\n")
        (d / "sub" / "y.bin").write_bytes(b"y" * 5000)
    first, second = digest_paths([str(tmp_path / "a" / "dist")]), digest_paths([str(tmp_path / "b" / "dist")])
    assert first.manifest == second.manifest
    listing = subprocess.run(["sha256sum", "x.txt", "sub/y.bin"], cwd=tmp_path / "a" / "dist", capture_output=True,
                             text=True, check=True).stdout
    assert first.sha256sum() == "".join(sorted(listing.splitlines(keepends=True), key=lambda line: line.split("  ")[1]))
    assert first.manifest == "sha256:" + hashlib.sha256(first.sha256sum().encode()).hexdigest()


def test_digest_changes_when_any_byte_changes(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"\x00" * 4096)
    before = digest_paths([str(f)]).manifest
    f.write_bytes(b"\x00" * 4095 + b"\x01")
    assert digest_paths([str(f)]).manifest != before


def test_threaded_and_single_threaded_digests_agree(tmp_path):
    for i in range(40):
        (tmp_path / f"f{i}").write_bytes(bytes([i]) * (1000 + i))
    assert digest_paths([str(tmp_path)], workers=1) == digest_paths([str(tmp_path)], workers=4)


def test_bad_artifact_paths_and_digests_are_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        digest_paths([str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="hold no files"):
        digest_paths([str(tmp_path / "empty")])
    with pytest.raises(InputError, match="not a sha256 digest"):
        parse_digest("sha256:abc")
    with pytest.raises(InputError, match="not identified by digest"):
        parse_image("ghcr.io/acme/app:latest")
    assert parse_image("ghcr.io/acme/app@sha256:" + "a" * 64)[0] == "ghcr.io/acme/app"


def test_gate_needs_an_approval_of_the_gate_environment_in_this_run():
    approvals = [{"state": "approved", "comment": "ok", "user": "alice", "environments": ["staging-approval"]}]
    with pytest.raises(GateError) as err:
        gate.decide(approvals, gate_environment="production-approval", run_id=1, target="production")
    assert "holds none" in err.value.why
    approvals.insert(0, {"state": "approved", "comment": "", "user": "bob", "environments": ["Production-Approval"]})
    decision = gate.decide(approvals, gate_environment="production-approval", run_id=1, target="production")
    assert decision.approvers == ({"login": "bob", "comment": ""},)


REJECTED = {"state": "rejected", "comment": "no", "user": "carol", "environments": ["gate"]}
APPROVED = {"state": "approved", "comment": "", "user": "bob", "environments": ["gate"]}


@pytest.mark.parametrize("history", [[REJECTED, APPROVED], [APPROVED, REJECTED]], ids=["rejected-first", "approved-first"])
def test_a_history_with_both_answers_is_decided_by_this_attempt_in_any_order(history):
    """GitHub lists reviews without times or a documented order (re-run attempts each add one)."""
    def decide(signal):
        return gate.decide(history, gate_environment="gate", run_id=1, target="production",
                           approved_in_attempt=lambda: signal)
    assert [a["login"] for a in decide(True).approvers] == ["bob"]  # this attempt's gate job ran
    with pytest.raises(GateError, match="carol rejected"):
        decide(False)  # this attempt's gate job did not succeed
    with pytest.raises(GateError, match="both an approval and a rejection"):
        decide(None)  # no way to tell: fail closed
    with pytest.raises(GateError, match="both an approval and a rejection"):
        gate.decide(history, gate_environment="gate", run_id=1, target="production")


def test_only_rejections_refuse_without_asking_about_the_attempt():
    asked = []
    with pytest.raises(GateError, match="carol rejected"):
        gate.decide([REJECTED], gate_environment="gate", run_id=1, target="production",
                    approved_in_attempt=lambda: asked.append(1) or True)
    assert asked == []


def test_the_gate_job_of_this_attempt_is_found_by_name_also_inside_a_called_workflow():
    jobs = [{"name": "pipeline / Approval (delivery mode)", "status": "completed", "conclusion": "success"},
            {"name": "Build", "status": "completed", "conclusion": "success"}]
    assert gate.gate_job_succeeded(jobs, "Approval (delivery mode)") is True
    assert gate.gate_job_succeeded(jobs, "Approve") is None
    jobs[0]["conclusion"] = "failure"
    assert gate.gate_job_succeeded(jobs, "Approval (delivery mode)") is False


def test_workflow_commands_escape_and_multiline_outputs_use_a_delimiter(tmp_path, capsys):
    out = tmp_path / "out"
    io = ActionsIO(in_actions=True, output_file=str(out))
    io.error("line1\nline2 100%", title="a:b,c")
    io.set_output("single", "x")
    io.set_output("multi", "a\nb")
    assert capsys.readouterr().out == "::error title=a%3Ab%2Cc::line1%0Aline2 100%25\n"
    lines = out.read_text().splitlines()
    assert lines[0] == "single=x" and lines[1].startswith("multi<<ghadelimiter_") and lines[2:4] == ["a", "b"]
    assert lines[4] == lines[1].split("<<")[1]


def test_masked_values_are_redacted_from_our_own_writes(tmp_path, capsys):
    io = ActionsIO(in_actions=False, summary_file=str(tmp_path / "s"))
    io.mask("s3cret")
    io.info("token s3cret here")
    io.append_summary("summary s3cret")
    assert "s3cret" not in capsys.readouterr().err
    assert (tmp_path / "s").read_text() == "summary ***"
