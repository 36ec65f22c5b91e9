"""`.github/cd.yml`: the promotion path and its rules, validated against the shipped JSON Schema.

A repository without the file gets the defaults: staging -> production, gate `production-approval`
protecting production, tags `v<version>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .errors import ConfigError, InputError

DEFAULT_PATH = ".github/cd.yml"


@dataclass(frozen=True)
class Environment:
    name: str
    url: str = ""
    required_contexts: tuple[str, ...] = ()
    soak_minutes: int = 0
    production: bool = False
    strategy: str = "all-at-once"


@dataclass(frozen=True)
class Config:
    environments: tuple[Environment, ...] = field(default_factory=lambda: (
        Environment("staging"), Environment("production", production=True)))
    gate_environment: str = "production-approval"
    gate_protects: tuple[str, ...] = ("production",)
    tag_prefix: str = "v"
    release_assets: bool = False
    image_tags: tuple[str, ...] = ()
    version_base: str = "0.1"

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name.lower() == name.lower():
                return env
        path = " -> ".join(e.name for e in self.environments)
        raise InputError(f"environment {name!r} is not in the promotion path", f"the path is {path}",
                         f"use one of those names, or add {name!r} under `environments:` in {DEFAULT_PATH}")

    def previous(self, name: str) -> Environment | None:
        names = [e.name.lower() for e in self.environments]
        index = names.index(self.environment(name).name.lower())
        return self.environments[index - 1] if index else None

    def is_gated(self, name: str) -> bool:
        return name.lower() in {p.lower() for p in self.gate_protects}


def schema() -> dict:
    return json.loads(resources.files("cdhelper").joinpath("schemas/cd-config.schema.json").read_text())


def load(path: str | Path | None = None, *, workspace: str = ".") -> Config:
    """Read and validate the configuration; a missing default file means the defaults."""
    explicit = path is not None
    file = Path(path) if explicit else Path(workspace) / DEFAULT_PATH
    if not file.exists():
        if explicit:
            raise ConfigError(f"configuration file {str(file)!r} not found", "the path given does not exist",
                              f"create it, or drop the option to use {DEFAULT_PATH} or the defaults")
        return Config()
    import yaml
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{file} is not valid YAML{where}", str(problem),
                          "fix the YAML syntax (indentation, quoting) at that place") from None
    return from_dict(raw if raw is not None else {}, source=str(file))


def from_dict(raw: object, *, source: str = DEFAULT_PATH) -> Config:
    import jsonschema
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = errors[0]
        key = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(f"{source}: key `{key}` is invalid", _describe(err), _fix_for(err))
    assert isinstance(raw, dict)
    envs_raw = raw.get("environments") or [{"name": "staging"}, {"name": "production"}]
    names = [e["name"].lower() for e in envs_raw]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError(f"{source}: environment {duplicate!r} appears twice in `environments`",
                          "GitHub environment names are case-insensitive and a path visits each once",
                          "list each environment once")
    last = len(envs_raw) - 1
    environments = tuple(Environment(
        name=e["name"], url=e.get("url", ""), required_contexts=tuple(e.get("required-contexts", ())),
        soak_minutes=e.get("soak-minutes", 0), production=e.get("production", i == last),
        strategy=e.get("strategy", "all-at-once")) for i, e in enumerate(envs_raw))
    gate = raw.get("gate") or {}
    gate_env = gate.get("environment", "production-approval")
    protects = tuple(gate.get("protects") or (environments[-1].name,))
    unknown = [p for p in protects if p.lower() not in names]
    if unknown:
        raise ConfigError(f"{source}: key `gate/protects` names {unknown[0]!r}", "it is not in `environments`",
                          "list only environments of the promotion path under gate.protects")
    if gate_env.lower() in names:
        raise ConfigError(f"{source}: key `gate/environment` is {gate_env!r}",
                          "the gate must be its own environment, not one of the promotion path",
                          "use a dedicated approval environment such as production-approval")
    tag = raw.get("tag") or {}
    return Config(environments=environments, gate_environment=gate_env, gate_protects=protects,
                  tag_prefix=tag.get("prefix", "v"), release_assets=tag.get("release", False),
                  image_tags=tuple(tag.get("image-tags", ())),
                  version_base=(raw.get("versioning") or {}).get("base", "0.1"))


def _describe(err) -> str:
    if err.validator == "additionalProperties":
        return err.message.replace("Additional properties are not allowed", "unknown key(s) not allowed")
    if err.validator == "required":
        return err.message
    return f"{err.instance!r} {_plain(err)}"


def _plain(err) -> str:
    v = err.validator
    if v == "type":
        return f"should be of type {err.validator_value}"
    if v == "enum":
        return f"should be one of {', '.join(map(str, err.validator_value))}"
    if v == "pattern":
        return f"does not match the expected form {err.validator_value}"
    if v in {"minimum", "maximum"}:
        return f"should be {'at least' if v == 'minimum' else 'at most'} {err.validator_value}"
    if v == "minItems":
        return "should not be empty"
    return err.message


def _fix_for(err) -> str:
    if err.validator == "additionalProperties":
        allowed = ", ".join(sorted(err.schema.get("properties", {})))
        return f"remove or rename the key; allowed here: {allowed}"
    description = err.schema.get("description")
    hint = f" ({description})" if description else ""
    return f"correct the value as the schema says{hint}; see docs/configuration.md"
