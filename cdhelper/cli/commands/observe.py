"""`cdhelper history` and `cdhelper dora`: how an environment delivers, from its deployment records."""

from __future__ import annotations

import json

from cdhelper.cli import edge
from cdhelper.core.errors import InputError


def register(sub) -> dict:
    def common(p) -> None:
        edge.config_options(p)
        p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("history", help="the timeline of an environment: versions, states, approvers, rollbacks, durations")
    common(p)
    p.add_argument("--environment", default=edge.input_value("environment"),
                   help="an environment of the path (default: the last one, production)")
    p.add_argument("--limit", type=int, default=edge.input_value("limit") or "20",  # a bad input: one line, exit 2
                   help="how many records, newest first (default 20, at most 1000)")

    p = sub.add_parser("dora", help="DORA metrics (deployment frequency, lead time, change failure rate, recovery "
                       "time, rework rate) from the deployment records")
    common(p)
    p.add_argument("--environment", action="append", default=edge.lines(edge.input_value("environment")) or None,
                   help="an environment of the path (repeatable; default: the last one, production)")
    p.add_argument("--window", default=edge.input_value("window") or "30d",
                   help="how far back: days or weeks up to a year, e.g. 30d, 12w (default 30d)")
    p.add_argument("--trend-weeks", type=int, default=edge.input_value("trend-weeks") or "0",
                   help="also chart each key week by week over this many weeks (0: no chart; at most 52)")

    p = sub.add_parser("brief", help="the approver's view: what promoting a candidate would change (for the job "
                       "before the gate: version, digest, the previous environment's record, checks, commits and "
                       "pull requests since what runs there, the rollback target)")
    common(p)
    p.add_argument("--environment", default=edge.input_value("environment") or "",
                   help="the environment the reviewer approves (default: the last one, production)")
    p.add_argument("--version", dest="release_version", default=edge.input_value("version"),
                   help="the candidate's version (the release step's output)")
    p.add_argument("--mode", default=edge.input_value("mode"), help="delivery (default, also when empty) or deployment")
    return {"history": run_history, "dora": run_dora, "brief": run_brief}


def _environment(cfg, name: str) -> str:
    return cfg.environment(name).name if name else cfg.environments[-1].name


def run_history(args, io) -> int:
    from cdhelper.cli import delivery_report
    from cdhelper.observe import history
    if not 1 <= args.limit <= 1000:
        raise InputError(f"--limit {args.limit} is not usable", "it counts records, from 1 to 1000", "give e.g. --limit 50")
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    client = edge.github_client(ctx)
    line = history.read_timeline(client, ctx, _environment(cfg, args.environment), limit=args.limit)
    for note in line.ignored:
        io.warning(note, title="Untrusted record ignored")
    io.append_summary(delivery_report.history_markdown(line))
    return edge.emit(io, args, {"environment": line.environment, "complete": line.complete, "requests": line.requests,
                            "deployments": [delivery_report.history_row(e) for e in line.entries]},
                 delivery_report.history_text(line))


def run_dora(args, io) -> int:

    from datetime import timedelta  # imported when run: keeps --help fast

    from cdhelper.cli import delivery_report
    from cdhelper.deploy.records import now
    from cdhelper.observe import dora, history
    window = dora.parse_window(args.window)
    if not 0 <= args.trend_weeks <= 52:
        raise InputError(f"--trend-weeks {args.trend_weeks} is not usable", "it is a number of weeks from 0 to 52",
                         "give e.g. --trend-weeks 8, or 0 for no chart")
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    targets = edge.notification_targets(io)
    names = [_environment(cfg, n) for n in (args.environment or [""])]
    client = edge.github_client(ctx)
    until = now()
    reach = max(window, timedelta(weeks=args.trend_weeks))
    results, trends, partial = [], {}, []
    for name in dict.fromkeys(names):
        line = history.read_timeline(client, ctx, name, since=until - reach, run_times=True)
        for note in line.ignored:
            io.warning(note, title="Untrusted record ignored")
        if not line.complete:
            partial.append(name)
        results.append(dora.compute(name, line.entries, since=until - window, until=until))
        if args.trend_weeks:
            trends[name] = dora.weekly(name, line.entries, until=until, weeks=args.trend_weeks)
    for name in partial:
        io.warning(f"{name} has more records in the window than cdhelper reads (1,400): the figures cover the newest",
                   title="DORA metrics partial")
    io.append_summary(delivery_report.dora_markdown(results, trends))
    for metrics in results:  # the weekly report's optional webhook (notify-webhooks)
        edge.announce(io, targets, edge.event(ctx, "report", environment=metrics.environment,
                                              message=delivery_report.dora_text([metrics])))
    return edge.emit(io, args, {"metrics": [m.as_json() for m in results], "requests": client.requests,
                            "trend": {n: [m.as_json() for m in ws] for n, ws in trends.items()}},
                 delivery_report.dora_text(results))


def run_brief(args, io) -> int:
    from cdhelper.cli import delivery_report
    from cdhelper.core.context import parse_mode  # imported when run: keeps --help fast
    from cdhelper.observe import brief
    mode = parse_mode(args.mode)
    edge.required(args.release_version, "--version", input_name="version", example="1.4.2",
                  why="the brief describes one candidate: the release step's `version` output")
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    targets = edge.notification_targets(io)
    client = edge.github_client(ctx)
    found = brief.read(client, ctx, cfg, environment=_environment(cfg, args.environment), version=args.release_version,
                       mode=mode)
    io.append_summary(delivery_report.brief_markdown(found, server_url=ctx.server_url, repository=ctx.repository,
                                                     config=cfg))
    if found.gated:
        edge.announce(io, targets, edge.event(
            ctx, "waiting", environment=found.environment, version=found.candidate.version,
            digest=found.candidate.manifest, mode=mode,
            message=f"{found.candidate.version} waits for approval on {found.gate_environment}: "
                    f"{found.total_changes} commit(s) since {found.live.version if found.live else 'nothing'}"
                    + (f"; approving removes {found.total_removed} commit(s) that {found.environment} runs"
                       if found.total_removed else "")
                    + (f"; it {found.failure.describe(found.environment)}" if found.failure else "")))
    data = found.as_json()
    io.set_output("json", json.dumps(data))
    if args.json:
        io.out_json(data)
    else:
        io.info(f"{found.candidate.version} to {found.environment}: {found.total_changes} commit(s) since "
                f"{found.live.version if found.live else 'nothing'}; {client.requests} GitHub requests")
    return 0
