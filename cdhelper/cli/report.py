"""Job summaries: what a command did, as Markdown tables and a Mermaid picture of the path.

Every value here comes from outside (inputs, the pushed config, tags, records, reviewers), so each one
goes through `md_text`, `md_code` or `mermaid_label`; `table` escapes plain cells itself.
"""

from __future__ import annotations

import json

from cdhelper.core.config import Config
from cdhelper.core.escaping import Md, md_code, md_link, md_text, mermaid_label, one_line, table
from cdhelper.deploy.gate import GateDecision
from cdhelper.deploy.promotion import PromotionResult
from cdhelper.observe.history import EnvironmentStatus
from cdhelper.release.tagging import TagResult


def release_summary(result: TagResult, *, run_url: str) -> str:
    c = result.candidate
    tag = Md(md_code(c.tag) + ("" if result.created else " (already existed: unchanged)"))
    rows: list[list[object]] = [["Version", c.version], ["Tag", tag], ["Commit", md_code(c.commit)],
                                ["Digest", md_code(c.manifest)]]
    rows += [[Md("File " + md_code(path)), md_code(f"sha256:{digest}")] for path, digest in c.files[:50]]
    rows += [["Image", md_code(image)] for image in c.images]
    return (f"## Release candidate {md_text(c.version)}\n\n" + table(["", ""], rows)
            + f"\n{md_link('Run', run_url)}\n")


def describe_write(write: dict) -> str:
    """One write a dry run stands in for, as a line of text."""
    if "create" in write:
        return (f"create a deployment record in {write['environment']} for {write['ref'][:12]}: "
                f"{write['description']} (payload: {json.dumps(write['payload'], sort_keys=True)})")
    if "reuse" in write:
        return f"continue deployment {write['id']} ({write['state']}), this run's own record"
    if "statuses" in write:
        return "write its statuses: " + " -> ".join(write["statuses"])
    if "tag" in write:
        return f"create tag {write['tag']} -> {write['commit'][:12]} (tag object and ref): {write['digest']}"
    if "release" in write:
        return f"publish GitHub Release {write['release']} with {len(write['assets'])} asset(s)"
    if "image_tags" in write:
        return "tag images: " + ", ".join(write["image_tags"])
    return json.dumps(write, sort_keys=True)


def release_dry_run_summary(candidate, writes: list[dict]) -> str:
    return (f"## Dry run: release {md_text(candidate.version)}\n\nEvery check passed; nothing was written.\n\n"
            + ("".join(f"- would {md_text(describe_write(w))}\n" for w in writes) or "Nothing to write.\n"))


def promotion_summary(result: PromotionResult, config: Config, *, mode: str) -> str:
    c = result.candidate
    verb = "Rolled back" if result.rollback_of else "Promoted"
    if result.state == "unchanged":
        verb = "Already live (re-run changed nothing):"
    if result.state == "dry-run":
        verb = "Dry run: every check passed; would roll back" if result.rollback_of else \
            "Dry run: every check passed; would promote"
    rows = [["Environment", result.environment], ["Version", c.version], ["Digest", md_code(c.manifest)],
            ["Deployment", str(result.deployment_id) if result.deployment_id else "none (dry run)"], ["Mode", mode],
            ["Gate", result.gate.describe()],
            ["Replaced", f"{result.previous.version} (deployment {result.previous.id})" if result.previous else "nothing"]]
    if result.rollback_of:
        rows.append(["Rollback of", f"deployment {result.rollback_of}"])
    if result.plan is not None:
        rows.append(["Strategy", result.plan.type])
    if result.paused_at:
        verb = "Paused rolling out"
    notes = "".join(f"\n> [!WARNING]\n> {md_text(w)}\n" for w in result.warnings)
    steps = ""
    if result.would is not None:
        steps = "\n### Would write (nothing was written)\n\n" + "".join(
            f"- {md_text(describe_write(w))}\n" for w in result.would["writes"]) if result.would["writes"] else \
            "\nNothing to write: this run already deployed it.\n"
    if result.steps:
        steps = "\n### Rollout\n\n" + table(["Step", "What", "Outcome", "Measured"],
                                              [[str(s.step), s.what, s.outcome, s.detail] for s in result.steps])
    return (f"## {verb} {md_text(c.version)} to {md_text(result.environment)}\n\n" + table(["", ""], rows) + notes
            + steps + "\n"
            + path_diagram(config, result.environment, c.version, gated=result.gate.required,
                           states={result.environment: _path_state(result)}) + "\n")


