"""An analysis as cd.yml defines it: the sampling keys (count, interval, failure-limit, min-samples,
initial-delay, inconclusive-limit, consecutive-error-limit, consecutive-success-limit, dry-run, inconclusive),
durations, URLs, and the table of providers that providers.py fills. What they mean beside Argo
Rollouts' fields of the same names: docs/progressive-delivery.md.

`parse` checks one entry of `analysis:` completely: everything analysis.schema.json says (config
runs it before the schema, for its clearer messages) and what a schema cannot (min-samples <= count,
durations within their limits, well-formed URLs, known variables). Each provider checks its own
settings (providers.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

from cdhelper.core.errors import ConfigError
from cdhelper.core.errors import show as _show

VARIABLES = ("version", "environment", "slot", "weight")
SAMPLING_KEYS = ("interval", "count", "failure-limit", "min-samples", "initial-delay", "inconclusive-limit",
                 "consecutive-error-limit", "consecutive-success-limit", "dry-run", "inconclusive")
DEFAULT_SOURCE = ".github/cd.yml"
MAX_DURATION = 24 * 3600.0        # intervals and delays: a day
MAX_COUNT = 1000
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
DURATION_FIX = 'write a duration such as "10s", "2m", "1h30m", "500ms", or a number of seconds'

# name -> provider class, in the order they are registered (providers.py, with @provider)
PROVIDERS: dict[str, type] = {}


def provider(cls: type) -> type:
    """Registers a provider class under `cls.name` (see providers.py for what a provider has)."""
    PROVIDERS[cls.name] = cls
    return cls


@dataclass(frozen=True)
class Analysis:
    """One named analysis of cd.yml's `analysis:` section (see `parse`)."""

    name: str
    provider: str          # a key of PROVIDERS: "prometheus" | "http" | "command" | "compare"
    spec: Mapping          # the provider's settings, validated (read-only)
    interval: float        # seconds between samples
    count: int             # samples taken
    failure_limit: int     # more failed samples than this -> failed, immediately; -1: failures never decide
    min_samples: int       # fewer samples with a verdict than this -> inconclusive
    initial_delay: float = 0.0
    inconclusive_limit: int = 0                # more inconclusive samples than this -> inconclusive, immediately
    consecutive_error_limit: int | None = None  # more errors in a row than this -> failed; None: no limit
    consecutive_success_limit: int = 0         # this many passes in a row -> passed, early; 0: off
    dry_run: bool = False                      # measured and recorded, never deciding
    inconclusive: str = "rollback"             # an inconclusive outcome: "rollback" (undo) | "pause" (a person decides)
    source: str = DEFAULT_SOURCE  # the file it came from, for messages


def parse_duration(raw: object, *, what: str = "duration", allow_zero: bool = False,
                   maximum: float = MAX_DURATION) -> float:
    """Seconds from `10s`, `2m`, `1h30m`, `500ms`, `1.5s` or a number (of seconds). Refuses
    booleans, negative, zero (unless `allow_zero`), non-finite, above `maximum` and garbage, with a
    one-line ConfigError whose subject is `what` (e.g. "cd.yml: analysis `x` key `interval`")."""
    shown = _show(raw)
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ConfigError(f"{what} is {shown}", "a duration is a number of seconds or a text such as 10s",
                          DURATION_FIX)
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) > 40:
            raise ConfigError(f"{what} is {shown}", "that is too long to be a duration", DURATION_FIX)
        if text.startswith("-"):
            raise ConfigError(f"{what} is {shown}", "a duration cannot be negative", DURATION_FIX)
        if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
            seconds = float(text)
        elif text and re.fullmatch(r"([0-9]+(\.[0-9]+)?(ms|s|m|h))+", text):
            scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
            seconds = sum(float(n) * scale[u] for n, _, u in re.findall(r"([0-9]+(\.[0-9]+)?)(ms|s|m|h)", text))
        else:
            raise ConfigError(f"{what} is {shown}", "that is not a duration (units: ms, s, m, h)", DURATION_FIX)
    elif isinstance(raw, float) and not math.isfinite(raw):
        raise ConfigError(f"{what} is {shown}", "a duration must be a finite number", DURATION_FIX)
    else:
        try:
            seconds = float(raw)
        except OverflowError:  # an integer too large for a float
            seconds = math.inf
    if seconds < 0:
        raise ConfigError(f"{what} is {shown}", "a duration cannot be negative", DURATION_FIX)
    if seconds > maximum:
        raise ConfigError(f"{what} is {shown}", f"that is longer than the limit of {human(maximum)}",
                          f"use at most {human(maximum)}")
    if seconds == 0 and not allow_zero:
        raise ConfigError(f"{what} is {shown}", "zero makes no sense here", DURATION_FIX + " greater than zero")
    return seconds




