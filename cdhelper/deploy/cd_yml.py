"""`.github/cd.yml` whole: the one way the commands load it.

core/config.py reads the file, checks it against the schema and applies the rules of the path and
the gate; each domain parses its own section: `analysis` (progressive.analysis), `freeze`
(deploy.freeze), an environment's `strategy` (progressive.strategies). Here they come together,
so every error of the file is refused, in one line, before a command writes anything.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cdhelper.core import config
from cdhelper.core.config import DEFAULT_GATE, DEFAULT_PATH, Config
from cdhelper.progressive import strategies


def load(path: str | Path | None = None, *, workspace: str = ".", gate_environment: str | None = None,
         gate_by_hand: bool = False) -> Config:
    """config.load (its arguments, its defaults when the file is missing), with the domains' sections."""
    return config.load(path, workspace=workspace, gate_environment=gate_environment, gate_by_hand=gate_by_hand,
                       parse=from_dict)


def from_dict(raw: object, *, source: str = DEFAULT_PATH, gate_environment: str | None = DEFAULT_GATE,
              gate_said: str = "", gate_by_hand: bool = False) -> Config:
    """config.from_dict, with the analyses, the freeze windows and each environment's plan parsed."""
    # The analysis and freeze sections first, before the schema: their parsers' messages say more than its.
    analyses, windows = _analyses(raw, source), _freeze(raw, source)
    cfg = config.from_dict(raw, source=source, gate_environment=gate_environment, gate_said=gate_said,
                           gate_by_hand=gate_by_hand)
    # The schema has passed: the strategies' parser takes shapes it checked. Without `environments`, the
    # default path has no strategy.
    entries = raw.get("environments") or [{}] * len(cfg.environments)
    environments = tuple(replace(env, plan=_plan(entry, analyses, f"{source}: environments/{i}"))
                         for i, (env, entry) in enumerate(zip(cfg.environments, entries, strict=True)))
    return replace(cfg, environments=environments, analyses=analyses, freeze=windows)


def _analyses(raw: object, source: str) -> dict:
    """`analysis:` (a section of another shape is left to the schema's message)."""
    section = raw.get("analysis") if isinstance(raw, dict) else None
    if not isinstance(section, dict) or not section:
        return {}
    from cdhelper.progressive import analysis  # heavy (its providers): imported when the file has analyses
    return {name: analysis.parse(name, spec, source=source) for name, spec in section.items()}


def _freeze(raw: object, source: str) -> tuple:
    """`freeze:` (a section of another shape is left to the schema's message)."""
    section = raw.get("freeze") if isinstance(raw, dict) else None
    if not isinstance(section, list) or not section:
        return ()
    from . import freeze  # zoneinfo and the cron tables: imported when the file has windows (status needs none)
    return freeze.parse(section, source=source)


def _plan(entry: dict, analyses: dict, where: str) -> strategies.Plan:
    if "strategy" not in entry and "analysis" not in entry:
        return strategies.Plan()

    def duration(raw: object) -> float:
        from cdhelper.progressive import analysis  # heavy (its providers): imported when a canary pauses
        return analysis.parse_duration(raw, what=f"{where}: a canary pause")
    return strategies.parse(entry.get("strategy"), hooks=entry.get("hooks") or {},
                            analysis=tuple(entry.get("analysis") or ()), known=set(analyses), duration=duration,
                            where=where)
