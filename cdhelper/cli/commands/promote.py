"""`cdhelper promote`: deploy a tagged candidate to an environment, with the gate and evidence checks
(cdhelper/deploy/promotion.py), and say what happened: outputs, summary, notifications."""

from __future__ import annotations

import functools

from cdhelper.cli import edge
from cdhelper.core.errors import CDHelperError, InputError, RolledBack


def register(sub) -> dict:
    p = sub.add_parser("promote", help="deploy a tagged candidate to an environment, with gate and evidence checks")
    add_options(p)
    return {"promote": run}


def add_options(p) -> None:
    """promote's options (also `rollout retry`'s, which is a promote with a computed version)."""
    edge.config_options(p)
    edge.trusted_writer_option(p)
    edge.gate_options(p)
    p.add_argument("--environment", default=edge.input_value("environment"), help="target environment of the path")
    p.add_argument("--version", dest="release_version", default=edge.input_value("version"), help="candidate version")
    edge.mode_option(p)
    p.add_argument("--artifact", action="append", default=None, help="recompute and require the tagged digest")
    p.add_argument("--digest", default=edge.input_value("digest"), help="require this manifest digest")
    p.add_argument("--rollback", action="store_true", default=None, help="go back to an earlier, known-good version")
    p.add_argument("--run", dest="deploy_command", default=edge.input_value("run"), help="deploy command (bash), gets CD_* variables")
    p.add_argument("--environment-url", default=edge.input_value("environment-url"), help="URL shown on the deployment")
    p.add_argument("--strategy", default=edge.input_value("strategy"),
                   help="override the environment's strategy, in cd.yml's form (YAML), e.g. all-at-once or "
                        "'canary: {steps: [{weight: 50}, {weight: 100}]}'")
    p.add_argument("--resume-step", default=edge.input_value("resume-step"),
                   help="continue this run's paused rollout from this step (the `step` output of the paused promotion)")
    edge.soak_option(p, help="the environment whose wait timer holds the job that resumes a `pause: hold` "
                             "(checked before a rollout that holds)")
    p.add_argument("--gated", action="store_true", default=None,
                   help="this promotion needs the gate's approval in delivery mode, whatever cd.yml says (production)")
    p.add_argument("--acknowledge-failure", default=edge.input_value("acknowledge-failure"), metavar="REASON",
                   help="promote a version that failed or was rolled back in this environment anyway; the "
                        "deployment record keeps REASON (not needed to roll back)")
    edge.phase_options(p, what="check, record and deploy")
    p.add_argument("--dry-run", action="store_true",
                   help="run every check (digest, ordering, evidence, gate, freeze) with reads only and print what "
                        "would be written; exits as the real run would, writes nothing, runs no command")