def parse(name: str, raw: dict, *, source: str = DEFAULT_SOURCE) -> Analysis:
    """One entry of `analysis:`, checked completely (everything analysis.schema.json says, and what
    a schema cannot: min <= max, min-samples <= count, known variables, well-formed URLs...). Any
    problem is a one-line ConfigError naming the key, the value, the cause and the fix."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(f"{source}: analysis name {_show(name)} is not allowed",
                          "names are 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit",
                          "rename it, e.g. error-rate")
    where = f"{source}: analysis `{name}`"
    names = _one_of(PROVIDERS)
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{where} is {_show(raw)}", f"an analysis is a mapping with one provider "
                          f"({names}) and its sampling keys",
                          "write e.g. `prometheus: {url: ..., query: ..., max: 0.05}` with `interval` and `count`")
    keys = (*PROVIDERS, *SAMPLING_KEYS)
    unknown = [str(k) for k in raw if k not in keys]
    if unknown:
        raise ConfigError(f"{where}: unknown key `{clip(unknown[0], 40)}`", f"allowed here: {', '.join(keys)}",
                          "remove or rename the key")
    providers = [p for p in PROVIDERS if p in raw]
    if len(providers) != 1:
        why = ("it names no provider" if not providers
               else f"it names {len(providers)} providers ({', '.join(providers)})")
        raise ConfigError(f"{where} needs exactly one provider", why + "; each analysis measures one thing",
                          f"keep one of {names} (define another analysis for the other)")
    kind = PROVIDERS[providers[0]]

    count = _integer(raw, "count", where, default=1, low=1, high=MAX_COUNT)
    if "interval" in raw:
        interval = parse_duration(raw["interval"], what=f"{where} key `interval`")
    elif count > 1:
        raise ConfigError(f"{where} takes {count} samples but has no `interval`",
                          "the time between samples must be given", 'add e.g. `interval: 10s`')
    else:
        interval = 0.0
    initial_delay = (parse_duration(raw["initial-delay"], what=f"{where} key `initial-delay`", allow_zero=True)
                     if "initial-delay" in raw else 0.0)
    successes = _integer(raw, "consecutive-success-limit", where, default=0, low=0, high=count,
                         high_why=f"only {count} samples are taken (count)")
    failure_limit = _integer(raw, "failure-limit", where, default=0, low=-1, high=count - 1,
                             high_why=f"with count {count}, more than {count - 1} failures cannot happen, "
                                      "so the analysis could never fail")
    if failure_limit == -1 and not successes:
        raise ConfigError(f"{where} key `failure-limit` is -1", "-1 turns failures off, and without "
                          "consecutive-success-limit nothing else could end the analysis as failed",
                          "add `consecutive-success-limit:` (passes in a row needed), or write a failure-limit "
                          f"from 0 to {count - 1}")
    if successes and failure_limit + successes > count:
        raise ConfigError(f"{where}: failure-limit {failure_limit} plus consecutive-success-limit {successes} is "
                          f"above count {count}", "the samples left after the failures allowed could not reach "
                          "the passes in a row needed", "raise count, or lower one of the limits")
    min_samples = _integer(raw, "min-samples", where, default=successes or count, low=1, high=count,
                           high_why=f"only {count} samples are taken (count)")
    # With consecutive-success-limit a pass needs that many passes in a row, so failures alone cannot pass.
    if not successes and min_samples <= failure_limit:
        raise ConfigError(f"{where}: min-samples {min_samples} is not above failure-limit {failure_limit}",
                          "then an analysis whose every measured sample failed could pass",
                          "raise min-samples above failure-limit, or lower failure-limit")
    inconclusive_limit = _integer(raw, "inconclusive-limit", where, default=0, low=0, high=count - 1,
                                  high_why=f"with count {count}, more than {count - 1} inconclusive samples "
                                           "cannot happen, so the limit would never be reached")
    error_limit = (_integer(raw, "consecutive-error-limit", where, default=0, low=0, high=count - 1,
                            high_why=f"with count {count}, more than {count - 1} errors in a row cannot "
                                     "happen, so the limit would never be reached")
                   if "consecutive-error-limit" in raw else None)
    dry_run = raw.get("dry-run", False)
    if not isinstance(dry_run, bool):
        raise ConfigError(f"{where} key `dry-run` is {_show(dry_run)}", "it must be true or false",
                          "write `dry-run: true` to measure without deciding, or remove the key")
    on_inconclusive = raw.get("inconclusive", "rollback")
    if on_inconclusive not in ("rollback", "pause"):
        raise ConfigError(f"{where} key `inconclusive` is {_show(on_inconclusive)}", "it must be rollback or pause",
                          "write `inconclusive: pause` to pause the rollout for a person, or remove the key (rollback)")
    spec = _settings(kind, raw[kind.name], f"{where} {kind.name}")
    return Analysis(name=name, provider=kind.name, spec=MappingProxyType(spec), interval=interval, count=count,
                    failure_limit=failure_limit, min_samples=min_samples, initial_delay=initial_delay,
                    inconclusive_limit=inconclusive_limit, consecutive_error_limit=error_limit,
                    consecutive_success_limit=successes, dry_run=dry_run, inconclusive=on_inconclusive,
                    source=source)


def _integer(raw: Mapping, key: str, where: str, *, default: int, low: int, high: int, high_why: str = "") -> int:
    if key not in raw:
        return default
    value = raw[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where} key `{key}` is {_show(value)}", "it must be a whole number",
                          f"write a number from {low} to {max(low, high)}")
    if value < low:
        raise ConfigError(f"{where} key `{key}` is {value}", f"it must be at least {low}",
                          f"write a number from {low} to {max(low, high)}")
    if value > high:
        raise ConfigError(f"{where} key `{key}` is {value}", high_why or f"it must be at most {high}",
                          f"write a number from {low} to {high}" if high >= low else "lower it")
    return value




def _settings(kind: type, raw: object, where: str) -> dict:
    """What every provider's settings share (a mapping of known keys, the required ones present, a
    timeout within the provider's limit), then the provider's own checks."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} is {_show(raw)}", f"{kind.name} takes a mapping of settings", kind.example)
    unknown = [str(k) for k in raw if k not in kind.keys]
    if unknown:
        raise ConfigError(f"{where}: unknown key `{clip(unknown[0], 40)}`", f"allowed here: {', '.join(kind.keys)}",
                          "remove or rename the key")
    for key in kind.required:
        if key not in raw:
            raise ConfigError(f"{where} has no `{key}`", f"{kind.name} needs {' and '.join(kind.required)}",
                              f"add `{key}:`")
    timeout = (parse_duration(raw["timeout"], what=f"{where} key `timeout`", maximum=kind.max_timeout)
               if "timeout" in raw else kind.default_timeout)
    return kind.settings(raw, where, timeout)


