"""`cdhelper flags status | diff | set`: what is on where, what differs, and a flip as a recorded
release step (docs/flags.md)."""

from __future__ import annotations

import argparse

from .. import edge


def register(sub) -> dict:
    p = sub.add_parser("flags", help="feature flags per environment (flagd files in .github/flags/): status, diff, "
                       "and set (a flip recorded as its own release, behind the production gate)")
    p.epilog, p.formatter_class = edge.ENVIRONMENT, argparse.RawDescriptionHelpFormatter
    actions = p.add_subparsers(dest="flags_command", metavar="ACTION", required=True,
                               help="status: what is on where; diff: what differs; set: flip one flag as a release")

    def common(q, *, github: bool = False) -> None:
        edge.config_options(q, github=github)
        q.add_argument("--json", action="store_true", help="print the result as JSON")

    common(actions.add_parser("status", help="each flag's default variant in each environment of the path"))
    q = actions.add_parser("diff", help="flags whose state differs between two environments")
    common(q)
    q.add_argument("--from", dest="from_env", default="", help="default: the first environment of the path")
    q.add_argument("--to", dest="to_env", default="", help="default: the last environment of the path")
    q = actions.add_parser("set", help="set a flag's default variant in one environment, recorded as a deployment "
                           "(task release:flags) and gated like production in delivery mode")
    common(q, github=True)
    q.add_argument("flag", help="the flag key")
    q.add_argument("variant", help="the variant to serve by default")
    q.add_argument("--environment", required=True, help="the environment whose flag file changes")
    q.add_argument("--mode", default=edge.input_value("mode"), help="delivery (default, also when empty) or deployment")
    q.add_argument("--run", dest="run_command", default="", help="command to hand the file to the platform when cd.yml "
                   "names no deploy hook for the environment (gets CD_FLAGS)")
    q.add_argument("--gate-environment", default=edge.input_value("gate-environment"),
                   help="the approval environment the workflow's gate job is bound to (default production-approval)")
    q.add_argument("--gate-job", default=edge.input_value("gate-job") or "Approval (delivery mode)",
                   help="the gate job's name as GitHub shows it")
    return {"flags": run_flags}


def run_flags(args, io) -> int:
    return {"status": _status, "diff": _diff, "set": _set}[args.flags_command](args, io)


def _files(args):
    """The path's environments and their flag files (None where one has none). Reads the workspace
    only: status and diff need no token."""
    import os

    from .. import config, flags
    workspace = os.environ.get("GITHUB_WORKSPACE") or "."
    cfg = config.load(args.config, workspace=workspace)
    return cfg, {e.name: flags.load(workspace, e.name) for e in cfg.environments}


def _status(args, io) -> int:
    cfg, files = _files(args)
    names = [e.name for e in cfg.environments]
    keys = sorted({k for f in files.values() if f for k in f.flags})
    table = {k: {n: (files[n].state.get(k, "") if files[n] else "") for n in names} for k in keys}
    width = max([len("flag")] + [len(k) for k in keys])
    cols = [max([len(n)] + [len(table[k][n]) for k in keys]) for n in names]
    lines = ["  ".join(["flag".ljust(width)] + [n.ljust(c) for n, c in zip(names, cols, strict=True)]).rstrip()]
    for k in keys:
        lines.append("  ".join([k.ljust(width)] + [(table[k][n] or "-").ljust(c) for n, c in zip(names, cols, strict=True)]).rstrip())
    missing = [n for n in names if files[n] is None]
    if missing:
        lines.append(f"no flag file: {', '.join(missing)}")
    return edge.emit(io, args, {"environments": names, "flags": table,
                            "digests": {n: f.digest for n, f in files.items() if f}}, "\n".join(lines))


def _diff(args, io) -> int:
    from .. import flags
    cfg, files = _files(args)
    left = cfg.environment(args.from_env).name if args.from_env else cfg.environments[0].name
    right = cfg.environment(args.to_env).name if args.to_env else cfg.environments[-1].name
    rows = flags.differences(files[left], files[right])
    text = "\n".join(f"{r['flag']}: {r['from'] or '-'} ({left}) -> {r['to'] or '-'} ({right})" for r in rows) \
        or f"no flag differs between {left} and {right}"
    return edge.emit(io, args, {"from": left, "to": right, "differences": rows}, text)


def _set(args, io) -> int:
    from .. import flags
    from ..context import parse_mode
    mode = parse_mode(args.mode)
    edge.required(args.environment, "--environment", example="production", why="a flip changes one environment's file")
    ctx = edge.context(args, io)
    cfg = edge.config(args, ctx)
    client = edge.client(ctx)
    req = flags.FlagRequest(environment=cfg.environment(args.environment).name, flag=args.flag, variant=args.variant,
                            mode=mode, command=args.run_command, gate_job=args.gate_job)
    result = flags.release(client, ctx, cfg, req, log=io.info)
    data = {"environment": result.environment, "flag": result.flag, "old": result.old, "new": result.new,
            "deployment_id": result.deployment_id, "state": result.state, "kill_switch": result.kill_switch,
            "approver": result.approver, "digest": result.digest, "file": str(result.path)}
    for key in ("deployment_id", "digest", "approver"):
        io.set_output(key.replace("_", "-"), str(data[key]))
    from ..actions_io import md_text
    io.append_summary(f"### Flag {md_text(result.flag)} in {md_text(result.environment)}\n\n"
                      f"{md_text(result.old)} → {md_text(result.new)}" + (" (kill switch)" if result.kill_switch else "")
                      + f", deployment {result.deployment_id}\n")
    return edge.emit(io, args, data, f"{result.flag}: {result.old} -> {result.new} in {result.environment} "
                 f"(deployment {result.deployment_id}, {result.state})")
