"""The one module that speaks GitHub Actions workflow commands: outputs, summary, annotations,
masks and log groups. Off Actions it falls back to plain text on stderr.

Everything that reaches stdout, stderr or the job summary goes through here, and text from outside
(versions, tags, file names, reviewers' comments, error messages) is made inert by the functions of
cdhelper/core/escaping.py (which says how the runner reads commands, and how each is neutralised).
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from cdhelper.core.errors import InputError
from cdhelper.core.escaping import (
    LINE_BREAK,
    escape_data,
    escape_property,
    neutralise,
    one_line,
    printable,
)

SUMMARY_LIMIT = 1024 * 1024  # GitHub refuses step summaries over 1 MiB
OUTPUT_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class ActionsIO:
    in_actions: bool = False
    output_file: str | None = None
    summary_file: str | None = None
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    secrets: list[str] = field(default_factory=list)
    _warned: set[str] = field(default_factory=set, init=False, repr=False)

    @classmethod
    def from_environ(cls, environ: dict[str, str]) -> ActionsIO:
        return cls(in_actions=environ.get("GITHUB_ACTIONS") == "true",
                   output_file=environ.get("GITHUB_OUTPUT") or None,
                   summary_file=environ.get("GITHUB_STEP_SUMMARY") or None)

    # The only two ways anything is printed: a command we mean, or neutralised text.
    def _command(self, name: str, data: str = "", stream: TextIO | None = None, **props: str) -> None:
        """`data` and `props` must already be what the runner should see (redacted, neutralised if shown)."""
        properties = ",".join(f"{key}={escape_property(value)}" for key, value in props.items() if value)
        line = f"::{name} {properties}::" if properties else f"::{name}::"
        print(printable(line + escape_data(data)), file=stream or sys.stdout, flush=True)

    def _print(self, text: str, stream: TextIO) -> None:
        print(printable(neutralise(self.redact(text))), file=stream, flush=True)

    def redact(self, text: str) -> str:
        for value in self.secrets:
            text = text.replace(value, "***")
        return text

    def mask(self, value: str) -> None:
        """Mask at once, before anything can print it. Also redacted from our own writes off Actions.
        The runner masks line by line, so each line of a multi-line value is masked too."""
        if not value or value.isspace():
            return
        lines = [line for line in LINE_BREAK.split(value)[::2] if line.strip()]
        for item in dict.fromkeys([value, *lines]):  # whole value first, no duplicates
            self.secrets.append(item)
            if self.in_actions:
                self._command("add-mask", item)  # escaped but never altered: the mask must match

    def out(self, text: str) -> None:
        """A command's result on stdout (tables, sha256sum lists): neutralised, like every other line."""
        self._print(text, sys.stdout)

    def out_json(self, data: object, *, indent: int | None = None) -> None:
        """JSON on stdout. `#` only occurs inside JSON strings, so writing it `\\u0023` keeps the same
        value for any parser while no `##[` can reach the runner; no JSON line can start with `::`."""
        self.out(self.redact(json.dumps(data, indent=indent)).replace("#", "\\u0023"))

    def info(self, message: str) -> None:
        self._print(message, self.stream)

    def annotate(self, level: str, message: str, title: str = "", *, stream: TextIO | None = None,
                 file: str = "", line: int | None = None) -> None:
        """`file` (relative to the repository's root) and `line` place the annotation on that line."""
        title = one_line(title)
        if self.in_actions:  # the runner shows the data as lines of the log: neutralise them too
            place = {"file": one_line(self.redact(file)), "line": str(line) if file and line else ""}
            self._command(level, neutralise(self.redact(message)), stream=stream,
                          title=neutralise(self.redact(title)), **place)
        else:
            self._print(f"{level}: {title}: {message}" if title else f"{level}: {message}", stream or self.stream)

    def error(self, message: str, title: str = "") -> None:
        self.annotate("error", message, title)

    def warning(self, message: str, title: str = "") -> None:
        self.annotate("warning", message, title)

    def notice(self, message: str, title: str = "") -> None:
        self.annotate("notice", message, title)

    def _io_warning(self, key: str, message: str) -> None:
        """A failure to write a file of the runner: once per file, on stderr (stdout may be parsed)."""
        if key not in self._warned:
            self._warned.add(key)
            self.annotate("warning", message, "cdhelper could not write a workflow file", stream=self.stream)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        title = one_line(title)  # a title is one line: a newline in it must not start another
        if self.in_actions:
            self._command("group", neutralise(self.redact(title)))
        else:
            self._print(f"== {title}", self.stream)
        try:
            yield
        finally:
            if self.in_actions:
                self._command("endgroup")

    # --- files of the runner: GITHUB_OUTPUT and GITHUB_STEP_SUMMARY ----------------------------

    def check_writable(self) -> None:
        """Call before the first write to GitHub. An output file that cannot be appended to raises
        InputError (nothing was done yet, so refusing is safe); a summary that cannot be written
        only warns, since a summary never decides success."""
        if self.output_file:
            cause = _append_problem(self.output_file)
            if cause:
                raise InputError(f"GITHUB_OUTPUT {self.output_file!r} is not writable", cause,
                                 "point GITHUB_OUTPUT at a file this job can append to (the runner provides one: check "
                                 "the job's container, user and mounts), or unset it outside Actions; nothing was done")
        if self.summary_file:
            cause = _append_problem(self.summary_file)
            if cause:
                self._io_warning(self.summary_file, f"GITHUB_STEP_SUMMARY {self.summary_file!r} is not writable: "
                                 f"{cause}; the job summary will be missing")

    def set_output(self, name: str, value: str) -> bool:
        """True when written. Never raises OSError: a late failure (after a deployment happened) must not
        fail a finished job, so it warns naming the output and returns False."""
        if not OUTPUT_NAME.fullmatch(name):
            raise ValueError(f"output name {name!r} must match [A-Za-z0-9_-]+")
        value = self.redact(str(value))
        if not self.output_file:
            return False
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            while delimiter in value:  # a value must never contain the line that ends it
                delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            entry = f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
        else:
            entry = f"{name}={value}\n"
        try:
            with open(self.output_file, "a", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(entry)
        except OSError as exc:
            self._io_warning(f"{self.output_file}:{name}", f"output {name!r} was not written to GITHUB_OUTPUT "
                             f"{self.output_file!r}: {exc.strerror or exc}; later steps will not see it")
            return False
        return True

    def append_summary(self, markdown: str) -> bool:
        """True when written. Never raises OSError: a summary that cannot be written only warns."""
        markdown = self.redact(markdown)
        if not self.summary_file:
            return False
        encoded = markdown.encode("utf-8", "backslashreplace")
        if len(encoded) > SUMMARY_LIMIT:
            note = "\n\n_(summary truncated: GitHub shows at most 1 MiB per step)_\n"
            markdown = encoded[: SUMMARY_LIMIT - len(note) - 4].decode(errors="ignore") + note
        try:
            with open(self.summary_file, "a", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(markdown)
        except OSError as exc:
            self._io_warning(self.summary_file, f"GITHUB_STEP_SUMMARY {self.summary_file!r} could not be written: "
                             f"{exc.strerror or exc}; the job summary is incomplete")
            return False
        return True


def _append_problem(path: str) -> str:
    """Why `path` cannot be appended to, or "" when it can (the runner creates these files empty)."""
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""
