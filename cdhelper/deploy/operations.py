"""Which rollout an operation (`cdhelper rollout abort | resume`) acts on, read from the ledger alone:
cdhelper's own record in the environment that is still in flight (queued, in progress, pending),
newer than what is live, and not a flag flip. The observe layer lists the same ones (status)."""

from __future__ import annotations

from cdhelper.core.errors import InputError

from .failures import REASON_MAX, Failure, last_failure
from .records import Record

ABORTED = "aborted by "  # how an aborted record's final status begins


def in_flight(records: list[Record], live: Record | None) -> list[Record]:
    """`records`: one environment's, newest first; `live` what runs there. Newest first."""
    out = []
    for record in records:
        if live is not None and record.id <= live.id:
            break
        if record.ours and record.in_flight and "flag_release" not in (record.payload or {}):
            out.append(record)
    return out


def find(records: list[Record], live: Record | None, environment: str, deployment_id: int = 0) -> Record:
    """The rollout to act on: the one `deployment_id` names, or the only one in flight."""
    found = in_flight(records, live)
    if deployment_id:
        match = next((r for r in found if r.id == deployment_id), None)
        if match is None:
            raise InputError(f"deployment {deployment_id} is not a rollout in flight in {environment}",
                             "in flight there: " + (", ".join(_named(r) for r in found) or "nothing"),
                             "pass one of those ids, or none; `cdhelper status` lists the rollouts in flight")
        return match
    if not found:
        raise InputError(f"no rollout is in flight or paused in {environment}",
                         f"{'it runs ' + live.version + ' (deployment ' + str(live.id) + ')' if live else 'nothing runs there'}"
                         ", and no newer record of cdhelper is queued or in progress",
                         f"run `cdhelper status` to see what {environment} runs; nothing to do")
    if len(found) > 1:
        raise InputError(f"{len(found)} rollouts are in flight in {environment}: {', '.join(_named(r) for r in found)}",
                         "an operation acts on one rollout", "name it: --deployment ID (input deployment)")
    return found[0]


def last_abort(records: list[Record], deployment_id: int = 0) -> tuple[Record, Record | None] | None:
    """The abort that is the environment's newest event (or the abort of `deployment_id`): the aborted
    record and the rollback record that followed it (None for a first release). None if there is none."""
    for record in records:  # newest first
        payload = record.payload or {}
        if not record.ours or "flag_release" in payload:
            continue
        if payload.get("aborted_by") and (not deployment_id or payload.get("rollback_of") == deployment_id):
            aborted = next((r for r in records if r.id == payload.get("rollback_of")), None)
            return (aborted, record) if aborted is not None else None
        if record.state == "failure" and record.description.startswith(ABORTED):
            if not deployment_id or record.id == deployment_id:
                return record, None
        if not deployment_id:
            return None  # the newest event is no abort
    return None


def retry_of(records: list[Record], environment: str, version: str = "") -> Failure:
    """What `rollout retry` promotes again: the newest version that failed or was rolled back (or
    aborted) in the environment, or `version` if it did (failures.last_failure decides)."""
    seen: set[str] = set()
    for record in records:  # newest first
        payload = record.payload or {}
        if not record.ours or "flag_release" in payload or record.digest in seen or payload.get("rollback_of"):
            continue
        if version and record.version != version:
            continue
        seen.add(record.digest)
        failure = last_failure(records, record.digest)
        if failure is not None:
            return failure
        if version:
            break
    what = f"{version} did not fail" if version else "no version failed"
    raise InputError(f"nothing to retry in {environment}: {what} there",
                     "retry promotes again a version whose rollout failed or was rolled back or aborted there "
                     "(its latest outcome in that environment)",
                     "run `cdhelper status` to see the failed versions; promote a new version with `promote`")


def retry_acknowledgement(failure: Failure, actor: str, run_id: int, reason: str = "") -> str:
    """The acknowledgement a retry records: which failure it retries, who asked, and why (`reason`)."""
    asked = f", asked by {actor or 'unknown'} in run {run_id}" + (f": {reason[:200]}" if reason else "")
    said = f"retry of deployment {failure.deployment_id}, which {failure.how}: {failure.reason}"
    return (said if len(said) + len(asked) <= REASON_MAX else said[:REASON_MAX - len(asked) - 1] + "…") + asked


def _named(record: Record) -> str:
    return f"deployment {record.id} ({record.version})"
