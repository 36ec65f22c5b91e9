"""`cdhelper audit`: every change to an environment in a period, from the deployment records alone, as
CSV, JSON or Markdown (observe/audit.py), for the people who sign off on them (docs/audit.md)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cdhelper.cli import edge
from cdhelper.core.errors import InputError


def register(sub) -> dict:
    p = sub.add_parser("audit", help="every change to an environment in a period (versions, digests, commits, "
                       "approvers, evidence, rollbacks, flag flips, who ran them; untrusted records apart) as CSV, "
                       "JSON or Markdown")
    edge.config_options(p)
    edge.trusted_writer_option(p)
    p.add_argument("--environment", default=edge.input_value("environment"),
                   help="an environment of the path (default: the last one, production)")
    p.add_argument("--since", default=edge.input_value("since"),
                   help="the first day (or time, with its zone) covered, ISO 8601: 2026-01-01")
    p.add_argument("--until", default=edge.input_value("until"),
                   help="the end of the period, excluded, ISO 8601 (default: now)")
    p.add_argument("--format", dest="audit_format", default=edge.input_value("format") or "markdown",
                   help="csv, json or markdown (default markdown)")
    p.add_argument("--output", default=edge.input_value("output"),
                   help="write the audit to this file (default: standard output)")
    return {"audit": run_audit}


def run_audit(args, io) -> int:
    from cdhelper.deploy.records import now  # imported when run: keeps --help fast
    from cdhelper.observe import audit
    since_raw = edge.required(args.since, "--since", input_name="since", example="2026-01-01",
                              why="the audit covers the records created from that date on")
    since = audit.parse_date(since_raw, "--since")
    until = audit.parse_date(args.until, "--until") if (args.until or "").strip() else now()
    fmt = audit.parse_format(args.audit_format)
    output = Path(args.output) if args.output else None
    if output is not None and not (output.parent.is_dir() and os.access(output.parent, os.W_OK)):
        raise InputError(f"--output {str(output)[:200]!r} cannot be written", "its folder does not exist or is not "
                         "writable", "give a file in an existing, writable folder")
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    env = cfg.environment(args.environment) if args.environment else cfg.environments[-1]
    before = cfg.previous(env.name)
    result = audit.read(edge.github_client(ctx), ctx, environment=env.name,
                        evidence_environment=before.name if before else "", since=since, until=until,
                        required_contexts=env.required_contexts)
    for row in result.untrusted:
        io.warning(row["why"] if row["why"].startswith("deployment ") else
                   f"deployment {row['deployment_id']} in {env.name} is not counted: {row['why']}",
                   title="Untrusted record ignored")
    if not result.complete:
        io.warning(f"{env.name} has more records than the audit reads ({audit.MAX_PAGES * 100:,}): the earliest "
                   "changes of the period may be missing", title="Audit partial")
    text = audit.render(result, fmt)
    io.append_summary(text if fmt == "markdown" else audit.markdown(result))
    if output is None:
        io.out(text.rstrip("\n"))
        return 0
    _write(output, text)
    io.set_output("file", str(output))
    io.info(f"audit of {env.name}: {len(result.changes)} change(s), {len(result.untrusted)} not counted, written "
            f"to {output} ({result.requests} GitHub requests)")
    return 0


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a reader never finds half an audit."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