def check_url(raw: object, what: str, *, base: bool) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{what} is {_show(raw)}", "it must be an http(s) URL", "write e.g. http://127.0.0.1:9090")
    for match in PLACEHOLDER.finditer(raw):
        if match.group(1) not in VARIABLES:
            raise ConfigError(f"{what} uses `{clip(match.group(0), 40)}`", f"the variables are {variables_text()}",
                              "use one of them, or write the value out")
    problem = url_problem(PLACEHOLDER.sub("x", raw), base=base)
    if problem:
        raise ConfigError(f"{what} is {_show(raw)}", problem, "write an http:// or https:// URL with a host, "
                          "e.g. http://127.0.0.1:9090" if base else "e.g. https://staging.example.com/healthz")
    return raw


def url_problem(url: str, *, base: bool) -> str:
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7f for c in url):
        return "a URL cannot contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"it is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"the scheme is {parts.scheme!r}; only http and https are measured" if parts.scheme \
            else "it has no scheme (http:// or https://)"
    if not parts.hostname:
        return "it has no host"
    if parts.username is not None or parts.password is not None:
        return "it holds credentials, which would be in the repository and in the logs"
    if base and (parts.query or parts.fragment):
        return "Prometheus' address takes no query or fragment (cdhelper adds /api/v1/query)"
    return ""


# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# Formatting, for messages and results


def _one_of(names) -> str:
    names = list(names)
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def human(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds:g}s"


def variables_text() -> str:
    return ", ".join(f"{{{{{v}}}}}" for v in VARIABLES)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


