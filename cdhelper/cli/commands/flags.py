"""`cdhelper flags status | diff | set`: what is on where, what differs, and a flip as a recorded
release step (docs/flags.md)."""

from __future__ import annotations

import argparse
import os

from cdhelper.cli import edge
from cdhelper.cli import main as cli  # loaded before any family: main builds the parser from them
from cdhelper.core.errors import ConflictError, InputError, PermissionDeniedError

ACTIONS = ("status", "diff", "set")


def register(sub) -> dict:
    p = sub.add_parser("flags", help="feature flags per environment (flagd files in .github/flags/): status, diff, "
                       "and set (a flip recorded as its own release, behind the production gate)")
    p.epilog, p.formatter_class = edge.ENVIRONMENT, argparse.RawDescriptionHelpFormatter
    # ACTION may be left out: the actions (actions/flags, `command: flags`) name it in INPUT_ACTION.
    actions = p.add_subparsers(dest="flags_command", metavar="ACTION", required=False,
                               help="status: what is on where; diff: what differs; set: flip one flag as a release "
                                    "(default: the action's `action` input)")

    def common(q, *, github: bool = False) -> None:
        edge.config_options(q, github=github)
        q.add_argument("--json", action="store_true", default=None, help="print the result as JSON (input json)")

    common(actions.add_parser("status", help="each flag's default variant in each environment of the path"))
    q = actions.add_parser("diff", help="flags whose state differs between two environments")
    common(q)
    q.add_argument("--from", dest="from_env", default="", help="default: the first environment of the path")
    q.add_argument("--to", dest="to_env", default="", help="default: the last environment of the path")
    q = actions.add_parser("set", help="set a flag's default variant in one environment, recorded as a deployment "
                           "(task release:flags) and gated like production in delivery mode")
    common(q, github=True)
    q.add_argument("flag", nargs="?", default=edge.input_value("flag"), help="the flag key (input flag)")
    q.add_argument("variant", nargs="?", default=edge.input_value("variant"),
                   help="the variant to serve by default (input variant)")
    q.add_argument("--environment", default=edge.input_value("environment"),
                   help="the environment whose flag file changes (required; input environment)")
    edge.mode_option(q, help="delivery (default, also when empty) or deployment")
    q.add_argument("--run", dest="run_command", default=edge.input_value("run"),
                   help="command to hand the file to the platform when cd.yml names no deploy hook for the "
                        "environment (gets CD_FLAGS)")
    edge.gate_options(q)
    edge.phase_options(q, what="check, record, hand the file to the platform and commit it")
    q.add_argument("--commit-to", default=edge.input_value("commit-to"), metavar="BRANCH",
                   help="after the flip, commit the new flag file to BRANCH through GitHub's Contents API (needs "
                        "contents: write; refused, with nothing written, when the branch's file is not the one "
                        "this run flips). Default: no commit (input commit-to)")
    return {"flags": run_flags}


def run_flags(args, io) -> int:
    if args.flags_command is None:  # run by an action: the sub-action and its options come from the inputs
        action = edge.required(edge.input_value("action").strip(), "ACTION", input_name="action", example="set",
                               why=f"flags needs what to do: {', '.join(ACTIONS)}")
        if action not in ACTIONS:
            raise InputError(f"flags action {action!r} is not one cdhelper knows", f"it is one of {', '.join(ACTIONS)}",
                             "run `cdhelper flags status|diff|set ...`, or set the action's `action` input")
        args = cli.build_parser().parse_args(["flags", action])  # every option defaults to its input
    if args.json is None:
        args.json = edge.boolean(edge.input_value("json"), "json")
    return {"status": _status, "diff": _diff, "set": _set}[args.flags_command](args, io)


def _files(args):
    """The path's environments and their flag files (None where one has none). Reads the workspace
    only: status and diff need no token."""

    from cdhelper.deploy import cd_yml, flags
    workspace = os.environ.get("GITHUB_WORKSPACE") or "."
    cfg = cd_yml.load(args.config, workspace=workspace)
    return cfg, {e.name: flags.load(workspace, e.name) for e in cfg.environments}


