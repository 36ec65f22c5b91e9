"""How an environment delivers, as people read it: its history (table), the DORA metrics (Markdown
for the job summary, text for a terminal) and their weekly trend as Mermaid `xychart-beta` charts,
which GitHub renders in a summary. Every outside value is escaped (actions_io)."""

from __future__ import annotations

from cdhelper.core.escaping import Md, md_code, md_link, md_text, mermaid_label, one_line, table, visible
from cdhelper.observe.dora import Metrics
from cdhelper.observe.history import Entry, Timeline
from cdhelper.observe.rollouts import task_of

from .report import path_diagram


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = abs(seconds)
    sign = "-" if seconds < 0 else ""
    if s < 90:
        return f"{sign}{s:.0f} s"
    if s < 90 * 60:
        return f"{sign}{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{sign}{s / 3600:.1f} h"
    return f"{sign}{s / 86400:.1f} d"


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f} %"


# --- history --------------------------------------------------------------------------------------

def history_row(e: Entry) -> dict:
    r, p = e.record, e.record.payload or {}
    took = (e.finished_at - r.created_at).total_seconds() if e.finished_at else None
    return {"deployment_id": r.id, "version": r.version, "digest": r.digest, "state": r.state,
            "created_at": r.created_at.isoformat(), "finished_at": e.finished_at.isoformat() if e.finished_at else None,
            "duration_seconds": None if took is None else round(took, 1),
            "approved_by": [a.get("login") for a in (p.get("gate") or {}).get("approvers", [])],
            "rollback_of": e.rollback_of, "commit": p.get("commit"), "run_url": (p.get("run") or {}).get("url"),
            "task": task_of(r), "github_task": e.task}


def history_markdown(t: Timeline) -> str:
    rows = []
    for e in t.entries:
        h = history_row(e)
        what = f"rollback of {h['rollback_of']}" if h["rollback_of"] else ""
        rows.append([h["created_at"][:16].replace("T", " "), h["task"], h["version"], md_code(h["digest"][:19] + "…"),
                     h["state"], ", ".join(h["approved_by"]) or "—", what, duration(h["duration_seconds"]),
                     str(h["deployment_id"])])
    more = "" if t.complete else "\n_Older records exist: raise `--limit` to see them._\n"
    return (f"## History of {one_line(t.environment)}\n\n"
            + table(["Created (UTC)", "Task", "Version", "Digest", "State", "Approved by", "", "Took", "Deployment"], rows) + more)


