"""Progressive delivery through the reusable workflow (.github/workflows/cd.yml), called in one
`uses:` as a user adopts it, under act, against the GitHub double, with production on the real
nginx + Prometheus platform: rolling batches stopping at the first bad one, an inconclusive
analysis failing, Prometheus unreachable refused before any write, a freeze blocking a promotion
but not a rollback, and a rollback by hand after the workflow artifact is gone."""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timedelta, timezone

import pytest

from cdhelper.devtools.rehearsal import REPOSITORY, TOKEN, Rehearsal
from cdhelper.devtools.rehearsal.platform.common import free_port
from cdhelper.devtools.rehearsal.scenarios import HOOKS, errors_query

pytestmark = pytest.mark.act

# The split layout: the rollout's steps reach the record through the record job, labelled as such.
REPORTED = " (reported by the deploy job)"


# A deploy hook that notes which files it was given (CD_ARTIFACT), then deploys on the platform.
NOTING_DEPLOY = f"""#!/usr/bin/env bash
set -euo pipefail
echo "$CD_VERSION ${{CD_ROLLBACK:-false}} $(cat "${{CD_ARTIFACT:-/nonexistent}}/COMMIT" 2>/dev/null || echo none)" >> "$NOTES"
exec '{HOOKS}/deploy.sh'
"""


class Pipeline:
    """The scratch app calling the reusable workflow; production is `app` on the shared platform."""

    def __init__(self, workdir, platform, app: str):
        self.platform, self.app = platform, app
        self.r = Rehearsal(mode="deployment", workdir=workdir)
        self.caller = self.r.call_reusable_workflow()
        (self.r.repo_dir / "noting-deploy.sh").write_text(NOTING_DEPLOY)
        (self.r.repo_dir / "noting-deploy.sh").chmod(0o755)
        self.notes = workdir / "deploy-notes"
        self.runs = 0

    def cd_yml(self, *, strategy: str = "all-at-once", analysis: str = "", prometheus: str = "", freeze: str = "") -> str:
        prometheus = prometheus or self.platform.prometheus_url
        return f"""version: 1
tag: {{release: true}}
environments:
  - name: staging
  - name: production
    strategy: {strategy}
    hooks: {{deploy: ./noting-deploy.sh}}
    {f"analysis: [{analysis}]" if analysis else ""}
analysis:
  errors:
    prometheus: {{url: '{prometheus}', query: '{errors_query(self.app)}', max: 0.05}}
    initial-delay: 1s
    interval: 1s
    count: 3
    min-samples: 2
  quiet:                   # a query with no data: every sample is empty, so the analysis is inconclusive
    prometheus: {{url: '{prometheus}', query: 'sum(rate(http_requests_total{{app="{self.app}-nobody"}}[5s]))', max: 1}}
    interval: 1s
    count: 2
    min-samples: 1
{freeze}"""

    def release(self, cd_yml: str, *, bad: bool = False, workflow: str = "", extra=(), event="push",
                ) -> tuple[int, str]:
        """A new commit (with this cd.yml) and one run of the pipeline; (act's exit, the version)."""
        self.runs += 1
        version = f"0.1.{self.runs}"
        self.r.commit(f"Release {version}", {".github/cd.yml": cd_yml, "app/index.html": f"<p>Hello from the cdhelper rehearsal, {version}.</p>\n"})
        return self.run(version, bad=bad, workflow=workflow, extra=extra, event=event), version

    def run(self, version: str, *, bad: bool = False, workflow: str = "", extra=(), event="push") -> int:
        run_id = 5000 + len(self.r.double.repo(REPOSITORY).runs)
        self.r.plan_run(run_id=run_id, review=None)
        return self.r.act(*extra, run_id=run_id, run_number=self.runs, workflow=workflow or self.caller, event=event, env={
            "CDHELPER_PLATFORM": str(self.platform.directory), "CDHELPER_PLATFORM_APP": self.app,
            "CDHELPER_PLATFORM_BAD_VERSIONS": version if bad else "", "NOTES": str(self.notes)})

    def production(self) -> list[dict]:
        repo = self.r.double.repo(REPOSITORY)
        out = []
        for dep in repo.deployments.values():
            if dep["environment"] == "production":
                statuses = repo.statuses.get(dep["id"], [])
                out.append({**dep, "state": statuses[-1]["state"] if statuses else "none",
                            "steps": [s["description"] for s in statuses], "changed": statuses[-1]["created_at"]})
        return out

    def served_since(self, when: float, enough: int = 40) -> dict:
        """What production served since `when`, once the steady load sent `enough` requests then."""
        deadline = time.monotonic() + 15
        while True:
            served = self.platform.requests(self.app, since=when)
            if sum(served.values()) >= enough or time.monotonic() > deadline:
                return served
            time.sleep(0.2)


