"""The one record writer. Every deployment record cdhelper makes (a promotion, a manual or an
automatic rollback, a flag flip; any later kind) is a payload variant written here, the same way:

- the payload: the release it runs (version, tag, commit, digest, images), the environment, the
  mode, this run (`run_block`), the gate, what it was promoted from, what it rolls back, what ran
  before, the rollout, plus the kind's own fields (`flags`, `flag_release`); checked against the
  payload schema before anything is sent;
- the create, with the lost-response reconciliation: a POST whose answer was lost may have landed,
  so this run's record is looked up before trying again, and a re-run never makes a duplicate;
- the statuses, every one with this run as its log;
- the signal safety: while a record is open (`open`), SIGTERM/SIGINT (the runner cancelling the job)
  end the work, and the record is closed (`error` unless the work said otherwise) before the process
  exits; a marker in RUNNER_TEMP tells `finish` this job has a record open, for a SIGKILL.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cdhelper.core.context import RunContext
from cdhelper.core.errors import GitHubAPIError
from cdhelper.core.escaping import fit
from cdhelper.github.client import ApiFailure, GitHubClient, OutcomeUnknown

from .records import PAYLOAD_VERSION, Record, queue_and_read, read_ledger, validate_payload

CREATE_ATTEMPTS = 3


class Cancelled(BaseException):
    """The runner is stopping the job (SIGTERM/SIGINT): the record must still be closed."""


def run_block(ctx: RunContext) -> dict:
    """The run that wrote a record: how the ledger tells this repository's runs (and attempts) apart."""
    return {"id": ctx.run_id, "attempt": ctx.run_attempt, "number": ctx.run_number, "url": ctx.run_url,
            "actor": ctx.actor, **({"repository_id": ctx.repository_id} if ctx.repository_id else {})}


def previous_of(record: Record | None) -> dict | None:
    return {"version": record.version, "digest": record.digest, "deployment_id": record.id} if record else None


def build_payload(ctx: RunContext, *, release: dict, environment: str, mode: str, gate: dict, previous: dict | None,
                  strategy: dict | str, promoted_from: dict | None = None, rollback_of: int | None = None,
                  **kind: dict) -> dict:
    """Every record's payload. `release` holds what runs (a candidate's fields, or the payload of the
    record that runs it); `kind` the fields of the record kind (`flags`, `flag_release`)."""
    payload = {
        "cdhelper": PAYLOAD_VERSION, "version": release["version"], "tag": release.get("tag", ""),
        "commit": release["commit"], "digest": release["digest"], "images": list(release.get("images") or []),
        "environment": environment, "mode": mode, "run": run_block(ctx), "gate": gate,
        "promoted_from": promoted_from, "rollback_of": rollback_of, "previous": previous, "strategy": strategy, **kind,
    }
    validate_payload(payload)
    return payload


def record_file(ctx: RunContext, environment: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in environment)
    return Path(ctx.temp_dir) / f"cdhelper-record-{safe}.json"


@dataclass
class Ending:
    """How an open record ends: the work sets it; None when the record is left as it is (paused, or
    already given its final status)."""

    state: str | None = "error"
    description: str = "interrupted before the deployment finished"


