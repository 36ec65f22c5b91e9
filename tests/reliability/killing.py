"""Helpers for the kill-at-random suite (test_kill.py): SIGKILL a real `cdhelper promote` process at
a chosen moment, wait for everything it left behind, and check what GitHub (the double) holds.

Kill points are anchored on what the double sees, so they land where they are meant to: an
observer runs in the double's request thread after a write is applied and before the response is
sent, so a kill with delay 0 lands exactly "the write happened, the client never heard of it";
other delays are sampled from the measured gaps of an unkilled promote (`Timeline`).

How superseding is told from tampering (`auto_inactivated`): cdhelper never posts `inactive`. The
double, like GitHub, inactivates prior successful deployments of a non-production environment when
another one succeeds there, by appending a copy of the deployment's latest (success) status, same
creator, description and URLs, with state `inactive` and the timestamp of the newer success. So an
`inactive` status is GitHub's own superseding only if (1) the deployment is not a production one,
(2) the status right before it is a success with the same creator and description, and (3) a
NEWER deployment (higher id) of the same environment got a success status at exactly that time.
Anything else appended after a success (failure, error, queued, in_progress, or an inactive
that does not match) is tampering.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

IN_FLIGHT = {"pending", "queued", "in_progress"}
FINAL = {"success", "failure", "error", "inactive"}
CREATE = "POST /repos/{owner}/{repo}/deployments"
STATUS = "POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses"

# Where a kill is aimed. "after-exit" means no kill: the job went on to a later step that failed.
PHASES = ("before-record", "after-create", "after-queued", "during-command", "after-final", "after-exit")


# --- what a promote looks like from the double ---------------------------------------------------

@dataclass
class Timeline:
    """Seconds from spawn to the moment each write was applied (and to exit) in an unkilled promote."""

    create: float
    queued: float
    in_progress: float
    final: float
    exit: float

    @classmethod
    def median(cls, timelines: list[Timeline]) -> Timeline:
        return cls(**{name: statistics.median(getattr(t, name) for t in timelines)
                      for name in ("create", "queued", "in_progress", "final", "exit")})


class Watch:
    """Observer on the double: timestamps the promote's writes and fires the kill at its anchor.
    Runs in the double's request thread, after the write was applied, before the response is sent."""

    def __init__(self, anchor: str | None = None, delay: float = 0.0, kill=None):
        self.anchor, self.delay, self.kill = anchor, delay, kill
        self.t0 = time.monotonic()
        self.times: dict[str, float] = {}
        self.timers: list[threading.Timer] = []

    def __call__(self, req, resp) -> None:
        key = f"{req.method} {req.route}"
        event = None
        if key == CREATE and resp.status == 201:
            event = "create"
        elif key == "POST /graphql" and b"cdhelperQueue" in req.body and resp.status == 200:
            event = "queued"
        elif key == STATUS and resp.status == 201:
            state = json.loads(req.body or b"{}").get("state")
            event = "in_progress" if state == "in_progress" else "final" if state in FINAL else None
        if event is None or event in self.times:
            return
        self.times[event] = time.monotonic() - self.t0
        if event == self.anchor and self.kill is not None:
            self.fire()

    def fire(self) -> None:
        if self.delay <= 0:
            self.kill()
        else:
            timer = threading.Timer(self.delay, self.kill)
            timer.daemon = True
            self.timers.append(timer)
            timer.start()

    def cancel(self) -> None:
        for timer in self.timers:
            timer.cancel()


