"""Kill-at-random (issue "Hardening", finding 10): 100 seeded trials, each SIGKILLs a real
`cdhelper promote` process at a chosen moment, then runs what the workflow runs next: `finish`
(job failure or cancelled), the re-run (same run id, attempt + 1, a fresh runner) to completion,
the re-run's own `finish` (job success), and, seven hours later, `sweep`. After every trial:

- at most one cdhelper record per (environment, run id, digest): no duplicates;
- no cdhelper record left queued, in_progress or pending (no status);
- no status other than success is ever appended to a record after it succeeded, except GitHub's
  own `inactive` when a newer deployment succeeds (how that is told from tampering: killing.py);
- `finish` posts only on this run's records of its environment that were still in flight (error,
  or failure when the job failed), and leaves none of them in flight; a job that succeeded and
  holds no marker file costs no request at all; `sweep` posts only on records in flight;
- the environment ends with the candidate live, and the token shows in no output or stored data.

Kill points are spread by plan (seed % 6): before the record exists, after create, after queued,
during the deploy command, after the final status, after exit (no kill: a later step failed).
Anchored kills fire from an observer on the double right after the anchor write is applied, with
a delay of 0 (the write happened, promote never heard of it) or sampled from the gaps of an
unkilled promote measured once per worker; seeded latency faults stretch the windows, and the
landing is read back from what the double holds. Deploy commands sometimes sleep, sometimes fail
on attempt 1, and sometimes leave a background process that rewrites the record marker in
RUNNER_TEMP to another deployment id (the earlier version's live record, this run's staging record,
or its own) after a delay, possibly after promote exited: finding 10's attack. The suite waits for
every process the killed promote left behind before `finish` runs (the worst case for `finish`).

What GitHub holds before the kill (releases, earlier promotions, all in-process) is built once per
worker and kind of trial and restored into a fresh double for each trial.

Set CDHELPER_KILL_LOG=path to append one JSON line per trial (plan, landing, problems, statuses).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from cdhelper.core.digests import digest_paths
from cdhelper.core.errors import DeployError
from cdhelper.deploy.records import validate_payload
from cdhelper.devtools.double import Fault, GitHubDouble
from cdhelper.devtools.double import http as double_http

from .harness import PipelineRun, assert_no_sentinel, new_double
from .killing import (
    CREATE,
    IN_FLIGHT,
    PHASES,
    STATUS,
    Command,
    Connections,
    Promote,
    Timeline,
    Trial,
    Watch,
    changes,
    check_world,
    classify,
    history,
    latest_state,
    ours,
    run_of,
)

TRIALS = 100
CHUNK = 10
RUN_ID, OLD_RUN_ID = 5000, 4000
VERSION, OLD_VERSION = "1.1.0", "1.0.0"


@pytest.fixture(scope="module", autouse=True)
def _quiet_double():
    """A killed client resets its connections, which socketserver would print as tracebacks:
    expected here, so not printed."""
    original = double_http.DoubleHTTPServer.handle_error

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            original(self, request, client_address)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(double_http.DoubleHTTPServer, "handle_error", handle_error)
        yield


# --- what GitHub holds before the kill -----------------------------------------------------------

@dataclass(frozen=True)
class World:
    snapshot: str  # the double's state, JSON
    digest: str  # the candidate's manifest digest
    old: dict  # environment -> the earlier version's live record
    own_staging: int | None  # the candidate's staging record (this run), when the target is production


def _artifact(work, version: str):
    artifact = work / f"dist-{version}"
    artifact.mkdir(parents=True, exist_ok=True)
    (artifact / "app.txt").write_text(f"build {version}\n")
    return artifact


def _job(gh, workdir, run_id: int, attempt: int = 1) -> PipelineRun:
    """A job of the run on a fresh runner: its own RUNNER_TEMP, outputs and summary."""
    (workdir / "runner").mkdir(parents=True)
    return PipelineRun(gh, workdir, run_id=run_id, attempt=attempt)


class Worlds:
    """Built once per worker and kind of trial by running the steps in-process: maybe an earlier
    version live everywhere (run 4000), the candidate released by run 5000 and, when production is
    the target, promoted to staging by the same run. Restored into a fresh double per trial."""

    def __init__(self, tmp_path):
        self.tmp_path, self.built = tmp_path, {}

    def get(self, environment: str, prior_live: bool, mode: str) -> World:
        key = (environment, prior_live, mode if environment == "production" else "")
        if key not in self.built:
            self.built[key] = self._build(self.tmp_path / "-".join(map(str, key)), environment, prior_live, mode)
        return self.built[key]

    @staticmethod
    def _build(work, environment: str, prior_live: bool, mode: str) -> World:
        gh = new_double()  # run 5000 holds alice's approval of production-approval (delivery mode)
        try:
            repo, old, steps = gh.repo("acme/app"), {}, []
            if prior_live:
                job = _job(gh, work / "old", OLD_RUN_ID)
                steps.append(job.run("release", "--version", OLD_VERSION, "--artifact", str(_artifact(work, OLD_VERSION))))
                for env in ("staging", "production"):
                    steps.append(job.run("promote", "--environment", env, "--version", OLD_VERSION, "--mode", "deployment"))
                    old[env] = max(repo.deployments)
            job = _job(gh, work / "candidate", RUN_ID)
            artifact = _artifact(work, VERSION)
            steps.append(job.run("release", "--version", VERSION, "--artifact", str(artifact)))
            if environment == "production":
                steps.append(job.run("promote", "--environment", "staging", "--version", VERSION, "--mode", mode))
            for step in steps:
                assert step.code == 0, step.stdout
                assert_no_sentinel(step.stdout + step.stderr, f"{step.argv[0]} output")
            return World(json.dumps(gh.snapshot()), digest_paths([str(artifact)], []).manifest, old,
                         max(repo.deployments) if environment == "production" else None)
        finally:
            gh.stop()


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> Worlds:
    return Worlds(tmp_path_factory.mktemp("worlds"))


def _double(world: World) -> GitHubDouble:
    gh = GitHubDouble().start()
    gh.restore(json.loads(world.snapshot))
    return gh


def _abandon(gh, environment: str) -> int:
    """An older version's record of run 4500, in_progress for 8 h: its runner was lost. (Old by
    the double's clock and by the real one, so whichever clock sweep measures age with, it is
    abandoned; the 7 h the suite then adds to the double's clock make nothing else old by it.)"""
    repo = gh.repo("acme/app")
    payload = {"cdhelper": 1, "version": "1.0.1", "tag": "v1.0.1", "commit": repo.resolve("main"),
               "digest": "sha256:" + "ab" * 32, "images": [], "environment": environment, "mode": "deployment",
               "run": {"id": 4500, "attempt": 1, "number": 2, "url": "https://github.com/acme/app/actions/runs/4500",
                       "actor": "octocat"}, "gate": {"required": False}, "promoted_from": None, "rollback_of": None,
               "previous": None, "strategy": "all-at-once"}
    validate_payload(payload)
    return gh.seed_deployments("acme/app", 1, [environment], state="in_progress", payload=payload,
                               start=gh.world.clock.now() - 8 * 3600)[0]


