"""`cdhelper environments plan|apply`: environments as code (cdhelper/deploy/environments.py, docs/configuration.md).

plan reads only and works with any token that can read the environments; apply needs a token of a
repository admin and a trusted run (by hand, or the default branch on push, workflow_dispatch or
schedule). `apply --dry-run` makes every check apply makes, with reads only, and exits as apply would.
"""

from __future__ import annotations

import os

from cdhelper.cli import edge


def register(sub) -> dict:
    p = sub.add_parser("environments", help="environments as code: show (plan) or fix (apply) the drift between the "
                       "protection declared in .github/cd.yml and GitHub's environments")
    actions = p.add_subparsers(dest="environments_action", metavar="ACTION", required=True,
                               help="plan (reads only) or apply")
    for name, text in (("plan", "list what differs (reads only; exit 0 with or without drift)"),
                       ("apply", "change on GitHub what differs, and nothing else (needs an admin's token)")):
        a = actions.add_parser(name, help=text)
        a.add_argument("--config", default=edge.input_value("config") or None, help="path of cd.yml (default .github/cd.yml)")
        a.add_argument("--repository", default=edge.input_value("repository"), help="OWNER/NAME (default $GITHUB_REPOSITORY)")
        edge.gate_options(a, job=False, unset=None)  # unset: cd.yml's, not checked against a workflow's
        a.add_argument("--json", action="store_true", help="print the plan as JSON (docs/configuration.md)")
        if name == "apply":
            a.add_argument("--dry-run", action="store_true", default=None,
                           help="make every check apply makes, with reads only, and print what it would change")
    return {"environments": run}


def run(args, io) -> int:
    from cdhelper.deploy import environments
    ctx = edge.run_context(args, io)
    cfg = edge.load_config(args, ctx)
    client = edge.github_client(ctx)
    applying = args.environments_action == "apply"
    dry_run = applying and (args.dry_run or edge.boolean(edge.input_value("dry-run"), "dry-run"))
    if applying:  # refused before the plan's lookups, and before any write
        environments.check_can_apply(client, environments.Origin(
            in_actions=os.environ.get("GITHUB_ACTIONS") == "true", event=os.environ.get("GITHUB_EVENT_NAME", ""),
            ref=os.environ.get("GITHUB_REF", "")))
    planned = environments.plan(client, cfg)
    done = environments.apply(client, planned) if applying and not dry_run else []
    outcome = _outcome(planned, applying=applying, dry_run=dry_run, done=len(done))
    data = {**planned.as_json(), "applied": len(done), "dry_run": bool(dry_run), "outcome": outcome}
    io.set_output("drift", str(bool(planned.changes)).lower())
    if args.json:
        io.out_json(data, indent=2)
    else:
        io.out("\n".join([*planned.lines(), outcome]))
    for warning in planned.warnings:
        io.warning(warning, title="Gate without reviewers")
    io.append_summary(_summary(planned, outcome))
    return 0


def _outcome(planned, *, applying: bool, dry_run: bool, done: int) -> str:
    if not applying or not planned.changes:
        return planned.summary()
    if dry_run:
        return f"Dry run, nothing written: apply would make {len(planned.changes)} change(s) in " \
               f"{len(planned.drifted)} environment(s)."
    return f"Applied {done} change(s) in {len(planned.drifted)} environment(s)."


def _summary(planned, outcome: str) -> str:
    from cdhelper.core.escaping import md_block, md_text  # imported when run: keeps --help fast
    lines = planned.lines()
    return "### Environments as code\n\n" + (md_block("\n".join(lines)) if lines else "") + f"\n{md_text(outcome)}\n"
