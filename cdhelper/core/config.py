"""`.github/cd.yml`: the promotion path and its rules, validated against the shipped JSON Schema.

A repository without the file gets the defaults: staging -> production, gate `production-approval`
protecting production, tags `v<version>`.

The file comes with the commit being deployed, so whoever pushes controls it. It may add rules
(more gated environments, required contexts, soak times) but never remove the production gate:
the last environment of the path, any environment named `production` (GitHub's own rule for
`production_environment`) and any marked `production: true` are gated in delivery mode whatever
the file says, and a file that tries otherwise is refused. What the gate environment is comes from
the workflow (the `gate-environment` input, default `production-approval`), where the gate job is
bound to it; the file may only repeat it.

This module checks the file against the schema and applies the rules above; the sections of the
domains are theirs to parse: `analysis` (progressive.analysis), `freeze` (deploy.freeze) and each
environment's `strategy` (progressive.strategies). cdhelper/deploy/cd_yml.py loads the whole file,
this module's checks and the domains' parsers together: the commands load cd.yml through it.
"""

from __future__ import annotations

import itertools
import json
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError, InputError
from .errors import show as _show

DEFAULT_PATH = ".github/cd.yml"
DEFAULT_GATE = "production-approval"
DEFAULT_SOAK = "production-soak"  # the soak environment when neither the workflow nor cd.yml names one
MAX_BYTES = 256 * 1024  # a real cd.yml is a few hundred bytes; this bounds the parser's work


@dataclass(frozen=True)
class Reviewer:
    """A required reviewer as the file names it: a user's login, or a team as ORG/SLUG."""

    kind: str  # "User" | "Team", GitHub's reviewer types
    name: str

    def __str__(self) -> str:
        return self.name if self.kind == "User" else f"team:{self.name}"


@dataclass(frozen=True)
class Protection:
    """An environment's protection on GitHub as the file declares it (environments as code). None
    means "not managed": plan ignores the field and apply leaves GitHub's value."""

    reviewers: tuple[Reviewer, ...] | None = None
    prevent_self_review: bool | None = None
    wait_timer: int | None = None  # minutes
    branches: str | tuple[str, ...] | None = None  # "all", "protected" or branch name patterns
    tags: tuple[str, ...] | None = None  # tag name patterns (needs branches as patterns)

    @property
    def managed(self) -> bool:
        return any(v is not None for v in (self.reviewers, self.prevent_self_review, self.wait_timer, self.branches,
                                           self.tags))


@dataclass(frozen=True)
class Environment:
    name: str
    url: str = ""
    required_contexts: tuple[str, ...] = ()
    soak_minutes: int = 0
    production: bool = False
    # A progressive.strategies.Plan, parsed from the environment's `strategy:` by deploy/cd_yml.py;
    # None in an Environment built without it (a test's).
    plan: Any = None
    protection: Protection = field(default_factory=Protection)
    hooks: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    soak_environment: str = ""  # `soak-environment.name`: whose wait timer holds this environment's `pause: hold`
    soak_wait_timer: int | None = None  # `soak-environment.wait-timer`: environments as code declares the timer


@dataclass(frozen=True)
class Config:
    environments: tuple[Environment, ...] = field(default_factory=lambda: (
        Environment("staging"), Environment("production", production=True)))
    gate_environment: str = DEFAULT_GATE
    gate_protects: tuple[str, ...] = ("production",)
    tag_prefix: str = "v"
    release_assets: bool = False
    image_tags: tuple[str, ...] = ()
    version_base: str = "0.1"
    # The domains' sections, parsed by them (deploy/cd_yml.py puts them here): name -> progressive.analysis.Analysis
    analyses: dict = field(default_factory=dict, hash=False, compare=False)
    freeze: tuple = ()  # deploy.freeze.Window
    gate_protection: Protection = field(default_factory=Protection)

    def protections(self) -> tuple[tuple[str, Protection], ...]:
        """(environment, protection) of every environment the file manages, the path's first, then the gate."""
        found = [(e.name, e.protection) for e in self.environments if e.protection.managed]
        if self.gate_protection.managed:
            found.append((self.gate_environment, self.gate_protection))
        # A soak environment holds a job for its timer and nothing else: no reviewers (they would hold the resume
        # for a person), no secrets (the job it holds runs nothing of the repository).
        for env in self.environments:
            if env.soak_wait_timer is not None:
                found.append((env.soak_environment, Protection(reviewers=(), wait_timer=env.soak_wait_timer)))
        return tuple(found)

    def soak_environment(self, name: str | None = None) -> str:
        """The soak environment cd.yml names for environment `name` (None: the first it names), else ""."""
        named = [e.soak_environment for e in self.environments
                 if e.soak_environment and (name is None or e.name.lower() == name.lower())]
        return named[0] if named else ""

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name.lower() == name.lower():
                return env
        path = " -> ".join(e.name for e in self.environments)
        raise InputError(f"environment {_show(name, 60)} is not in the promotion path", f"the path is {path}",
                         f"use one of those names, or add it under `environments:` in {DEFAULT_PATH}")

    def previous(self, name: str) -> Environment | None:
        names = [e.name.lower() for e in self.environments]
        index = names.index(self.environment(name).name.lower())
        return self.environments[index - 1] if index else None

    def is_gated(self, name: str) -> bool:
        return name.lower() in {p.lower() for p in self.gate_protects}


