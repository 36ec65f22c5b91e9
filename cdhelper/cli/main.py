"""`cdhelper` command line. The composite actions call it with inputs in `INPUT_*` variables.

This is the edge: arguments and environment are read here, once, into frozen objects; errors
become exit codes, annotations and summaries here and nowhere else. Heavy modules (PyGithub,
jsonschema) are imported inside the commands that need them, so `--help` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os

from cdhelper import __version__

from . import edge
from .edge import ENVIRONMENT


def build_parser() -> argparse.ArgumentParser:
    parser = edge.Parser(
        prog="cdhelper", description="Continuous Delivery / Continuous Deployment for GitHub Actions: build once, "
        "tag by digest, promote through environments, gate production.",
        epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cdhelper {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(p: argparse.ArgumentParser, *, github: bool = True, records: bool = False, gate: bool = False) -> None:
        edge.config_options(p, github=github)
        if records:
            p.add_argument("--trusted-writer", action="append", default=None, metavar="LOGIN",
                           help="besides the Actions bot, a login whose deployment records and statuses count "
                                "(e.g. your App's NAME[bot]); repeatable (input trusted-writers, one per line)")
        if gate:
            p.add_argument("--gate-environment", default=edge.input_value("gate-environment"),
                           help="the approval environment the workflow's gate job is bound to (default "
                                "production-approval); .github/cd.yml may only repeat it")
            p.add_argument("--gate-job", default=edge.input_value("gate-job") or "Approval (delivery mode)",
                           help="the gate job's name as GitHub shows it: tells an approval in this attempt of a "
                                "re-run from a rejection in another (default: the templates' name)")

    p = sub.add_parser("release", help="digest the artifact and tag the commit (idempotent)")
    common(p)
    p.add_argument("--version", dest="release_version", default=edge.input_value("version"),
                   help="SemVer version; default BASE.RUN_NUMBER (versioning.base in cd.yml, default 0.1)")
    p.add_argument("--artifact", action="append", default=None, help="file or directory (repeatable)")
    p.add_argument("--image", action="append", default=None, help="container image NAME@sha256:... (repeatable)")
    p.add_argument("--commit", default=edge.input_value("commit"), help="commit to tag (default $GITHUB_SHA)")
    p.add_argument("--mode", default=edge.input_value("mode"), help="validated only, so a bad CD_MODE fails before the tag is made")
    p.add_argument("--dry-run", action="store_true",
                   help="run every check with reads only (the commit, the tag, asset names, image tags) and print "
                        "what would be written; exits as the real run would, writes nothing")

    p = sub.add_parser("promote", help="deploy a tagged candidate to an environment, with gate and evidence checks")
    common(p, records=True, gate=True)
    p.add_argument("--environment", default=edge.input_value("environment"), help="target environment of the path")
    p.add_argument("--version", dest="release_version", default=edge.input_value("version"), help="candidate version")
    p.add_argument("--mode", default=edge.input_value("mode"), help="delivery (default) or deployment; pass vars.CD_MODE")
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
    p.add_argument("--soak-environment", default=edge.input_value("soak-environment") or "production-soak",
                   help="the environment whose wait timer holds the job that resumes a `pause: hold` "
                        "(checked before a rollout that holds)")
    p.add_argument("--gated", action="store_true", default=None,
                   help="this promotion needs the gate's approval in delivery mode, whatever cd.yml says (production)")
    p.add_argument("--acknowledge-failure", default=edge.input_value("acknowledge-failure"), metavar="REASON",
                   help="promote a version that failed or was rolled back in this environment anyway; the "
                        "deployment record keeps REASON (not needed to roll back)")
    p.add_argument("--dry-run", action="store_true",
                   help="run every check (digest, ordering, evidence, gate, freeze) with reads only and print what "
                        "would be written; exits as the real run would, writes nothing, runs no command")

    p = sub.add_parser("gate", help="the gate job's step: check the mode (and, with --verify, the approval)")
    common(p, gate=True)
    p.add_argument("--mode", default=edge.input_value("mode"),
                   help="delivery (default, also when empty) or deployment; pass vars.CD_MODE")
    p.add_argument("--verify", action="store_true", default=None,
                   help="also read and check this run's approval (one request; the production promotion checks and "
                        "records it anyway)")

    p = sub.add_parser("finish", help="close any record this job left in progress (run with if: always())")
    common(p, records=True)
    p.add_argument("--environment", action="append", default=None,
                   help="only close this environment's record (repeatable; default: every record this run left open)")
    p.add_argument("--job-status", default=edge.input_value("job-status"), help="success, failure or cancelled")

    p = sub.add_parser("sweep", help="close records left queued/in progress by lost runners (run on a schedule)")
    common(p, records=True)
    p.add_argument("--older-than-hours", default=edge.input_value("older-than-hours") or "6",
                   help="age after which an unfinished record is abandoned (default 6; jobs time out well before)")

    p = sub.add_parser("status", help="what digest and version is live in each environment")
    common(p, records=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("report-check", help="report a commit status (e.g. acceptance passed) used as evidence")
    common(p)
    p.add_argument("--context", default=edge.input_value("context"),
                   help="the status's name, as an environment's required-contexts lists it (e.g. acceptance)")
    p.add_argument("--state", default=edge.input_value("state") or "success", help="success, failure, error or pending")
    p.add_argument("--commit", default=edge.input_value("commit"), help="the commit to report on (default $GITHUB_SHA)")
    p.add_argument("--description", default=edge.input_value("description"), help="a short text shown with the status")

    p = sub.add_parser("digest", help="print the sha256 manifest of files/directories (no GitHub access)")
    p.add_argument("paths", nargs="+", help="files or directories: the artifact, exactly as it will be deployed")
    p.add_argument("--json", action="store_true", help="print the manifest and its digest as JSON")

    p = sub.add_parser("github-double", help="serve the GitHub double (a stateful GitHub API) on loopback")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any free one; the URL is printed)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only)")
    p.add_argument("--repo", action="append", default=[], metavar="OWNER/NAME[=GIT_DIR]",
                   help="a repository to serve, backed by the git checkout GIT_DIR for commits and tags (repeatable)")
    p.add_argument("--state", help="load from and save to this JSON file")
    p.add_argument("--variant", action="append", default=[], metavar="NAME[:SETTING]",
                   help="emulate a GitHub behaviour that is not confirmed, or GitHub Enterprise Server (repeatable): "
                        "status-mutation-refused, run-resource-null, run-resource-forbidden, approvals-any-order, "
                        "environment-put-replaces, repo-permissions-absent, ghes (docs/github-double.md)")

    sub.add_parser("action", help="run the command named by INPUT_COMMAND (the root action.yml)")

    for family in FAMILIES:  # each command family adds its own commands (cdhelper/cli/commands/)
        COMMANDS.update(importlib.import_module(f".commands.{family}", __package__).register(sub))
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the process's own command line: hand the secrets over first (credentials.start)
        import sys

        from cdhelper._boot import credentials
        try:
            credentials.start(os.environ, sys.argv[1:])
        except (credentials.CredentialsError, OSError, ValueError) as err:
            print(f"cdhelper: handing over the secrets failed: {err}", file=sys.stderr)
            return 1
    from .actions_io import ActionsIO
    io = ActionsIO.from_environ(dict(os.environ))
    from cdhelper._boot.import_seal import armed
    with armed():  # after the first user command, nothing more is imported (import_seal.py)
        return _dispatch(argv, io)


def _dispatch(argv, io) -> int:
    """The command, and the one place errors become a line, an annotation and an exit code."""
    from cdhelper.core.errors import CDHelperError
    try:
        args = build_parser().parse_args(argv)  # a refused command line is an InputError (edge.Parser)
        io.check_writable()  # an output file that cannot be written is refused before anything happens
        return COMMANDS[args.command](args, io)
    except CDHelperError as err:
        io.error(err.one_line(), title=err.title)
        if io.in_actions:
            io.info(err.one_line())
        io.append_summary(err.markdown())
        return err.exit_code
    except KeyboardInterrupt:
        io.error("interrupted", title="cdhelper")
        return 130
    except BaseException as exc:  # noqa: BLE001 - the one place unexpected failures are reported
        from cdhelper.deploy.record_writer import Cancelled
        if isinstance(exc, Cancelled):
            io.error(f"the job was cancelled ({exc}); the deployment record was closed as error", title="Cancelled")
            return 130
        if isinstance(exc, SystemExit):
            raise
        from cdhelper.github.client import ApiFailure, OutcomeUnknown
        if isinstance(exc, (ApiFailure, OutcomeUnknown)):
            io.error(f"GitHub did not complete a request: {exc}. Fix: re-run the job; nothing half-done is left",
                     title="GitHub API error")
            return 9
        if os.environ.get("CDHELPER_DEBUG"):
            raise
        io.error(f"internal error {type(exc).__name__}: {exc}. Fix: report it; set CDHELPER_DEBUG=1 for the traceback",
                 title="cdhelper bug")
        return 70


# --- commands ----------------------------------------------------------------------------------

def cmd_release(args, io) -> int:
    from cdhelper.core import versions
    from cdhelper.core.context import parse_mode
    from cdhelper.core.digests import digest_paths
    from cdhelper.release import tagging

    from . import report
    parse_mode(args.mode)
    ctx = edge.context(args, io)
    cfg = edge.config(args, ctx)
    version = versions.parse(args.release_version) if args.release_version else versions.default_version(
        cfg.version_base, ctx.run_number)
    artifact = digest_paths(args.artifact or edge.lines(edge.input_value("artifact")), args.image or edge.lines(edge.input_value("image")))
    candidate = tagging.make_candidate(str(version), cfg.tag_prefix, args.commit or ctx.sha, artifact)
    # Everything that can be refused is refused here, before the tag exists.
    if cfg.release_assets:
        tagging.check_release_assets(path for path, _ in artifact.files)
    if cfg.image_tags and candidate.images:
        from cdhelper.release.registry import check_tags
        check_tags(_image_tags(cfg, candidate))
    client = edge.client(ctx)
    if args.dry_run:
        return _dry_run_release(client, ctx, cfg, candidate, artifact, io)
    with io.group(f"Tag {candidate.tag}"):
        result = tagging.create_tag(client, candidate)
        io.info(f"{'created' if result.created else 'already tagged, unchanged:'} {candidate.tag} -> {candidate.commit} "
                f"{candidate.manifest} ({client.requests} requests)")
    if cfg.image_tags and candidate.images:
        _tag_images(candidate, cfg, ctx, io)
    if cfg.release_assets:
        with io.group(f"GitHub Release {candidate.tag}"):
            release = tagging.publish_release(client, result.candidate, artifact.sources)
            io.info(f"{len(artifact.sources)} file(s) on {release['html_url']}")
            io.set_output("release-url", release["html_url"])
    for name, value in {"version": candidate.version, "tag": candidate.tag, "digest": candidate.manifest,
                        "commit": candidate.commit, "created": str(result.created).lower()}.items():
        io.set_output(name, value)
    io.append_summary(report.release_summary(result, run_url=ctx.run_url))
    io.out_json({"version": candidate.version, "tag": candidate.tag, "digest": candidate.manifest,
                 "created": result.created})
    return 0


def _dry_run_release(client, ctx, cfg, candidate, artifact, io) -> int:
    """The release's checks with reads only (the commit exists, the tag is new or the same): what
    would be written, nothing written. Registry and release-asset writes are listed, not tried."""
    from cdhelper.release import tagging

    from . import report
    result = tagging.plan_tag(client, ctx, candidate)
    writes = []
    if result.created:
        writes.append({"tag": candidate.tag, "commit": candidate.commit, "digest": candidate.manifest})
    if cfg.image_tags and candidate.images:
        writes.append({"image_tags": [f"{image}:{t}" for image in candidate.images for t in _image_tags(cfg, candidate)]})
    if cfg.release_assets:
        writes.append({"release": candidate.tag, "assets": [path for path, _ in artifact.files]})
    for write in writes:
        io.info("would " + report.describe_write(write))
    if not writes:
        io.info(f"{candidate.tag} already records this build: nothing to write")
    io.info(f"{client.requests} GitHub requests, no writes")
    outputs = {"version": candidate.version, "tag": candidate.tag, "digest": candidate.manifest,
               "commit": candidate.commit, "created": str(result.created).lower()}
    for name, value in outputs.items():
        io.set_output(name, value)
    io.append_summary(report.release_dry_run_summary(candidate, writes))
    io.out_json({**outputs, "dry_run": True, "would": writes})
    return 0


def _image_tags(cfg, candidate) -> list[str]:
    return [t.replace("{version}", candidate.version) for t in cfg.image_tags]


def _tag_images(candidate, cfg, ctx, io) -> None:
    from cdhelper.release.registry import Registry, split
    tags = _image_tags(cfg, candidate)
    password = edge.secrets(io).registry_password
    for image in candidate.images:
        ref = split(image)
        secret = password or (ctx.token if ref.registry == "ghcr.io" else "")
        registry = Registry(username=os.environ.get("INPUT_REGISTRY_USERNAME") or ctx.actor, password=secret)
        with io.group(f"Registry tags on {image}"):
            made = registry.tag(image, tags)
            io.info(f"{', '.join(made) or 'no new tags'} on {ref.registry}/{ref.repository} "
                    f"(already there: {', '.join(t for t in tags if t not in made) or 'none'})")


def cmd_promote(args, io) -> int:
    from cdhelper.core.context import parse_mode
    from cdhelper.deploy.promotion import PromotionRequest, promote

    from . import report
    mode = parse_mode(args.mode)  # fail closed before anything else
    edge.required(args.environment, "--environment", input_name="environment", example="staging",
                  why="promote needs the target environment")
    edge.required(args.release_version, "--version", input_name="version", example="1.4.2",
                  why="promote needs the candidate's version (the release step's `version` output)")
    ctx = edge.context(args, io)
    cfg = edge.config(args, ctx)
    rollback = args.rollback if args.rollback is not None else edge.boolean(edge.input_value("rollback"), "rollback")
    gated = args.gated if args.gated is not None else edge.boolean(edge.input_value("gated"), "gated")
    env = cfg.environment(args.environment)
    req = PromotionRequest(environment=args.environment, version=args.release_version, mode=mode,
                           artifact_paths=tuple(args.artifact or edge.lines(edge.input_value("artifact"))),
                           expected_digest=args.digest, rollback=rollback, command=args.deploy_command,
                           environment_url=args.environment_url, gated=gated, gate_job=args.gate_job,
                           strategy=_strategy(args.strategy, env, cfg) if args.strategy else None,
                           resume_step=_step(args.resume_step), soak_environment=args.soak_environment,
                           dry_run=args.dry_run, acknowledge_failure=args.acknowledge_failure or "")
    client = edge.client(ctx)
    targets = () if req.dry_run else edge.notification_targets(io)
    from cdhelper.core.errors import CDHelperError, RolledBack
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
    for name, value in outputs.items():
        io.set_output(name, value)
    for note in result.ignored if result.state == "unchanged" else ():
        io.warning(note, title="Untrusted record ignored")
    io.append_summary(report.promotion_summary(result, cfg, mode=mode))
    if result.state != "unchanged":
        edge.announce(io, targets, edge.event(ctx, "rolled_back" if result.rollback_of else "promoted",
                                              environment=req.environment, version=req.version, mode=mode,
                                              digest=result.candidate.manifest, deployment_id=result.deployment_id,
                                              approved_by=tuple(a["login"] for a in result.gate.approvers),
                                              message=f"{result.candidate.version} is live in {result.environment}"))
    io.out_json(outputs)
    return 0


def _dry_run_promotion(result, cfg, mode: str, io) -> int:
    """Every check passed with reads only: say what the real run would write, write nothing."""
    from . import report
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
    import jsonschema
    import yaml

    from cdhelper.core import config
    from cdhelper.core.errors import InputError
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
    from cdhelper.core.errors import InputError
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= 100):
        raise InputError(f"resume-step {raw[:20]!r} is not a step number", "it is the paused promotion's `step` output",
                         "pass it through unchanged: resume-step: ${{ needs.<job>.outputs.step }}")
    return int(raw)


def cmd_gate(args, io) -> int:
    from cdhelper.core.context import parse_mode
    from cdhelper.core.errors import InputError
    from cdhelper.deploy import gate as gates

    from . import report
    mode = parse_mode(args.mode)
    ctx = edge.context(args, io)
    cfg = edge.config(args, ctx)
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
    client = edge.client(ctx)
    ledger = read_ledger(client, ctx, [], commit=ctx.sha, run_url=ctx.run_url, gate=cfg.gate_environment)
    decision = gates.verify(client, ctx, ledger, gate_environment=cfg.gate_environment,
                            target=", ".join(cfg.gate_protects), gate_job=args.gate_job, in_gate_job=True)
    who = ", ".join(a["login"] for a in decision.approvers)
    io.set_output("approved-by", who)
    io.notice(f"{cfg.gate_environment} approved by {who}", title="Gate passed")
    io.append_summary(report.gate_summary(decision))
    return 0


def cmd_finish(args, io) -> int:
    from cdhelper.deploy.promotion import finish
    ctx = edge.context(args, io)
    cfg = edge.config(args, ctx)
    named = args.environment or edge.lines(edge.input_value("environment"))
    names = [cfg.environment(n).name for n in named] or [e.name for e in cfg.environments]
    from cdhelper.deploy.promotion import record_file
    if args.job_status == "success" and not any(record_file(ctx, n).exists() for n in names):
        io.info("no deployment record left open by this job")
        return 0
    closed = finish(edge.client(ctx), ctx, names, args.job_status, explicit=bool(named))
    if not closed:
        io.info("no deployment record of this run is still in flight")
    for deployment_id in closed:
        io.warning(f"deployment {deployment_id} was left open by this job and is now closed as {args.job_status or 'error'}",
                   title="Record closed")
    return 0


def cmd_sweep(args, io) -> int:
    from cdhelper.core.errors import InputError
    from cdhelper.deploy.promotion import sweep
    try:
        hours = float(args.older_than_hours)
    except ValueError:
        hours = 0.0
    if not 0 < hours <= 24 * 366:  # NaN and infinity fail here too
        raise InputError(f"older-than-hours {args.older_than_hours[:40]!r} is not a number of hours between 0 and 8784",
                         "records younger than that are left alone", "pass a number of hours above 0, e.g. 6")
    ctx = edge.context(args, io)
    cfg = edge.config(args, ctx)
    closed = sweep(edge.client(ctx), ctx, [e.name for e in cfg.environments], older_than_hours=hours)
    for record in closed:
        io.warning(f"deployment {record.id} ({record.version} to {record.environment}) was {record.state} since "
                   f"{record.created_at:%Y-%m-%d %H:%M} UTC and is now closed as error", title="Abandoned record")
    io.info(f"{len(closed)} abandoned record(s) closed")
    io.set_output("closed", str(len(closed)))
    return 0


def cmd_status(args, io) -> int:
    from cdhelper.observe.history import status

    from . import report
    ctx = edge.context(args, io)
    cfg = edge.config(args, ctx)
    rows, ignored = status(edge.client(ctx), ctx, cfg)
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


COMMIT_STATES = ("success", "failure", "error", "pending")


def cmd_report_check(args, io) -> int:
    from cdhelper.core.errors import InputError, show
    from cdhelper.release.tagging import SHA
    edge.required(args.context, "--context", input_name="context", example="acceptance",
                  why="it names the status, as an environment's required-contexts lists it")
    ctx = edge.context(args, io)
    sha = args.commit or ctx.sha
    # Checked before any request: the sha becomes part of the URL path, the state must be GitHub's.
    if not SHA.match(sha or ""):
        raise InputError(f"commit {sha[:60]!r} is not a full 40-character sha", "a status is reported on one exact commit",
                         "pass the commit the candidate was built from (GITHUB_SHA inside Actions), or leave it empty")
    if args.state not in COMMIT_STATES:
        raise InputError(f"state {args.state[:40]!r} is not a commit status state", f"GitHub accepts {', '.join(COMMIT_STATES)}",
                         "pass one of those (default success)")
    if not args.context or len(args.context) > 255 or not args.context.isprintable():
        raise InputError(f"context {args.context[:60]!r} is not usable", "it names the check (printable, 1-255 characters)",
                         "pass a short name such as acceptance")
    if len(args.description or "") > 140:
        raise InputError(f"description {show(args.description, 60)} is {len(args.description)} characters long",
                         "GitHub refuses a commit status description over 140 characters",
                         "shorten it to 140 characters or fewer")
    edge.client(ctx).create_commit_status(sha, args.state, args.context, description=args.description,
                                      target_url=ctx.run_url)
    io.info(f"{args.context}: {args.state} on {sha[:12]}")
    return 0


def cmd_digest(args, io) -> int:
    from cdhelper.core.digests import digest_paths
    artifact = digest_paths(args.paths)
    if args.json:
        io.out_json({"digest": artifact.manifest, "files": dict(artifact.files)})
    else:
        io.out(artifact.sha256sum() + f"manifest {artifact.manifest}")
    return 0


def cmd_github_double(args, io) -> int:
    import signal
    import threading

    from cdhelper.devtools.double import GitHubDouble
    double = GitHubDouble(host=args.host, port=args.port, variant=edge.variants(args.variant))
    if args.state and os.path.exists(args.state):
        double.load(args.state)
    for spec in args.repo:
        if double.world.repo(*spec.partition("=")[0].split("/", 1)) is None:
            double.add_repo(spec)
    double.start()
    io.out(double.url)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    double.stop()
    if args.state:
        double.save(args.state)
    return 0


ACTION_COMMANDS = ("promote", "release", "gate", "status", "finish", "report-check", "sweep", "history", "dora", "doctor", "brief",
                   "flags")


def cmd_action(args, io) -> int:
    from cdhelper.core.errors import InputError
    command = (edge.input_value("command") or "promote").strip()
    if command not in ACTION_COMMANDS:
        raise InputError(f"command {command!r} is not one the action runs", f"it runs {', '.join(ACTION_COMMANDS)}",
                         "set the `command` input to one of those")
    return COMMANDS[command](build_parser().parse_args([command]), io)


COMMANDS = {"release": cmd_release, "promote": cmd_promote, "gate": cmd_gate, "finish": cmd_finish, "sweep": cmd_sweep,
            "status": cmd_status, "report-check": cmd_report_check, "digest": cmd_digest,
            "github-double": cmd_github_double, "action": cmd_action}
FAMILIES = ("rehearse", "observe", "doctor", "environments", "flags")
