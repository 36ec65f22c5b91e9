"""After the first user command starts, the helper loads no more code.

A deploy command, a strategy hook or an analysis command runs as the same user as the helper and
can rewrite any file the helper would import later: its own modules (the action's checkout), its
dependencies (the cache), the standard library (the runner's tool cache). The helper holds the
token in memory, so one module first imported after a user command ran would run the pusher's code
with it (an automatic rollback, for one, fetches the previous release after the deploy hook).

So, before the first user command of a command starts, everything the rest of it can need is
imported; from then on any import of a module not yet loaded is refused. A module missing from
the preload fails closed, with its name, rather than load code a user command may have written.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import os
import pkgutil
import sys
from collections.abc import Iterator

# Imported lazily by the helper or by its dependencies during a command, after user code may
# have run: PyGithub's and requests' on-demand modules, stdlib helpers some paths reach.
PRELOAD = (
    "cdhelper", "github", "github.GitRelease", "github.GitReleaseAsset", "github.GithubException", "requests",
    "requests.adapters", "urllib3", "charset_normalizer", "idna", "encodings.idna", "netrc", "shlex",
    "_strptime", "email.utils", "http.cookies", "json", "jsonschema", "yaml", "zoneinfo", "ctypes", "uuid",
    "decimal", "fractions", "hmac", "mimetypes", "queue", "ssl", "base64", "calendar",
)
# Never part of a command that runs user code (a package here skips everything under it): the
# launcher, and the developer tools, whose dependencies a runtime install does not have.
SKIP = ("cdhelper.__main__", "cdhelper.devtools",)


class SealedImport(ImportError):
    pass


class _Seal(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # noqa: ARG002 - the finder protocol
        refused.append(name)  # even where a caller swallows the ImportError: the tests look here
        raise SealedImport(f"cdhelper loads no code after a user command ran, and {name} was not loaded before "
                           "(a cdhelper bug: report it)", name=name)


_SEAL = _Seal()
_armed = False
refused: list[str] = []


@contextlib.contextmanager
def armed() -> Iterator[None]:
    """For one command (cli.main): the first user command seals imports; the end unseals them, as
    tests run many commands in one process."""
    global _armed
    _armed = True
    try:
        yield
    finally:
        _armed = False
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(_SEAL)


def seal() -> None:
    """Load what the rest of the command may need, then refuse every further import (idempotent;
    a no-op outside `armed`)."""
    if not _armed or _SEAL in sys.meta_path:
        return
    preload()
    sys.meta_path.insert(0, _SEAL)


def sealed() -> bool:
    return _SEAL in sys.meta_path


def skipped(name: str) -> bool:
    return any(name == skip or name.startswith(skip + ".") for skip in SKIP)


def runtime_modules() -> list[str]:
    """Every module of cdhelper a command may import, at any depth (a rollback imports modules of
    other packages after the deploy hook ran), found on disk without importing a skipped package."""
    names: list[str] = []

    def walk(path: list[str], prefix: str) -> None:
        for module in pkgutil.iter_modules(path, prefix):
            if skipped(module.name):
                continue
            names.append(module.name)
            if module.ispkg:
                leaf = module.name.rpartition(".")[2]
                walk([os.path.join(module.module_finder.path, leaf)], module.name + ".")

    walk(list(sys.modules["cdhelper"].__path__), "cdhelper.")
    return names


def preload() -> None:
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # an optional dependency of a dependency
            importlib.import_module(name)
    for name in runtime_modules():
        importlib.import_module(name)
