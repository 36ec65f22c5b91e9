"""DORA metrics and an environment's history, from a history made by cdhelper's own commands against
the double at known times (the double's clock is shifted), checked against figures computed by hand."""

from __future__ import annotations

import pytest

from cdhelper.observe import dora
from tests.flags.test_flags import FLAGS, write_flags

HOUR = 3600.0


def _at(double, hours_ago: float) -> None:
    double.world.clock.offset = -hours_ago * HOUR


class History:
    """Changes committed and deployed to staging and production at chosen hours ago."""

    def __init__(self, pipeline, double):
        self.p, self.double, self.run = pipeline, double, 500

    def change(self, version: str, committed: float, deployed: float, *, command: str = "true") -> int:
        _at(self.double, committed)
        self.p.sha = self.double.world.add_commit(self.double.repo("acme/app"), f"change {version}", branch="main")
        (self.p.artifact / "app.txt").write_text(f"build {version}\n")
        _at(self.double, deployed)
        self.run += 1
        self.p.new_run(self.run)
        assert self.p.release(version).code == 0
        assert self.p.promote("staging", version).code == 0
        return self.p.promote("production", version, "--run", command).code

    def rollback(self, version: str, at: float) -> None:
        _at(self.double, at)
        self.run += 1
        self.p.new_run(self.run)
        assert self.p.promote("production", version, "--rollback").code == 0


@pytest.fixture
def history(pipeline, double):
    h = History(pipeline, double)
    assert h.change("1.0.0", committed=100, deployed=98) == 0        # A: lead 2 h
    assert h.change("1.1.0", committed=80, deployed=77) == 0         # B: lead 3 h, then rolled back
    h.rollback("1.0.0", at=76)                                        # recovery of B: 1 h
    assert h.change("1.2.0", committed=60, deployed=56) == 0         # C: lead 4 h, the fix
    assert h.change("1.3.0", committed=40, deployed=39, command="exit 1") == 10  # D fails
    assert h.change("1.4.0", committed=30, deployed=29) == 0         # E: lead 1 h, recovers D in 10 h
    _at(double, 20)                                                   # a no-op: E's digest again, new version
    h.run += 1
    pipeline.new_run(h.run)
    assert pipeline.release("1.5.0").code == 0 and pipeline.promote("production", "1.5.0").code == 0
    _at(double, 0)
    return h


def test_dora_figures_equal_the_hand_computed_ones(pipeline, double, history):
    double.reset_log()
    out = pipeline.run("dora", "--json", "--window", "30d")
    assert out.code == 0, out.out + out.err
    [m] = out.data["metrics"]
    assert m["environment"] == "production"
    assert m["deployment_frequency"]["deployments"] == 4                      # A, B, C, E
    assert m["change_lead_time"]["median_seconds"] == pytest.approx(2.5 * HOUR, abs=60)
    assert m["change_lead_time"]["p90_seconds"] == pytest.approx(4 * HOUR, abs=60)
    assert (m["change_failure_rate"]["failed"], m["change_failure_rate"]["finished"]) == (2, 5)  # B rolled back, D failed
    assert m["change_failure_rate"]["rate"] == 0.4
    assert m["failed_deployment_recovery_time"]["median_seconds"] == pytest.approx(5.5 * HOUR, abs=60)  # 1 h and 10 h
    assert m["failed_deployment_recovery_time"] == {**m["failed_deployment_recovery_time"], "recovered": 2, "unrecovered": 0}
    assert m["deployment_rework_rate"] == {"rate": 0.6, "rework": 3, "rollbacks": 1, "successful": 5}  # R, C, E of 5
    assert m["excluded"] == {"no_op": 1, "in_flight": 0, "flag_flips": 0}
    assert out.data["requests"] == 2 and double.total_requests() == 2  # the page, and its runs' creation times
    assert "| Change failure rate | 40 % (2 of 5) |" in out.summary.replace("\\", "")


def test_a_shorter_window_counts_only_what_it_holds(pipeline, history):
    out = pipeline.run("dora", "--json", "--window", "2d")  # 48 h: D (39 h, failed), E (29 h) and the no-op
    [m] = out.data["metrics"]
    assert m["deployment_frequency"]["deployments"] == 1
    assert (m["change_failure_rate"]["failed"], m["change_failure_rate"]["finished"]) == (1, 2)
    assert m["failed_deployment_recovery_time"]["median_seconds"] == pytest.approx(10 * HOUR, abs=60)
    assert m["excluded"]["no_op"] == 1


def test_the_weekly_trend_is_drawn_as_mermaid_xycharts(pipeline, history):
    out = pipeline.run("dora", "--window", "30d", "--trend-weeks", "4")
    assert out.code == 0, out.err
    assert out.summary.count("```mermaid\nxychart-beta") == 5
    assert 'title "Deployments per week"' in out.summary
    weeks = [w["deployment_frequency"]["deployments"] for w in pipeline.run("dora", "--json", "--trend-weeks", "4").data[
        "trend"]["production"]]
    assert weeks == [0, 0, 0, 4]  # everything happened in the last 100 hours