def _status(args, io) -> int:
    from cdhelper.deploy import flags
    cfg, files = _files(args)
    names = [e.name for e in cfg.environments]
    keys = sorted({k for f in files.values() if f for k in f.flags})
    table = {k: {n: (files[n].state.get(k, "") if files[n] else "") for n in names} for k in keys}
    # Declared kill switches (flags.kill_switch), per environment: each file declares its own.
    kills = {k: {n: dict(zip(("variant", "source"), found, strict=True)) for n in names
                 if files[n] and (found := flags.kill_switch(files[n], k))} for k in keys}
    width = max([len("flag")] + [len(k) for k in keys])
    cols = [max([len(n)] + [len(table[k][n]) for k in keys]) for n in names]
    lines = ["  ".join(["flag".ljust(width)] + [n.ljust(c) for n, c in zip(names, cols, strict=True)]
                       + ["kill switch"]).rstrip()]
    for k in keys:
        lines.append("  ".join([k.ljust(width)] + [(table[k][n] or "-").ljust(c) for n, c in zip(names, cols, strict=True)]
                               + [_kill_switch_cell(kills[k], names)]).rstrip())
    missing = [n for n in names if files[n] is None]
    if missing:
        lines.append(f"no flag file: {', '.join(missing)}")
    return edge.emit(io, args, {"environments": names, "flags": table, "kill_switches": kills,
                            "digests": {n: f.digest for n, f in files.items() if f}}, "\n".join(lines))


def _kill_switch_cell(declared: dict, names: list[str]) -> str:
    """`off` when every file declares the same variant, `off (production only)`-style when some
    declare none or another one, `-` when none does (no kill switch: a freeze holds every flip)."""
    variants = {d["variant"] for d in declared.values()}
    if not variants:
        return "-"
    if len(variants) == 1 and len(declared) == len(names):
        return next(iter(variants))
    return ", ".join(f"{d['variant']} ({n})" for n, d in declared.items())


def _diff(args, io) -> int:
    from cdhelper.deploy import flags
    cfg, files = _files(args)
    left = cfg.environment(args.from_env).name if args.from_env else cfg.environments[0].name
    right = cfg.environment(args.to_env).name if args.to_env else cfg.environments[-1].name
    rows = flags.differences(files[left], files[right])
    text = "\n".join(f"{r['flag']}: {r['from'] or '-'} ({left}) -> {r['to'] or '-'} ({right})" for r in rows) \
        or f"no flag differs between {left} and {right}"
    return edge.emit(io, args, {"from": left, "to": right, "differences": rows}, text)


def _set(args, io) -> int:
    from cdhelper.core.context import parse_mode  # imported when run: keeps --help fast
    from cdhelper.core.escaping import md_text  # imported when run: keeps --help fast
    from cdhelper.deploy import flags
    phase = edge.phase(args)
    named = (("FLAG", args.flag), ("VARIANT", args.variant)) if phase in ("all", "open") else ()  # else: the handoff's
    missing = [name for name, value in (*named, ("--environment", args.environment)) if not value]
    if missing:
        raise InputError(f"flags set needs {', '.join(missing)}", "a flip names the flag, its new variant and the "
                         "environment", "run `cdhelper flags set FLAG VARIANT --environment ENV`, or set the action's "
                         "flag, variant and environment inputs")
    mode = parse_mode(args.mode) if phase in ("all", "open") else ""
    edge.required(args.environment, "--environment", example="production", why="a flip changes one environment's file")
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    if phase == "deploy":
        return _deploy_flip(args, io, ctx, cfg)
    client = edge.github_client(ctx)
    if phase == "close":
        return _close_flip(args, io, ctx, client)
    environment = cfg.environment(args.environment).name
    # Checked before anything is written: the file on the branch is the one this run flips.
    on_branch = _branch_file(client, ctx, args.commit_to, environment, args.flag, args.variant) if args.commit_to else None
    req = flags.FlagRequest(environment=environment, flag=args.flag, variant=args.variant,
                            mode=mode, command=args.run_command, gate_job=args.gate_job, phase=phase)
    result = flags.release(client, ctx, cfg, req, log=io.info)
    if phase == "open":  # no handoff when there is nothing to release: the deploy and record jobs do nothing
        from cdhelper.deploy.handoff import dump
        io.set_output("handoff", dump(result.handoff) if result.handoff else "")
        io.set_output("deployment-id", str(result.deployment_id or ""))
        return edge.emit(io, args, {"deployment_id": result.deployment_id, "state": result.state},
                         f"{result.flag}: {result.old} -> {result.new} in {result.environment}: "
                         f"deployment {result.deployment_id} opened ({result.state})")
    commit = _commit(client, ctx, args.commit_to, result, on_branch, io.info) if args.commit_to else ""
    data = {"environment": result.environment, "flag": result.flag, "old": result.old, "new": result.new,
            "deployment_id": result.deployment_id, "state": result.state, "kill_switch": result.kill_switch,
            "approver": result.approver, "digest": result.digest, "file": str(result.path), "commit": commit}
    for key in ("deployment_id", "digest", "approver", "commit"):
        io.set_output(key.replace("_", "-"), str(data[key]))
    io.append_summary(f"### Flag {md_text(result.flag)} in {md_text(result.environment)}\n\n"
                      f"{md_text(result.old)} → {md_text(result.new)}" + (" (kill switch)" if result.kill_switch else "")
                      + f", deployment {result.deployment_id}"
                      + (f", committed to {md_text(args.commit_to)} ({commit[:12]})" if commit else "") + "\n")
    return edge.emit(io, args, data, f"{result.flag}: {result.old} -> {result.new} in {result.environment} "
                 f"(deployment {result.deployment_id}, {result.state})")