# --- the killed promote --------------------------------------------------------------------------

def _spawn(run: PipelineRun, cwd, environment: str, mode: str, command: str) -> Promote:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "CD_", "RUNNER_"))}
    cwd.mkdir(exist_ok=True)
    return Promote(["promote", "--environment", environment, "--version", VERSION, "--mode", mode, "--run", command],
                   env | run.environ(), cwd, run.workdir / "promote.log")


@pytest.fixture(scope="module")
def timeline(worlds, tmp_path_factory) -> Timeline:
    """When each write of an unkilled promote lands, from spawn: the median of 3 on this machine."""
    measured = []
    for i in range(3):
        work = tmp_path_factory.mktemp(f"calibrate{i}")
        gh = _double(worlds.get("production", False, "deployment"))
        try:
            watch = Watch()
            gh.observe(watch)
            promote = _spawn(_job(gh, work / "job", RUN_ID), work / "cwd", "production", "deployment", ":")
            watch.t0 = promote.started
            code = promote.wait()
            exited = time.monotonic() - promote.started
            promote.drain()
            assert code == 0, promote.output()
            measured.append(Timeline(exit=exited, **watch.times))
        finally:
            gh.stop()
    return Timeline.median(measured)


def _faults(rng: random.Random) -> list[Fault]:
    routes = ["*", CREATE, "POST /graphql", STATUS]
    return [Fault("latency", route=rng.choice(routes), probability=rng.uniform(0.3, 1.0),
                  latency=rng.uniform(0.002, 0.03), seed=rng.randrange(10**9))
            for _ in range(rng.randint(1, 3))]