class RecordWriter:
    def __init__(self, client: GitHubClient, ctx: RunContext):
        self.client, self.ctx = client, ctx

    def create(self, *, environment: str, payload: dict, description: str, production: bool, before: list[Record],
               what: str, required_contexts: tuple[str, ...] | list[str] = (), task: str = "deploy",
               refused: Callable[[ApiFailure], Exception] | None = None) -> tuple[int, str]:
        """The record's id and node id. `before`: the environment's records read before, so that a
        record found after a lost response is known to be the one just made. `refused` turns
        GitHub's definite refusal into the caller's error. The payload comes from build_payload,
        which checked it against the schema."""
        for _ in range(CREATE_ATTEMPTS):
            try:
                made = self.client.create_deployment(ref=payload["commit"], environment=environment, payload=payload,
                                                     description=description, required_contexts=list(required_contexts),
                                                     production=production, task=task)
                return made["id"], made.get("node_id", "")
            except ApiFailure as failure:
                if refused is None:
                    raise
                raise refused(failure) from None
            except OutcomeUnknown:
                # The POST may have landed. Look before trying again, so there is never a duplicate.
                found = self._find(environment, payload, before)
                if found is not None:
                    return found.id, found.node_id
        raise GitHubAPIError(f"creating {what} failed",
                             f"GitHub did not answer {CREATE_ATTEMPTS} times, and no record of this run was made",
                             "re-run the job; nothing was deployed")

    def _find(self, environment: str, payload: dict, before: list[Record]) -> Record | None:
        """This attempt's record of the same kind, made since `before` was read."""
        known = {r.id for r in before}
        want = _signature(payload)
        for record in read_ledger(self.client, self.ctx, [environment]).of(environment):
            if record.id not in known and record.of_run(self.ctx.run_id) \
                    and record.run.get("attempt") == self.ctx.run_attempt and _signature(record.payload) == want:
                return record
        return None

    def status(self, deployment_id: int, state: str, description: str, *, environment_url: str = "") -> None:
        self.client.create_deployment_status(deployment_id, state, log_url=self.ctx.run_url,
                                             environment_url=environment_url, description=fit(description, 140))

    def queue(self, deployment_id: int, node_id: str, environment: str, *, environment_url: str,
              description: str) -> list[Record]:
        """`queued`, and in the same request the environment's records after that write (race checks)."""
        return queue_and_read(self.client, self.ctx, deployment_id, node_id, environment, log_url=self.ctx.run_url,
                              environment_url=environment_url, description=description)

    @contextmanager
    def open(self, deployment_id: int, environment: str, *, environment_url: str = "",
             marker: dict | None = None) -> Iterator[Ending]:
        """While the record's work runs: SIGTERM/SIGINT raise Cancelled, the marker tells `finish`
        a record is open here, and on the way out (success, failure, exception or signal) the record
        gets the state the work left in the Ending (`error` when it was interrupted)."""
        saved = _trap_signals()
        ending = Ending()
        path = record_file(self.ctx, environment)
        try:
            _write_marker(path, {"deployment_id": deployment_id, "environment": environment, **(marker or {})})
            yield ending
            if _pending:  # cancelled, but the exception was lost (see _trap_signals): the work did not finish
                ending.state, ending.description = "error", Ending.description
                raise Cancelled(_pending[-1])
        finally:
            _pending.clear()
            try:
                if ending.state:
                    self.status(deployment_id, ending.state, ending.description, environment_url=environment_url)
                remove_marker(path)
            finally:
                _restore_signals(saved)


def _signature(payload: dict | None) -> tuple:
    """What tells records of one run apart: the release, what it rolls back, and the flip."""
    p = payload or {}
    return p.get("digest"), p.get("rollback_of"), json.dumps(p.get("flag_release"), sort_keys=True)


def _write_marker(marker: Path, data: dict) -> None:
    """A hint for `finish` that this job has a record open here (finish reads the truth back)."""
    try:
        marker.write_text(json.dumps(data))
    except OSError:
        pass  # finish then looks only where the workflow names the environment, which the templates do


def remove_marker(marker: Path) -> None:
    try:
        marker.unlink(missing_ok=True)
    except OSError:  # a deploy command may have put a directory there: a hint is never worth failing for
        pass


_pending: list[str] = []  # signals received while a record is open and not yet handled by `open`
AGAIN = 0.1  # seconds: how soon a lost cancellation is raised again


def _trap_signals() -> dict:
    """SIGTERM/SIGINT raise Cancelled. An exception raised by a handler can be lost: Python ignores it
    when the signal lands in code it runs without propagating errors (the at-fork handlers that run
    while a user command is being started). So the cancellation is also remembered, and raised again
    every AGAIN seconds (SIGALRM) until `open` has handled it."""
    def cancel(signum, frame):
        _pending.append(signal.Signals(signum).name)
        signal.setitimer(signal.ITIMER_REAL, AGAIN)
        raise Cancelled(_pending[-1])

    def again(signum, frame):
        if _pending:
            signal.setitimer(signal.ITIMER_REAL, AGAIN)
            raise Cancelled(_pending[-1])
    saved = {}
    for sig, handler in ((signal.SIGTERM, cancel), (signal.SIGINT, cancel), (signal.SIGALRM, again)):
        try:
            saved[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (in-process tests): nothing to trap
            pass
    return saved


def _restore_signals(saved: dict) -> None:
    if signal.SIGALRM in saved:
        signal.setitimer(signal.ITIMER_REAL, 0)
    _pending.clear()
    for sig, handler in saved.items():
        signal.signal(sig, handler)
