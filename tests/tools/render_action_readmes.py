"""Render the Inputs and Outputs tables of each actions/*/README.md from its action.yml.

The tables are the action's contract as users read it; a test fails when a README is stale.
Run: python tests/tools/render_action_readmes.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def tables(action: dict) -> str:
    out = ["## Inputs", "", "| Input | Required | Default | Description |", "|---|---|---|---|"]
    for name, spec in (action.get("inputs") or {}).items():
        default = spec.get("default", "")
        out.append(f"| `{name}` | {'yes' if spec.get('required') else 'no'} | {f'`{default}`' if default else ''} | "
                   f"{_cell(spec.get('description', ''))} |")
    if action.get("outputs"):
        out += ["", "## Outputs", "", "| Output | Description |", "|---|---|"]
        out += [f"| `{name}` | {_cell(spec.get('description', ''))} |" for name, spec in action["outputs"].items()]
    return "\n".join(out) + "\n"


def render(readme: str, action: dict) -> str:
    """Replace everything from `## Inputs` up to the closing errors paragraph."""
    pattern = re.compile(r"^## Inputs\n.*?(?=^Errors fail the step)", re.S | re.M)
    if not pattern.search(readme):
        raise ValueError("README has no '## Inputs' section followed by the 'Errors fail the step' paragraph")
    return pattern.sub(lambda _: tables(action) + "\n", readme, count=1)


def main() -> int:
    for action_yml in sorted(ROOT.glob("actions/*/action.yml")):
        readme = action_yml.with_name("README.md")
        readme.write_text(render(readme.read_text(), yaml.safe_load(action_yml.read_text())))
        print(f"wrote {readme.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
