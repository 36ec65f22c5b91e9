from __future__ import annotations

import pytest

from cdhelper.cli import main as cli


@pytest.fixture(autouse=True)
def _doctor_registered(monkeypatch):
    """`doctor` is wired into cli.FAMILIES by the maintainer; until then the tests add it."""
    if "doctor" not in cli.FAMILIES:
        monkeypatch.setattr(cli, "FAMILIES", (*cli.FAMILIES, "doctor"))
