"""`inconclusive: pause` (docs/progressive-delivery.md, the table beside Argo Rollouts): an analysis that
ends inconclusive pauses the rollout at its step instead of undoing it; a person resumes or aborts it;
the soak job and the scheduled resume leave it alone; in the split layout the record job keeps such a
pause only at a step the open job's plan says may pause. Against the double, with hooks that log
what they are told. The command provider never says "inconclusive" itself (a statistical provider
such as `compare` does): here a failed sample of `unsure` is turned into an inconclusive one."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from cdhelper.core.errors import ConfigError
from cdhelper.progressive import analysis, strategies

from .test_rollouts import HOOK

CONFIG = """
environments:
  - name: staging
  - name: production
    strategy: {{canary: {{steps: [{{weight: 25, analysis: [unsure]}}, {{weight: 50, analysis: [unsure]}}, {{weight: 100}}]}}}}
    hooks:
      deploy: '{hook}'
      shift-traffic: '{hook}'
analysis:
  unsure:
    command:
      run: test "$CD_WEIGHT" != "{unsure_at}"
{on_inconclusive}"""


@pytest.fixture
def canary(pipeline, tmp_path):
    """configure(pause) writes cd.yml (`unsure` inconclusive at 25%); paused(version) promotes it."""
    log = tmp_path / "hooks.log"
    log.write_text("")
    real = analysis.run

    def inconclusive_instead_of_failed(a, variables, **kw):
        result = real(a, variables, **kw)
        return replace(result, outcome="inconclusive") if result.outcome == "failed" else result
    pipeline.mp.setattr(analysis, "run", inconclusive_instead_of_failed)

    def configure(pause: bool = True, unsure_at: str = "25") -> None:
        (pipeline.tmp / ".github").mkdir(exist_ok=True)
        (pipeline.tmp / ".github" / "cd.yml").write_text(CONFIG.format(
            hook=HOOK.format(log=log), unsure_at=unsure_at, on_inconclusive="    inconclusive: pause\n" if pause else ""))

    def release(version: str) -> None:
        (pipeline.artifact / "app.txt").write_text(f"build {version}\n")
        assert pipeline.release(version).code == 0
        pipeline.new_run(pipeline.run_id + 1)
        assert pipeline.promote("staging", version).code == 0

    def calls() -> list[str]:
        lines = log.read_text().splitlines()
        log.write_text("")
        return lines
    return configure, release, calls


def _statuses(pipeline, deployment_id: int) -> list[dict]:
    return pipeline.double.repo("acme/app").statuses[deployment_id]


def _paused(pipeline, canary) -> int:
    configure, release, calls = canary
    configure()
    release("1.0.0")
    calls()
    paused = pipeline.promote("production", "1.0.0")
    assert paused.code == 0 and paused.outputs["paused"] == "true" and paused.outputs["step"] == "1", paused.out
    [record] = pipeline.deployments("production")
    return record["id"]


def test_an_inconclusive_analysis_with_pause_pauses_at_its_step_and_undoes_nothing(pipeline, canary):
    ident = _paused(pipeline, canary)
    _, _, calls = canary
    assert calls() == ["deploy version=1.0.0 weight=0 slot= rollback=false",
                       "shift-traffic version=1.0.0 weight=25 slot= rollback=false"]  # no undo hook
    last = _statuses(pipeline, ident)[-1]
    assert last["state"] == "in_progress" and len(last["description"]) <= 140
    assert last["description"].startswith("paused at step 1 of 3: analysis unsure inconclusive (1)")
    assert last["description"].endswith(strategies.INCONCLUSIVE_TAIL)
    status = pipeline.run("status", "--json")
    [production] = [e for e in status.data["environments"] if e["environment"] == "production"]
    [rollout] = production["rollouts"]
    assert rollout["state"] == "paused" and rollout["step"] == 1
    assert rollout["resumes"].startswith("a person: `cdhelper rollout resume`") and "rollout abort" in rollout["resumes"]


def test_a_person_resumes_it_from_the_next_step_at_once_to_success(pipeline, canary):
    ident = _paused(pipeline, canary)
    _, _, calls = canary
    calls()
    pipeline.new_run(500)  # another run: a person, with no soak to wait for
    done = pipeline.run("rollout", "resume", "--environment", "production", "--mode", "deployment")
    assert done.code == 0, done.out
    # the 25% analysis is not run again (a person decided); the rest of the plan runs and passes
    assert calls() == ["shift-traffic version=1.0.0 weight=50 slot= rollback=false",
                       "shift-traffic version=1.0.0 weight=100 slot= rollback=false"]
    assert _statuses(pipeline, ident)[-1]["state"] == "success"


def test_a_second_inconclusive_step_pauses_again_after_a_resume(pipeline, canary):
    configure, release, calls = canary
    ident = _paused(pipeline, canary)
    configure(unsure_at="50")  # what was unsure at 25% is now unsure at 50%
    calls()
    again = pipeline.run("rollout", "resume", "--environment", "production", "--mode", "deployment")
    assert again.code == 0 and again.outputs["paused"] == "true" and again.outputs["step"] == "2", again.out
    assert calls() == ["shift-traffic version=1.0.0 weight=50 slot= rollback=false"]
    assert _statuses(pipeline, ident)[-1]["description"].startswith("paused at step 2 of 3: analysis unsure inconclusive")


def test_an_abort_undoes_a_rollout_an_inconclusive_analysis_paused(pipeline, canary):
    ident = _paused(pipeline, canary)
    _, _, calls = canary
    calls()
    done = pipeline.run("rollout", "abort", "--environment", "production", "--reason", "unsure")
    assert done.code == 0, done.out
    assert calls() == ["shift-traffic version=1.0.0 weight=0 slot= rollback=true"]
    assert _statuses(pipeline, ident)[-1]["state"] == "failure"


def test_the_scheduled_resume_and_the_soak_job_leave_an_inconclusive_pause_to_a_person(pipeline, canary):
    ident = _paused(pipeline, canary)
    _, _, calls = canary
    calls()
    before = len(_statuses(pipeline, ident))
    due = pipeline.run("rollout", "resume", "--due", "--mode", "deployment")
    assert due.code == 0 and due.outputs["state"] == "nothing-due", due.out
    soak_job = pipeline.promote("production", "1.0.0", "--resume-step", "1")
    assert soak_job.code == 0 and soak_job.outputs["state"] == "scheduled", soak_job.out
    assert len(_statuses(pipeline, ident)) == before and calls() == []


def test_without_the_key_an_inconclusive_analysis_still_undoes_the_canary(pipeline, canary):
    configure, release, calls = canary
    configure(pause=False)
    release("1.0.0")
    calls()
    failed = pipeline.promote("production", "1.0.0")
    assert failed.code != 0 and failed.outputs.get("paused") != "true", failed.out
    assert calls()[-1] == "shift-traffic version=1.0.0 weight=0 slot= rollback=true"
    [record] = pipeline.deployments("production")
    assert _statuses(pipeline, record["id"])[-1]["state"] == "failure"


def test_an_inconclusive_key_other_than_rollback_or_pause_is_refused_in_one_line():
    with pytest.raises(ConfigError) as refused:
        analysis.parse("x", {"command": {"run": "true"}, "inconclusive": "wait"})
    assert "`inconclusive` is 'wait'" in str(refused.value) and "rollback or pause" in str(refused.value)


# --- the split layout: the record job keeps a pause only where the open job's plan may pause ---------

READ_ONLY = "ghs_deploy_job_contents_read"


def _split(pipeline, version: str, *, report=None):
    pipeline.double.register_token(pipeline.token)
    pipeline.double.register_token(READ_ONLY, permissions={"contents": "read", "metadata": "read"})
    opened = pipeline.promote("production", version, "--phase", "open")
    assert opened.code == 0, opened.out
    handoff = opened.outputs["handoff"]
    deployed = pipeline.promote("production", version, "--phase", "deploy", "--handoff", handoff,
                                "--artifact", str(pipeline.artifact), GITHUB_TOKEN=READ_ONLY)
    raw = deployed.outputs.get("report", "") if report is None else report(opened.outputs["deployment-id"])
    closed = pipeline.promote("production", version, "--phase", "close", "--handoff", handoff,
                              "--job-result", "success", "--report", raw)
    return opened, deployed, closed


def test_the_record_job_keeps_a_reported_inconclusive_pause_where_the_plan_may_pause(pipeline, canary):
    configure, release, calls = canary
    configure()
    release("1.0.0")
    _, deployed, closed = _split(pipeline, "1.0.0")
    assert deployed.code == 0 and closed.outputs["paused"] == "true" and closed.outputs["step"] == "1", closed.out
    [record] = pipeline.deployments("production")
    last = _statuses(pipeline, record["id"])[-1]
    assert last["state"] == "in_progress" and len(last["description"]) <= 140
    assert last["description"].startswith("paused at step 1 of 3: an analysis was inconclusive")
    assert last["description"].endswith(strategies.INCONCLUSIVE_TAIL)


def test_in_the_split_layout_a_person_resumes_it_and_a_later_inconclusive_step_pauses_again(pipeline, canary):
    configure, release, calls = canary
    configure()
    release("1.0.0")
    _, _, closed = _split(pipeline, "1.0.0")
    assert closed.outputs["paused"] == "true" and closed.outputs["step"] == "1", closed.out
    [record] = pipeline.deployments("production")
    configure(unsure_at="50")
    calls()
    pipeline.new_run(600)
    base = ("rollout", "resume", "--environment", "production")
    opened = pipeline.run(*base, "--phase", "open", "--mode", "deployment")
    assert opened.code == 0 and opened.outputs["handoff"], opened.out
    deployed = pipeline.run(*base, "--phase", "deploy", "--handoff", opened.outputs["handoff"])
    assert deployed.code == 0 and calls() == ["shift-traffic version=1.0.0 weight=50 slot= rollback=false"]
    texts = [s["description"] for s in _statuses(pipeline, record["id"])]
    assert "Resuming 1.0.0 in production after the pause at step 1" in texts
    again = pipeline.run(*base, "--phase", "close", "--handoff", opened.outputs["handoff"], "--job-result", "success",
                         "--report", deployed.outputs["report"])
    assert again.code == 0 and again.outputs["paused"] == "true" and again.outputs["step"] == "2", again.out
    assert _statuses(pipeline, record["id"])[-1]["description"].startswith("paused at step 2 of 3: an analysis was")


@pytest.mark.parametrize("pause", [False, True])
def test_a_forged_report_of_a_pause_where_the_plan_may_not_pause_is_an_error(pipeline, canary, pause):
    """The deploy job ran repository code: a report of a pause at a step of no pausing analysis (or
    with no `inconclusive: pause` at all) must not leave the record in progress as if paused."""
    configure, release, calls = canary
    configure(pause=pause, unsure_at="none")  # every analysis passes: nothing pauses for real
    release("1.0.0")

    def forged(ident: str) -> str:
        return json.dumps({"v": 1, "deployment_id": int(ident), "state": "paused", "paused_at": 3 if pause else 1,
                           "statuses": []})
    _, _, closed = _split(pipeline, "1.0.0", report=forged)
    assert closed.outputs["paused"] == "false" and closed.outputs["state"] == "error", closed.out
    [record] = pipeline.deployments("production")
    assert _statuses(pipeline, record["id"])[-1]["state"] == "error"


# --- the executor: rolling batches and blue-green's idle slot pause and resume too -------------------

class _Unsure:
    """Hooks and an analysis `unsure` (with `inconclusive: pause`) inconclusive at the first call only."""

    def __init__(self):
        self.calls: list[str] = []
        self.reports: list[str] = []
        self.analysed = 0

    def rollout(self, plan: strategies.Plan) -> strategies.Rollout:
        def hook(name: str, extra: dict) -> int:
            self.calls.append(f"{name}#{extra.get('CD_BATCH', '')}{extra.get('CD_SLOT', '')}"
                              + (" (rollback)" if extra.get("CD_ROLLBACK") == "true" else ""))
            return 0

        def analyze(name: str, variables: dict):
            self.analysed += 1
            sample = analysis.Measurement(at=0.0, value=1.0, ok=None if self.analysed == 1 else True, detail="1")
            return analysis.Result(name, "inconclusive" if self.analysed == 1 else "passed", (sample,),
                                   f"{name} ...", pause=True)
        return strategies.Rollout(plan=plan, variables={"CD_VERSION": "2.0.0", "CD_PREVIOUS_VERSION": "1.0.0"},
                                  run_hook=hook, analyze=analyze, report=self.reports.append, log=lambda _: None,
                                  live_slot="blue")


def test_a_rolling_rollout_pauses_at_its_batch_and_resumes_with_the_next():
    fake = _Unsure()
    plan = strategies.Plan("rolling", batches=3, step_analysis=("unsure",))
    paused = strategies.execute(fake.rollout(plan))
    assert (paused.state, paused.paused_at, paused.undone) == ("paused", 1, False)
    assert fake.calls == ["deploy#1"] and fake.reports[-1].startswith("paused at step 1 of 3: analysis unsure inconclusive")
    assert strategies.pausing_steps(plan, {"unsure": analysis.parse("unsure", {"command": {"run": "true"},
                                                                               "inconclusive": "pause"})}) == (1, 2, 3)
    fake.calls.clear()
    done = strategies.execute(fake.rollout(plan), start=1)
    assert done.state == "completed" and fake.calls == ["deploy#2", "deploy#3"]


def test_a_rolling_rollout_resumed_then_failing_undoes_the_batches_before_the_pause_too():
    fake = _Unsure()
    fake.analysed = 1  # the pause at batch 1 happened in an earlier job
    plan = strategies.Plan("rolling", batches=2, step_analysis=("unsure",))
    r = fake.rollout(plan)
    failing = strategies.Rollout(**{**r.__dict__, "run_hook": lambda name, extra: 3 if "CD_ROLLBACK" not in extra
                                    and extra.get("CD_BATCH") == "2" else r.run_hook(name, extra)})
    out = strategies.execute(failing, start=1)
    assert out.state == "failed" and out.undone and fake.calls == ["deploy#1 (rollback)"]  # batch 1 ran before the pause


def test_blue_green_pauses_before_the_switch_and_resumes_with_the_switch():
    fake = _Unsure()
    plan = strategies.Plan("blue-green", step_analysis=("unsure",))
    paused = strategies.execute(fake.rollout(plan))
    assert (paused.state, paused.paused_at, paused.undone) == ("paused", 1, False)
    assert fake.calls == ["deploy#green"]  # deployed to the idle slot; traffic never moved, nothing undone
    fake.calls.clear()
    done = strategies.execute(fake.rollout(plan), start=1)
    assert done.state == "completed" and fake.calls == ["switch#green", "teardown#"]


def test_after_the_rollout_an_inconclusive_analysis_undoes_even_with_pause():
    fake = _Unsure()
    out = strategies.execute(fake.rollout(strategies.Plan("all-at-once", analysis=("unsure",))))
    assert out.state == "failed" and out.undone and fake.calls == ["deploy#", "deploy# (rollback)"]


def test_status_reads_a_resume_after_an_inconclusive_pause_as_a_resume():
    from cdhelper.observe.rollouts import parse_step
    step = parse_step("Resuming 1.0.0 in production after the pause at step 1")
    assert step is not None and step.resuming and step.step == 1
