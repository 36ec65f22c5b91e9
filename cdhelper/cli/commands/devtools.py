"""`cdhelper github-double`: serve the GitHub double (a stateful GitHub API, cdhelper/devtools/double/)
on loopback, for tests and rehearsals by hand."""

from __future__ import annotations

import os

from cdhelper.core.errors import InputError


def register(sub) -> dict:
    p = sub.add_parser("github-double", help="serve the GitHub double (a stateful GitHub API) on loopback")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any free one; the URL is printed)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only)")
    p.add_argument("--repo", action="append", default=[], metavar="OWNER/NAME[=GIT_DIR]",
                   help="a repository to serve, backed by the git checkout GIT_DIR for commits and tags (repeatable)")
    p.add_argument("--state", help="load from and save to this JSON file")
    p.add_argument("--user", action="append", default=[], metavar="LOGIN",
                   help="a GitHub user the double knows (repeatable): reviewers in cd.yml must be known users")
    p.add_argument("--variant", action="append", default=[], metavar="NAME[:SETTING]",
                   help="emulate a GitHub behaviour that is not confirmed, or GitHub Enterprise Server (repeatable): "
                        "status-mutation-refused, run-resource-null, run-resource-forbidden, approvals-any-order, "
                        "environment-put-replaces, repo-permissions-absent, ghes (docs/github-double.md)")
    return {"github-double": run_github_double}


def run_github_double(args, io) -> int:
    # imported when run: the developer tools are never imported by a runtime command (import-linter)
    import signal  # imported when run: keeps --help fast
    import threading  # imported when run: keeps --help fast

    from cdhelper.devtools.double import GitHubDouble
    double = GitHubDouble(host=args.host, port=args.port, variant=checked_variants(args.variant))
    if args.state and os.path.exists(args.state):
        double.load(args.state)
    for spec in args.repo:
        if double.world.repo(*spec.partition("=")[0].split("/", 1)) is None:
            double.add_repo(spec)
    for login in args.user:
        double.user_id(login)  # a login the double is asked about makes it known
    try:
        double.start()
    except OSError as err:
        raise InputError(f"--port {args.port} on {args.host} cannot be served", err.strerror or str(err),
                         "pass another --port, or --port 0 for any free one (the URL is printed)") from None
    io.out(double.url)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    double.stop()
    if args.state:
        double.save(args.state)
    return 0


def checked_variants(specs: list[str]) -> list[str]:
    """The --variant values, refused in one line when one is unknown."""
    from cdhelper.devtools.double import variants
    try:
        variants.parse(specs)
    except ValueError as err:
        raise InputError(f"--variant {' '.join(specs)[:80]!r} is not usable", str(err),
                         "pick from the list in cdhelper github-double --help") from None
    return specs
