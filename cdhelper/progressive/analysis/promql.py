"""Variables in PromQL: a query split into literal text and placeholders, each knowing the context
it stands in, so a value is escaped for the PromQL string it fills (and for the regular expression,
after `=~`/`!~`) and cannot end the string and add PromQL of its own. Outside a string only
`{{weight}}` (a number) may stand; in a comment a value is put on one line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from cdhelper.core.errors import ConfigError

from .spec import PLACEHOLDER, VARIABLES, clip, variables_text

NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # what may stand outside a string
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


class Template:
    """A query split into literal text and placeholders, each with its context: `code`, a string
    quoted with `"` or `'` (and whether it is a regular expression), `raw` (backticks), `comment`."""

    def __init__(self, parts: tuple):
        self.parts = parts  # (literal, variable | None, context, is_regex)

    @property
    def variables(self) -> set[str]:
        return {var for _, var, _, _ in self.parts if var}

    def render(self, values: Mapping[str, str]) -> str:
        out = []
        for literal, var, context, regex in self.parts:
            out.append(literal)
            if var is None:
                continue
            value = str(values[var])
            if context in ('"', "'"):
                out.append(_promql_string(_re2_escape(value) if regex else value, context))
            elif context == "comment":
                out.append(" ".join(value.splitlines()))
            else:  # code: only a number may stand there (checked by providers.substitute)
                out.append(value)
        return "".join(out)


@functools.lru_cache(maxsize=256)
def compile_query(query: str, what: str) -> Template:
    parts, literal = [], []
    state, i, n = "code", 0, len(query)
    regex, tail = False, ""  # tail: the last two non-blank characters of code, to spot =~ and !~
    while i < n:
        match = PLACEHOLDER.match(query, i) if query.startswith("{{", i) else None
        if match:
            var = match.group(1)
            if var not in VARIABLES:
                raise ConfigError(f"{what} uses `{clip(match.group(0), 40)}`", f"the variables are {variables_text()}",
                                  "use one of them, or write the value out")
            if state == "`":
                raise ConfigError(f"{what} has `{match.group(0)}` inside a `backtick` string",
                                  "a raw string cannot escape a value", f'use double quotes: "{{{{{var}}}}}"')
            if state == "code" and var != "weight":
                raise ConfigError(f"{what} has `{match.group(0)}` outside a quoted string",
                                  "there its value would become PromQL of its own",
                                  f'quote it, e.g. {var}="{{{{{var}}}}}"')
            parts.append(("".join(literal), var, state, regex))
            literal, tail = [], ""
            i = match.end()
            continue
        ch = query[i]
        literal.append(ch)
        if state == "code":
            if ch in "\"'`":
                state, regex = ch, tail in ("=~", "!~")
            elif ch == "#":
                state = "comment"
            elif not ch.isspace():
                tail = (tail + ch)[-2:]
        elif state == "comment":
            if ch == "\n":
                state = "code"
        elif state in ('"', "'"):
            if ch == "\\" and i + 1 < n:
                literal.append(query[i + 1])
                i += 1
            elif ch == state:
                state, regex, tail = "code", False, ch
        elif ch == "`":
            state, regex, tail = "code", False, ch
        i += 1
    parts.append(("".join(literal), None, state, False))
    return Template(tuple(parts))


def _promql_string(value: str, quote_char: str) -> str:
    """`value` escaped to stand inside a PromQL string quoted with `quote_char` (Go's rules)."""
    out = []
    for ch in value:
        if ch == "\\" or ch == quote_char:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _re2_escape(value: str) -> str:
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in value)


