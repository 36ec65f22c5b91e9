"""failures.last_failure: which records make a digest one that failed or was rolled back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cdhelper.deploy.failures import last_failure
from cdhelper.deploy.records import Record

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def _record(ident: int, digest: str, state: str, *, run: int = 1, **payload) -> Record:
    at = T0 + timedelta(minutes=ident)
    return Record(id=ident, node_id=f"D{ident}", environment="production", created_at=at, state=state,
                  succeeded_at=at if state in {"success", "inactive"} else None,
                  payload={"cdhelper": 1, "version": "1.1.0" if digest == A else "1.0.0", "digest": digest,
                           "environment": "production", "run": {"id": run}, **payload},
                  changed_at=at + timedelta(seconds=30), log_url=f"https://github.example/acme/app/actions/runs/{run}")


def test_a_failed_record_of_another_run_is_a_failure_with_when_and_its_log():
    found = last_failure([_record(3, A, "failure", run=7), _record(2, B, "success")], A, other_than_run=9)
    assert (found.deployment_id, found.how, found.at) == (3, "failed", T0 + timedelta(minutes=3, seconds=30))
    assert found.describe("production") == ("failed in production on 2026-03-02 09:03 UTC: deployment 3 ended in "
                                            "failure (log: https://github.example/acme/app/actions/runs/7)")
    assert last_failure([_record(3, A, "failure", run=7)], A, other_than_run=7) is None  # its own re-run


def test_a_record_a_later_one_rolls_back_is_rolled_back_even_after_it_succeeded():
    records = [_record(5, B, "success", run=3, rollback_of=4), _record(4, A, "inactive", run=2), _record(1, B, "inactive")]
    found = last_failure(records, A)
    assert (found.deployment_id, found.how, found.at) == (4, "rolled back", T0 + timedelta(minutes=5))
    assert found.reason.startswith("deployment 5 rolled it back to 1.0.0")


def test_the_newest_outcome_decides_and_flag_flips_and_other_writers_do_not_count():
    failed, fixed = _record(2, A, "failure", run=2), _record(3, A, "success", run=3)
    assert last_failure([fixed, failed], A) is None  # it worked there since
    flip = _record(4, A, "failure", run=4, flag_release={"flag": "new-greeting"})
    assert last_failure([flip, fixed, failed], A) is None
    foreign = Record(id=6, node_id="D6", environment="production", created_at=T0, state="failure", succeeded_at=None,
                     payload=None)
    assert last_failure([foreign, fixed], A) is None
    in_flight = _record(5, A, "in_progress", run=5)
    assert last_failure([in_flight, failed], A).deployment_id == 2  # still running says nothing yet
