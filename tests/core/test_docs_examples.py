"""The cd.yml examples in the README and the docs are real: each parses, as written, with the
rules cdhelper applies to a repository's .github/cd.yml. A stale example fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from cdhelper.core import config
from cdhelper.deploy import cd_yml

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CD_YML_KEYS = set(config.schema()["properties"])


def _examples() -> list:
    found = []
    for doc in DOCS:
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)):
            try:
                raw = yaml.safe_load(block)
            except yaml.YAMLError:
                continue  # workflow fragments with `...` elisions are not cd.yml examples
            if isinstance(raw, dict) and raw.keys() & {"environments", "analysis", "freeze"} and raw.keys() <= CD_YML_KEYS:
                found.append(pytest.param(raw, id=f"{doc.name}#{i}"))
    return found


EXAMPLES = _examples()


def test_the_docs_have_cd_yml_examples():
    names = {p.id.split("#")[0] for p in EXAMPLES}
    assert {"README.md", "progressive-delivery.md"} <= names, names


@pytest.mark.parametrize("raw", EXAMPLES)
def test_each_cd_yml_example_parses(raw):
    cfg = cd_yml.from_dict({"version": 1, **raw})
    assert cfg.environments