def schema() -> dict:
    """cd-config.schema.json with the analysis and freeze fragments (their own files, kept beside the
    modules that read them) in its $defs."""
    files = resources.files("cdhelper.core").joinpath("schemas")
    out = json.loads(files.joinpath("cd-config.schema.json").read_text())
    out["$defs"]["analysisEntry"] = json.loads(files.joinpath("analysis.schema.json").read_text())
    out["$defs"]["freeze"] = json.loads(files.joinpath("freeze.schema.json").read_text())
    return out


def load(path: str | Path | None = None, *, workspace: str = ".", gate_environment: str | None = None,
         gate_by_hand: bool = False, parse: Callable[..., Config] | None = None) -> Config:
    """Read and validate the configuration; a missing default file means the defaults.
    `gate_environment` is the workflow's (trusted) gate ("" means the default), which the file may
    only repeat; None (commands that do not decide on the gate) takes the file's or the default.
    `gate_by_hand`: it came from --gate-environment, not from an action step's input (for the refusal).
    `parse` turns the document into the Config, with from_dict's arguments: from_dict unless given
    (deploy/cd_yml.py gives its own, which adds the domains' sections)."""
    parse = parse or from_dict
    explicit = path is not None
    file = Path(path) if explicit else Path(workspace) / DEFAULT_PATH
    gate = None if gate_environment is None else _gate_input(gate_environment, gate_by_hand)
    said = _gate_said(gate_environment or "", gate_by_hand)
    try:
        info = file.stat()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"configuration file {str(file)!r} not found", "the path given does not exist",
                              f"create it, or drop the option to use {DEFAULT_PATH} or the defaults") from None
        return parse({}, gate_environment=gate, gate_said=said, gate_by_hand=gate_by_hand)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise ConfigError(f"configuration file {str(file)[:200]!r} cannot be read",
                          getattr(exc, "strerror", None) or str(exc), "point the config input at a readable YAML file") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ConfigError(f"configuration file {str(file)!r} is {kind}", "cdhelper reads one YAML file",
                          f"point the config input at the YAML file itself (e.g. {DEFAULT_PATH})")
    if info.st_size > MAX_BYTES:
        raise ConfigError(f"configuration file {str(file)!r} is {info.st_size} bytes",
                          f"a cd.yml larger than {MAX_BYTES // 1024} KiB is not a configuration",
                          "keep only the keys of docs/configuration.md in it")
    import yaml  # heavy: imported when used, so --help and the launcher start without it
    try:
        with open(file, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"configuration file {str(file)[:200]!r} cannot be read", exc.strerror or str(exc),
                          "point the config input at a readable YAML file") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"configuration file {str(file)!r} is larger than {MAX_BYTES // 1024} KiB",
                          "a cd.yml that large is not a configuration", "keep only the keys of docs/configuration.md in it")
    try:
        raw = _parse(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, RecursionError):
            problem = "it nests too deeply"
        elif isinstance(exc, ValueError) and not isinstance(exc, UnicodeDecodeError):
            problem = "a number in it is too long to read"
        raise ConfigError(f"{file} is not valid YAML{where}", str(problem)[:200],
                          "fix the YAML syntax (indentation, quoting) at that place") from None
    return parse(raw if raw is not None else {}, source=str(file), gate_environment=gate, gate_said=said,
                 gate_by_hand=gate_by_hand)