def _plan(seed: int, rng: random.Random, cal: Timeline, command: Command) -> tuple[str, str | None, float]:
    """(phase, anchor, delay): the delay is 0 (right after the anchor write is applied, before
    promote hears of it) or sampled from the measured gap to the next write."""
    phase = PHASES[seed % len(PHASES)]
    if phase == "before-record":
        return phase, "spawn", rng.uniform(0, cal.create)
    if phase == "after-create":
        return phase, "create", 0.0 if rng.random() < 0.3 else rng.uniform(0, cal.queued - cal.create)
    if phase == "after-queued":
        return phase, "queued", 0.0 if rng.random() < 0.3 else rng.uniform(0, cal.in_progress - cal.queued)
    if phase == "during-command":
        return phase, "in_progress", rng.uniform(0, cal.final - cal.in_progress + command.sleep)
    if phase == "after-final":
        return phase, "final", 0.0 if rng.random() < 0.5 else rng.uniform(0, cal.exit - cal.final)
    return phase, None, 0.0


# --- one trial ---------------------------------------------------------------------------------

def trial(seed: int, tmp_path, cal: Timeline, worlds: Worlds) -> Trial:
    rng = random.Random(seed)
    work = tmp_path / f"seed{seed}"
    environment = "production" if rng.random() < 0.7 else "staging"
    mode = rng.choice(["deployment", "delivery"])
    prior_live = rng.random() < 0.5
    abandoned = rng.random() < 0.3
    world = worlds.get(environment, prior_live, mode)
    gh = _double(world)
    connections = Connections(gh._server)
    repo = gh.repo("acme/app")
    promote = None
    try:
        if abandoned:  # a record another run's lost runner left in progress: sweep's, never finish's
            abandoned = _abandon(gh, environment)
        # The deploy command, and the marker rewrite it may leave behind.
        targets = ["own"] + [world.old[environment]] * 2 if world.old else ["own"]
        targets += [world.own_staging] if world.own_staging else []
        targets += [abandoned] if abandoned else []
        kind = rng.choices(["quick", "sleep", "flaky"], weights=[35, 50, 15])[0]
        command = Command(work / "signals", environment, VERSION, sleep=rng.uniform(0.01, 0.12) * (kind == "sleep"),
                          flaky=kind == "flaky", rewrite_to=rng.choice(targets) if rng.random() < 0.5 else None,
                          rewrite_after=rng.uniform(0, 0.15))
        command.signals.mkdir(parents=True)
        phase, anchor, delay = _plan(seed, rng, cal, command)
        job_status = rng.choice(["failure", "cancelled"])
        result = Trial(seed, f"{phase}@{anchor}+{delay * 1000:.0f}ms", {
            "environment": environment, "mode": mode, "prior_live": prior_live, "abandoned": abandoned, "command": kind,
            "rewrite_to": command.rewrite_to, "rewrite_after": round(command.rewrite_after, 3), "job_status": job_status})

        # Attempt 1: promote as a real process, killed at the planned moment.
        run = _job(gh, work / "attempt1", RUN_ID)
        gh.inject(*_faults(rng))
        watch = Watch(anchor, delay, kill=lambda: promote.kill())
        gh.observe(watch)
        promote = _spawn(run, work / "cwd", environment, mode, command.text())
        watch.t0 = promote.started
        if anchor == "spawn":
            watch.fire()
        code = promote.wait()
        watch.cancel()
        gh.app.observers.remove(watch)
        stragglers = promote.drain()
        connections.settle()
        gh.clear_faults()
        if stragglers:
            result.fail("hung", f"processes {stragglers} left by the deploy command never ended")
        killed = promote.killed_at is not None
        result.landing = classify(killed, [(d, repo.statuses.get(i, [])) for i, d in repo.deployments.items()
                                           if ours(d) and run_of(d) == RUN_ID and d["original_environment"] == environment])
        result.config |= {"exit": code, "killed_at": promote.killed_at and round(promote.killed_at, 4)}
        output = promote.output()
        if not killed and code != (DeployError.exit_code if command.flaky else 0) or "Traceback" in output:
            result.fail("crash", f"promote exited {code}: {output[-2000:]}")

        # The job's `if: always()` step after the killed (or failed) step.
        before = history(repo)
        steps = [run.run("finish", "--environment", environment, "--job-status", job_status)]
        _check_finish(result, repo, before, environment, job_status, steps[-1])

        # "Re-run jobs": same run, next attempt, on a fresh runner (empty RUNNER_TEMP); not killed.
        rerun = _job(gh, work / "attempt2", RUN_ID, attempt=2)
        steps.append(rerun.run("promote", "--environment", environment, "--version", VERSION, "--mode", mode,
                               "--run", command.text()))
        if steps[-1].code != 0:
            result.fail("re-run failed", steps[-1].stdout + steps[-1].stderr)
        command.wait_for_rewrite(2)
        marker = (rerun.workdir / "runner" / f"cdhelper-record-{environment}.json").exists()
        before, requests = history(repo), gh.total_requests()
        steps.append(rerun.run("finish", "--environment", environment, "--job-status", "success"))
        if not marker and gh.total_requests() != requests:
            result.fail("finish not free", f"finish of a successful job with no marker file sent "
                                           f"{gh.total_requests() - requests} request(s)")
        for dep_id, added in changes(before, history(repo)).items():
            result.fail("finish changed a record", f"finish of the successful re-run (marker file "
                        f"{'rewritten' if marker else 'absent'}) posted {[s['state'] for s in added]} on deployment "
                        f"{dep_id}, which was {latest_state(before.get(dep_id, []))}")

        # Seven hours later, the scheduled sweep.
        gh.world.clock.offset += 7 * 3600
        before = history(repo)
        steps.append(rerun.run("sweep", "--older-than-hours", "6"))
        for dep_id, added in changes(before, history(repo)).items():
            if latest_state(before.get(dep_id, [])) not in IN_FLIGHT:
                result.fail("sweep changed a settled record", f"deployment {dep_id} was {latest_state(before.get(dep_id, []))}, "
                                                              f"sweep posted {[s['state'] for s in added]}")

        for problem in check_world(repo, environment=environment, version=VERSION, digest=world.digest):
            invariant, _, detail = problem.partition(": ")
            result.fail(invariant, detail)
        texts = [(output, "the killed promote's output"), (json.dumps(gh.snapshot(), default=str), "what GitHub stores")]
        texts += [(s.stdout + s.stderr, f"{s.argv[0]} output") for s in steps]
        texts += [(p.read_text(), str(p)) for p in work.rglob("*") if p.is_file() and p.name in {"out", "summary"}]
        for text, where in texts:
            try:
                assert_no_sentinel(text, where)
            except AssertionError as leak:
                result.fail("token leak", str(leak))
        result.statuses = {f"{i} {repo.deployments[i]['original_environment']} "
                           f"{repo.deployments[i]['payload'].get('version')} run {run_of(repo.deployments[i])}":
                           [(s["state"], s["creator"], s["description"]) for s in statuses]
                           for i, statuses in history(repo).items()}
        return result
    finally:
        if promote is not None:
            promote.drain(timeout=0)  # after an error: end whatever this trial started
            promote.proc.wait(timeout=10)
        gh.stop()


