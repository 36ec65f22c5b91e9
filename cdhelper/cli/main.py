"""`cdhelper` command line. The composite actions call it with inputs in `INPUT_*` variables.

This is the edge: arguments and environment are read here, once, into frozen objects; errors
become exit codes, annotations and summaries here and nowhere else. Heavy modules (PyGithub,
jsonschema) are imported inside the commands that need them, so `--help` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from cdhelper import __version__
from cdhelper.core.errors import CDHelperError

from . import edge
from .edge import ENVIRONMENT


def build_parser() -> argparse.ArgumentParser:
    parser = edge.Parser(
        prog="cdhelper", description="Continuous Delivery / Continuous Deployment for GitHub Actions: build once, "
        "tag by digest, promote through environments, gate production.",
        epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cdhelper {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for family in FAMILIES:  # each command family adds its own commands (cdhelper/cli/commands/)
        COMMANDS.update(importlib.import_module(f".commands.{family}", __package__).register(sub))
    return parser


def main(argv: list[str] | None = None) -> int:
    # Imports below are made when a command runs, not at the module's head: `--help` and
    # `--version` end in the parser, before the secrets, the seal and the runner's I/O are loaded.
    if argv is None:  # the process's own command line: hand the secrets over first (credentials.start)
        from cdhelper._boot import credentials
        try:
            credentials.start(os.environ, sys.argv[1:])
        except (credentials.CredentialsError, OSError, ValueError) as err:
            print(f"cdhelper: handing over the secrets failed: {err}", file=sys.stderr)
            return 1
    try:
        args = build_parser().parse_args(argv)  # a refused command line is an InputError (edge.Parser)
    except CDHelperError as err:
        return failed(err, _actions_io())
    from cdhelper._boot.import_seal import armed
    io = _actions_io()
    with armed():  # after the first user command, nothing more is imported (import_seal.py)
        try:
            io.check_writable()  # an output file that cannot be written is refused before anything happens
            return COMMANDS[args.command](args, io)
        except BaseException as exc:  # noqa: BLE001 - mapped (or re-raised) in one place
            return failed(exc, io)


def _actions_io():
    from .actions_io import ActionsIO
    return ActionsIO.from_environ(dict(os.environ))


def failed(exc: BaseException, io) -> int:
    """The one place errors become a line, an annotation and an exit code."""
    if isinstance(exc, CDHelperError):
        io.error(exc.one_line(), title=exc.title)
        if io.in_actions:
            io.info(exc.one_line())
        io.append_summary(exc.markdown())
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        io.error("interrupted", title="cdhelper")
        return 130
    if isinstance(exc, SystemExit):  # --help, --version
        raise exc
    from cdhelper.deploy.record_writer import Cancelled
    if isinstance(exc, Cancelled):
        io.error(f"the job was cancelled ({exc}); the deployment record was closed as error", title="Cancelled")
        return 130
    from cdhelper.github.client import ApiFailure, OutcomeUnknown
    if isinstance(exc, (ApiFailure, OutcomeUnknown)):
        io.error(f"GitHub did not complete a request: {exc}. Fix: re-run the job; nothing half-done is left",
                 title="GitHub API error")
        return 9
    if os.environ.get("CDHELPER_DEBUG"):
        raise exc
    io.error(f"internal error {type(exc).__name__}: {exc}. Fix: report it; set CDHELPER_DEBUG=1 for the traceback",
             title="cdhelper bug")
    return 70


# The command families, in the order `cdhelper --help` lists them: the one place a family is named.
FAMILIES = ("release", "promote", "gate", "records", "status", "report_check", "observe", "audit", "doctor",
            "environments", "flags", "rollout", "rehearse", "devtools", "action")
COMMANDS: dict = {}  # command name -> handler(args, io), filled by build_parser from the families
