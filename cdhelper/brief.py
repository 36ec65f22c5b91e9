"""The approver's view: what promoting a candidate to a gated environment would change, written by
the job before the gate, since GitHub shows the run's summaries while the gate waits.

Two reads: one GraphQL ledger (the candidate's tag and commit with its checks, the target's and the
previous environment's records) and one REST comparison of what the target runs now with the
candidate (GitHub lists at most 250 commits; the summary shows the newest 50). Pull requests are
the ones the commit subjects name (`(#123)` of a squash merge, `Merge pull request #123`): no
request per commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .config import Config
from .errors import NotFoundError
from .records import Record, live_record, read_ledger
from .tagging import Candidate, tag_name

SHOWN = 50
PULL = re.compile(r"(?:\(#(\d+)\)\s*$|^Merge pull request #(\d+))")


@dataclass(frozen=True)
class Change:
    sha: str
    subject: str
    author: str  # GitHub login, else the git author name
    pull: int | None


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
    changes: tuple[Change, ...] = ()
    total_changes: int = 0  # GitHub's count (more than listed when over 250)
    compared: bool = False  # False when there was nothing live to compare with

    def as_json(self) -> dict:
        def rec(r: Record | None) -> dict | None:
            return None if r is None else {"deployment_id": r.id, "version": r.version, "digest": r.digest,
                                           "state": r.state, "created_at": r.created_at.isoformat()}
        return {"environment": self.environment, "mode": self.mode, "gated": self.gated,
                "gate_environment": self.gate_environment, "version": self.candidate.version,
                "digest": self.candidate.manifest, "commit": self.candidate.commit, "tag": self.candidate.tag,
                "previous_environment": self.upstream or None, "staged": rec(self.staged), "rollback_target": rec(self.live),
                "checks": self.checks, "total_changes": self.total_changes, "compared": self.compared,
                "changes": [{"sha": c.sha, "subject": c.subject, "author": c.author, "pull": c.pull}
                            for c in self.changes]}


def _subject(message: str) -> str:
    return (message or "").strip().split("\n", 1)[0][:200]


def _pull(subject: str) -> int | None:
    m = PULL.search(subject)
    return int(m.group(1) or m.group(2)) if m else None


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
    changes, total, compared = (), 0, False
    base = str((live.payload or {}).get("commit") or "") if live else ""
    if base and base != candidate.commit:
        found = client.compare(base, candidate.commit)
        if found is not None:
            compared = True
            total = int(found.get("total_commits") or 0)
            listed = list(reversed(found.get("commits") or []))[:SHOWN]  # newest first
            changes = tuple(Change(c["sha"], _subject(c["commit"]["message"]),
                                   (c.get("author") or {}).get("login") or c["commit"]["author"]["name"],
                                   _pull(_subject(c["commit"]["message"]))) for c in listed)
    return Brief(candidate, env.name, mode, config.is_gated(env.name) and mode == "delivery", config.gate_environment,
                 upstream.name if upstream else "", staged, live, checks, changes, total, compared)