def _parse(text: str) -> object:
    import yaml  # heavy: imported when used, so --help and the launcher start without it

    class NoAliasLoader(yaml.SafeLoader):
        """No aliases: `*name` lets a few lines expand into billions of nodes (an alias bomb), and a
        configuration never needs them."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in cd.yml; write the "
                                                  "value out", self.peek_event().start_mark)
            return super().compose_node(parent, index)
    return yaml.load(text, Loader=NoAliasLoader)  # noqa: S506 - a SafeLoader


def _gate_said(raw: str, by_hand: bool) -> str:
    """What cdhelper knows of the gate it was given: the value passed, or that none was (it cannot
    see which environment the gate job is bound to)."""
    name = raw.strip()
    if by_hand:
        return f"--gate-environment is {name!r}" if name else f"no --gate-environment is given (default {DEFAULT_GATE!r})"
    if not name:
        return f"the workflow passes no gate-environment (default {DEFAULT_GATE!r})"
    if name.lower() == DEFAULT_GATE:  # the actions' default: passed explicitly or not at all, the same value arrives
        return f"the workflow passes gate-environment {name!r} (the default, also when it passes none)"
    return f"the workflow passes gate-environment {name!r}"


def _gate_input(raw: str, by_hand: bool) -> str:
    name = (raw or "").strip() or DEFAULT_GATE
    from jsonschema import (
        Draft202012Validator,  # heavy: imported when used, so --help and the launcher start without it
    )
    if not Draft202012Validator(schema()["$defs"]["environmentName"]).is_valid(name):
        raise InputError(f"{'--gate-environment' if by_hand else 'the `gate-environment` input'} {name[:60]!r} is "
                         "not an environment name", "it names the approval environment the gate job is bound to",
                         "pass the name of that environment, e.g. production-approval")
    return name


def from_dict(raw: object, *, source: str = DEFAULT_PATH, gate_environment: str | None = DEFAULT_GATE,
              gate_said: str = "", gate_by_hand: bool = False) -> Config:
    """The document checked against the schema and the rules of this module. The domains' sections are
    left to them: `analyses` and `freeze` stay empty, each environment's `plan` None (deploy/cd_yml.py)."""
    import jsonschema  # heavy: imported when used, so --help and the launcher start without it
    validator = jsonschema.Draft202012Validator(schema())
    # The first errors are enough to report one; never walk a huge document to the end.
    first = list(itertools.islice(validator.iter_errors(raw), 20))
    errors = sorted(first, key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = errors[0]
        while err.validator in ("oneOf", "anyOf") and err.context:
            # Of the alternatives, the one that got furthest is the form meant: say what is wrong in it.
            err = max(err.context, key=lambda e: (len(e.absolute_path), e.validator == "enum"))
        key = "/".join(str(p)[:40] for p in err.absolute_path) or "(top level)"
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
        soak_minutes=int(e.get("soak-minutes", 0)), production=_is_production(e, i == last, source),
        hooks=dict(e.get("hooks") or {}),
        protection=_protection(e, f"{source}: key `environments/{i}"),
        soak_environment=(e.get("soak-environment") or {}).get("name", ""),
        soak_wait_timer=(e.get("soak-environment") or {}).get("wait-timer"))
        for i, e in enumerate(envs_raw))
    gate = raw.get("gate") or {}
    gate_env = gate.get("environment", gate_environment or DEFAULT_GATE)
    if gate_env.lower() in names:
        raise ConfigError(f"{source}: key `gate/environment` is {gate_env!r}",
                          "the gate must be its own environment, not one of the promotion path",
                          "use a dedicated approval environment such as production-approval")
    if gate_environment is not None and gate_env.lower() != gate_environment.lower():
        raise ConfigError(f"{source}: key `gate/environment` is {gate_env!r}",
                          f"{gate_said or f'the workflow passes gate-environment {gate_environment!r}'}, and the gate "
                          "is the workflow's to say, not the deployed commit's",
                          (f"pass --gate-environment {gate_env}" if gate_by_hand else
                           f"pass `gate-environment: {gate_env}` to the cdhelper steps")
                          + " and bind the gate job to it, or remove gate.environment from the file")
    for i, env in enumerate(environments):
        soak = env.soak_environment.lower()
        if soak and (soak in names or soak == gate_env.lower()):
            raise ConfigError(f"{source}: key `environments/{i}/soak-environment/name` is {env.soak_environment!r}",
                              "the soak environment only holds the resume job for its wait timer: it must be its own "
                              "environment, not one of the path nor the gate",
                              "use a dedicated environment such as production-soak")
    timers = {}
    for env in environments:
        if env.soak_wait_timer is not None and timers.setdefault(env.soak_environment.lower(), env.soak_wait_timer) \
                != env.soak_wait_timer:
            raise ConfigError(f"{source}: soak environment {env.soak_environment!r} has two wait timers",
                              "one environment has one wait timer", "give it the same wait-timer everywhere, or "
                              "one soak environment per timer")
    production = [e.name for e in environments if e.production]
    protects = tuple(gate.get("protects") or ())
    unknown = [p for p in protects if p.lower() not in names]
    if unknown:
        raise ConfigError(f"{source}: key `gate/protects` names {unknown[0]!r}", "it is not in `environments`",
                          "list only environments of the promotion path under gate.protects")
    ungated = [n for n in production if protects and n.lower() not in {p.lower() for p in protects}]
    if ungated:
        raise ConfigError(f"{source}: key `gate/protects` would leave {ungated[0]!r} ungated",
                          "production environments (the last of the path, one named production, any marked "
                          "production: true) are always gated in delivery mode; gate.protects can add "
                          "environments, never take one away",
                          f"add {ungated[0]!r} to gate.protects, or remove the key")
    gate_protection = _protection(gate, f"{source}: key `gate")
    _refuse_weaker_gate(gate_protection, gate_env, source)
    tag = raw.get("tag") or {}
    return Config(environments=environments, gate_environment=gate_env, gate_protection=gate_protection,
                  gate_protects=tuple(dict.fromkeys([*protects, *production])),
                  tag_prefix=tag.get("prefix", "v"), release_assets=tag.get("release", False),
                  image_tags=tuple(tag.get("image-tags", ())),
                  version_base=(raw.get("versioning") or {}).get("base", "0.1"))


