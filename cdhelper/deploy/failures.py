"""Whether a digest failed or was rolled back in an environment, when and why: the approver's view
warns of it, and a promotion there refuses to repeat it without an acknowledgement, which its record
keeps. A rollback is never refused for this: it goes back to a state known to have worked.

Read from the environment's ledger records alone (no request of its own). A record counts as a
failure when its state is `failure` or `error`, or when a later record names it as `rollback_of`
(an automatic rollback after a failed analysis, or a rollback by hand); flag flips (`flag_release`)
do not count. The digest's newest finished record decides: once it succeeded there again (after an
acknowledged promotion), it is no longer a repeat. The reason quotes the failing record's last
trusted status (what cdhelper wrote: the analysis that failed, the hook's exit), with its log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cdhelper.core.errors import EvidenceError, InputError

from .records import Record

FAILED_STATES = {"failure", "error"}
REASON_MAX = 500  # characters of an acknowledgement kept in the payload


@dataclass(frozen=True)
class Failure:
    deployment_id: int  # the record that failed, or that was rolled back
    version: str
    how: str  # "failed" or "rolled back"
    at: datetime
    reason: str

    def describe(self, environment: str) -> str:
        return f"{self.how} in {environment} on {self.at:%Y-%m-%d %H:%M} UTC: {self.reason}"

    def as_json(self) -> dict:
        return {"deployment_id": self.deployment_id, "version": self.version, "how": self.how,
                "at": self.at.isoformat(), "reason": self.reason}


def last_failure(records: list[Record], digest: str, *, other_than_run: int = 0) -> Failure | None:
    """`records`: one environment's, newest first. The records of run `other_than_run` are left out:
    a re-run of the run whose rollout failed continues its own record, as its page shows."""
    undone_by: dict[int, Record] = {}
    for record in reversed(records):  # oldest first: the first rollback of a record is the one that undid it
        target = (record.payload or {}).get("rollback_of") if record.ours else None
        if isinstance(target, int):
            undone_by.setdefault(target, record)
    for record in records:
        if not record.ours or record.digest != digest or (other_than_run and record.of_run(other_than_run)):
            continue
        if "flag_release" in record.payload:  # a flag flip: its outcome says nothing of the version's rollout
            continue
        failed = record.state in FAILED_STATES
        undo = undone_by.get(record.id)
        if undo is not None:
            reason = (f"deployment {record.id} ended in {record.state}{_said(record)}; " if failed else "") + \
                f"deployment {undo.id} rolled it back to {undo.version}"
            return Failure(record.id, record.version, "failed" if failed else "rolled back",
                           (record.changed_at if failed else None) or undo.created_at, _with_log(reason, undo.log_url))
        if failed:
            return Failure(record.id, record.version, "failed", record.changed_at or record.created_at,
                           _with_log(f"deployment {record.id} ended in {record.state}{_said(record)}", record.log_url))
        if record.proven:
            return None  # it worked there since
    return None


def _said(record: Record) -> str:
    return f" ({record.description})" if record.description else ""


def _with_log(reason: str, log_url: str) -> str:
    return f"{reason} (log: {log_url})" if log_url else reason


def check_promotion(records: list[Record], candidate, environment: str, acknowledgement: str,
                    run_id: int) -> dict | None:
    """Refuse to promote again what failed or was rolled back in `environment`, unless acknowledged;
    the acknowledgement to record ({deployment_id, reason}), or None when there was nothing to
    acknowledge."""
    failure = last_failure(records, candidate.manifest, other_than_run=run_id)
    if failure is None:
        return None
    reason = " ".join((acknowledgement or "").split())
    if not reason:
        raise EvidenceError(f"{candidate.version} cannot be promoted to {environment} again",
                            f"it {failure.describe(environment)}",
                            "find out why first; to promote it anyway, pass --acknowledge-failure REASON (input "
                            "acknowledge-failure), which the deployment record keeps; or promote a fixed version")
    if len(reason) > REASON_MAX:
        raise InputError(f"acknowledge-failure is {len(reason)} characters long",
                         f"the deployment record keeps at most {REASON_MAX}",
                         "say why in a sentence and link to the details")
    return {"deployment_id": failure.deployment_id, "reason": reason}