def _check_finish(result: Trial, repo, before: dict, environment: str, job_status: str, step) -> None:
    """`finish` closes this run's records of its environment that were in flight, all, and only them."""
    if step.code != 0:
        result.fail("finish failed", step.stdout + step.stderr)
    expected = "failure" if job_status == "failure" else "error"
    for dep_id, added in changes(before, history(repo)).items():
        dep, was = repo.deployments[dep_id], latest_state(before.get(dep_id, []))
        if was not in IN_FLIGHT or run_of(dep) != RUN_ID or dep["original_environment"] != environment:
            result.fail("finish changed a record", f"finish (job {job_status}) posted {[s['state'] for s in added]} on "
                        f"deployment {dep_id} ({dep['original_environment']}, {dep['payload'].get('version')}, "
                        f"run {run_of(dep)}), which was {was}")
        elif [s["state"] for s in added] != [expected]:
            result.fail("finish closed wrongly", f"deployment {dep_id}: posted {[s['state'] for s in added]}, "
                                                  f"not [{expected!r}], for job status {job_status}")
    for dep_id, dep in repo.deployments.items():
        state = latest_state(repo.statuses.get(dep_id, []))
        if ours(dep) and run_of(dep) == RUN_ID and dep["original_environment"] == environment and state in IN_FLIGHT:
            result.fail("finish left in flight", f"deployment {dep_id} of this run is still {state} after finish")