def _path_state(result: PromotionResult) -> str:
    """The promoted environment's state in the path picture: a dry run reached nothing."""
    return {"paused": "running", "dry-run": "pending"}.get(result.state, "done")


# How path_diagram draws each state of an environment: a second label line (none for the two
# plain states, which the colour and the border say) and a classDef. Dark text on light fills stays
# readable in GitHub's dark theme too.
PATH_STATES = {
    "done": ("", "fill:#d3f9d8,stroke:#2b8a3e,color:#111"),
    "running": ("deploying", "fill:#d0ebff,stroke:#1971c2,color:#111"),
    "waiting": ("waiting", "fill:#fff3bf,stroke:#e67700,color:#111"),
    "failed": ("failed", "fill:#ffe3e3,stroke:#c92a2a,color:#111"),
    "rolled_back": ("rolled back", "fill:#f3d9fa,stroke:#862e9c,color:#111"),
    "pending": ("", "fill:#f1f3f5,stroke:#868e96,color:#111,stroke-dasharray:4 3"),
}


def path_diagram(config: Config, reached: str, version: str, *, gated: bool,
                 states: dict[str, str] | None = None) -> str:
    """The promotion path as a Mermaid flowchart, each environment coloured by its state.

    `states` maps environment names to a key of PATH_STATES; an environment it leaves out is "done"
    up to and including `reached` and "pending" after it. A gate is "waiting" while its environment
    waits, "pending" before that and "done" once its environment went on."""
    names = [e.name for e in config.environments]
    upto = names.index(reached) + 1 if reached in names else 0
    state = {name: "done" if i < upto else "pending" for i, name in enumerate(names)} | (states or {})
    unknown = set(state.values()) - PATH_STATES.keys()
    if unknown:
        raise ValueError(f"unknown path state(s): {', '.join(sorted(unknown))}")
    lines = ["```mermaid", "flowchart LR", f'  build(["{mermaid_label(version)}"])']
    classes: dict[str, list[str]] = {key: [] for key in PATH_STATES}
    prev = "build"
    for i, name in enumerate(names):
        node, now = f"e{i}", state[name]
        if config.is_gated(name):
            lines.append(f'  g{i}{{"{mermaid_label(config.gate_environment)}"}}')
            lines.append(f"  {prev} --> g{i}" if gated else f"  {prev} -.->|auto| g{i}")
            classes[now if now in ("waiting", "pending") else "done"].append(f"g{i}")
            prev = f"g{i}"
        note = "waiting for approval" if now == "waiting" and gated and config.is_gated(name) else PATH_STATES[now][0]
        lines.append(f'  {node}["{mermaid_label(name)}' + (f"<br>{note}" if note else "") + '"]')
        lines.append(f"  {prev} --> {node}")
        classes[now].append(node)
        prev = node
    lines += [f"  classDef {key} {style}" for key, (_, style) in PATH_STATES.items()]
    lines += [f"  class {','.join(nodes)} {key}" for key, nodes in classes.items() if nodes]
    lines.append("```")
    return "\n".join(lines) + "\n"


def status_summary(rows: list[EnvironmentStatus]) -> str:
    body = []
    for s in rows:
        live, prev = s.live, s.previous
        body.append([s.environment, live.version if live else "none live",
                     md_code(f"{live.digest[:19]}…") if live else "—",
                     live.created_at.strftime("%Y-%m-%d %H:%M") if live else "—",
                     prev.version if prev else "—",
                     f"{s.latest.version}: {s.latest.state}" if s.latest and s.latest is not live else ""])
    out = "## What is live where\n\n" + table(
        ["Environment", "Version", "Digest", "Since (UTC)", "Previous good", "Latest attempt"], body)
    rolling = [[s.environment, str(r.deployment_id), r.version, r.task, r.strategy, r.state, _step(r),
                "—" if r.weight is None else f"{r.weight}%", r.last, r.since.strftime("%Y-%m-%d %H:%M"),
                _resumes(r) or "—", r.behind.version if r.behind else "none (first release)"]
               for s in rows for r in s.rollouts]
    if rolling:
        out += "\n### In flight or paused\n\n" + table(
            ["Environment", "Deployment", "Version", "Task", "Strategy", "State", "Step", "Weight", "Last step",
             "Since (UTC)", "Resumed by", "Rest of the traffic"], rolling)
    failed = [[s.environment, f.version, f.how, f.at.strftime("%Y-%m-%d %H:%M"), f.reason, str(f.deployment_id)]
              for s in rows for f in s.failed]
    if failed:
        out += "\n### Failed versions\n\n" + table(
            ["Environment", "Version", "Outcome", "When (UTC)", "Why", "Deployment"], failed)
    return out


