"""`cdhelper finish` and `cdhelper sweep`: close the deployment records a job left in progress, the
job's own at its end (if: always()) and lost runners' on a schedule."""

from __future__ import annotations

from cdhelper.cli import edge
from cdhelper.core.errors import InputError


def register(sub) -> dict:
    p = sub.add_parser("finish", help="close any record this job left in progress (run with if: always())")
    edge.config_options(p)
    edge.trusted_writer_option(p)
    p.add_argument("--environment", action="append", default=None,
                   help="only close this environment's record (repeatable; default: every record this run left open)")
    p.add_argument("--job-status", default=edge.input_value("job-status"), help="success, failure or cancelled")
    p.add_argument("--run", dest="deploy_command", default=edge.input_value("run"),
                   help="the deploy command, when cd.yml names no deploy hook: the undo of a failed or cancelled "
                        "rollout redeploys the live version with it")

    p = sub.add_parser("sweep", help="close records left queued/in progress by lost runners (run on a schedule)")
    edge.config_options(p)
    edge.trusted_writer_option(p)
    p.add_argument("--older-than-hours", default=edge.input_value("older-than-hours") or "6",
                   help="age after which an unfinished record is abandoned (default 6; jobs time out well before)")
    return {"finish": run_finish, "sweep": run_sweep}


def run_finish(args, io) -> int:
    # imported when run: keeps --help fast (the domains, PyGithub, jsonschema)
    from cdhelper.deploy.abort import cleanup_undo
    from cdhelper.deploy.promotion import finish, record_file
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    named = args.environment or edge.lines(edge.input_value("environment"))
    names = [cfg.environment(n).name for n in named] or [e.name for e in cfg.environments]
    if args.job_status == "success" and not any(record_file(ctx, n).exists() for n in names):
        io.info("no deployment record left open by this job")
        return 0
    client = edge.github_client(ctx)
    # a rollout that started is undone as an abort (docs/progressive-delivery.md, "Operate a rollout")
    undo = cleanup_undo(client, ctx, cfg, args.job_status, command=args.deploy_command or "", log=io.info)
    closed = finish(client, ctx, names, args.job_status, explicit=bool(named), undo=undo)
    if not closed:
        io.info("no deployment record of this run is still in flight")
    for deployment_id in closed:
        io.warning(f"deployment {deployment_id} was left open by this job and is now closed as {args.job_status or 'error'}",
                   title="Record closed")
    return 0


def run_sweep(args, io) -> int:
    from cdhelper.deploy.promotion import sweep
    try:
        hours = float(args.older_than_hours)
    except ValueError:
        hours = 0.0
    if not 0 < hours <= 24 * 366:  # NaN and infinity fail here too
        raise InputError(f"older-than-hours {args.older_than_hours[:40]!r} is not a number of hours between 0 and 8784",
                         "records younger than that are left alone", "pass a number of hours above 0, e.g. 6")
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    closed = sweep(edge.github_client(ctx), ctx, [e.name for e in cfg.environments], older_than_hours=hours)
    for record in closed:
        io.warning(f"deployment {record.id} ({record.version} to {record.environment}) was {record.state} since "
                   f"{record.created_at:%Y-%m-%d %H:%M} UTC and is now closed as error", title="Abandoned record")
    io.info(f"{len(closed)} abandoned record(s) closed")
    io.set_output("closed", str(len(closed)))
    return 0