def _deploy_flip(args, io, ctx, cfg) -> int:
    """The split layout's deploy job: the file to the platform; nothing written to GitHub."""
    from cdhelper.core.errors import DeployError
    from cdhelper.deploy import flags, handoff
    h = handoff.parse_handoff(args.handoff or "")
    if not h.get("flag"):
        raise InputError("handoff is not a flag flip's", "it is a promotion's handoff",
                         "pass the flags open job's `handoff` output")
    failed = "" if h["unchanged"] else flags.deploy_flip(
        ctx, cfg, h, flags.FlagRequest(environment=h["environment"], flag="", variant="", mode=h["mode"],
                                       command=args.run_command), log=io.info)
    io.set_output("report", handoff.dump(handoff.report(h["deployment_id"], "failed" if failed else "success",
                                                        statuses=[], reason=failed)))
    if failed:
        raise DeployError(f"releasing {h['flag']['flag']}={h['flag']['new']} in {h['environment']} failed", failed,
                          "read the hook's output above; the record job marks the record failure")
    return edge.emit(io, args, {"deployment_id": h["deployment_id"], "state": "success"},
                     f"{h['flag']['flag']} handed to the platform in {h['environment']}")


def _close_flip(args, io, ctx, client) -> int:
    """The split layout's record job: the record ended from the deploy job's result, then the commit."""
    from cdhelper.deploy import flags, phases
    closed = phases.close(client, ctx, args.environment, args.handoff or "", (args.job_result or "").strip(),
                          args.report or "", log=io.info,
                          warn=lambda note: io.warning(note, title="Deploy job's report not used"))
    commit = ""
    if args.commit_to and closed.state in ("success", "unchanged"):
        h = closed.handoff
        flip = h["flag"]
        on_branch = _branch_file(client, ctx, args.commit_to, h["environment"], flip["flag"], flip["new"])
        released = flags.flipped_file(ctx, h)
        result = flags.FlagResult(h["environment"], flip["flag"], flip["old"], flip["new"], h["deployment_id"],
                                  closed.state, bool(flip.get("kill_switch")), "", released.digest, released.path)
        commit = _commit(client, ctx, args.commit_to, result, on_branch, io.info)
    for key, value in (("deployment-id", closed.deployment_id or ""), ("state", closed.state), ("commit", commit)):
        io.set_output(key, str(value))
    return edge.emit(io, args, {"deployment_id": closed.deployment_id, "state": closed.state, "commit": commit},
                     f"deployment {closed.deployment_id}: {closed.state}" + (f", committed {commit[:12]}" if commit else ""))


