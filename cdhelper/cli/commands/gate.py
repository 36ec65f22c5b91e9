"""`cdhelper gate`: the gate job's step. It checks CD_MODE and, with --verify, this run's approval
(cdhelper/deploy/gate.py); the production promotion verifies and records the approval anyway."""

from __future__ import annotations

from cdhelper.cli import edge
from cdhelper.core.errors import InputError


def register(sub) -> dict:
    p = sub.add_parser("gate", help="the gate job's step: check the mode (and, with --verify, the approval)")
    edge.config_options(p)
    edge.gate_options(p)
    edge.mode_option(p)
    p.add_argument("--verify", action="store_true", default=None,
                   help="also read and check this run's approval (one request; the production promotion checks and "
                        "records it anyway)")
    return {"gate": run}


def run(args, io) -> int:
    # imported when run: keeps --help fast (the domains, PyGithub, jsonschema)
    from cdhelper.cli import report
    from cdhelper.core.context import parse_mode  # imported when run: keeps --help fast
    from cdhelper.deploy import gate as gates
    mode = parse_mode(args.mode)
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    io.set_output("mode", mode)
    if mode == "deployment":
        io.notice("Continuous Deployment: production is promoted without a human gate", title="CD_MODE=deployment")
        io.append_summary(report.gate_summary(gates.not_required(cfg.gate_environment)))
        return 0
    verify = args.verify if args.verify is not None else edge.boolean(edge.input_value("verify"), "verify")
    if not verify:
        # GitHub held this job for the environment's reviewers; the production promotion verifies the
        # approval (reviewers, self-review, who) in the read it makes anyway, so nothing is read here.
        io.notice(f"{cfg.gate_environment} released this job; the production promotion verifies and records the "
                  "approval", title="Gate")
        io.append_summary(report.gate_summary(gates.GateDecision(True, cfg.gate_environment)))
        return 0
    from cdhelper.deploy.records import read_ledger
    from cdhelper.release.tagging import SHA
    if not SHA.match(ctx.sha) or not ctx.run_id:
        raise InputError(f"GITHUB_SHA {ctx.sha[:50]!r} / GITHUB_RUN_ID {ctx.run_id} do not name a run's commit",
                         "the gate checks this run's approvals and who wrote its commit",
                         "run the gate step inside GitHub Actions (the runner sets both)")
    client = edge.github_client(ctx)
    ledger = read_ledger(client, ctx, [], commit=ctx.sha, run_url=ctx.run_url, gate=cfg.gate_environment)
    decision = gates.verify(client, ctx, ledger, gate_environment=cfg.gate_environment,
                            target=", ".join(cfg.gate_protects), gate_job=args.gate_job, in_gate_job=True)
    who = ", ".join(a["login"] for a in decision.approvers)
    io.set_output("approved-by", who)
    io.notice(f"{cfg.gate_environment} approved by {who}", title="Gate passed")
    io.append_summary(report.gate_summary(decision))
    return 0
