"""The one module that speaks GitHub Actions workflow commands: outputs, summary, annotations,
masks and log groups. Off Actions it falls back to plain text on stderr.

Everything that reaches stdout, stderr or the job summary goes through here, and text from
outside (versions, tags, file names, reviewers' comments, error messages) is made inert:

- The runner treats a line of stdout OR stderr as a command when, after leading whitespace, it
  starts with `::` (`::warning::`, `::set-output ...::`, `::stop-commands::`), and when `##[` occurs
  anywhere in it (legacy commands). `neutralise` makes both inert, visibly and reversibly:
  a line whose first visible characters are `\\`* then `::` gets one more backslash before them
  (`::warning::x` -> `\\::warning::x`), and every `#` `\\`* `#[` gets one more backslash after its
  first `#` (`##[error]` -> `#\\#[error]`). Remove one backslash to get the original text back.
- A user command's output (hooks.py pipes it through `neutralise_user_output`, line by line) keeps
  the display commands (`group`, `endgroup`, `notice`, `warning`, `error`, `debug`, `add-mask`);
  any line holding another command gets the same treatment as above, so a deploy command can
  neither forge the step's outputs (`::set-output name=approved-by::`) nor switch off command
  processing (`::stop-commands::`) nor change PATH (`::add-path::`).
- Command data and properties keep the toolkit's %-escaping, so a newline never starts a line.
- Summary text goes through `md_text` / `md_code` / `mermaid_label`; `table` escapes cells.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from .errors import InputError

SUMMARY_LIMIT = 1024 * 1024  # GitHub refuses step summaries over 1 MiB
OUTPUT_NAME = re.compile(r"[A-Za-z0-9_-]+")

# The runner splits on \r and \n; we also treat the other Unicode line breaks as breaks, so a line
# that merely looks like a new line in some viewer is neutralised too.
_BREAK = re.compile(r"(\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029])")
_LEGACY = re.compile(r"#(\\*)#\[")
_MODERN = re.compile(r"\\*::")


# --- stdout / stderr ---------------------------------------------------------------------------

def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _first_visible(line: str) -> int:
    """Index after leading whitespace and invisible format characters: the runner's TrimStart() and
    its culture-sensitive StartsWith("::") see past those (Python's whitespace is a superset of .NET's)."""
    i = 0
    while i < len(line) and (line[i].isspace() or unicodedata.category(line[i]) == "Cf"):
        i += 1
    return i


def _inert_line(line: str) -> str:
    line = _LEGACY.sub(r"#\\\1#[", line)
    i = _first_visible(line)
    if _MODERN.match(line, i):
        line = line[:i] + "\\" + line[i:]
    return line


def neutralise(text: str) -> str:
    """Text that can be printed on stdout/stderr of a step without the runner taking any of it as a command."""
    parts = _BREAK.split(text)
    parts[::2] = [_inert_line(p) for p in parts[::2]]
    return "".join(parts)


# What a user command (deploy command, hook, analysis command) may say to the runner: display only.
DISPLAY_COMMANDS = frozenset({"group", "endgroup", "notice", "warning", "error", "debug", "add-mask"})
_LEGACY_NAME = re.compile(r"##\[([^\] ]*)")


def _display_only(line: str) -> bool:
    """Whether every command the runner could read in `line` is a display command. The runner tries
    `::name props::data` after leading whitespace first (name up to the first space, the second `::`
    required), then `##[name props]data` anywhere in the line (ActionCommand.TryParseV2 / TryParse).
    Names compare exactly (the runner may ignore case: `::SET-OUTPUT` is not display), and a line passes
    only if both forms name display commands, whichever of them the runner would act on."""
    i = _first_visible(line)
    if line.startswith("::", i):
        end = line.find("::", i + 2)
        if end >= 0 and line[i + 2:end].split(" ", 1)[0] not in DISPLAY_COMMANDS:
            return False
    return all(name in DISPLAY_COMMANDS for name in _LEGACY_NAME.findall(line))


def neutralise_user_output(text: str) -> str:
    """A user command's output, for the step's stdout/stderr: display commands pass as they are (groups,
    annotations, masks); a line holding any other command (`::set-output`, `::stop-commands`,
    `::add-path`, `##[set-output ...]`) is made inert as by `neutralise`, and stays readable."""
    parts = _BREAK.split(text)
    parts[::2] = [p if _display_only(p) else _inert_line(p) for p in parts[::2]]
    return "".join(parts)


def one_line(text: str) -> str:
    """Line breaks -> spaces: for titles and anything shown on a single line."""
    return _BREAK.sub(" ", text)


def visible(text: str) -> str:
    """Control and invisible format characters (categories Cc and Cf: bidi overrides and isolates,
    zero-width spaces and joiners, the BOM...) as visible `\\u202e`-style escapes, so text from outside
    (a commit subject, a git author name) cannot reorder or hide what is shown next to it."""
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)


def _printable(text: str) -> str:
    # File names can carry lone surrogates (undecodable bytes); a strict stdout would raise on them.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
        properties = ",".join(f"{key}={_escape_property(value)}" for key, value in props.items() if value)
        line = f"::{name} {properties}::" if properties else f"::{name}::"
        print(_printable(line + _escape_data(data)), file=stream or sys.stdout, flush=True)

    def _print(self, text: str, stream: TextIO) -> None:
        print(_printable(neutralise(self.redact(text))), file=stream, flush=True)

    def redact(self, text: str) -> str:
        for value in self.secrets:
            text = text.replace(value, "***")
        return text

    def mask(self, value: str) -> None:
        """Mask at once, before anything can print it. Also redacted from our own writes off Actions.
        The runner masks line by line, so each line of a multi-line value is masked too."""
        if not value or value.isspace():
            return
        lines = [line for line in _BREAK.split(value)[::2] if line.strip()]
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
        import json
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


# --- Markdown for the job summary ---------------------------------------------------------------

class Md(str):
    """Markdown that is already safe (built by the helpers below or by our own templates)."""


_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # all ASCII punctuation: CommonMark lets each be escaped


def md_text(value: object) -> Md:
    """Plain text in Markdown: nothing in it can form a link, image, emphasis, heading, list, table cell,
    HTML tag, entity, mention or code span; line breaks become spaces."""
    return Md(_MD_SPECIAL.sub(r"\\\1", one_line(str(value))))


def md_code(value: object) -> Md:
    """Inline code for any content: a fence longer than the longest backtick run inside, padded with a
    space when the content starts or ends with a backtick or space (CommonMark strips one each side)."""
    text = one_line(str(value))
    if not text:
        return Md("")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return Md(f"{fence}{pad}{text}{pad}{fence}")


def md_block(value: object) -> Md:
    """A fenced code block keeping the lines of `value`; no line inside can close the fence."""
    text = str(value).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return Md(f"{fence}\n{text}\n{fence}\n")


def md_link(text: object, url: str) -> Md:
    """A link only for http(s) URLs (no `javascript:`), else the text alone."""
    if not re.match(r"https?://", url, re.I):
        return md_text(text)
    safe = re.sub(r"[\x00-\x20<>\\\x7f]", lambda m: f"%{ord(m.group()):02X}", url)
    return Md(f"[{md_text(text)}](<{safe}>)")


_MERMAID_PLAIN = re.compile(r"[A-Za-z0-9 ._/+-]")


def mermaid_label(value: object) -> str:
    """The inside of a quoted Mermaid label: every character but a few plain ones as a Mermaid entity
    code (`#quot;`, `#35;`...), so no quote, bracket, backtick, `%%{...}%%` directive or HTML survives."""
    return "".join(c if _MERMAID_PLAIN.match(c) else "#quot;" if c == '"' else f"#{ord(c)};"
                   for c in one_line(str(value)))


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A GFM table. Cells are plain text (escaped here) unless they are `Md`; GFM splits cells on `|`
    before anything else, even inside code spans, so every `|` is escaped for the table too."""
    def cell(value: object) -> str:
        text = value if isinstance(value, Md) else md_text(value)
        return one_line(text).replace("|", "\\|")
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