def _repository_path(environment: str) -> str:
    from cdhelper.deploy import flags
    return (flags.FLAGS_DIR / f"{environment}.flagd.json").as_posix()


def _branch_file(client, ctx, branch: str, environment: str, flag: str, variant: str) -> dict | None:
    """The environment's flag file on `branch` ({"text", "sha"}), read before the flip: it must be the
    file this run read from its checkout, or already hold this flip (a re-run whose commit landed).
    Anything else means the branch moved since the checkout; committing over it would undo that change."""
    from cdhelper.deploy import flags
    current = flags.load(ctx.workspace, environment)
    definition = current.flags.get(flag) if current else None
    if definition is None or variant not in definition["variants"]:
        return None  # the flip itself refuses this, with its own message
    path = _repository_path(environment)
    found = client.get_file(path, ref=branch)
    if found is None:
        raise InputError(f"{path} is not on branch {branch}", "the flip is committed over the file this run read, "
                         "and that branch has none", f"commit the flag file to {branch} first, or set commit-to to "
                         "the branch the workflow runs on")
    if found["text"] not in (current.text, flags.render(current, flag, variant)):
        raise ConflictError(f"{path} on {branch} is not the file this run flips",
                            f"the branch moved since this run's checkout ({ctx.sha[:12]}): the file changed there",
                            "run the workflow again from the branch's head: a new run, not a re-run (a re-run "
                            "checks out the same commit)")
    return found


def _commit(client, ctx, branch: str, result, on_branch: dict | None, log) -> str:
    """Commit the flipped file to `branch` over the blob read before the flip; '' when the branch
    already holds it (a re-run, or nothing flipped). Returns the new commit's sha."""
    from cdhelper.deploy import flags  # imported when run: keeps --help fast
    from cdhelper.github.client import ApiFailure, OutcomeUnknown
    path = _repository_path(result.environment)
    # What cdhelper released, not whatever the deploy hook left at that path: read the way every flag
    # file is (no link followed), and only if it is still the file the record carries.
    released = flags.load(ctx.workspace, result.environment)
    if released is None or released.digest != result.digest:
        raise ConflictError(f"{path} was not committed", f"the file changed after the flip released {result.digest[:19]}… "
                            f"(the deploy hook rewrote it); the flip is recorded and live (deployment "
                            f"{result.deployment_id})", "let the hook read CD_FLAGS without changing it, then re-run")
    text = released.text
    if on_branch is not None and on_branch["text"] == text:
        log(f"{path} on {branch} already holds {result.flag}={result.new}: nothing to commit")
        return ""
    message = (f"Flags: {result.flag} {result.old} -> {result.new} in {result.environment}\n\n"
               f"Deployment {result.deployment_id} (task release:flags)" + (f", run {ctx.run_url}" if ctx.run_id else ""))
    try:
        sha = client.put_file(path, text, branch=branch, sha=on_branch["sha"] if on_branch else None, message=message)
    except OutcomeUnknown:
        landed = client.get_file(path, ref=branch)  # the response was lost: did the commit land?
        if landed is None or landed["text"] != text:
            raise
        log(f"{path} on {branch} holds {result.flag}={result.new} (the commit landed; its answer was lost)")
        return ""
    except ApiFailure as err:
        live = f"the flip is recorded and live (deployment {result.deployment_id}) but not committed"
        moved = ("does not match" in err.message or "but expected" in err.message) if err.status == 409 else \
            err.status == 422 and "sha" in err.message  # 409: another blob or head; 422: a file appeared meanwhile
        if moved:
            raise ConflictError(f"committing {path} to {branch} was refused: the branch moved",
                                f"GitHub answered {err.status} ({err.message[:120]}); {live}",
                                "run the workflow again from the branch's head (a new run, not a re-run)") from None
        raise PermissionDeniedError(f"committing {path} to {branch} was refused",
                                    f"GitHub answered {err.status} ({err.message[:120]}): a branch protection rule or "
                                    f"ruleset stops the push; {live}",
                                    f"let the GitHub Actions bot push to {branch}, or set commit-to to another branch "
                                    "and merge it with a pull request (docs/flags.md)") from None
    log(f"committed {path} to {branch}: {sha[:12]}")
    return sha
