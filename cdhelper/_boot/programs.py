"""Finding a program on PATH without running the pusher's code.

An empty PATH entry (`PATH=/usr/bin:` or `::`) and a relative one (`bin`) mean the working
directory, which is the workspace: anyone who can push controls it. So cdhelper looks up programs
only in absolute PATH entries, and never takes one that lies inside the workspace
(GITHUB_WORKSPACE or the working directory, both resolved through links), wherever PATH points.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def _inside(path: str, roots: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == root or real.startswith(os.path.join(root, "")) for root in roots)


def untrusted_roots(environ: Mapping[str, str]) -> list[str]:
    """The directories a push controls: the workspace and the working directory, resolved."""
    roots = [os.getcwd()] + ([environ["GITHUB_WORKSPACE"]] if environ.get("GITHUB_WORKSPACE") else [])
    return [os.path.realpath(root) for root in roots if root != "/"]


def find(name: str, environ: Mapping[str, str]) -> str | None:
    """The first executable `name` in an absolute PATH entry of `environ` outside the workspace."""
    roots = untrusted_roots(environ)
    for entry in environ.get("PATH", os.defpath).split(os.pathsep):
        if not os.path.isabs(entry) or _inside(entry, roots):
            continue
        candidate = os.path.join(entry, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK) and not _inside(candidate, roots):
            return candidate
    return None
