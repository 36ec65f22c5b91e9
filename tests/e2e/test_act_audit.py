"""The monthly audit template (workflows-templates/cd-audit.yml) under act against the double, after
a real pipeline run: the CSV is kept as the run's artifact and the Markdown goes to the job summary."""

from __future__ import annotations

import csv
import io

import pytest

from cdhelper.devtools.rehearsal import REPOSITORY
from cdhelper.observe import audit
from tests.e2e.test_act_pipeline import rehearsal_factory  # noqa: F401 - the fixture, asked for by name below

pytestmark = pytest.mark.act


def test_the_audit_template_keeps_the_periods_changes_as_an_artifact(rehearsal_factory):  # noqa: F811
    r = rehearsal_factory("deployment")
    r.plan_run(review=None)
    assert r.act() == 0, r.output()[-3000:]
    [staging] = [d for d in r.double.repo(REPOSITORY).deployments.values() if d["environment"] == "staging"]
    [production] = [d for d in r.double.repo(REPOSITORY).deployments.values() if d["environment"] == "production"]
    r.double.reset_log()
    assert r.act("--input", "since=2000-01-01", "--input", "until=2100-01-01", workflow="cd-audit.yml",
                 event="workflow_dispatch", run_id=778) == 0, r.output()[-3000:]
    [kept] = list(r.store.glob("audit-production-2000-01-01/audit-production.csv"))
    rows = list(csv.DictReader(io.StringIO("".join(line for line in kept.read_text().splitlines(keepends=True)
                                                   if not line.startswith("#")))))
    assert [(r_["counted"], int(r_["deployment_id"]), r_["kind"], r_["version"], r_["mode"], r_["state"])
            for r_ in rows] == [("yes", production["id"], "promotion", "0.1.1", "deployment", "success")]
    assert rows[0]["evidence"].startswith(f"staging record {staging['id']}: 0.1.1, same digest, succeeded ")
    assert rows[0]["gate"] == "no human gate (Continuous Deployment)"
    footer = [line for line in kept.read_text().splitlines() if line.startswith("# ")]
    assert len(footer) == 1 + len(audit.LIMITS) and "1 change(s), 0 record(s) not counted" in footer[0]
    assert r.double.total_requests() == 1  # one page: production's and staging's records together
