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