# A branch or tag name pattern as GitHub's deployment branch policies take it (fnmatch, name without refs/):
# no whitespace or characters git forbids in ref names, no leading / . -, no `..` or `//`, no trailing / or .
REF_PATTERN = re.compile(r"^(?![/.-])(?!.*(?:\.\.|//|@\{))[^\s~^:\\\x00-\x1f\x7f]{1,255}(?<![/.])$")


def _protection(section: dict, where: str) -> Protection:
    """`where` is "SOURCE: key `PATH" (the closing backtick comes with the key's name)."""
    reviewers = None
    if "reviewers" in section:
        reviewers = tuple(Reviewer("Team", r[len("team:"):]) if r.startswith("team:") else Reviewer("User", r)
                          for r in section["reviewers"])
        names = [str(r).lower() for r in reviewers]
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice:
            raise ConfigError(f"{where}/reviewers` names {twice!r} twice", "logins and team slugs are case-insensitive",
                              "list each reviewer once")
    branches = section.get("deployment-branches")
    if isinstance(branches, list):
        branches = tuple(_ref_pattern(p, f"{where}/deployment-branches`", "branch") for p in branches)
    tags = section.get("deployment-tags")
    if tags is not None:
        tags = tuple(_ref_pattern(p, f"{where}/deployment-tags`", "tag") for p in tags)
        if not isinstance(branches, tuple):
            raise ConfigError(f"{where}/deployment-tags` is set but deployment-branches is "
                              f"{_show(branches) if branches else 'absent'}",
                              "GitHub allows tags only through custom policies, which also decide the branches",
                              "list the branches too under deployment-branches ([] for tags only)")
    wait = section.get("wait-timer")
    return Protection(reviewers=reviewers, prevent_self_review=section.get("prevent-self-review"),
                      wait_timer=None if wait is None else int(wait), branches=branches, tags=tags)


def _ref_pattern(raw: str, where: str, kind: str) -> str:
    if raw.startswith("refs/"):
        raise ConfigError(f"{where} has {_show(raw)}", f"GitHub matches {kind} names, without the refs/ prefix",
                          f"write {raw.split('/', 2)[-1]!r}")
    if not REF_PATTERN.match(raw):
        raise ConfigError(f"{where} has {_show(raw)}", f"it is not a {kind} name pattern (no spaces, no ~ ^ : \\, "
                          "no .. or //, not starting with / . - nor ending with / .)",
                          f"write a {kind} name or an fnmatch pattern such as {'release/*' if kind == 'branch' else 'v*'}")
    return raw


def _refuse_weaker_gate(protection: Protection, gate: str, source: str) -> None:
    """The file comes with the pushed commit: it may manage the gate environment, never open it."""
    if protection.reviewers is not None and not protection.reviewers:
        raise ConfigError(f"{source}: key `gate/reviewers` is empty",
                          f"a gate environment ({gate}) without required reviewers lets every run through in delivery "
                          "mode, and the deployed commit may not open the gate",
                          "name at least one reviewer (a login or team:ORG/SLUG), or remove the key to leave GitHub's")
    if protection.prevent_self_review is False:
        raise ConfigError(f"{source}: key `gate/prevent-self-review` is false",
                          f"it would let whoever triggers a release approve it at {gate}, and the deployed commit may "
                          "not weaken the gate", "set it to true, or remove the key to leave GitHub's")


def _is_production(env: dict, last: bool, source: str) -> bool:
    """GitHub's default: an environment named production is production; ours: so is the last."""
    implied = last or env["name"].lower() == "production"
    if env.get("production") is False and implied:
        raise ConfigError(f"{source}: environment {env['name']!r} has `production: false`",
                          f"{'the last environment of the path' if last else 'an environment named production'} is "
                          "production, which is always gated in delivery mode whatever this file says",
                          "remove `production: false` from it")
    return bool(env.get("production")) or implied




def _describe(err) -> str:
    if err.validator == "additionalProperties":
        text = err.message.replace("Additional properties are not allowed", "unknown key(s) not allowed")
    elif err.validator == "required":
        text = err.message
    else:
        text = f"{_show(err.instance)} {_plain(err)}"
    return text if len(text) <= 240 else text[:240] + "…"


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
