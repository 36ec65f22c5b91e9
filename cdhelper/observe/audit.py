"""The audit: every change to an environment in a period, from GitHub's deployment records alone, in a
form a team can hand to an auditor (CSV, JSON, Markdown; cli/commands/audit.py writes it).

Per change (a promotion, a rollback, a flag flip): the version and digest, the commit range (from the
commit of the record that was live before, the payload's `previous`, to this one's), every approver
with their comment (GitHub keeps no time for a review: the approval is dated "no later than" the
record's creation, unless the record carries the time), the mode (and a rules decision when the
record holds one), the evidence (the record of the previous environment it was promoted from,
checked to be trusted, of the same digest and proven there), what a rollback undid, the flip, who
started the run, who wrote the record and its final state. Records that do not count (cdhelper did not
write them, or a writer it does not trust did) are listed apart, with what they claim and why.

Cost: the records of the environment and of the one before it in the path are read together with
history.read_timeline, one GraphQL request a page of 100 (statuses included): the payloads hold
everything else. So the audit costs one request per 100 records read, whatever the period's shape.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from cdhelper.core.errors import InputError
from cdhelper.core.escaping import md_code, md_link, md_text, table, visible
from cdhelper.deploy.records import Record

from .history import Entry, Uncounted, read_timeline

FORMATS = ("csv", "json", "markdown")
MAX_PAGES = 100  # 10,000 records of the two environments: beyond, the audit says it is partial

LIMITS = (
    "This audit is read from GitHub's deployment records alone; it proves what they prove, no more.",
    "Only records written by the trusted writers (TRUSTED) count: any workflow of this repository can get a "
    "token that writes as the Actions bot, so a record written by another workflow of the same repository "
    "cannot be told from the pipeline's (restrict who changes workflows, or write records with a GitHub App "
    "and name only that App as trusted writer).",
    "An approval is what GitHub's environment review recorded for the run: GitHub keeps no time for it (it "
    "is dated no later than the record), and whether the reviewers were the right people depends on the "
    "gate environment's required reviewers and prevent self-review, settings the audit does not read back "
    "as they were then.",
    "Self-approval is judged on the deployed commit: authors of earlier commits of the same range could "
    "approve (use CODEOWNERS reviews on the pull requests for that).",
    "What a record says was deployed is what the pipeline deployed through the user's deploy command: the "
    "audit cannot see the target itself, changes made to it outside the pipeline, or what a deploy job "
    "reported about itself beyond the labels the record carries (reported by the deploy job).",
    "Deleted deployments leave no trace, and records older than what was read are not covered (the audit "
    "says when it is partial). The required contexts shown are those of the cd.yml the audit ran with.",
)


def parse_date(raw: str, flag: str) -> datetime:
    """A day (2026-01-31) or a time with its zone (2026-01-31T12:00:00Z), as UTC."""
    text = (raw or "").strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        value = None
    if value is None:
        raise InputError(f"{flag} {raw[:40]!r} is not a date", "the audit's period is given in ISO 8601 dates",
                         f"give e.g. {flag} 2026-01-01 or {flag} 2026-01-01T00:00:00Z")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def parse_format(raw: str) -> str:
    value = (raw or "").strip().lower()
    if value not in FORMATS:
        raise InputError(f"--format {raw[:40]!r} is not a format of the audit", f"it is one of {', '.join(FORMATS)}",
                         "give --format csv, --format json or --format markdown")
    return value


@dataclass(frozen=True)
class Approver:
    login: str
    comment: str
    at: str  # when, if the record says; else ""
    no_later_than: str  # the record's creation: GitHub gives the review no time

    def as_json(self) -> dict:
        return {"login": self.login, "comment": self.comment, "at": self.at or None, "no_later_than": self.no_later_than}

    def text(self) -> str:
        when = self.at or f"no later than {self.no_later_than}"
        return f"{self.login} ({when})" + (f': "{self.comment}"' if self.comment else "")


@dataclass(frozen=True)
class Change:
    deployment_id: int
    created_at: str
    kind: str  # promotion, rollback (automatic or by hand), flag flip
    version: str
    digest: str
    commit_from: str  # the commit of the record that was live before ("" when nothing was, "?" when not read)
    commit_to: str
    previous_version: str
    approvers: tuple[Approver, ...]
    gate: str  # the approval environment when the change was gated; else why not
    mode: str
    decision: str  # a rules decision with its reasons, when the record holds one
    evidence: str
    rollback_of: int | None
    undid: str  # what a rollback undid: VERSION (digest) of record N
    flag: str  # a flip: FLAG OLD -> NEW
    triggered_by: str  # who started the run
    run_url: str
    writer: str  # who created the record (a trusted writer)
    state: str
    finished_at: str
    notes: tuple[str, ...] = ()

    def as_json(self) -> dict:
        out = {k: v for k, v in vars(self).items() if k not in {"approvers", "notes"}}
        return {**out, "approvers": [a.as_json() for a in self.approvers], "notes": list(self.notes)}


@dataclass(frozen=True)
class Audit:
    repository: str
    environment: str
    since: datetime
    until: datetime
    changes: tuple[Change, ...]  # oldest first
    untrusted: tuple[dict, ...]  # records that do not count, oldest first
    complete: bool
    requests: int
    trusted_writers: tuple[str, ...]
    required_contexts: tuple[str, ...]
    evidence_environment: str

    def as_json(self) -> dict:
        return {"repository": self.repository, "environment": self.environment, "since": _iso(self.since),
                "until": _iso(self.until), "complete": self.complete, "requests": self.requests,
                "trusted_writers": list(self.trusted_writers), "evidence_environment": self.evidence_environment,
                "required_contexts": list(self.required_contexts),
                "changes": [c.as_json() for c in self.changes], "untrusted": list(self.untrusted),
                "limits": _limits(self)}


def _iso(t: datetime | None) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if t else ""


def read(client, ctx, *, environment: str, evidence_environment: str, since: datetime, until: datetime,
         required_contexts: tuple[str, ...] = ()) -> Audit:
    """The audit of `environment` for the records created in [since, until). `evidence_environment`:
    the environment before it in the path ("" when none), whose records are the evidence."""
    if until <= since:
        raise InputError(f"--until {_iso(until)} is not after --since {_iso(since)}",
                         "the audit covers the records created from --since up to --until",
                         "give an --until later than --since, or leave it out (now)")
    also = (evidence_environment,) if evidence_environment else ()

    def enough(read_so_far: list[Entry]) -> bool:
        """Past `since`: whether every record the period's changes name (what was live before each,
        what each was promoted from or rolls back) has been read, or cannot be: ids grow, so a named id
        above the oldest read is not in these environments' trusted records."""
        ids = {e.record.id for e in read_so_far}
        oldest = min(ids, default=0)
        named = {n for e in read_so_far if e.record.home.lower() == environment.lower()
                 and since <= e.record.created_at < until for n in _named(e, evidence_environment)}
        return all(n in ids or n > oldest for n in named)

    line = read_timeline(client, ctx, environment, since=since, also=also, max_pages=MAX_PAGES, enough=enough)
    by_id = {e.record.id: e for e in (*line.entries, *line.others)}
    inside = sorted((e for e in line.entries if since <= e.record.created_at < until), key=lambda e: e.record.id)
    changes = tuple(_change(e, by_id, evidence_environment) for e in inside)
    untrusted = tuple(_untrusted(u) for u in sorted(line.uncounted, key=lambda u: u.record.id)
                      if since <= u.record.created_at < until)
    writers = tuple(sorted(ctx.writers))
    return Audit(ctx.repository, environment, since, until, changes, untrusted, line.complete, line.requests,
                 writers, tuple(required_contexts), evidence_environment)


