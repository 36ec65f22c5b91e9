"""`cdhelper rollout abort | resume | retry`: operate a rollout that was started (docs/progressive-delivery.md,
"Operate a rollout"). Each operation is a phased command like promote: `open` (no repository code,
writes records), `deploy` (runs the hooks, writes nothing), `close` (records what the deploy job did).
"""

from __future__ import annotations

import argparse

from cdhelper.cli import edge
from cdhelper.cli import main as cli  # loaded before any family: main builds the parser from them
from cdhelper.core.errors import InputError

ACTIONS: tuple[str, ...] = ()  # the operations' names, once the parser is built


def register(sub) -> dict:
    p = sub.add_parser("rollout", help="operate a started rollout: abort it, resume a paused one (or promote it "
                       "fully), retry a failed one")
    p.epilog, p.formatter_class = edge.ENVIRONMENT, argparse.RawDescriptionHelpFormatter
    # ACTION may be left out: the actions (`command: rollout`) name it in INPUT_ACTION.
    actions = p.add_subparsers(dest="rollout_command", metavar="ACTION", required=False,
                               help="abort | resume | retry (default: the action's `action` input)")
    # each operation adds its parser to `actions` and returns its handler(args, io)
    handlers = {name: add(actions) for name, add in OPERATIONS.items()}
    global ACTIONS
    ACTIONS = tuple(handlers)

    def run_rollout(args, io) -> int:
        if args.rollout_command is None:  # run by an action: the operation comes from the inputs
            action = edge.required(edge.input_value("action").strip(), "ACTION", input_name="action",
                                   example="abort", why=f"rollout needs what to do: {', '.join(ACTIONS)}")
            if action not in ACTIONS:
                raise InputError(f"rollout action {action!r} is not one cdhelper knows",
                                 f"it is one of {', '.join(ACTIONS)}",
                                 "run `cdhelper rollout abort|resume|retry ...`, or set the action's `action` input")
            args = cli.build_parser().parse_args(["rollout", action])  # every option defaults to its input
        return handlers[args.rollout_command](args, io)
    return {"rollout": run_rollout}


# --- the operations: name -> add(actions) -> handler; one block per operation below ---

OPERATIONS: dict = {}


# --- abort: undo a paused or interrupted rollout as the automated rollback does, and record it ---

def _add_abort(actions):
    p = actions.add_parser("abort", help="undo a paused or interrupted rollout as the automated rollback does "
                           "(canary to 0%%, blue-green back, otherwise the live version redeployed), and record it")
    edge.config_options(p)
    edge.trusted_writer_option(p)
    p.add_argument("--environment", default=edge.input_value("environment"), help="the environment of the rollout")
    p.add_argument("--deployment", default=edge.input_value("deployment"), metavar="ID",
                   help="the record to abort, when several rollouts are in flight (input deployment)")
    p.add_argument("--reason", default=edge.input_value("reason"), help="why, kept in the record (input reason)")
    p.add_argument("--run", dest="deploy_command", default=edge.input_value("run"),
                   help="the deploy command when cd.yml names no deploy hook (redeploys the live version)")
    edge.phase_options(p, what="find, undo and record")

    def run(args, io) -> int:
        import functools

        from cdhelper.core.escaping import md_text
        from cdhelper.deploy import abort, handoff
        phase = edge.phase(args)
        edge.required(args.environment, "--environment", input_name="environment", example="production",
                      why="abort needs the environment of the rollout")
        ctx = edge.run_context(args, io)
        if phase == "deploy":  # repository code runs here: no request to GitHub (but an old release's files)
            h = handoff.parse_handoff(args.handoff or "")
            _same_environment(h, args.environment)
            cfg = edge.load_config(args, ctx)
            github = functools.cache(lambda: edge.github_client(ctx))
            with io.group(f"Abort {h['version']} in {h['environment']} (deployment {h['deployment_id']}): undo"):
                done = abort.deploy(ctx, cfg, h, command=args.deploy_command or "", client=github, log=io.info)
            io.set_output("report", handoff.dump(done.report))
            io.set_output("state", done.report["state"])
            io.append_summary(f"## Undo of {md_text(h['version'])} in {md_text(h['environment'])} "
                              f"(deployment {h['deployment_id']}; this job writes nothing to GitHub)\n\n"
                              f"{done.report['state']}: {md_text(done.report['reason'])}\n")
            if done.error is not None:
                raise done.error
            io.out_json({"report": done.report})
            return 0
        client = edge.github_client(ctx)
        if phase == "close":
            h = handoff.parse_handoff(args.handoff or "")
            _same_environment(h, args.environment)
            with io.group(f"Record the abort of deployment {h['deployment_id']} in {h['environment']}"):
                ended = abort.close(client, ctx, h, (args.job_result or "").strip(), args.report or "",
                                    reason=args.reason or "", log=io.info)
        else:
            cfg = edge.load_config(args, ctx)
            cfg.environment(args.environment)  # an unknown one is refused before any output
            ident = _deployment_id(args.deployment)
            warn = functools.partial(io.warning, title="Untrusted record ignored")
            if phase == "open":
                opened = abort.open_abort(client, ctx, cfg, args.environment, deployment_id=ident,
                                          reason=args.reason or "", warn=warn)
                io.info(opened.already or f"aborting deployment {opened.handoff['deployment_id']} "
                        f"({opened.handoff['version']}) in {args.environment}")
                io.info(f"{client.requests} GitHub requests")
                outputs = {"handoff": handoff.dump(opened.handoff) if opened.handoff else "",
                           "state": "already aborted" if opened.handoff is None else "open"}
                for name, value in outputs.items():
                    io.set_output(name, value)
                io.out_json(outputs)
                return 0
            with io.group(f"Abort the rollout in flight in {args.environment}"):
                ended = abort.run_all(client, ctx, cfg, args.environment, deployment_id=ident,
                                      reason=args.reason or "", command=args.deploy_command or "", log=io.info,
                                      warn=warn)
        io.info(ended.description)
        io.info(f"{client.requests} GitHub requests")
        outputs = {"deployment-id": str(ended.deployment_id or ""), "state": ended.state,
                   "rollback-deployment-id": str(ended.rollback_id or ""), "requests": str(client.requests)}
        for name, value in outputs.items():
            io.set_output(name, value)
        io.append_summary(f"### Abort in {md_text(args.environment)}: {ended.state}\n\n{md_text(ended.description)}\n")
        io.out_json({**outputs, "description": ended.description})
        return 0
    return run


