"""The one module that speaks GitHub Actions workflow commands: outputs, summary, annotations,
masks and log groups. Off Actions it falls back to plain text on stderr."""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

SUMMARY_LIMIT = 1024 * 1024  # GitHub refuses step summaries over 1 MiB


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


@dataclass
class ActionsIO:
    in_actions: bool = False
    output_file: str | None = None
    summary_file: str | None = None
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    secrets: list[str] = field(default_factory=list)

    @classmethod
    def from_environ(cls, environ: dict[str, str]) -> ActionsIO:
        return cls(in_actions=environ.get("GITHUB_ACTIONS") == "true",
                   output_file=environ.get("GITHUB_OUTPUT") or None,
                   summary_file=environ.get("GITHUB_STEP_SUMMARY") or None)

    def _command(self, line: str) -> None:
        print(line, file=sys.stdout if self.in_actions else self.stream, flush=True)

    def redact(self, text: str) -> str:
        for value in self.secrets:
            text = text.replace(value, "***")
        return text

    def mask(self, value: str) -> None:
        """Mask at once, before anything can print it. Also redacted from our own writes off Actions."""
        if not value:
            return
        self.secrets.append(value)
        if self.in_actions:
            self._command(f"::add-mask::{value}")

    def info(self, message: str) -> None:
        print(self.redact(message), file=self.stream, flush=True)

    def annotate(self, level: str, message: str, title: str = "") -> None:
        message = self.redact(message)
        if self.in_actions:
            props = f" title={_escape_property(title)}" if title else ""
            self._command(f"::{level}{props}::{_escape_data(message)}")
        else:
            prefix = f"{level}: {title}: " if title else f"{level}: "
            print(prefix + message, file=self.stream, flush=True)

    def error(self, message: str, title: str = "") -> None:
        self.annotate("error", message, title)

    def warning(self, message: str, title: str = "") -> None:
        self.annotate("warning", message, title)

    def notice(self, message: str, title: str = "") -> None:
        self.annotate("notice", message, title)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.in_actions:
            self._command(f"::group::{title}")
        else:
            print(f"== {title}", file=self.stream, flush=True)
        try:
            yield
        finally:
            if self.in_actions:
                self._command("::endgroup::")

    def set_output(self, name: str, value: str) -> None:
        value = self.redact(str(value))
        if not self.output_file:
            return
        with open(self.output_file, "a", encoding="utf-8") as fh:
            if "\n" in value or "\r" in value:
                delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
                fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                fh.write(f"{name}={value}\n")

    def append_summary(self, markdown: str) -> None:
        markdown = self.redact(markdown)
        if not self.summary_file:
            return
        encoded = markdown.encode()
        if len(encoded) > SUMMARY_LIMIT:
            note = "\n\n_(summary truncated: GitHub shows at most 1 MiB per step)_\n"
            markdown = encoded[: SUMMARY_LIMIT - len(note) - 4].decode(errors="ignore") + note
        with open(self.summary_file, "a", encoding="utf-8") as fh:
            fh.write(markdown)


def table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