def _named(e: Entry, evidence_environment: str) -> list[int]:
    """The records of the two environments read that `e` names: what was live before it, what it rolls
    back, what it was promoted from (when that is the evidence environment: another is never read)."""
    p = e.record.payload or {}
    source = p.get("promoted_from") or {}
    found = [(p.get("previous") or {}).get("deployment_id"), p.get("rollback_of")]
    if str(source.get("environment", "")).lower() == evidence_environment.lower():
        found.append(source.get("deployment_id"))
    return [n for n in found if isinstance(n, int)]


def _change(e: Entry, by_id: dict[int, Entry], evidence_environment: str) -> Change:
    r, p = e.record, e.record.payload or {}
    created = _iso(r.created_at)
    gate = p.get("gate") or {}
    approvers = tuple(Approver(str(a.get("login", "")), str(a.get("comment", "")), str(a.get("at", "") or ""), created)
                      for a in gate.get("approvers") or [])
    flip = p.get("flag_release") or {}
    if flip.get("approver") and not approvers:
        approvers = (Approver(str(flip["approver"]), "", "", created),)
    previous = p.get("previous") or {}
    before = by_id.get(previous.get("deployment_id")) if isinstance(previous.get("deployment_id"), int) else None
    commit_from = "" if not previous else ((before.record.payload or {}).get("commit", "?") if before else "?")
    rollback_of = p.get("rollback_of") if isinstance(p.get("rollback_of"), int) else None
    kind, undid = "promotion", ""
    if flip:
        kind = "flag flip"
    elif rollback_of is not None:
        undone = by_id.get(rollback_of)
        automatic = bool(p.get("reported_by")) or (undone is not None and undone.record.run.get("id") == r.run.get("id"))
        kind = "automatic rollback" if automatic else "rollback by hand"
        undid = (f"{undone.record.version} ({undone.record.digest}) of record {rollback_of}, {undone.record.state}"
                 if undone else f"record {rollback_of} (not among the records read)")
    notes = []
    if p.get("reported_by"):
        notes.append(f"reported by {p['reported_by']}: worth no more than the deploy command")
    if p.get("acknowledged_failure"):
        ack = p["acknowledged_failure"]
        notes.append(f"promoted again after record {ack.get('deployment_id')} failed: {ack.get('reason', '')}")
    return Change(
        deployment_id=r.id, created_at=created, kind=kind, version=r.version, digest=r.digest,
        commit_from=commit_from, commit_to=str(p.get("commit", "")), previous_version=str(previous.get("version", "")),
        approvers=approvers, gate=_gate(gate, str(p.get("mode", ""))), mode=str(p.get("mode", "")),
        decision=_decision(p), evidence=_evidence(r, kind, by_id, evidence_environment), rollback_of=rollback_of,
        undid=undid, flag=f"{flip.get('flag')} {flip.get('old')} -> {flip.get('new')}"
        + (" (kill switch)" if flip.get("kill_switch") else "") if flip else "",
        triggered_by=str(r.run.get("actor", "")), run_url=str(r.run.get("url", "")), writer=r.creator, state=r.state,
        finished_at=_iso(e.finished_at), notes=tuple(notes))


