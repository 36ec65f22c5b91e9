"""`cdhelper status`: what digest and version is live in each environment, what is rolling out or paused
ahead of it, and which versions failed there, from the deployment records."""

from __future__ import annotations

import json

from cdhelper.cli import edge


def register(sub) -> dict:
    p = sub.add_parser("status", help="what digest and version is live in each environment, "
                       "what is rolling out or paused there, and which versions failed")
    edge.config_options(p)
    edge.trusted_writer_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    edge.soak_option(p, help="the environment whose wait timer holds the job that resumes a `pause: hold` (read "
                             "only when a rollout is paused, to say when it may resume)")
    return {"status": run}


def run(args, io) -> int:
    # imported when run: keeps --help fast (the domains, PyGithub, jsonschema)
    from cdhelper.cli import report
    from cdhelper.core.config import DEFAULT_SOAK
    from cdhelper.observe.history import status
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    soak = edge.environment_name(args.soak_environment, cd_yml=cfg.soak_environment(), builtin=DEFAULT_SOAK)
    rows, ignored = status(edge.github_client(ctx), ctx, cfg, soak_environment=soak)
    for note in ignored:
        io.warning(note, title="Untrusted record ignored")
    data = {"repository": ctx.repository, "environments": [r.as_json() for r in rows]}
    io.set_output("json", json.dumps(data))
    if args.json:
        io.out_json(data, indent=2)
    else:
        io.out(report.status_text(rows))
    io.append_summary(report.status_summary(rows))
    return 0