def test_history_lists_the_timeline_newest_first(pipeline, history):
    out = pipeline.run("history", "--json", "--limit", "4")
    assert out.code == 0, out.err
    rows = out.data["deployments"]
    assert [r["version"] for r in rows] == ["1.5.0", "1.4.0", "1.3.0", "1.2.0"]
    states = [r["state"] for r in rows]
    assert states[2] == "failure" and {states[0], states[1], states[3]} <= {"success", "inactive"}
    assert rows[2]["duration_seconds"] is not None and rows[0]["approved_by"] == []
    assert out.data["complete"] is False
    everything = pipeline.run("history", "--json", "--limit", "100").data
    assert everything["complete"] is True
    rollback = next(r for r in everything["deployments"] if r["rollback_of"])
    assert rollback["version"] == "1.0.0"
    assert rollback["rollback_of"] == next(r["deployment_id"] for r in everything["deployments"] if r["version"] == "1.1.0")
    text = pipeline.run("history", "--limit", "3", actions=False)
    lines = [line for line in text.out.splitlines() if not line.startswith("::")]
    assert lines[0].startswith("CREATED (UTC)") and "1.5.0" in lines[1] and len(lines) == 5  # 3 rows + "older records"


def test_at_1000_deployments_dora_reads_in_twenty_requests(pipeline, double):
    repo = double.repo("acme/app")
    now = double.world.clock.now()
    for i in range(1000):
        payload = {"cdhelper": 1, "version": f"1.0.{i}", "digest": f"sha256:{i:064x}", "environment": "production",
                   "run": {"id": 9000 + i, "url": f"https://github.example/acme/app/actions/runs/{9000 + i}"}}
        double.world.seed_deployments(repo, 1, ["production"], payload=payload, start=now - (999.5 - i) * HOUR)
    double.reset_log()
    out = pipeline.run("dora", "--json", "--window", "52w")
    assert out.code == 0, out.err
    assert out.data["metrics"][0]["deployment_frequency"]["deployments"] == 1000
    assert out.data["requests"] == 20 and double.total_requests() == 20  # 10 pages, and each page's runs
    month = pipeline.run("dora", "--json", "--window", "30d").data
    assert month["metrics"][0]["deployment_frequency"]["deployments"] == 720  # one an hour
    assert month["requests"] == 16  # stops at the first page older than the window


def test_a_commit_dated_a_year_ahead_starts_its_lead_time_when_its_run_was_created(pipeline, double):
    """The committer date is the pusher's: a future one gave a negative lead time (median -182.5 days).
    GitHub's creation time of the run bounds it, and the report says which were clamped."""
    repo = double.repo("acme/app")
    _at(double, -365 * 24)
    pipeline.sha = double.world.add_commit(repo, "dated a year ahead", branch="main")
    _at(double, 10)
    double.create_run("acme/app", run_id=601)  # GitHub creates the run 10 h ago
    _at(double, 9)
    pipeline.new_run(601)
    assert pipeline.release("1.0.0").code == 0 and pipeline.promote("staging").code == 0
    assert pipeline.promote("production").code == 0  # live 9 h ago
    _at(double, 0)
    out = pipeline.run("dora", "--json", "--window", "30d")
    assert out.code == 0, out.out + out.err
    [m] = out.data["metrics"]
    [record] = pipeline.deployments("production")
    assert m["change_lead_time"]["median_seconds"] == pytest.approx(1 * HOUR, abs=60)  # from the run, not the commit
    assert m["change_lead_time"]["clamped"] == 1 and m["change_lead_time"]["clamped_deployment_ids"] == [record["id"]]
    assert f"1 deployment's commit date was after its run started: clamped (deployment {record['id']})" in out.summary
    assert "clamped" in out.out


def test_a_manual_rollback_after_a_flag_flip_counts_against_the_release_it_undid(pipeline, double):
    """The rollback names the flip it replaced (the record live then): the release the flip sat on is
    the one that failed, so B counts as failed with C: 2 of 3, not 1 of 3."""
    write_flags(pipeline, "staging", FLAGS)
    write_flags(pipeline, "production", FLAGS)
    h = History(pipeline, double)
    assert h.change("1.0.0", committed=100, deployed=98) == 0                    # A
    assert h.change("1.1.0", committed=80, deployed=77) == 0                     # B
    _at(double, 76.5)
    flip = pipeline.run("flags", "set", "new-checkout", "on", "--environment", "production", "--mode", "deployment")
    assert flip.code == 0, flip.out                                              # B's feature turned on
    h.rollback("1.0.0", at=76)                                                   # undoes B (and its flag)
    assert h.change("1.2.0", committed=60, deployed=56, command="exit 1") == 10  # C fails
    _at(double, 0)
    [m] = pipeline.run("dora", "--json", "--window", "30d").data["metrics"]
    b = next(d["id"] for d in pipeline.deployments("production") if d["payload"]["version"] == "1.1.0"
             and "flag_release" not in d["payload"])
    assert (m["change_failure_rate"]["failed"], m["change_failure_rate"]["finished"]) == (2, 3)
    assert b in m["change_failure_rate"]["failed_deployment_ids"]
    assert m["excluded"]["flag_flips"] == 1 and m["deployment_rework_rate"]["rollbacks"] == 1


@pytest.mark.parametrize("argv, message", [
    (["dora", "--window", "5y"], "window '5y' is not usable"),
    (["dora", "--window", "0d"], "window '0d' is not usable"),
    (["dora", "--trend-weeks", "99"], "--trend-weeks 99 is not usable"),
    (["dora", "--environment", "qa"], "qa"),
    (["history", "--limit", "0"], "--limit 0 is not usable"),
])
def test_bad_input_is_one_line_and_reads_nothing(pipeline, double, argv, message):
    double.reset_log()
    out = pipeline.run(*argv)
    assert out.code == 2 and message in out.out and "Traceback" not in out.out + out.err
    assert double.total_requests() == 0


def test_parse_window():
    assert dora.parse_window("30d").days == 30 and dora.parse_window("12w").days == 84
