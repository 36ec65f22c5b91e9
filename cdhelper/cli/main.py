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
from cdhelper._boot import credentials
from cdhelper._boot.import_seal import armed
from cdhelper.core.errors import CDHelperError

from . import edge
from .actions_io import ActionsIO
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
    if argv is None:  # the process's own command line: hand the secrets over first (credentials.start)
        try:
            credentials.start(os.environ, sys.argv[1:])
        except (credentials.CredentialsError, OSError, ValueError) as err:
            print(f"cdhelper: handing over the secrets failed: {err}", file=sys.stderr)
            return 1
    io = ActionsIO.from_environ(dict(os.environ))
    with armed():  # after the first user command, nothing more is imported (import_seal.py)
        return _dispatch(argv, io)


def _dispatch(argv, io) -> int:
    """The command, and the one place errors become a line, an annotation and an exit code."""
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
        if isinstance(exc, SystemExit):  # --help, --version
            raise
        # imported when run: keeps --help fast (the domains, PyGithub)
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
            raise
        io.error(f"internal error {type(exc).__name__}: {exc}. Fix: report it; set CDHELPER_DEBUG=1 for the traceback",
                 title="cdhelper bug")
        return 70


# The command families, in the order `cdhelper --help` lists them: the one place a family is named.
FAMILIES = ("release", "promote", "gate", "records", "status", "report_check", "observe", "doctor", "environments",
            "flags", "rehearse", "devtools", "action")
COMMANDS: dict = {}  # command name -> handler(args, io), filled by build_parser from the families