def history_text(t: Timeline) -> str:
    widths = (17, 12, 9, 14, 22, 11, 18, 12, 8)
    header = ("CREATED (UTC)", "RECORD", "TASK", "VERSION", "DIGEST", "STATE", "APPROVED BY", "ROLLBACK OF", "TOOK")
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    for e in t.entries:
        h = history_row(e)
        cells = (h["created_at"][:16].replace("T", " "), str(h["deployment_id"]), h["task"], h["version"], h["digest"][:19] + "…", h["state"],
                 ", ".join(h["approved_by"]) or "-", str(h["rollback_of"] or "-"), duration(h["duration_seconds"]))
        lines.append("  ".join(one_line(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    if not t.complete:
        lines.append("(older records exist: raise --limit to see them)")
    return "\n".join(lines)


# --- DORA -----------------------------------------------------------------------------------------

def _keys(m: Metrics) -> list[tuple[str, str, str]]:
    return [
        ("Deployment frequency", f"{m.deployments} in {m.days:.0f} days ({m.per_week:.1f} a week)",
         "successful deployments of a change"),
        ("Change lead time", f"median {duration(m.lead_time_median_s)}, p90 {duration(m.lead_time_p90_s)}",
         "deployed commit to success"),
        ("Change failure rate", f"{percent(m.change_failure_rate)} ({m.failed_changes} of {m.finished_changes})",
         "failed or rolled back"),
        ("Failed deployment recovery time",
         f"median {duration(m.recovery_median_s)} ({m.recovered} recovered"
         + (f", {m.unrecovered} not yet" if m.unrecovered else "") + ")", "to the next good deployment"),
        ("Deployment rework rate", f"{percent(m.rework_rate)} ({m.rework} of {m.successful})", "rollbacks and fixes"),
    ]


def dora_markdown(metrics: list[Metrics], trend: dict[str, list[Metrics]] | None = None) -> str:
    out = ["## DORA metrics\n"]
    for m in metrics:
        out.append(f"\n### {one_line(m.environment)}, {m.since:%Y-%m-%d} to {m.until:%Y-%m-%d}\n\n")
        out.append(table(["Key", "Value", "Counts"], [list(k) for k in _keys(m)]))
        if m.noops or m.in_flight:
            out.append(f"\nNot counted: {m.noops} no-op deployment(s) (the digest already live), "
                       f"{m.in_flight} still in flight.\n")
        if m.clamped:
            out.append(f"\n{clamped_line(m)}\n")
        if trend and m.environment in trend:
            out.append("\n" + trend_charts(trend[m.environment]))
    out.append("\nDefinitions: docs/dora.md (DORA's current guide; from GitHub deployment records alone).\n")
    return "".join(out)


def dora_text(metrics: list[Metrics]) -> str:
    lines = []
    for m in metrics:
        lines.append(f"{m.environment}, {m.since:%Y-%m-%d} to {m.until:%Y-%m-%d}")
        lines += [f"  {name:<34}{value}" for name, value, _ in _keys(m)]
        if m.clamped:
            lines.append(f"  {clamped_line(m)}")
    return "\n".join(lines)


def clamped_line(m: Metrics) -> str:
    """The commit dates not believed (dora.py: the pusher sets them; lead time starts at the run at the latest)."""
    n, ids = len(m.clamped), ", ".join(map(str, m.clamped[:10])) + (", …" if len(m.clamped) > 10 else "")
    return (f"{n} deployment's commit date was after its run started: clamped (deployment {ids})" if n == 1 else
            f"{n} deployments' commit dates were after their run started: clamped (deployments {ids})")


def trend_charts(weeks: list[Metrics]) -> str:
    """One `xychart-beta` per key, a point per week (oldest first)."""
    labels = ", ".join(f'"{mermaid_label(f"{w.since:%m-%d}")}"' for w in weeks)

    def chart(title: str, axis: str, values: list[float]) -> str:
        numbers = ", ".join(f"{v:.2f}".rstrip("0").rstrip(".") if v else "0" for v in values)
        top = max([*values, 1.0])
        return (f"```mermaid\nxychart-beta\n  title \"{mermaid_label(title)}\"\n  x-axis [{labels}]\n"
                f"  y-axis \"{mermaid_label(axis)}\" 0 --> {top * 1.1:.2f}\n  line [{numbers}]\n```\n")
    return "".join([
        chart("Deployments per week", "deployments", [float(w.deployments) for w in weeks]),
        chart("Change lead time (median, hours)", "hours", [(w.lead_time_median_s or 0) / 3600 for w in weeks]),
        chart("Change failure rate (%)", "percent", [(w.change_failure_rate or 0) * 100 for w in weeks]),
        chart("Recovery time (median, hours)", "hours", [(w.recovery_median_s or 0) / 3600 for w in weeks]),
        chart("Deployment rework rate (%)", "percent", [(w.rework_rate or 0) * 100 for w in weeks]),
    ])


# --- the approver's view --------------------------------------------------------------------------

def brief_markdown(b, *, server_url: str, repository: str, config=None) -> str:
    """What the reviewer approves (brief.Brief), for the summary of the job before the gate. Every
    value from outside goes through `visible` (control and invisible characters as escapes) and then
    the Markdown escaping, so a commit subject or git name cannot hide, reorder or impersonate."""

    def text(value: object) -> Md:
        return md_text(visible(str(value)))

    c = b.candidate
    ask = (f"Approving {text(b.gate_environment)} promotes it to {text(b.environment)}."
           if b.gated else f"{text(b.environment)} is not gated in {text(b.mode)} mode: it follows without approval.")
    rows = [["Version", c.version], ["Digest", md_code(c.manifest)], ["Commit", md_code(c.commit[:12])],
            ["Mode", b.mode],
            [f"In {b.upstream}" if b.upstream else "Previous environment",
             f"deployment {b.staged.id}: {b.staged.state} since {b.staged.succeeded_at:%Y-%m-%d %H:%M} UTC"
             if b.staged and b.staged.succeeded_at else "not deployed there"],
            [f"{b.environment} runs now", f"{b.live.version} (deployment {b.live.id})" if b.live else "nothing yet"],
            ["If it goes wrong", f"roll back to {b.live.version}" if b.live else "nothing to roll back to: undeploy by hand"]]
    rows = [[cell if isinstance(cell, Md) else visible(str(cell)) for cell in row] for row in rows]
    out = [f"## Approval request: {text(c.version)} to {text(b.environment)}\n\n{ask}\n\n", table(["", ""], rows)]
    if b.failure is not None:
        out.append(f"\n> [!CAUTION]\n> {text(c.version)} {text(b.failure.describe(b.environment))}. Promoting it to "
                   f"{text(b.environment)} again is refused unless the promotion acknowledges it (input "
                   "acknowledge\\-failure), which its record keeps.\n")
    if b.checks:
        out.append("\n### Checks on the commit\n\n" + table(["Check", "State"],
                                                             [[visible(n), visible(s)] for n, s in sorted(b.checks.items())]))
    base = f"{server_url}/{repository}"

    def listing(changes, total: int) -> str:
        lines = []
        for ch in changes:
            who = (md_link(f"@{visible(ch.login)}", f"{server_url}/{ch.login}") if ch.login
                   else Md(f"{text(ch.git_author)} (git name, no GitHub account linked)"))
            pull = f" ({md_link(f'#{ch.pull}', f'{base}/pull/{ch.pull}')})" if ch.pull else ""
            lines.append(f"- {md_code(ch.sha[:7])} {text(ch.subject)} — {who}{pull}\n")
        more = total - len(changes)
        if more > 0:
            why = "GitHub lists at most 250: see the compare link" if total > 250 else "see the compare link"
            lines.append(f"- … showing the {len(changes)} newest of {total}; {more} older not shown ({why})\n")
        return "".join(lines)
    if b.compared:
        since = b.live.version if b.live else ""
        if b.total_removed:
            verb = "Approving" if b.gated else "Promoting"
            out.append(f"\n> [!WARNING]\n> {verb} removes {b.total_removed} commit(s) that {text(b.environment)} runs: "
                       f"{text(since)} has them and {text(c.version)} does not (a fix made on {text(b.environment)}'s "
                       "version and never merged?).\n")
            out.append(f"\n### {b.total_removed} commit(s) that {text(b.environment)} runs and {text(c.version)} "
                       f"lacks\n\n" + listing(b.removed, b.total_removed))
        out.append(f"\n### {b.total_changes} commit(s) since {text(since)}\n\n"
                   + (listing(b.changes, b.total_changes) or "No new commits: the same code under another version.\n"))
        if b.compare_url:
            out.append(f"\n{md_link(f'Compare {visible(since)}...{visible(c.version)} on GitHub', b.compare_url)}\n")
    elif b.live is None:
        out.append(f"\nFirst deployment to {text(b.environment)}: there is nothing to compare with.\n")
    if config is not None:
        out.append("\n" + path_diagram(config, b.upstream, c.version, gated=b.gated,
                                        states={b.environment: "waiting" if b.gated else "pending"}))
    return "".join(out)
