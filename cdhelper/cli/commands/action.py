"""`cdhelper action`: the root action.yml's one step, which runs the command its `command` input names
(INPUT_COMMAND), every option defaulting to the action's inputs."""

from __future__ import annotations

from cdhelper.cli import edge
from cdhelper.cli import main as cli  # loaded before any family: main builds the parser from them
from cdhelper.core.errors import InputError

ACTION_COMMANDS = ("promote", "release", "gate", "status", "finish", "report-check", "sweep", "history", "dora", "doctor", "brief",
                   "flags", "audit", "rollout")


def register(sub) -> dict:
    sub.add_parser("action", help="run the command named by INPUT_COMMAND (the root action.yml)")
    return {"action": run}


def run(args, io) -> int:
    command = (edge.input_value("command") or "promote").strip()
    if command not in ACTION_COMMANDS:
        raise InputError(f"command {command!r} is not one the action runs", f"it runs {', '.join(ACTION_COMMANDS)}",
                         "set the `command` input to one of those")
    return cli.COMMANDS[command](cli.build_parser().parse_args([command]), io)
