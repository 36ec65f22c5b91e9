"""How text from outside is made inert wherever cdhelper shows it: in the step's log (the runner's
workflow commands), in the job summary (Markdown, HTML, Mermaid) and in one-line titles. Pure
functions, no I/O: cli/actions_io.py prints with them, hooks.py relays user commands' output
through `neutralise_user_output`, errors and notifications render Markdown with them.

- The runner treats a line of stdout OR stderr as a command when, after leading whitespace, it
  starts with `::` (`::warning::`, `::set-output ...::`, `::stop-commands::`), and when `##[` occurs
  anywhere in it (legacy commands). `neutralise` makes both inert, visibly and reversibly:
  a line whose first visible characters are `\\`* then `::` gets one more backslash before them
  (`::warning::x` -> `\\::warning::x`), and every `#` `\\`* `#[` gets one more backslash after its
  first `#` (`##[error]` -> `#\\#[error]`). Remove one backslash to get the original text back.
- A user command's output keeps the display commands (`group`, `endgroup`, `notice`, `warning`,
  `error`, `debug`, `add-mask`); any line holding another command gets the same treatment as above,
  so a deploy command can neither forge the step's outputs (`::set-output name=approved-by::`) nor
  switch off command processing (`::stop-commands::`) nor change PATH (`::add-path::`).
- Command data and properties keep the toolkit's %-escaping, so a newline never starts a line.
- Summary text goes through `md_text` / `md_code` / `mermaid_label`; `table` escapes cells.
"""

from __future__ import annotations

import re
import unicodedata

# The runner splits on \r and \n; we also treat the other Unicode line breaks as breaks, so a line
# that merely looks like a new line in some viewer is neutralised too.
LINE_BREAK = re.compile(r"(\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029])")
_LEGACY = re.compile(r"#(\\*)#\[")
_MODERN = re.compile(r"\\*::")


# --- the step's log ----------------------------------------------------------------------------

def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def unescape_data(value: str) -> str:
    """What the runner shows of a command's data: `escape_data` undone (%25 last, so `%250A` is `%0A`)."""
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


_COMMAND = re.compile(r"::([A-Za-z0-9_-]+)(?: [^:]*)?::(.*)$", re.DOTALL)


def command_data(line: str) -> str | None:
    """The data of the workflow command in a line as a tool echoes it (act prints `  ❗  ::error
    title=T::DATA`), unescaped once, as the runner shows it; None when the line holds no command.
    Text read this way is then escaped again only by whatever prints it (no `%25` shown to a reader)."""
    m = _COMMAND.search(line)
    return unescape_data(m.group(2)) if m else None


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
    parts = LINE_BREAK.split(text)
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
    parts = LINE_BREAK.split(text)
    parts[::2] = [p if _display_only(p) else _inert_line(p) for p in parts[::2]]
    return "".join(parts)


def one_line(text: str) -> str:
    """Line breaks -> spaces: for titles and anything shown on a single line."""
    return LINE_BREAK.sub(" ", text)


def visible(text: str) -> str:
    """Control and invisible format characters (categories Cc and Cf: bidi overrides and isolates,
    zero-width spaces and joiners, the BOM...) as visible `\\u202e`-style escapes, so text from outside
    (a commit subject, a git author name) cannot reorder or hide what is shown next to it."""
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)


def fit(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: whole, or cut at the last word boundary that fits and
    marked with "…" (never mid-word, never ending on a dangling separator such as `values: `)."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:(-") + "…"


def printable(text: str) -> str:
    # File names can carry lone surrogates (undecodable bytes); a strict stdout would raise on them.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
