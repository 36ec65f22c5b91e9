"""--dry-run on release and promote (rollback included): every check with reads only, the same exit
code and message as the real run, what would be written printed, and not one write in the double."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def writes(double):
    """Every write the double receives: REST verbs other than GET/HEAD, and GraphQL mutations."""
    seen: list[str] = []

    def watch(req, resp):
        if req.method not in {"GET", "HEAD"} and req.path.rstrip("/").endswith("/graphql"):
            query = json.loads(req.body or b"{}").get("query", "")
            if query.lstrip().startswith("mutation"):
                seen.append(f"graphql {query[:60]}")
        elif req.method not in {"GET", "HEAD"} and "/_double/" not in req.path:
            seen.append(f"{req.method} {req.path}")
    double.observe(watch)
    return seen


def _headline(out: str) -> str:
    """The error annotation's line: what failed, why and the fix."""
    return next(line for line in out.splitlines() if line.startswith("::error"))


def test_a_release_dry_run_tells_the_tag_it_would_make_and_writes_nothing(pipeline, writes):
    dry = pipeline.release("1.0.0", "--dry-run")
    assert dry.code == 0, dry.out
    assert writes == []
    assert f"would create tag v1.0.0 -> {pipeline.sha[:12]}" in dry.out + dry.err
    assert dry.data["dry_run"] is True and dry.data["would"][0]["tag"] == "v1.0.0"
    real = pipeline.release("1.0.0")
    assert real.code == 0 and real.outputs["digest"] == dry.outputs["digest"] == dry.data["digest"]
    assert len(writes) == 2, writes  # the tag object and its ref: what the dry run announced
    again = pipeline.release("1.0.0", "--dry-run")
    assert again.code == 0 and "already records this build: nothing to write" in again.out + again.err
    assert len(writes) == 2


def test_a_release_dry_run_prints_created_as_the_real_run_does_a_boolean(pipeline):
    dry = pipeline.release("1.0.0", "--dry-run")
    real = pipeline.release("1.0.0")
    assert dry.data["created"] is True and real.data["created"] is True
    again = pipeline.release("1.0.0", "--dry-run")
    assert again.data["created"] is False and pipeline.release("1.0.0").data["created"] is False
    assert dry.outputs["created"] == real.outputs["created"] == "true", "step outputs stay strings"


def test_a_release_dry_run_refuses_as_the_real_run_does(pipeline, writes):
    assert pipeline.release("1.0.0").code == 0
    (pipeline.artifact / "app.txt").write_text("a different build\n")
    count = len(writes)
    dry = pipeline.release("1.0.0", "--dry-run")
    real = pipeline.release("1.0.0")
    assert dry.code == real.code == 5
    assert _headline(dry.out) == _headline(real.out)
    assert "already exists with other content" in dry.out
    assert len(writes) == count + 2, "only the real run tried (the tag object, then the ref GitHub refused)"


def test_a_release_dry_run_of_a_commit_github_does_not_know_refuses_like_the_real_run(pipeline, writes):
    unknown = "0" * 40
    dry = pipeline.release("1.0.0", "--dry-run", "--commit", unknown)
    assert writes == []
    real = pipeline.release("1.0.0", "--commit", unknown)
    assert dry.code == real.code == 2
    assert f"commit {unknown} cannot be tagged" in _headline(dry.out) and f"commit {unknown} cannot be tagged" in _headline(real.out)


def test_a_promotion_dry_run_predicts_the_record_exactly_and_runs_nothing(pipeline, writes, tmp_path):
    assert pipeline.release().code == 0
    before = len(writes)
    marker = tmp_path / "deployed"
    dry = pipeline.promote("staging", "1.0.0", "--dry-run", "--run", f"touch {marker}")
    assert dry.code == 0, dry.out
    assert len(writes) == before and not marker.exists() and pipeline.deployments() == []
    would = dry.data["would"]
    assert dry.outputs["state"] == "dry-run" and "deployment-id" not in dry.outputs
    assert would["writes"][1] == {"statuses": ["queued", "in_progress", "success"]}
    assert would["deploy_command"] == f"touch {marker}"
    assert "would create a deployment record in staging" in dry.out + dry.err
    assert "Would write (nothing was written)" in dry.summary
    real = pipeline.promote("staging", "1.0.0", "--run", f"touch {marker}")
    assert real.code == 0 and marker.exists()
    [record] = pipeline.deployments("staging")
    assert record["payload"] == would["writes"][0]["payload"]
    assert record["description"] == would["writes"][0]["description"]
    assert pipeline.states(record["id"]) == would["writes"][1]["statuses"]


def test_a_promotion_dry_run_at_the_gate_refuses_as_the_real_run_does(pipeline, double, writes):
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    double.create_run("acme/app", run_id=4242)
    pipeline.release()
    pipeline.promote("staging", mode="delivery")
    before = len(writes)
    dry = pipeline.promote("production", "1.0.0", "--dry-run", mode="delivery")
    real = pipeline.promote("production", mode="delivery")
    assert dry.code == real.code == 6
    assert _headline(dry.out) == _headline(real.out)
    assert len(writes) == before


def test_a_promotion_dry_run_refuses_an_older_version_as_the_real_run_does(pipeline, writes):
    for version in ("1.0.0", "1.1.0"):
        pipeline.release(version)
        (pipeline.artifact / "app.txt").write_text(f"build {version}\n")
    pipeline.promote("staging", "1.1.0")
    before = len(writes)
    dry = pipeline.promote("staging", "1.0.0", "--dry-run")
    assert len(writes) == before
    real = pipeline.promote("staging", "1.0.0")
    assert dry.code == real.code == 8
    assert _headline(dry.out) == _headline(real.out)


def test_a_rollback_dry_run_predicts_the_rollback_record(pipeline, writes):
    for version in ("1.0.0", "1.1.0"):
        assert pipeline.release(version).code == 0
        assert pipeline.promote("staging", version).code == 0
        (pipeline.artifact / "app.txt").write_text(f"after {version}\n")
    pipeline.new_run(5151)  # the rollback is a run of its own (cd-promote.yml)
    before = len(writes)
    dry = pipeline.promote("staging", "1.0.0", "--rollback", "--dry-run")
    assert dry.code == 0, dry.out
    assert len(writes) == before
    predicted = dry.data["would"]["writes"][0]
    assert predicted["payload"]["rollback_of"] and predicted["description"].startswith("Rollback to 1.0.0")
    assert "Dry run: every check passed; would roll back" in dry.summary
    real = pipeline.promote("staging", "1.0.0", "--rollback")
    assert real.code == 0, real.out
    record = max(pipeline.deployments("staging"), key=lambda d: d["id"])
    assert record["payload"] == predicted["payload"]