def _step(r) -> str:
    if not r.step:
        return "none reported yet"
    return f"{r.step} of {r.steps}" if r.steps else str(r.step)


def _resumes(r) -> str:
    if not r.resumes:
        return ""
    return r.resumes + (f", not before {r.resume_after:%Y-%m-%d %H:%M} UTC" if r.resume_after else "")


def status_text(rows: list[EnvironmentStatus]) -> str:
    widths = (14, 16, 22, 17, 16)
    header = ("ENVIRONMENT", "VERSION", "DIGEST", "SINCE (UTC)", "PREVIOUS GOOD")
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    for s in rows:
        live, prev = s.live, s.previous
        cells = (s.environment, live.version if live else "none live", (live.digest[:19] + "…") if live else "-",
                 live.created_at.strftime("%Y-%m-%d %H:%M") if live else "-", prev.version if prev else "-")
        lines.append("  ".join(one_line(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        lines += [f"  {r.state}: {one_line(r.describe())} (deployment {r.deployment_id})" for r in s.rollouts]
        lines += [f"  {f.how}: {one_line(f.version)} {one_line(f.describe(s.environment))}" for f in s.failed]
    return "\n".join(lines)


def gate_summary(decision: GateDecision) -> str:
    """The gate job's summary: who approved, with their comments (reviewers' free text)."""
    if not decision.required:
        if decision.ungated:
            return f"## Gate\n\nContinuous Delivery: {md_text(decision.ungated)} is not gated; no approval applies.\n"
        return "## Gate\n\nContinuous Deployment: no human approval applies.\n"
    if not decision.approvers:
        return (f"## Gate\n\nContinuous Delivery: {md_text(decision.environment)} released this job after its "
                "required reviewers' approval. The production promotion verifies the approval (reviewers, prevent "
                "self-review, who approved) and records it.\n")
    rows = [[a["login"], a.get("comment") or "—"] for a in decision.approvers]
    return (f"## Gate\n\nContinuous Delivery: {md_text(decision.environment)} approved.\n\n"
            + table(["Approved by", "Comment"], rows))


def deploy_phase_summary(h: dict, report: dict) -> str:
    """The deploy job of a split promotion: what it did (the record job posts it to the record)."""
    rows = [["Environment", h["environment"]], ["Version", h["version"]], ["Digest", md_code(h["digest"])],
            ["Deployment", str(h["deployment_id"])], ["Outcome", report["state"]]]
    if report.get("reason"):
        rows.append(["Why", report["reason"]])
    steps = ("\n### Rollout\n\n" + table(["Step", "What", "Outcome", "Measured"],
                                         [[str(s["step"]), s["what"], s["outcome"], s["detail"]] for s in report["steps"]])
             if report.get("steps") else "")
    return (f"## Deployed {md_text(h['version'])} to {md_text(h['environment'])} (this job writes nothing to GitHub)\n\n"
            + table(["", ""], rows) + steps
            + "\nThe record job posts these steps to the deployment record, labelled as reported by this job.\n")


def record_phase_summary(environment: str, closed) -> str:
    """The record job of a split promotion: how the record ended (`closed`: phases.Closed)."""
    rows = [["Environment", environment], ["Deployment", str(closed.deployment_id or "-")], ["State", closed.state],
            ["Why", closed.description or "-"]]
    if closed.rollback_id:
        rows.append(["Rollback record", str(closed.rollback_id)])
    if closed.ignored_report:
        rows.append(["Deploy job's report", f"not used: {closed.ignored_report}"])
    return f"## Recorded the promotion to {md_text(environment)}: {md_text(closed.state)}\n\n" + table(["", ""], rows)
