"""Set up cdhelper for a composite action, once per runner. Standard library only.

    python3 "$GITHUB_ACTION_PATH/../../cdhelper/bootstrap.py"

The runtime dependencies (from pyproject.toml) go into a virtual environment in the runner's
tool cache, keyed by their list and the Python version, so a warm runner pays only a Python
start-up; the code itself runs from the action's own checkout (PYTHONPATH), so a new action
version never runs stale code from the cache. Needs only a package index, nothing else.
Writes `python` and `root` to $GITHUB_OUTPUT.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dependencies(pyproject: str) -> list[str]:
    """[project].dependencies, without needing tomllib (Python 3.10 has none)."""
    match = re.search(r"^dependencies\s*=\s*\[(.*?)\]", pyproject, re.S | re.M)
    if not match:
        raise SystemExit("cdhelper bootstrap: pyproject.toml has no [project] dependencies list")
    return re.findall(r'"([^"]+)"', match.group(1))


def cache_dir(environ: dict[str, str], deps: list[str]) -> Path:
    key = hashlib.sha256(("\n".join(deps) + f"\n{sys.version_info[:2]}\n{sys.platform}").encode()).hexdigest()[:16]
    base = environ.get("CDHELPER_CACHE") or environ.get("RUNNER_TOOL_CACHE") or str(Path.home() / ".cache")
    return Path(base) / "cdhelper" / f"venv-{key}"


def ensure(target: Path, deps: list[str]) -> Path:
    python = target / "bin" / "python"
    done = target / ".complete"
    if done.exists():
        return python
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{target}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel jobs on one runner build it once
        if not done.exists():
            venv.EnvBuilder(clear=True, with_pip=True).create(target)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *deps],
                           check=True, stdout=sys.stderr)
            done.touch()
    return python


def main() -> int:
    deps = dependencies((ROOT / "pyproject.toml").read_text())
    python = ensure(cache_dir(dict(os.environ), deps), deps)
    out = os.environ.get("GITHUB_OUTPUT")
    lines = f"python={python}\nroot={ROOT}\n"
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(lines)
    else:
        sys.stdout.write(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