class Connections:
    """Counts the double's open client connections. A killed client's last request may still be
    applied after it died (it was sent, or waits in a latency fault); once every connection it
    had is closed and none waits to be accepted, the double holds everything it will ever hold."""

    def __init__(self, server):
        self.server, self.active, self.lock = server, 0, threading.Lock()
        accept, serve = server.get_request, server.process_request_thread

        def get_request():
            connection = accept()
            with self.lock:
                self.active += 1
            return connection

        def process_request_thread(request, client_address):
            try:
                serve(request, client_address)
            finally:
                with self.lock:
                    self.active -= 1
        server.get_request, server.process_request_thread = get_request, process_request_thread

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until no connection is open or waiting to be accepted, twice in a row."""
        deadline, calm = time.monotonic() + timeout, 0
        while calm < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the double still has {self.active} connection(s) open")
            waiting = select.select([self.server.socket], [], [], 0)[0]
            calm = 0 if self.active or waiting else calm + 1
            time.sleep(0.002)


# --- the promote process -------------------------------------------------------------------------

class Promote:
    """`python -m cdhelper promote ...` in its own session, so everything it starts (the deploy
    command, and whatever that leaves in the background) shares its process group."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, out: Path):
        self.out = out
        with open(out, "wb") as sink:
            self.proc = subprocess.Popen([sys.executable, "-m", "cdhelper", *argv], env=env, cwd=cwd,
                                         stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.exited = False
        self.killed_at: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL the promote process only (not its group), unless it already ended."""
        with self.lock:
            if self.exited or self.killed_at is not None:
                return
            os.kill(self.proc.pid, signal.SIGKILL)
            self.killed_at = time.monotonic() - self.started

    def wait(self, timeout: float = 60.0) -> int:
        """Wait for exit without reaping first, so a late kill can never hit a recycled pid."""
        deadline = time.monotonic() + timeout
        while os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
            if time.monotonic() > deadline:
                self.kill()
            time.sleep(0.002)
        with self.lock:
            self.exited = True
        return self.proc.wait()

    def drain(self, timeout: float = 20.0) -> list[int]:
        """Wait until every process of the group has ended (orphans included); kill stragglers
        after `timeout` and return their pids."""
        deadline = time.monotonic() + timeout
        while (alive := group_members(self.proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.01)
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return alive

    def output(self) -> str:
        return self.out.read_text(errors="replace")


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc: orphans are reparented to
    PID 1, which on some machines reaps them late, so kill(pid, 0) would count the dead."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] not in {"Z", "X"}:
            members.append(int(entry.name))
    return members


# --- the deploy command -------------------------------------------------------------------------

@dataclass
class Command:
    """The user's deploy command. `rewrite_to` (a deployment id, or "own") makes it start a
    background process that rewrites the record marker in RUNNER_TEMP (finding 10). cdhelper kills
    whatever a deploy command leaves running when it ends, so the command waits for it: the rewrite
    lands before the command exits, unless the command is killed first."""

    signals: Path
    environment: str
    version: str
    sleep: float = 0.0
    flaky: bool = False  # fails on attempt 1, passes on the re-run
    rewrite_to: int | str | None = None
    rewrite_after: float = 0.0

    def text(self) -> str:
        sig = shlex.quote(str(self.signals))
        parts = [f': > {sig}/started-"$GITHUB_RUN_ATTEMPT"']
        if self.rewrite_to is not None:
            target = '"$CD_DEPLOYMENT_ID"' if self.rewrite_to == "own" else str(int(self.rewrite_to))
            marker = f'"$RUNNER_TEMP"/cdhelper-record-{self.environment}.json'
            body = shlex.quote('{"deployment_id": %s, "environment": "' + self.environment + '", "version": "'
                               + self.version + '"}')
            parts.append(f': > {sig}/spawned-"$GITHUB_RUN_ATTEMPT"')
            parts.append(f"( sleep {self.rewrite_after:.3f}; printf {body} {target} > {marker}; "
                         f': > {sig}/rewrote-"$GITHUB_RUN_ATTEMPT" ) </dev/null >/dev/null 2>&1 &')
        if self.sleep:
            parts.append(f"sleep {self.sleep:.3f}")
        if self.rewrite_to is not None:
            parts.append("wait")
        if self.flaky:
            parts.append('if [ "$GITHUB_RUN_ATTEMPT" = 1 ]; then echo "deploy failed (flaky)"; exit 3; fi')
        return "\n".join(parts)

    def wait_for_rewrite(self, attempt: int) -> bool:
        """After a command that ran to its end: whether its background rewrite landed (it waited for
        it, so there is nothing left to wait for: anything still running was killed with it)."""
        return (self.signals / f"rewrote-{attempt}").exists()


# --- what the double holds -------------------------------------------------------------------------

def history(repo) -> dict[int, list[dict]]:
    """Every deployment's statuses (copies), oldest first."""
    return {dep_id: [dict(s) for s in repo.statuses.get(dep_id, [])] for dep_id in repo.deployments}


def ours(dep: dict) -> bool:
    return isinstance(dep.get("payload"), dict) and "cdhelper" in dep["payload"]


def latest_state(statuses: list[dict]) -> str:
    return statuses[-1]["state"] if statuses else "pending"


def run_of(dep: dict) -> int | None:
    return ((dep.get("payload") or {}).get("run") or {}).get("id")


def auto_inactivated(repo, dep: dict, statuses: list[dict], index: int) -> bool:
    """Whether statuses[index] is GitHub's own inactivation on a newer success (see module doc)."""
    status = statuses[index]
    if status["state"] != "inactive" or index == 0 or dep.get("production_environment"):
        return False
    before = statuses[index - 1]
    if before["state"] != "success" or (before["creator"], before["description"]) != (
            status["creator"], status["description"]):
        return False
    return any(other_id > dep["id"] and other["original_environment"] == dep["original_environment"]
               and any(s["state"] == "success" and s["created_at"] == status["created_at"]
                       for s in repo.statuses.get(other_id, []))
               for other_id, other in repo.deployments.items())


def describe(status: dict) -> str:
    return f"{status['state']} by {status['creator']} ({status['description']!r})"


def changes(before: dict[int, list[dict]], after: dict[int, list[dict]]) -> dict[int, list[dict]]:
    """Statuses appended between two histories, per deployment."""
    return {dep_id: statuses[len(before.get(dep_id, [])):] for dep_id, statuses in after.items()
            if len(statuses) > len(before.get(dep_id, []))}


def check_world(repo, *, environment: str, version: str, digest: str) -> list[str]:
    """The suite's invariants on what GitHub holds at the end of a trial."""
    problems = []
    deployments = {dep_id: dep for dep_id, dep in repo.deployments.items() if ours(dep)}
    keys = Counter((dep["original_environment"], run_of(dep), dep["payload"].get("digest"))
                   for dep in deployments.values())
    for (env, run, dig), n in keys.items():
        if n > 1:
            ids = [i for i, d in deployments.items()
                   if (d["original_environment"], run_of(d), d["payload"].get("digest")) == (env, run, dig)]
            problems.append(f"duplicate: {n} records {ids} for ({env}, run {run}, {dig[:19]}…)")
    for dep_id, dep in deployments.items():
        statuses = repo.statuses.get(dep_id, [])
        state = latest_state(statuses)
        if state in IN_FLIGHT:
            problems.append(f"in flight: deployment {dep_id} ({dep['original_environment']}, "
                            f"{dep['payload'].get('version')}, run {run_of(dep)}) ends {state}")
        first = next((i for i, s in enumerate(statuses) if s["state"] == "success"), None)
        if first is None:
            continue
        for i in range(first + 1, len(statuses)):
            if statuses[i]["state"] != "success" and not auto_inactivated(repo, dep, statuses, i):
                problems.append(f"succeeded record changed: deployment {dep_id} ({dep['original_environment']}, "
                                f"{dep['payload'].get('version')}, run {run_of(dep)}) got {describe(statuses[i])} "
                                f"after success; history {[s['state'] for s in statuses]}")
    live = next((dep for dep_id, dep in sorted(deployments.items(), reverse=True)
                 if dep["original_environment"] == environment
                 and latest_state(repo.statuses.get(dep_id, [])) == "success"), None)
    if live is None:
        problems.append(f"not live: nothing is live in {environment}")
    elif (live["payload"].get("version"), live["payload"].get("digest")) != (version, digest):
        problems.append(f"not live: {environment} ends on {live['payload'].get('version')} "
                        f"(deployment {live['id']}), not {version}")
    return problems


@dataclass
class Trial:
    """What one trial did, for messages and for the kill-point histogram."""

    seed: int
    plan: str
    config: dict = field(default_factory=dict)
    landing: str = ""
    problems: list[str] = field(default_factory=list)
    statuses: dict[str, list] = field(default_factory=dict)  # every deployment's statuses at the end

    def fail(self, invariant: str, detail: str) -> None:
        self.problems.append(f"seed {self.seed} [{self.plan} -> {self.landing}] {invariant}: {detail}")


def classify(killed: bool, own: list[tuple[dict, list[dict]]]) -> str:
    """Where the kill actually landed, from what the double holds for the run's record."""
    if not killed:
        return "after-exit"
    if not own:
        return "before-record"
    state = latest_state(own[-1][1])
    return {"pending": "after-create", "queued": "after-queued", "in_progress": "during-command"}.get(
        state, "after-final")
