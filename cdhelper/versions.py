"""Versions are SemVer 2.0; precedence decides which candidate is newer."""

from __future__ import annotations

import re
from functools import total_ordering

from .errors import InputError

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$")


@total_ordering
class Version:
    def __init__(self, text: str):
        m = SEMVER.match(text)
        if not m:
            raise ValueError(text)
        self.text = text
        self.core = tuple(int(x) for x in m.group(1, 2, 3))
        self.pre = tuple(m.group(4).split(".")) if m.group(4) else ()

    def _key(self):
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        # a release sorts after its pre-releases
        return (self.core, 1 if not self.pre else 0, pre)

    def __eq__(self, other):
        return isinstance(other, Version) and self._key() == other._key()

    def __lt__(self, other):
        return self._key() < other._key()

    def __hash__(self):
        return hash(self._key())

    def __str__(self) -> str:
        return self.text


def parse(raw: str, *, what: str = "version") -> Version:
    text = (raw or "").strip()
    if text[:1] in {"v", "V"} and text[1:2].isdigit():
        text = text[1:]
    try:
        return Version(text)
    except ValueError:
        raise InputError(f"{what} {raw!r} is not a SemVer 2.0 version",
                         "it must be MAJOR.MINOR.PATCH with optional -PRERELEASE and +BUILD, numbers without leading zeros",
                         "pass a version such as 1.4.0 or 1.4.0-rc.1, or leave it empty to use BASE.RUN_NUMBER") from None


def default_version(base: str, run_number: int) -> Version:
    """Made when none is given: stable across re-runs of the same run, increasing across runs."""
    if run_number <= 0:
        raise InputError("no version was given and GITHUB_RUN_NUMBER is not set",
                         "the default version is BASE.RUN_NUMBER, which needs the run number",
                         "pass --version (input `version`), or run inside GitHub Actions")
    return Version(f"{base}.{run_number}")