def _same_environment(h: dict, environment: str) -> None:
    if h["environment"] != environment:
        raise InputError(f"handoff is for {h['environment']}, not {environment}",
                         "an abort acts on the rollout of the environment it names",
                         "pass the handoff of the same environment's open job")


def _deployment_id(raw: str) -> int:
    raw = (raw or "").strip()
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**53):
        raise InputError(f"deployment {raw[:30]!r} is not a deployment id", "it is the number `cdhelper status` shows",
                         "pass --deployment ID (input deployment) with the record's id, or leave it out")
    return int(raw)


OPERATIONS["abort"] = _add_abort


# --- retry: promote again a version that failed or was rolled back or aborted, with the acknowledgement ---

def _add_retry(actions):
    from cdhelper.cli.commands import promote
    p = actions.add_parser("retry", help="promote again the newest version that failed or was rolled back or "
                           "aborted in an environment (same digest, a new record, every check of a promotion), "
                           "with the acknowledgement recorded")
    promote.add_options(p)  # --version is optional here: the failed version by default

    def run(args, io) -> int:
        from cdhelper.deploy import operations
        from cdhelper.deploy.records import read_ledger
        phase = edge.phase(args)
        if phase in ("open", "all"):  # deploy and close continue from the open job's handoff, as promote's
            edge.required(args.environment, "--environment", input_name="environment", example="production",
                          why="retry needs the environment where the version failed")
            if args.rollback or args.resume_step:
                raise InputError("retry takes no --rollback or --resume-step", "a retry promotes a failed version "
                                 "again from the start", "use `cdhelper promote` for those")
            ctx = edge.run_context(args, io)
            edge.load_config(args, ctx).environment(args.environment)  # an unknown one: refused as promote does
            client = edge.github_client(ctx)
            records = read_ledger(client, ctx, [args.environment]).of(args.environment)
            failure = operations.retry_of(records, args.environment, (args.release_version or "").strip())
            args.release_version = failure.version
            given = " ".join((args.acknowledge_failure or "").split())  # the person's own reason, kept with it
            args.acknowledge_failure = operations.retry_acknowledgement(failure, ctx.actor, ctx.run_id, given)
            io.info(f"retrying {failure.version} in {args.environment}: {failure.describe(args.environment)}")
        return promote.run(args, io)
    return run


OPERATIONS["retry"] = _add_retry


# --- rollout resume ---------------------------------------------------------------------------------

