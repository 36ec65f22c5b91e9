"""The approver's view: what promoting a candidate to a gated environment would change, written by
the job before the gate, since GitHub shows the run's summaries while the gate waits.

Reads: one GraphQL ledger (the candidate's tag and commit with its checks, the target's and the
previous environment's records) and one REST comparison of what the target runs now with the
candidate; when the candidate lacks commits the target runs (a hotfix made there), one more
comparison the other way round lists them, since approving removes them.

GitHub lists at most 250 commits of a comparison, in chronological order, the last being the most
recent; `total_commits` is the real count. The summary shows the newest 50 and says how many are
not shown. A commit's author is a GitHub account only when GitHub linked one (`author.login`);
otherwise the git name, which anyone can set, is shown as a git name. A pull request is linked only
from a merge commit (two parents, "Merge pull request #N from ..."): `(#7)` in a subject is text
anyone can write. Whether the candidate failed or was rolled back in the target comes from the
ledger (failures.py), so it costs nothing more.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from cdhelper.core.config import Config
from cdhelper.core.errors import NotFoundError
from cdhelper.deploy import failures
from cdhelper.deploy.failures import Failure
from cdhelper.deploy.records import Record, live_record, read_ledger
from cdhelper.release.tagging import Candidate, tag_name

SHOWN = 50
MERGE = re.compile(r"^Merge pull request #(\d+) from ")


@dataclass(frozen=True)
class Change:
    sha: str
    subject: str
    login: str | None  # the GitHub account GitHub linked to the commit's author, if any
    git_author: str  # the git author name: free text, set by whoever made the commit
    pull: int | None  # from a merge commit only

    def as_json(self) -> dict:
        return asdict(self)  # the JSON keeps the raw text; the summary escapes it


@dataclass(frozen=True)
class Brief:
    candidate: Candidate
    environment: str
    mode: str
    gated: bool
    gate_environment: str
    upstream: str
    staged: Record | None  # the candidate's success in the previous environment
    live: Record | None  # what the target runs now: a rollback returns to it
    checks: dict[str, str] = field(default_factory=dict)  # check/status name -> latest state
    changes: tuple[Change, ...] = ()  # newest first, at most SHOWN
    total_changes: int = 0  # GitHub's count of the commits the candidate adds
    compared: bool = False  # False when there was nothing live to compare with
    removed: tuple[Change, ...] = ()  # commits the target runs that the candidate lacks, newest first
    total_removed: int = 0
    compare_url: str = ""  # GitHub's page of the comparison (every commit)
    failure: Failure | None = None  # the candidate failed or was rolled back in the target before

    def as_json(self) -> dict:
        def rec(r: Record | None) -> dict | None:
            return None if r is None else {"deployment_id": r.id, "version": r.version, "digest": r.digest,
                                           "state": r.state, "created_at": r.created_at.isoformat()}
        return {"environment": self.environment, "mode": self.mode, "gated": self.gated,
                "gate_environment": self.gate_environment, "version": self.candidate.version,
                "digest": self.candidate.manifest, "commit": self.candidate.commit, "tag": self.candidate.tag,
                "previous_environment": self.upstream or None, "staged": rec(self.staged), "rollback_target": rec(self.live),
                "checks": self.checks, "total_changes": self.total_changes, "compared": self.compared,
                "changes": [c.as_json() for c in self.changes], "total_removed": self.total_removed,
                "removed": [c.as_json() for c in self.removed], "compare_url": self.compare_url or None,
                "failure": self.failure.as_json() if self.failure else None}


def _subject(message: str) -> str:
    return (message or "").strip().split("\n", 1)[0][:200]


def _change(commit: dict) -> Change:
    subject = _subject(commit["commit"]["message"])
    merge = MERGE.match(subject) if len(commit.get("parents") or []) == 2 else None
    return Change(commit["sha"], subject, (commit.get("author") or {}).get("login") or None,
                  str((commit["commit"].get("author") or {}).get("name") or ""), int(merge.group(1)) if merge else None)


def _newest(found: dict) -> tuple[tuple[Change, ...], int]:
    """The newest SHOWN commits of a comparison, newest first, and GitHub's count of them all."""
    listed = (found.get("commits") or [])[-SHOWN:]  # chronological: the most recent come last
    return tuple(_change(c) for c in reversed(listed)), int(found.get("total_commits") or 0)


def read(client, ctx, config: Config, *, environment: str, version: str, mode: str) -> Brief:
    env = config.environment(environment)
    upstream = config.previous(env.name)
    tag = tag_name(config.tag_prefix, version)
    names = [env.name] + ([upstream.name] if upstream else [])
    ledger = read_ledger(client, ctx, names, tag=tag, contexts=True)
    if ledger.tag_commit is None:
        raise NotFoundError(f"release candidate tag {tag!r} does not exist",
                            "the brief describes a candidate the release step tagged",
                            "run it after the release job, with that job's version output")
    candidate = Candidate.from_message(tag, ledger.tag_message or "")
    if candidate is None:
        raise NotFoundError(f"tag {tag!r} is not a cdhelper release candidate",
                            "its message has no cdhelper-version/commit/manifest lines",
                            "pass the version the release step made")
    staged = next((r for r in ledger.of(upstream.name) if r.digest == candidate.manifest and r.succeeded_at),
                  None) if upstream else None
    live = live_record(ledger.of(env.name))
    checks = {name: states[-1][0] for name, states in ((ledger.commit.contexts or {}) if ledger.commit else {}).items()
              if states}
    changes, total, compared, removed, total_removed, url = (), 0, False, (), 0, ""
    base = str((live.payload or {}).get("commit") or "") if live else ""
    if base and base != candidate.commit:
        found = client.compare(base, candidate.commit)
        if found is not None:
            compared, url = True, f"{ctx.server_url}/{ctx.repository}/compare/{base}...{candidate.commit}"
            changes, total = _newest(found)
            total_removed = int(found.get("behind_by") or 0)
            if total_removed:  # the target runs commits the candidate lacks: list them the other way round
                back = client.compare(candidate.commit, base)
                removed = _newest(back)[0] if back is not None else ()
    return Brief(candidate, env.name, mode, config.is_gated(env.name) and mode == "delivery", config.gate_environment,
                 upstream.name if upstream else "", staged, live, checks, changes, total, compared, removed,
                 total_removed, url, failures.last_failure(ledger.of(env.name), candidate.manifest))
