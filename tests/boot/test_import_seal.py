"""The import seal preloads every runtime module, at any depth: a command that imports a module of a
sub-package after a user command ran (an automatic rollback fetching the previous release after the
deploy hook) finds it loaded instead of failing with SealedImport."""

import importlib
import json
import os
import subprocess
import sys

import cdhelper
from cdhelper._boot import import_seal

PACKAGE = os.path.dirname(cdhelper.__file__)


def _modules_on_disk() -> set[str]:
    """Every importable module under cdhelper/, found with os.walk (not pkgutil), minus the skipped ones."""
    names = set()
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if os.path.exists(os.path.join(folder, d, "__init__.py"))]
        relative = os.path.relpath(folder, os.path.dirname(PACKAGE))
        package = relative.replace(os.sep, ".")
        for file in files:
            if file.endswith(".py"):
                stem = file[:-3]
                names.add(package if stem == "__init__" else f"{package}.{stem}")
    return {name for name in names if name != "cdhelper" and not import_seal.skipped(name)}


def _loaded_by_preload() -> set[str]:
    """preload() in a fresh interpreter, so nothing the test process imported counts."""
    code = ("import sys, json; import cdhelper._boot.import_seal as seal; seal.preload(); "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('cdhelper.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_preload_loads_every_runtime_module_on_disk():
    on_disk = _modules_on_disk()
    assert {"cdhelper.doctor.settings", "cdhelper.cli.commands.flags"} <= on_disk  # nested modules are walked
    missing = on_disk - _loaded_by_preload()
    assert missing == set(), f"not preloaded, so refused after a user command ran: {sorted(missing)}"


def test_preload_loads_no_developer_tool():
    loaded = _loaded_by_preload()
    assert [name for name in loaded if import_seal.skipped(name)] == []
    assert set(import_seal.runtime_modules()) == _modules_on_disk()


def test_a_nested_module_imports_after_the_seal():
    sys.modules.pop("cdhelper.doctor.settings", None)
    with import_seal.armed():
        import_seal.seal()
        assert import_seal.sealed()
        module = importlib.import_module("cdhelper.doctor.settings")
    assert module.__name__ == "cdhelper.doctor.settings"
