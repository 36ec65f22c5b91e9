"""The manual: every environment variable the CLI reads is in `cdhelper --help` and docs/cli.md, and
every option of every command says what it does."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from cdhelper.cli.main import ENVIRONMENT, build_parser

ROOT = Path(__file__).resolve().parents[2]
# The modules behind the command line (the launcher and set-up have their own docs: README, docs/cli.md).
CLI_MODULES = ["cli/main.py", "cli/edge.py", "core/context.py", "_boot/credentials.py", "cli/actions_io.py", "github/client.py", "deploy/promotion.py"]


def variables_read() -> set[str]:
    found = set()
    for name in CLI_MODULES:
        source = (ROOT / "cdhelper" / name).read_text()
        found |= set(re.findall(r"""environ(?:\.get)?[\(\[]\s*["']([A-Z][A-Z0-9_]+)["']""", source))
        found |= set(re.findall(r"""_(?:int|url)\(environ, ["']([A-Z][A-Z0-9_]+)["']""", source))
    credentials = (ROOT / "cdhelper" / "_boot/credentials.py").read_text()
    found |= set(re.findall(r'"((?:INPUT_)?(?:GITHUB|GH|REGISTRY)_[A-Z_]+)"', credentials))
    # the launcher's own hand-over variables are not settings
    return {v for v in found if v not in {"CDHELPER_SECRETS_FD", "CDHELPER_PYTHON", "CDHELPER_ROOT"}}


def test_every_variable_the_cli_reads_is_in_the_help_and_the_docs():
    variables = variables_read()
    assert {"GITHUB_API_URL", "GITHUB_REPOSITORY", "GITHUB_TOKEN", "GITHUB_RUN_ID", "GITHUB_SHA",
            "CDHELPER_BACKOFF"} <= variables, "the scan found what it must"
    docs = (ROOT / "docs" / "cli.md").read_text()
    help_text = build_parser().format_help()
    assert ENVIRONMENT in help_text
    for variable in sorted(variables):
        assert variable in help_text or variable.replace("INPUT_", "INPUT_<") in help_text or \
            variable.startswith("INPUT_") and "INPUT_<NAME>" in help_text, f"{variable} is not in cdhelper --help"
        assert variable in docs or variable.startswith("INPUT_") and "INPUT_<NAME>" in docs, f"{variable} not in docs/cli.md"


def test_every_option_of_every_command_says_what_it_does():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    silent = [f"{name} {' '.join(a.option_strings) or a.dest}" for name, parser in sub.choices.items()
              for a in parser._actions if not a.help and a.option_strings != ["-h", "--help"]]
    assert silent == []
    docs = (ROOT / "docs" / "cli.md").read_text()
    assert [name for name in sub.choices if f"| `{name}` |" not in docs] == []


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every parser of the command line, sub-commands of sub-commands included, with its words."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


def test_the_help_of_every_command_and_sub_command_prints():
    """argparse formats `%` in help texts: a bare one turns `--help` into a traceback (it did for
    `cdhelper rollout --help`)."""
    found = list(_parsers(build_parser()))
    assert ("rollout", "abort") in {path for path, _ in found}, "the walk reaches sub-commands"
    for path, parser in found:
        assert parser.format_help(), path