def _add_resume(actions):
    p = actions.add_parser("resume", help="resume a paused rollout of any run once its soak has passed (--full: "
                           "skip the remaining steps to 100%%; --due: the oldest hold whose time has passed)")
    edge.config_options(p)
    edge.trusted_writer_option(p)
    edge.gate_options(p)
    edge.mode_option(p)
    edge.phase_options(p, what="check, continue the record and run the hooks")
    p.add_argument("--environment", default=edge.input_value("environment"), help="where the rollout is paused")
    p.add_argument("--deployment", default=edge.input_value("deployment"), metavar="ID",
                   help="the paused record's id, when several rollouts are in flight there")
    p.add_argument("--full", action="store_true", default=None,
                   help="skip the remaining steps: one shift to 100%% (then teardown); the after-rollout analyses "
                        "still run (input full)")
    p.add_argument("--due", action="store_true", default=None,
                   help="the oldest paused hold whose time has passed, in any environment of the path; exit 0 "
                        "when nothing is due (the scheduled resume, cd-resume.yml)")
    p.add_argument("--gated", action="store_true", default=None,
                   help="moving traffic forward needs the gate's approval in delivery mode, whatever cd.yml says")
    p.add_argument("--soak-environment", default=edge.input_value("soak-environment") or "production-soak",
                   help="read only for a hold paused before its time was recorded: its wait timer")
    p.add_argument("--run", dest="deploy_command", default=edge.input_value("run"), help="deploy command (bash)")
    p.add_argument("--environment-url", default=edge.input_value("environment-url"), help="URL shown on the deployment")
    p.add_argument("--artifact", action="append", default=None, help="deploy phase: require the record's digest")
    p.add_argument("--dry-run", action="store_true", default=None,
                   help="every check with reads only: which rollout would resume and whether its gate applies "
                        "(input dry-run)")
    p.set_defaults(strategy="")  # the deploy phase is promote's: the plan is the environment's
    return _resume


def _resume(args, io) -> int:
    # imported when run: keeps --help fast
    from cdhelper.cli import report
    from cdhelper.cli.commands import promote
    from cdhelper.core.context import parse_mode
    from cdhelper.deploy.promotion import ResumeRequest, resume_rollout
    edge.phase(args)
    due = args.due if args.due is not None else edge.boolean(edge.input_value("due"), "due")
    if args.phase in ("deploy", "close") or not due:
        edge.required(args.environment, "--environment", input_name="environment", example="production",
                      why="resume needs the environment where the rollout is paused (or --due)")
    if args.phase == "deploy":
        return promote.run_deploy(args, io)
    if args.phase == "close":
        return promote.run_close(args, io)
    mode = parse_mode(args.mode)
    full = args.full if args.full is not None else edge.boolean(edge.input_value("full"), "full")
    gated = args.gated if args.gated is not None else edge.boolean(edge.input_value("gated"), "gated")
    dry_run = args.dry_run if args.dry_run is not None else edge.boolean(edge.input_value("dry-run"), "dry-run")
    deployment = (args.deployment or "").strip()
    if deployment and not (deployment.isascii() and deployment.isdigit()):
        raise InputError(f"deployment {deployment[:30]!r} is not a deployment id", "it is the record's number",
                         "pass the id `cdhelper status` shows, e.g. --deployment 1234")
    if due and (full or deployment or (args.environment or "").strip()):
        raise InputError("--due was given with " + ("--full" if full else "--deployment" if deployment else "--environment"),
                         "--due resumes the oldest hold that is due anywhere in the path, on a schedule",
                         "leave --due out to resume one rollout (by hand or with --full), or leave the others out")
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    if not due:
        cfg.environment(args.environment)  # an unknown one is refused before any output
    req = ResumeRequest(environment=args.environment or "", mode=mode, deployment_id=int(deployment or 0), full=full,
                        due=due, phase=args.phase, dry_run=dry_run, gated=gated, gate_job=args.gate_job,
                        soak_environment=args.soak_environment, command=args.deploy_command,
                        environment_url=args.environment_url)
    client = edge.github_client(ctx)
    with io.group("Resume " + (f"the paused rollout in {req.environment}" if req.environment else "what is due")):
        result = resume_rollout(client, ctx, cfg, req, log=io.info,
                                warn=lambda note: io.warning(note, title="Untrusted record ignored"))
        io.info(f"{client.requests} GitHub requests")
    if result is None:
        outputs = {"state": "nothing-due", "environment": "", "deployment-id": "", "version": "", "handoff": "",
                   "gated": "false"}
    else:
        outputs = {"state": result.state, "environment": result.environment,
                   "deployment-id": str(result.deployment_id), "version": result.candidate.version,
                   "step": str(result.paused_at or ""), "paused": str(bool(result.paused_at)).lower(),
                   "gated": str(result.gate.required).lower(), "full": str(req.full).lower(),
                   "approved-by": ",".join(a["login"] for a in result.gate.approvers)}
        if result.handoff is not None:
            from cdhelper.deploy.handoff import dump
            outputs["handoff"] = dump(result.handoff)
    for name, value in outputs.items():
        io.set_output(name, value)
    if result is not None and result.state not in ("dry-run",):
        io.append_summary(report.promotion_summary(result, cfg, mode=mode))
    io.out_json({**outputs, **({"would": result.would} if result is not None and result.would else {})})
    return 0


OPERATIONS["resume"] = _add_resume