def _gate(gate: dict, mode: str) -> str:
    if gate.get("required"):
        return f"approved on {gate.get('environment', '')}"
    if mode == "deployment":
        return "no human gate (Continuous Deployment)"
    return f"not gated by {gate.get('environment', 'the gate')}" if gate else "not recorded"


def _decision(p: dict) -> str:
    """A rules decision (`mode: policy`), when the record holds one: {decision, reasons}."""
    policy = p.get("policy")
    if not isinstance(policy, dict):
        return ""
    reasons = "; ".join(str(x) for x in policy.get("reasons") or [])
    return f"{policy.get('decision', '')}: {reasons}" if reasons else str(policy.get("decision", ""))


def _evidence(record: Record, kind: str, by_id: dict[int, Entry], evidence_environment: str) -> str:
    p = record.payload or {}
    if kind == "flag flip":
        return "the release live in the environment (a flip deploys no code)"
    if kind != "promotion":
        proof = max((e.record for e in by_id.values() if e.record.home == record.home and e.record.id < record.id
                     and e.record.digest == p.get("digest") and e.record.succeeded_at is not None),
                    key=lambda r: r.id, default=None)
        if proof is None:
            return "rollback: no earlier record of this digest here among the records read"
        return f"rollback to a digest proven here: record {proof.id} ({proof.version}) succeeded {_iso(proof.succeeded_at)}"
    source = p.get("promoted_from") or {}
    ident = source.get("deployment_id")
    if not isinstance(ident, int):
        return "none recorded" if evidence_environment else "first environment of the path"
    where = source.get("environment") or evidence_environment
    found = by_id.get(ident)
    if found is None:
        return f"{where} record {ident}: not among the trusted records read"
    r = found.record
    if r.digest != p.get("digest"):
        return f"{where} record {ident}: MISMATCH, it deployed {r.digest}"
    if r.succeeded_at is None:
        return f"{where} record {ident}: NOT PROVEN, it never succeeded ({r.state})"
    return f"{where} record {ident}: {r.version}, same digest, succeeded {_iso(r.succeeded_at)}"


def _untrusted(u: Uncounted) -> dict:
    r, claimed = u.record, u.claimed
    return {"deployment_id": r.id, "created_at": _iso(r.created_at), "writer": r.creator,
            "claimed_version": str(claimed.get("version", "")) if isinstance(claimed.get("version"), str) else "",
            "claimed_digest": str(claimed.get("digest", "")) if isinstance(claimed.get("digest"), str) else "",
            "why": u.why or "not a cdhelper record (no cdhelper payload)"}