@pytest.fixture
def pipeline(tmp_path, platform, app):
    p = Pipeline(tmp_path / "rehearsal", platform, app)
    platform.send_load(app, 40)
    yield p
    assert TOKEN not in p.r.output(), "the token leaked into the job logs"
    assert TOKEN not in json.dumps(p.r.double.snapshot(), default=str)
    p.r.close(keep=True)


def test_rolling_stops_at_the_first_bad_batch_and_an_inconclusive_analysis_fails(pipeline):
    rolling = "{rolling: {batches: 3, analysis: [errors]}}"
    code, good = pipeline.release(pipeline.cd_yml(strategy=rolling))
    assert code == 0, pipeline.r.output()[-3000:]
    [first] = pipeline.production()
    assert first["state"] == "success"
    assert [s.split(": ", 2)[:2] for s in first["steps"] if s.startswith("rolling")] == [
        [f"rolling {i}/3", "batch deployed - errors passed"] for i in (1, 2, 3)], first["steps"]

    # A bad version: the first batch's analysis fails; no second batch, the old version back everywhere.
    code, bad = pipeline.release(pipeline.cd_yml(strategy=rolling), bad=True)
    assert code != 0
    failed, rollback = pipeline.production()[1:]
    assert failed["payload"]["version"] == bad and failed["state"] == "failure"
    assert not any(s.startswith("rolling 2/3") for s in failed["steps"]), failed["steps"]
    assert "analysis errors failed" in failed["steps"][-1]
    assert rollback["payload"]["rollback_of"] == failed["id"] and rollback["payload"]["version"] == good
    assert rollback["state"] == "success"
    served = pipeline.served_since(rollback["changed"])
    assert served.get(bad, 0) == 0 and served.get(good, 0) > 0, served

    # Too few samples: inconclusive, which never passes: rolled back the same way.
    code, quiet = pipeline.release(pipeline.cd_yml(analysis="quiet"))
    assert code != 0
    failed, rollback = pipeline.production()[3:]
    assert failed["payload"]["version"] == quiet and failed["state"] == "failure"
    assert "inconclusive" in failed["steps"][-1], failed["steps"]
    assert rollback["payload"]["version"] == good and rollback["state"] == "success"
    assert "inconclusive" in pipeline.r.output()


def test_unreachable_prometheus_and_a_freeze_stop_promotions_but_a_rollback_by_hand_goes_through(pipeline):
    code, first = pipeline.release(pipeline.cd_yml(analysis="errors"))
    assert code == 0, pipeline.r.output()[-12000:]
    first_commit = pipeline.r.head()
    code, second = pipeline.release(pipeline.cd_yml(analysis="errors"))
    assert code == 0, pipeline.r.output()[-3000:]
    assert [d["payload"]["version"] for d in pipeline.production()] == [first, second]
    assert pipeline.production()[-1]["state"] == "success"

    # Prometheus unreachable: refused before anything is written to production.
    closed = f"http://127.0.0.1:{free_port()}"
    code, third = pipeline.release(pipeline.cd_yml(analysis="errors", prometheus=closed))
    assert code != 0
    assert len(pipeline.production()) == 2
    assert f"Prometheus at {closed} is unreachable (analysis `errors`)" in pipeline.r.output()

    # A freeze on now: the promotion to production is refused; staging still took the candidate.
    now = datetime.now(timezone.utc)
    freeze = (f"freeze:\n  - from: '{(now - timedelta(days=1)):%Y-%m-%dT%H:%M}'\n"
              f"    to: '{(now + timedelta(days=1)):%Y-%m-%dT%H:%M}'\n    timezone: UTC\n")
    code, fourth = pipeline.release(pipeline.cd_yml(analysis="errors", freeze=freeze))
    assert code != 0
    assert len(pipeline.production()) == 2 and "a deploy freeze is on" in pipeline.r.output()
    staging = [d for d in pipeline.r.double.repo(REPOSITORY).deployments.values() if d["environment"] == "staging"]
    assert staging[-1]["payload"]["version"] == fourth

    # The workflow artifacts are gone; a rollback by hand, during the freeze, redeploys the first
    # version's released files (from its GitHub Release, verified), not a rebuild.
    shutil.rmtree(pipeline.r.store)
    pipeline.r.store.mkdir()
    mark = time.time()
    code = pipeline.run(first, workflow="cd-promote.yml", event="workflow_dispatch", extra=(
        "--input", f"version={first}", "--input", "environment=production", "--input", "rollback=true"))
    assert code == 0, pipeline.r.output()[-3000:]
    rollback = pipeline.production()[-1]
    assert rollback["payload"]["version"] == first and rollback["payload"]["rollback_of"] == pipeline.production()[1]["id"]
    assert rollback["state"] == "success"
    assert pipeline.notes.read_text().splitlines()[-1] == f"{first} true {first_commit}"
    served = pipeline.served_since(max(mark, rollback["changed"]) + 1)  # once the rollback's record said success
    assert set(served) == {first}, served
