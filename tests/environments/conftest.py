from __future__ import annotations

import pytest

from cdhelper.cli import main as cli


@pytest.fixture(autouse=True)
def _environments_family(monkeypatch):
    """The family is wired into cli.FAMILIES by cli.py's owner; until then the tests add it themselves."""
    if "environments" not in cli.FAMILIES:
        monkeypatch.setattr(cli, "FAMILIES", (*cli.FAMILIES, "environments"))


@pytest.fixture
def envs(pipeline):
    """The pipeline fixture (cdhelper in-process against the double) with a cd.yml writer."""
    def write(text: str) -> None:
        (pipeline.tmp / ".github").mkdir(exist_ok=True)
        (pipeline.tmp / ".github" / "cd.yml").write_text(text)
    pipeline.write_config = write
    return pipeline