COLUMNS = ("counted", "deployment_id", "created_at", "kind", "version", "digest", "commit_from", "commit_to",
           "approvers", "gate", "mode", "decision", "evidence", "rollback_of", "undid", "flag", "triggered_by",
           "run_url", "writer", "state", "finished_at", "notes")


def rows(audit: Audit) -> list[dict]:
    """One flat row per change, then one per record not counted (counted = untrusted)."""
    out = []
    for c in audit.changes:
        row = c.as_json()
        row.update(counted="yes", approvers="; ".join(a.text() for a in c.approvers), notes="; ".join(c.notes),
                   rollback_of="" if c.rollback_of is None else c.rollback_of)
        out.append({k: row.get(k, "") for k in COLUMNS})
    for u in audit.untrusted:
        out.append({k: "" for k in COLUMNS} | {
            "counted": "untrusted", "deployment_id": u["deployment_id"], "created_at": u["created_at"],
            "version": u["claimed_version"], "digest": u["claimed_digest"], "writer": u["writer"], "notes": u["why"]})
    return out


def render(audit: Audit, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(audit.as_json(), indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _inert_cell(v) for k, v in row.items()} for row in rows(audit))
        return buffer.getvalue() + "".join(f"# {line}\n" for line in _footer(audit))
    return markdown(audit)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as the start of a formula


def _inert_cell(value):
    """A cell a spreadsheet shows as text (OWASP's advice against CSV injection): a forged record's claim
    or a reviewer's comment that starts like a formula gets a leading apostrophe."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START) else value


def _footer(audit: Audit, show=str) -> list[str]:
    """The period, the counts and the limits; `show` renders the values (escaping them for Markdown)."""
    head = [f"Audit of {show(audit.repository)} {show(audit.environment)} from {_iso(audit.since)} to "
            f"{_iso(audit.until)}: {len(audit.changes)} change(s), {len(audit.untrusted)} record(s) not counted, "
            f"{audit.requests} GitHub request(s)."]
    if not audit.complete:
        head.append("PARTIAL: older records exist beyond what was read; the earliest changes may be missing.")
    return head + _limits(audit, show)


def _limits(audit: Audit, show=str) -> list[str]:
    writers = show(", ".join(audit.trusted_writers))
    return [line.replace("TRUSTED", writers) for line in LIMITS]


def markdown(audit: Audit) -> str:
    """The job summary's view. Every value from a record is text from outside (a comment, a flag's
    name, what an untrusted record claims): escaped, so none can form a link, image or HTML."""
    lines = [f"## Audit: {md_text(audit.environment)} of {md_text(audit.repository)}", "",
             f"From {_iso(audit.since)} to {_iso(audit.until)}. Trusted writers: "
             f"{md_text(', '.join(audit.trusted_writers))}."
             + (f" Required contexts (cd.yml): {md_text(', '.join(audit.required_contexts))}."
                if audit.required_contexts else ""), ""]
    rows = []
    for c in audit.changes:
        what = c.kind + (f": undid {c.undid}" if c.undid else "") + (f": {c.flag}" if c.flag else "")
        rows.append([c.created_at, md_link(c.deployment_id, c.run_url), visible(what), visible(c.version),
                     md_code(c.digest[:19]), md_code(f"{c.commit_from[:12] or '(none)'}..{c.commit_to[:12]}"),
                     visible("; ".join(a.text() for a in c.approvers) or c.gate),
                     visible(c.mode + (f" ({c.decision})" if c.decision else "")), visible(c.evidence),
                     visible(c.triggered_by), c.state])
    if not rows:
        rows.append(["", "", "no change in the period", "", "", "", "", "", "", "", ""])
    lines.append(table(["Created (UTC)", "Record", "Change", "Version", "Digest", "Commits", "Approvers", "Mode",
                        "Evidence", "Triggered by", "State"], rows))
    if audit.untrusted:
        lines += ["### Not counted (untrusted)", "", table(
            ["Created (UTC)", "Record", "Written by", "Claims", "Why"],
            [[u["created_at"], u["deployment_id"], visible(u["writer"]),
              visible(f"{u['claimed_version']} {u['claimed_digest'][:19]}".strip()), visible(u["why"])]
             for u in audit.untrusted])]
    lines += ["### What this audit can prove", ""] + [f"- {line}" for line in _footer(audit, md_text)]
    return "\n".join(lines) + "\n"
