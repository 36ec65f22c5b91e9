"""Versions are SemVer 2.0; precedence decides which candidate is newer.

Precedence (SemVer §11) ignores build metadata: `2.0.0+build.1` and `2.0.0+build.2` have the
same precedence, so neither is newer than the other. `==`, `<`, `>` and `hash` compare precedence;
ordering code asks `a.is_newer_than(b)` and must treat `a.same_precedence(b)` as "not newer" (two
different builds of one version are never ordered by their build metadata).

Only ASCII is accepted (`[0-9]`, not any Unicode digit) and at most MAX_LENGTH characters, so a
version is always usable in a git tag, a GitHub release and a registry tag.
"""

from __future__ import annotations

import re
from functools import total_ordering

from .errors import InputError

# Registry tags are at most 128 characters and `tag.image-tags` may embed `{version}` in a longer
# tag; the tag prefix adds up to 40 more to the git ref. 100 leaves room for both and is far above
# any real version (a date, a sha and a run number fit in 50).
MAX_LENGTH = 100

_NUMBER = r"(?:0|[1-9][0-9]*)"
_PRE = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD = r"[0-9A-Za-z-]+"
SEMVER = re.compile(rf"({_NUMBER})\.({_NUMBER})\.({_NUMBER})(?:-({_PRE}(?:\.{_PRE})*))?(?:\+({_BUILD}(?:\.{_BUILD})*))?",
                    re.ASCII)


@total_ordering
class Version:
    """A parsed SemVer 2.0 version. Comparisons are by precedence; `text` keeps the exact string."""

    def __init__(self, text: str):
        m = SEMVER.fullmatch(text) if len(text) <= MAX_LENGTH else None
        if not m:
            raise ValueError(text[:MAX_LENGTH])
        self.text = text
        self.core = tuple(int(x) for x in m.group(1, 2, 3))
        self.pre = tuple(m.group(4).split(".")) if m.group(4) else ()
        self.build = m.group(5) or ""

    def precedence(self) -> tuple:
        """A key that orders versions by SemVer precedence; build metadata plays no part."""
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        # a release sorts after its pre-releases
        return (self.core, 1 if not self.pre else 0, pre)

    def is_newer_than(self, other: Version) -> bool:
        """Strictly higher precedence. False for the same version with other build metadata."""
        return self.precedence() > other.precedence()

    def same_precedence(self, other: Version) -> bool:
        """Neither is newer: the same version, possibly with different build metadata."""
        return self.precedence() == other.precedence()

    def __eq__(self, other):
        return isinstance(other, Version) and self.same_precedence(other)

    def __lt__(self, other):
        if not isinstance(other, Version):
            return NotImplemented
        return other.is_newer_than(self)

    def __hash__(self):
        return hash(self.precedence())

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


def shown(value: str) -> str:
    """repr() of a value for an error line, cut short so a huge input never floods the log."""
    if not isinstance(value, str) or len(value) <= MAX_LENGTH:
        return repr(value)
    return f"{value[:40]!r}… ({len(value)} characters)"


def parse(raw: str, *, what: str = "version") -> Version:
    """The version in `raw` (blanks around it and a leading v/V are dropped); InputError otherwise.
    Every check is here, so a bad version is refused before anything is written."""
    text = (raw or "").strip()
    if len(text) > MAX_LENGTH:
        raise InputError(f"{what} {shown(text)} is too long",
                         f"versions are at most {MAX_LENGTH} characters, so that git tags, releases and registry tags "
                         "made from them stay valid",
                         "pass a short version such as 1.4.0; put long build details in the commit or release notes")
    odd = next((c for c in text if not c.isascii()), None)
    if odd is not None:
        raise InputError(f"{what} {shown(raw)} holds the non-ASCII character {odd!r} (U+{ord(odd):04X})",
                         "SemVer versions use only ASCII digits 0-9, letters, '-', '.' and '+'",
                         "retype it in ASCII, e.g. 1.4.0 or 1.4.0-beta.1 (pasted text can hold look-alike characters)")
    if text[:1] in {"v", "V"} and text[1:2].isdigit():
        text = text[1:]
    try:
        return Version(text)
    except ValueError:
        raise InputError(f"{what} {shown(raw)} is not a SemVer 2.0 version",
                         "it must be MAJOR.MINOR.PATCH with optional -PRERELEASE and +BUILD, numbers without leading zeros",
                         "pass a version such as 1.4.0 or 1.4.0-rc.1, or leave it empty to use BASE.RUN_NUMBER") from None


def default_version(base: str, run_number: int) -> Version:
    """Made when none is given: stable across re-runs of the same run, increasing across runs."""
    if run_number <= 0:
        raise InputError("no version was given and GITHUB_RUN_NUMBER is not set",
                         "the default version is BASE.RUN_NUMBER, which needs the run number",
                         "pass --version (input `version`), or run inside GitHub Actions")
    return Version(f"{base}.{run_number}")
