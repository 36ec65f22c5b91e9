"""`cdhelper doctor`: a repository's workflows checked against cdhelper's contract (workflows.py),
and, given a token, its settings (settings.py). Rules and their reasons: findings.py, docs/doctor.md.

This module finds the workflow files and builds the contract they are held to; it reads files only.
"""

from __future__ import annotations

from pathlib import Path

from cdhelper.core.errors import ConfigError, InputError
from cdhelper.core.errors import show as _show

from .findings import Finding
from .model import WorkflowSyntaxError, read
from .workflows import (
    DEFAULT_GATE,
    DEFAULT_SOAK,
    Contract,
    check,
    held_to,
    layout,
    resumes_on_schedule,
    soak_environments,
)

WORKFLOWS_DIR = ".github/workflows"
SUFFIXES = (".yml", ".yaml")


def workflow_files(paths: list[str] | None, workspace: str = ".") -> list[Path]:
    """The files to check: each given file, the *.yml/*.yaml of each given directory, or of
    .github/workflows. Sorted, so the output is stable."""
    targets = [Path(p) for p in paths] if paths else [Path(workspace) / WORKFLOWS_DIR]
    files: list[Path] = []
    for target in targets:
        try:
            if target.is_dir():
                found = sorted(p for p in target.iterdir() if p.suffix in SUFFIXES and p.is_file())
                if not found:
                    raise InputError(f"no workflow in {str(target)!r}", "it holds no *.yml or *.yaml file",
                                     "point --workflows at your workflow files or at .github/workflows")
                files += found
            elif target.is_file():
                files.append(target)
            else:
                raise InputError(f"workflow path {_show(str(target), 200)} does not exist",
                                 "doctor reads workflow files (default .github/workflows/*.yml)",
                                 "run it at the repository's root or pass --workflows PATH")
        except OSError as exc:
            raise InputError(f"workflow path {_show(str(target), 200)} cannot be read", exc.strerror or str(exc),
                             "check the path and its permissions") from None
    return list(dict.fromkeys(files))


def shown_path(path: Path, workspace: str = ".") -> str:
    """Paths as findings show them: relative to the workspace when inside it (as annotations want)."""
    try:
        return str(path.resolve().relative_to(Path(workspace).resolve()))
    except ValueError:
        return str(path)


def contract(config_path: str | None, *, workspace: str = ".", gate_environment: str | None = None,
             no_deployment_key: bool = False) -> Contract:
    """The path and gate from .github/cd.yml (validated as the actions validate it), or the defaults."""
    option = (gate_environment or "").strip()
    default = Path(workspace) / ".github" / "cd.yml"
    if config_path is None and not default.exists():  # skip the schema's import: doctor runs first and often
        return Contract(gate_environment=option or DEFAULT_GATE, gate_source="--gate-environment" if option else "",
                        gate_fixed=bool(option), no_deployment_key=no_deployment_key)
    from cdhelper.core import config  # only with a cd.yml: its schema's import is skipped otherwise
    from cdhelper.deploy import cd_yml  # every section parsed, as the actions load it
    cfg = cd_yml.load(config_path, workspace=workspace, gate_environment=option or None)
    raw = _raw(Path(config_path) if config_path else default)
    source = "--gate-environment" if option else f"{config_path or config.DEFAULT_PATH} (gate.environment)" \
        if "environment" in (raw.get("gate") or {}) else ""
    holds = tuple(e.name for e in cfg.environments if e.plan is not None and any(s.kind == "hold" for s in e.plan.steps))
    return Contract(path=tuple(e.name for e in cfg.environments), gate_environment=cfg.gate_environment,
                    gate_source=source, gate_fixed=bool(source), gated=cfg.gate_protects, no_deployment_key=no_deployment_key,
                    holds=holds, soak_environments=tuple((e.name, e.soak_environment) for e in cfg.environments
                                                         if e.soak_environment),
                    resume_scheduled=_soak_on_hold(raw))


def _raw(path: Path) -> dict:
    """cd.yml as data (config.load has read and validated it already)."""
    import yaml  # heavy: imported when used, so --help and the launcher start without it
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _soak_on_hold(raw: dict) -> bool:
    """Whether a `pause: hold` step of cd.yml has `soak:` (a scheduled workflow resumes it when that has passed)."""
    for env in raw.get("environments") or []:
        strategy = env.get("strategy") if isinstance(env, dict) else None
        steps = ((strategy or {}).get("canary") or {}).get("steps") if isinstance(strategy, dict) else None
        if any(isinstance(step, dict) and step.get("pause") == "hold" and "soak" in step for step in steps or []):
            return True
    return False


def check_workflows(files: list[Path], rules: Contract,
                    workspace: str = ".") -> tuple[list[Finding], list[str], dict[str, str], list[str]]:
    """The findings, the gate environments the workflows answer to (for the settings checks), the
    layout of each workflow that uses cdhelper (path -> "split" or "single-job"), and the soak
    environments whose wait timer must hold a `pause: hold` (none when a scheduled workflow resumes it)."""
    findings: list[Finding] = []
    gates: list[str] = []
    layouts: dict[str, str] = {}
    soaks: list[str] = []
    scheduled = rules.resume_scheduled
    for path in files:
        shown = shown_path(path, workspace)
        try:
            workflow = read(path, shown)
        except WorkflowSyntaxError as err:
            findings.append(Finding("yaml-syntax", shown, err.line, f"{shown} is not a readable workflow: "
                                    f"{err.problem}", "fix the YAML at that line (indentation, quoting, a missing ':')"))
            continue
        except OSError as exc:
            raise InputError(f"workflow {_show(shown, 200)} cannot be read", exc.strerror or str(exc),
                             "check the file's permissions") from None
        findings += check(workflow, rules)
        scheduled = scheduled or resumes_on_schedule(path.name, path.read_text(encoding="utf-8", errors="replace"))
        soaks += soak_environments(workflow, rules)  # also a caller of the reusable workflow (or of a copy of it)
        if workflow.uses_cdhelper:
            gates.append(held_to(workflow, rules).gate_environment)
            layouts[shown] = layout(workflow, rules) or ""
    if rules.holds and not soaks and not scheduled:  # a hold, but no workflow promotes there: the default's
        soaks = [dict(rules.soak_environments).get(rules.holds[0]) or DEFAULT_SOAK]
    return findings, list(dict.fromkeys(gates)) or [rules.gate_environment], layouts, \
        [] if scheduled else list(dict.fromkeys(soaks))


class ContractBroken(ConfigError):
    """Error findings: the workflows or settings are configuration, so exit 2 as for a bad cd.yml."""

    title = "cdhelper doctor found errors"


def failure(findings: list[Finding]) -> ConfigError | None:
    """The error the command ends with when a finding is an error."""
    errors = [f for f in findings if f.severity == "error"]
    if not errors:
        return None
    first = errors[0]
    return ContractBroken(f"doctor found {len(errors)} error(s), the first at {first.where} ({first.rule})",
                       "the workflows or settings break cdhelper's contract",
                       "apply the fixes listed above (docs/doctor.md explains each rule)")

