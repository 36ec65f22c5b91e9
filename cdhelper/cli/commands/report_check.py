"""`cdhelper report-check`: report a commit status (e.g. acceptance passed) that an environment's
required-contexts count as evidence."""

from __future__ import annotations

from cdhelper.cli import edge
from cdhelper.core.errors import InputError, show


def register(sub) -> dict:
    p = sub.add_parser("report-check", help="report a commit status (e.g. acceptance passed) used as evidence")
    edge.config_options(p)
    p.add_argument("--context", default=edge.input_value("context"),
                   help="the status's name, as an environment's required-contexts lists it (e.g. acceptance)")
    p.add_argument("--state", default=edge.input_value("state") or "success", help="success, failure, error or pending")
    p.add_argument("--commit", default=edge.input_value("commit"), help="the commit to report on (default $GITHUB_SHA)")
    p.add_argument("--description", default=edge.input_value("description"), help="a short text shown with the status")
    return {"report-check": run}


COMMIT_STATES = ("success", "failure", "error", "pending")


def run(args, io) -> int:
    # imported when run: keeps --help fast (PyGithub, through the tagging module)
    from cdhelper.release.tagging import SHA
    edge.required(args.context, "--context", input_name="context", example="acceptance",
                  why="it names the status, as an environment's required-contexts lists it")
    ctx = edge.run_context(args, io)
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
    edge.github_client(ctx).create_commit_status(sha, args.state, args.context, description=args.description,
                                      target_url=ctx.run_url)
    io.info(f"{args.context}: {args.state} on {sha[:12]}")
    return 0