@pytest.mark.parametrize("first", range(0, TRIALS, CHUNK))
def test_killed_promotions_never_duplicate_strand_or_rewrite_a_record(first, tmp_path, timeline, worlds):
    results = [trial(seed, tmp_path, timeline, worlds) for seed in range(first, first + CHUNK)]
    if os.environ.get("CDHELPER_KILL_LOG"):
        with open(os.environ["CDHELPER_KILL_LOG"], "a") as log:
            for r in results:
                log.write(json.dumps({"seed": r.seed, "plan": r.plan, "landing": r.landing, "config": r.config,
                                      "problems": r.problems, "statuses": r.statuses}) + "\n")
    problems = [p for r in results for p in r.problems]
    assert not problems, f"{len(problems)} invariant violation(s) in seeds {first}-{first + CHUNK - 1}:\n" + \
        "\n".join(problems)
    landings = Counter(r.landing for r in results)
    assert len(landings) >= 3, f"kills landed in too few places: {dict(landings)}"


def test_the_checker_tells_github_superseding_from_tampering():
    """The history invariant itself: GitHub's own inactivation passes, anything else after a
    success (including a hand-made `inactive`) is reported."""
    from cdhelper.devtools.double.rest import add_status

    gh = GitHubDouble(repos=["acme/app"])
    repo = gh.repo("acme/app")
    payload = {"cdhelper": 1, "version": VERSION, "digest": "sha256:" + "0" * 64, "run": {"id": RUN_ID}}
    old, new, prod = (gh.seed_deployments("acme/app", 1, [env], state="queued", payload={**payload, "run": {"id": run}})[0]
                      for env, run in (("staging", 1), ("staging", 2), ("production", 3)))

    def post(dep_id: int, state: str, description: str = "done") -> None:
        gh.world.clock.offset += 1
        add_status(repo, repo.deployments[dep_id], state=state, description=description, log_url="", target_url="",
                   environment="", environment_url="", auto_inactive=True, creator="github-actions[bot]")

    post(prod, "success")
    post(old, "success")
    post(new, "success")  # GitHub inactivates `old`: superseding, not tampering
    assert [s["state"] for s in repo.statuses[old]] == ["queued", "success", "inactive"]
    assert check_world(repo, environment="staging", version=VERSION, digest=payload["digest"]) == []
    post(new, "inactive")  # same creator and description, but no newer success at that moment
    post(prod, "error", "job failure before 1.1.0 finished deploying")
    problems = check_world(repo, environment="staging", version=VERSION, digest=payload["digest"])
    assert [p.split(":")[0] for p in problems] == ["succeeded record changed", "succeeded record changed", "not live"]
    assert f"deployment {new} " in problems[0] and f"deployment {prod} " in problems[1]