def run(args, io) -> int:
    # imported when run: keeps --help fast (the domains, PyGithub, jsonschema)
    from cdhelper.cli import report
    from cdhelper.core.config import DEFAULT_SOAK
    from cdhelper.core.context import parse_mode  # imported when run: keeps --help fast
    from cdhelper.deploy.promotion import PromotionRequest, promote
    edge.phase(args)
    edge.required(args.environment, "--environment", input_name="environment", example="staging",
                  why="promote needs the target environment")
    if args.phase == "close":
        return run_close(args, io)
    if args.phase == "deploy":
        return run_deploy(args, io)
    mode = parse_mode(args.mode)  # fail closed before anything else
    edge.required(args.release_version, "--version", input_name="version", example="1.4.2",
                  why="promote needs the candidate's version (the release step's `version` output)")
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    rollback = args.rollback if args.rollback is not None else edge.boolean(edge.input_value("rollback"), "rollback")
    gated = args.gated if args.gated is not None else edge.boolean(edge.input_value("gated"), "gated")
    env = cfg.environment(args.environment)
    req = PromotionRequest(environment=args.environment, version=args.release_version, mode=mode,
                           artifact_paths=tuple(args.artifact or edge.lines(edge.input_value("artifact"))),
                           expected_digest=args.digest, rollback=rollback, command=args.deploy_command,
                           environment_url=args.environment_url, gated=gated, gate_job=args.gate_job,
                           strategy=_strategy(args.strategy, env, cfg) if args.strategy else None,
                           resume_step=_step(args.resume_step),
                           soak_environment=edge.environment_name(args.soak_environment,
                                                                  cd_yml=cfg.soak_environment(env.name),
                                                                  builtin=DEFAULT_SOAK),
                           soak_named_by=edge.named_by("soak-environment"),
                           dry_run=args.dry_run, acknowledge_failure=args.acknowledge_failure or "", phase=args.phase)
    client = edge.github_client(ctx)
    targets = () if req.dry_run else edge.notification_targets(io)
    with io.group(f"Promote {req.version} to {req.environment} ({mode})"):
        try:
            result = promote(client, ctx, cfg, req, log=io.info,
                             warn=lambda note: io.warning(note, title="Untrusted record ignored"))
        except CDHelperError as err:  # the path as it stands: where this promotion failed or was undone
            state = "rolled_back" if isinstance(err, RolledBack) else "failed"
            previous = cfg.previous(env.name)
            io.append_summary(report.path_diagram(cfg, previous.name if previous else "", req.version,
                                                  gated=mode == "delivery", states={env.name: state}))
            edge.announce(io, targets, edge.event(ctx, state, environment=req.environment, version=req.version,
                                                  mode=mode, message=err.one_line()))
            raise
        for warning in result.warnings:
            io.warning(warning, title="Superseded candidate")
        io.info(f"{client.requests} GitHub requests")
    if result.would is not None:
        return _dry_run_promotion(result, cfg, mode, io)
    outputs = {"paused": str(bool(result.paused_at)).lower(), "step": str(result.paused_at or ""),
               "rollback-deployment-id": str(result.rollback_id or ""),
               "deployment-id": str(result.deployment_id), "version": result.candidate.version,
               "digest": result.candidate.manifest, "tag": result.candidate.tag, "environment": result.environment,
               "state": result.state, "approved-by": ",".join(a["login"] for a in result.gate.approvers),
               "previous-version": result.previous.version if result.previous else "",
               "environment-url": req.environment_url or cfg.environment(req.environment).url}
    if result.handoff is not None:
        from cdhelper.deploy.handoff import dump
        outputs["handoff"] = dump(result.handoff)
    for name, value in outputs.items():
        io.set_output(name, value)
    if args.phase == "open":  # the record job announces how it ended
        io.append_summary(report.promotion_summary(result, cfg, mode=mode))
        io.out_json(outputs)
        return 0
    for note in result.ignored if result.state == "unchanged" else ():
        io.warning(note, title="Untrusted record ignored")
    io.append_summary(report.promotion_summary(result, cfg, mode=mode))
    if result.state not in ("unchanged", "scheduled"):  # scheduled: a soak: hold left to a later resume
        edge.announce(io, targets, edge.event(ctx, "rolled_back" if result.rollback_of else "promoted",
                                              environment=req.environment, version=req.version, mode=mode,
                                              digest=result.candidate.manifest, deployment_id=result.deployment_id,
                                              approved_by=tuple(a["login"] for a in result.gate.approvers),
                                              message=f"{result.candidate.version} is live in {result.environment}"))
    io.out_json(outputs)
    return 0


def _dry_run_promotion(result, cfg, mode: str, io) -> int:
    """Every check passed with reads only: say what the real run would write, write nothing."""
    from cdhelper.cli import report
    for write in result.would["writes"]:
        io.info("would " + report.describe_write(write))
    if result.would.get("deploy_command"):
        io.info(f"would run the deploy command: {result.would['deploy_command']}")
    outputs = {"state": result.state, "version": result.candidate.version, "digest": result.candidate.manifest,
               "tag": result.candidate.tag, "environment": result.environment,
               "approved-by": ",".join(a["login"] for a in result.gate.approvers),
               "previous-version": result.previous.version if result.previous else ""}
    for name, value in outputs.items():
        io.set_output(name, value)
    io.append_summary(report.promotion_summary(result, cfg, mode=mode))
    io.out_json({**outputs, "dry_run": True, "would": result.would})
    return 0


def _strategy(raw: str, env, cfg):
    """The `strategy` input: cd.yml's `strategy:` form, checked by the same schema and rules."""
    # imported when run: keeps --help fast
    import jsonschema
    import yaml

    from cdhelper.core import config
    from cdhelper.progressive import strategies
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InputError(f"strategy {raw[:60]!r} is not YAML", str(getattr(exc, "problem", exc))[:100],
                         "pass a strategy as in .github/cd.yml, e.g. all-at-once") from None
    spec = config.schema()["properties"]["environments"]["items"]["properties"]["strategy"]
    spec = {**spec, "$defs": config.schema()["$defs"]}
    if not jsonschema.Draft202012Validator(spec).is_valid(value):
        raise InputError(f"strategy {raw[:60]!r} is not a strategy", "see docs/progressive-delivery.md for the forms",
                         "pass all-at-once, blue-green, or rolling/canary as in .github/cd.yml")

    def duration(raw_pause):
        from cdhelper.progressive import analysis
        return analysis.parse_duration(raw_pause)
    return strategies.parse(value, hooks=env.hooks, analysis=env.plan.analysis, known=set(cfg.analyses),
                            duration=duration, where=f"the strategy input for {env.name}")


def _step(raw: str) -> int:
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= 100):
        raise InputError(f"resume-step {raw[:20]!r} is not a step number", "it is the paused promotion's `step` output",
                         "pass it through unchanged: resume-step: ${{ needs.<job>.outputs.step }}")
    return int(raw)


def run_deploy(args, io) -> int:
    """The deploy phase: repository code runs here, and nothing is written to GitHub."""
    from cdhelper.cli import report
    from cdhelper.deploy import handoff, phases
    from cdhelper.deploy.promotion import PromotionRequest
    h = handoff.parse_handoff(args.handoff or "")
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    env = cfg.environment(args.environment)
    req = PromotionRequest(environment=args.environment, version=h["version"], mode=h["mode"],
                           artifact_paths=tuple(args.artifact or edge.lines(edge.input_value("artifact"))),
                           command=args.deploy_command, environment_url=args.environment_url,
                           strategy=_strategy(args.strategy, env, cfg) if args.strategy else None, phase="deploy")
    github = functools.cache(lambda: edge.github_client(ctx))  # built only if a rollback needs an old release's files
    with io.group(f"Deploy {h['version']} to {h['environment']} (deployment {h['deployment_id']})"):
        done = phases.deploy(ctx, cfg, req, h, client=github, log=io.info)
    io.set_output("report", handoff.dump(done.report))
    io.set_output("state", done.report["state"])
    io.set_output("step", str(done.report["paused_at"] or ""))
    io.append_summary(report.deploy_phase_summary(h, done.report))
    if done.error is not None:
        raise done.error
    io.out_json({"report": done.report})
    return 0


def run_close(args, io) -> int:
    """The record phase: what the deploy job reported, labelled, and the end from its result."""
    from cdhelper.cli import report
    from cdhelper.deploy import phases
    ctx = edge.run_context(args, io)
    client = edge.github_client(ctx)
    targets = edge.notification_targets(io)
    with io.group(f"Record the promotion to {args.environment}"):
        closed = phases.close(client, ctx, args.environment, args.handoff or "", (args.job_result or "").strip(),
                              args.report or "", log=io.info,
                              warn=lambda note: io.warning(note, title="Deploy job's report not used"))
        io.info(f"{client.requests} GitHub requests")
    outputs = {"deployment-id": str(closed.deployment_id or ""), "state": closed.state,
               "paused": str(bool(closed.paused_at)).lower(), "step": str(closed.paused_at or ""),
               "rollback-deployment-id": str(closed.rollback_id or "")}
    for name, value in outputs.items():
        io.set_output(name, value)
    kind = {"success": "promoted", "failure": "rolled_back" if closed.rollback_id else "failed",
            "error": "failed"}.get(closed.state)
    if kind:
        h = closed.handoff
        edge.announce(io, targets, edge.event(ctx, kind, environment=args.environment, version=h["version"],
                                              mode=h["mode"], digest=h["digest"], deployment_id=closed.deployment_id,
                                              message=closed.description))
    io.append_summary(report.record_phase_summary(args.environment, closed))
    io.out_json(outputs)
    return 0

