"""Analysis: the measurements that decide whether a rollout goes on or rolls back.

An analysis takes `count` samples, the first after `initial-delay`, then one every `interval`.
Every sample is a number compared with a condition:

- prometheus: an instant query (`GET {url}/api/v1/query`); its one value must be >= `min` and
  <= `max`. Prometheus evaluates the PromQL; nothing here re-implements it.
- http: one GET (redirects are not followed); the status code must be in `status` (default
  200-399) and, with `version`, the body must name the version (as a whole word) or the header
  must equal it.
- command: bash, run through the caller's `run_command` (cdhelper.hooks.run); exit status 0
  passes. `timeout` kills it.

A Prometheus or HTTP sample's `timeout` is one deadline for the whole request (deadline.py):
socket timeouts bound each read, and a server trickling a byte before each would hold a sample
for as long as it liked.

A sample without a value (an empty result, NaN or Inf, several series, a timeout, a connection
error) is neither a pass nor a failure. The analysis **fails** as soon as more samples failed than
`failure-limit` (that sample's decision is returned at once, without another interval), is
**inconclusive** when fewer than `min-samples` samples had a value (decided as soon as the samples
left could no longer reach it), and **passes** otherwise. Inconclusive never counts as a pass.

Before anything is written, `preflight` asks every Prometheus to evaluate its query with the
variables filled in: unreachable servers and rejected queries stop the rollout before it starts.

Variables (`{{version}}`, `{{environment}}`, `{{slot}}`, `{{weight}}`) are replaced in queries
and URLs. In a query the value is escaped for the PromQL string it stands in (and for the regular
expression, after `=~`/`!~`), so a value cannot end the string and add PromQL of its own; outside
a string only `{{weight}}` (a number) may stand. In URLs values are percent-encoded. Commands get
the values as environment variables (CD_VERSION, ...), never spliced into the script.
"""

from __future__ import annotations

import functools
import math
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import quote, urlsplit

from cdhelper.core import deadline
from cdhelper.core.errors import ConfigError, InputError
from cdhelper.core.errors import show as _show

PROVIDERS = ("prometheus", "http", "command")
VARIABLES = ("version", "environment", "slot", "weight")
KEYS = (*PROVIDERS, "interval", "count", "failure-limit", "min-samples", "initial-delay")
PROVIDER_KEYS = {
    "prometheus": ("url", "query", "min", "max", "timeout"),
    "http": ("url", "status", "version", "timeout"),
    "command": ("run", "timeout"),
}
DEFAULT_SOURCE = ".github/cd.yml"
MAX_DURATION = 24 * 3600.0        # intervals and delays: a day
MAX_COUNT = 1000
DEFAULT_TIMEOUT = {"prometheus": 10.0, "http": 5.0, "command": 60.0}
MAX_TIMEOUT = {"prometheus": 300.0, "http": 300.0, "command": 3600.0}
MAX_QUERY = 20_000
MAX_BODY = 1 << 20                 # bytes of an HTTP body searched for the version
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
DURATION_FIX = 'write a duration such as "10s", "2m", "1h30m", "500ms", or a number of seconds'


@dataclass(frozen=True)
class Analysis:
    """One named analysis of cd.yml's `analysis:` section (see `parse`)."""

    name: str
    provider: str          # "prometheus" | "http" | "command"
    spec: Mapping          # the provider's settings, validated (read-only)
    interval: float        # seconds between samples
    count: int             # samples taken
    failure_limit: int     # more failed samples than this -> failed, immediately
    min_samples: int       # fewer samples with a value than this -> inconclusive
    initial_delay: float = 0.0
    source: str = DEFAULT_SOURCE  # the file it came from, for messages


@dataclass(frozen=True)
class Measurement:
    at: float              # seconds since the analysis started (when the sample was taken)
    value: float | None    # None: the sample had no value
    ok: bool | None        # None: neither a pass nor a failure
    detail: str            # one line: the value against the condition, or why there is none


@dataclass(frozen=True)
class Result:
    name: str
    outcome: str           # "passed" | "failed" | "inconclusive"
    measurements: tuple[Measurement, ...]
    reason: str            # one line with the measured values, for the record and the summary

    def passed(self) -> bool:
        return self.outcome == "passed"


# ----------------------------------------------------------------------------------------------
# Definitions


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
        raise ConfigError(f"{what} is {shown}", f"that is longer than the limit of {_human(maximum)}",
                          f"use at most {_human(maximum)}")
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
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{where} is {_show(raw)}", "an analysis is a mapping with one provider "
                          "(prometheus, http or command) and its sampling keys",
                          "write e.g. `prometheus: {url: ..., query: ..., max: 0.05}` with `interval` and `count`")
    unknown = [str(k) for k in raw if k not in KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key `{_clip(unknown[0], 40)}`", f"allowed here: {', '.join(KEYS)}",
                          "remove or rename the key")
    providers = [p for p in PROVIDERS if p in raw]
    if len(providers) != 1:
        why = ("it names no provider" if not providers
               else f"it names {len(providers)} providers ({', '.join(providers)})")
        raise ConfigError(f"{where} needs exactly one provider", why + "; each analysis measures one thing",
                          "keep one of prometheus, http or command (define another analysis for the other)")
    provider = providers[0]

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
    failure_limit = _integer(raw, "failure-limit", where, default=0, low=0, high=count - 1,
                             high_why=f"with count {count}, more than {count - 1} failures cannot happen, "
                                      "so the analysis could never fail")
    min_samples = _integer(raw, "min-samples", where, default=count, low=1, high=count,
                           high_why=f"only {count} samples are taken (count)")
    if min_samples <= failure_limit:
        raise ConfigError(f"{where}: min-samples {min_samples} is not above failure-limit {failure_limit}",
                          "then an analysis whose every measured sample failed could pass",
                          "raise min-samples above failure-limit, or lower failure-limit")
    spec = _provider_spec(provider, raw[provider], f"{where} {provider}")
    return Analysis(name=name, provider=provider, spec=MappingProxyType(spec), interval=interval, count=count,
                    failure_limit=failure_limit, min_samples=min_samples, initial_delay=initial_delay,
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


def _provider_spec(provider: str, raw: object, where: str) -> dict:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} is {_show(raw)}", f"{provider} takes a mapping of settings",
                          {"prometheus": "write `prometheus: {url: http://..., query: ..., max: ...}`",
                           "http": "write `http: {url: https://...}`",
                           "command": "write `command: {run: ./check.sh}`"}[provider])
    allowed = PROVIDER_KEYS[provider]
    unknown = [str(k) for k in raw if k not in allowed]
    if unknown:
        raise ConfigError(f"{where}: unknown key `{_clip(unknown[0], 40)}`", f"allowed here: {', '.join(allowed)}",
                          "remove or rename the key")
    required = {"prometheus": ("url", "query"), "http": ("url",), "command": ("run",)}[provider]
    for key in required:
        if key not in raw:
            raise ConfigError(f"{where} has no `{key}`", f"{provider} needs {' and '.join(required)}",
                              f"add `{key}:`")
    timeout = (parse_duration(raw["timeout"], what=f"{where} key `timeout`", maximum=MAX_TIMEOUT[provider])
               if "timeout" in raw else DEFAULT_TIMEOUT[provider])
    if provider == "prometheus":
        url = _url(raw["url"], f"{where} key `url`", base=True)
        query = raw["query"]
        if not isinstance(query, str) or not query.strip():
            raise ConfigError(f"{where} key `query` is {_show(query)}", "it must be a PromQL expression",
                              "write the query, e.g. sum(rate(http_requests_total{code=~\"5..\"}[1m]))")
        if len(query) > MAX_QUERY:
            raise ConfigError(f"{where} key `query` is {len(query)} characters", f"the limit is {MAX_QUERY}",
                              "shorten the query (recording rules help)")
        _compile_query_checked(query, f"{where} key `query`")
        bounds = {}
        for key in ("min", "max"):
            if key in raw:
                value = raw[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ConfigError(f"{where} key `{key}` is {_show(value)}", "it must be a finite number",
                                      f"write the {'lowest' if key == 'min' else 'highest'} value a sample may have")
                bounds[key] = float(value)
        if not bounds:
            raise ConfigError(f"{where} has neither `min` nor `max`", "without them every value would pass",
                              "add `max:` (e.g. the highest error rate allowed) and/or `min:`")
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise ConfigError(f"{where}: min {_fmt(bounds['min'])} is above max {_fmt(bounds['max'])}",
                              "no value could pass", "swap them, or correct one")
        return {"url": url, "query": query, "min": bounds.get("min"), "max": bounds.get("max"), "timeout": timeout}
    if provider == "http":
        url = _url(raw["url"], f"{where} key `url`", base=False)
        status = None
        if "status" in raw:
            codes = raw["status"]
            if (not isinstance(codes, list) or not codes
                    or any(isinstance(c, bool) or not isinstance(c, int) or not 100 <= c <= 599 for c in codes)):
                raise ConfigError(f"{where} key `status` is {_show(raw['status'])}",
                                  "it must be a list of HTTP status codes (100-599)", "write e.g. `status: [200, 204]`")
            if len(set(codes)) != len(codes):
                raise ConfigError(f"{where} key `status` is {_show(codes)}", "it names a code twice",
                                  "list each status code once")
            status = tuple(sorted(set(codes)))
        version = raw.get("version")
        if "version" in raw and (not isinstance(version, str) or not (
                version == "body" or (version.startswith("header:") and HEADER_NAME.fullmatch(version[7:])))):
            raise ConfigError(f"{where} key `version` is {_show(version)}",
                              "it says where the answer names the deployed version",
                              "write `version: body` or `version: header:X-Version`")
        return {"url": url, "status": status, "version": version, "timeout": timeout}
    command = raw["run"]
    if not isinstance(command, str) or not command.strip():
        raise ConfigError(f"{where} key `run` is {_show(command)}", "it must be a bash command",
                          "write e.g. `run: ./smoke-test.sh`")
    if len(command) > MAX_QUERY:
        raise ConfigError(f"{where} key `run` is {len(command)} characters", f"the limit is {MAX_QUERY}",
                          "put the command in a script and run that")
    placeholder = _PLACEHOLDER.search(command)
    if placeholder:
        var = placeholder.group(1)
        raise ConfigError(f"{where} key `run` contains `{_clip(placeholder.group(0), 40)}`",
                          "values are never spliced into a command (that would let them run as code)",
                          f'read the environment variable instead, e.g. "$CD_{var.upper().replace("-", "_")}"')
    return {"run": command, "timeout": timeout}


def _url(raw: object, what: str, *, base: bool) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{what} is {_show(raw)}", "it must be an http(s) URL", "write e.g. http://127.0.0.1:9090")
    for match in _PLACEHOLDER.finditer(raw):
        if match.group(1) not in VARIABLES:
            raise ConfigError(f"{what} uses `{_clip(match.group(0), 40)}`", f"the variables are {_variables()}",
                              "use one of them, or write the value out")
    problem = _url_problem(_PLACEHOLDER.sub("x", raw), base=base)
    if problem:
        raise ConfigError(f"{what} is {_show(raw)}", problem, "write an http:// or https:// URL with a host, "
                          "e.g. http://127.0.0.1:9090" if base else "e.g. https://staging.example.com/healthz")
    return raw


def _url_problem(url: str, *, base: bool) -> str:
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
# Variables in PromQL: every placeholder knows the context it stands in.

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


class _Template:
    """A query split into literal text and placeholders, each with its context: `code`, a string
    quoted with `"` or `'` (and whether it is a regular expression), `raw` (backticks), `comment`."""

    def __init__(self, parts: tuple):
        self.parts = parts  # (literal, variable | None, context, is_regex)

    @property
    def variables(self) -> set[str]:
        return {var for _, var, _, _ in self.parts if var}

    def render(self, values: Mapping[str, str]) -> str:
        out = []
        for literal, var, context, regex in self.parts:
            out.append(literal)
            if var is None:
                continue
            value = str(values[var])
            if context in ('"', "'"):
                out.append(_promql_string(_re2_escape(value) if regex else value, context))
            elif context == "comment":
                out.append(" ".join(value.splitlines()))
            else:  # code: only a number may stand there (checked by _substitute)
                out.append(value)
        return "".join(out)


@functools.lru_cache(maxsize=256)
def _compile_query_checked(query: str, what: str) -> _Template:
    parts, literal = [], []
    state, i, n = "code", 0, len(query)
    regex, tail = False, ""  # tail: the last two non-blank characters of code, to spot =~ and !~
    while i < n:
        match = _PLACEHOLDER.match(query, i) if query.startswith("{{", i) else None
        if match:
            var = match.group(1)
            if var not in VARIABLES:
                raise ConfigError(f"{what} uses `{_clip(match.group(0), 40)}`", f"the variables are {_variables()}",
                                  "use one of them, or write the value out")
            if state == "`":
                raise ConfigError(f"{what} has `{match.group(0)}` inside a `backtick` string",
                                  "a raw string cannot escape a value", f'use double quotes: "{{{{{var}}}}}"')
            if state == "code" and var != "weight":
                raise ConfigError(f"{what} has `{match.group(0)}` outside a quoted string",
                                  "there its value would become PromQL of its own",
                                  f'quote it, e.g. {var}="{{{{{var}}}}}"')
            parts.append(("".join(literal), var, state, regex))
            literal, tail = [], ""
            i = match.end()
            continue
        ch = query[i]
        literal.append(ch)
        if state == "code":
            if ch in "\"'`":
                state, regex = ch, tail in ("=~", "!~")
            elif ch == "#":
                state = "comment"
            elif not ch.isspace():
                tail = (tail + ch)[-2:]
        elif state == "comment":
            if ch == "\n":
                state = "code"
        elif state in ('"', "'"):
            if ch == "\\" and i + 1 < n:
                literal.append(query[i + 1])
                i += 1
            elif ch == state:
                state, regex, tail = "code", False, ch
        elif ch == "`":
            state, regex, tail = "code", False, ch
        i += 1
    parts.append(("".join(literal), None, state, False))
    return _Template(tuple(parts))


def _promql_string(value: str, quote_char: str) -> str:
    """`value` escaped to stand inside a PromQL string quoted with `quote_char` (Go's rules)."""
    out = []
    for ch in value:
        if ch == "\\" or ch == quote_char:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _re2_escape(value: str) -> str:
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in value)


def _substitute(analysis: Analysis, variables: Mapping[str, object]) -> dict:
    """The provider's settings with the variables filled in (query, URL). A variable the analysis
    uses but the caller does not provide is a ConfigError."""
    values = {k: str(v) for k, v in variables.items()}
    spec = analysis.spec
    where = f"{analysis.source}: analysis `{analysis.name}`"
    needed: set[str] = set()
    template = None
    if analysis.provider == "prometheus":
        template = _compile_query_checked(spec["query"], f"{where} prometheus key `query`")
        needed |= template.variables
    if "url" in spec:
        needed |= {m.group(1) for m in _PLACEHOLDER.finditer(spec["url"])}
    if analysis.provider == "http" and spec.get("version"):
        needed.add("version")
        if values.get("version") == "":
            raise ConfigError(f"{where} checks the version ({spec['version']}), but the version is empty",
                              "an empty version cannot be found in an answer", "pass the version being deployed")
    missing = sorted(v for v in needed if v not in values)
    if missing:
        given = ", ".join(sorted(values)) or "none"
        raise ConfigError(f"{where} uses {{{{{missing[0]}}}}}, which has no value here",
                          f"the values given for this analysis are: {given}",
                          "use only the variables this strategy sets (version and environment always; slot for "
                          "blue-green; weight for canary)")
    if template is not None:
        for _, var, context, _ in template.parts:
            if var and context == "code" and not _NUMBER.fullmatch(values[var]):
                raise ConfigError(f"{where}: {{{{{var}}}}} stands outside a quoted string and its value "
                                  f"{_show(values[var])} is not a number", "there it would become PromQL of its own",
                                  f'quote it, e.g. label="{{{{{var}}}}}"')
    out = dict(spec)
    if template is not None:
        out["query"] = template.render(values)
    if "url" in spec:
        url = _PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe=""), spec["url"])
        problem = _url_problem(url, base=analysis.provider == "prometheus")
        if problem:
            raise ConfigError(f"{where}: the URL with its variables filled in is {_show(url)}", problem,
                              "correct the URL or the value it uses")
        out["url"] = url
    return out


# ----------------------------------------------------------------------------------------------
# Preflight


def preflight(analyses: Iterable[Analysis], variables: Mapping[str, object], *, session=None) -> None:
    """Before anything is written: every variable an analysis uses has a value, every URL is
    well-formed, every Prometheus answers and accepts its query (evaluated with the variables filled
    in) with one number or nothing yet. Raises ConfigError for a definition Prometheus refuses (quoting
    Prometheus' own message) or a query that returns several series or a string; InputError when a
    Prometheus cannot be reached or cannot answer. HTTP targets are not contacted: the version they
    are to serve is not deployed yet."""
    import requests
    own = session is None
    session = session or requests.Session()
    try:
        for analysis in analyses:
            spec = _substitute(analysis, variables)
            if analysis.provider == "prometheus":
                _preflight_prometheus(analysis, spec, session)
    finally:
        if own:
            session.close()


def _preflight_prometheus(analysis: Analysis, spec: Mapping, session) -> None:
    import requests
    where = f"{analysis.source}: analysis `{analysis.name}`"
    base = spec["url"].rstrip("/")
    timeout = min(spec["timeout"], 10.0)

    def ask() -> tuple[str, float | None, str]:
        with session.get(base + "/api/v1/query", params={"query": spec["query"]}, timeout=timeout,
                         allow_redirects=False) as resp:
            return _read_prometheus(resp)
    try:
        kind, value, text = deadline.call_by(time.monotonic() + timeout, ask, name="cdhelper-preflight")
    except (requests.RequestException, deadline.Overdue) as exc:
        raise InputError(f"Prometheus at {base} is unreachable (analysis `{analysis.name}`)", _why(exc, timeout),
                         f"start Prometheus there, or correct analysis.{analysis.name}.prometheus.url in "
                         f"{analysis.source}") from None
    if kind in ("value", "empty", "no-number"):
        return
    if kind == "refused":
        raise ConfigError(f"{where}: Prometheus at {base} refuses the query", text,
                          f"correct the PromQL (try it in Prometheus' expression browser, {base}/graph)")
    if kind == "shape":
        raise ConfigError(f"{where}: the query {text}", "a sample is one number",
                          "aggregate it to one number, e.g. with sum(...), max(...) or a ratio of sums")
    if kind == "unavailable":
        raise InputError(f"Prometheus at {base} cannot answer (analysis `{analysis.name}`)", text,
                         "check Prometheus' health and try again")
    raise ConfigError(f"{where}: {base} does not answer like Prometheus' HTTP API", text,
                      f"point analysis.{analysis.name}.prometheus.url at the Prometheus server itself "
                      "(e.g. http://prometheus:9090), not at a page or a path below it")


def _read_prometheus(resp) -> tuple[str, float | None, str]:
    """(kind, value, text): value | empty | no-number (NaN, Inf) | shape (several series, string,
    range) | refused (bad_data, execution) | unavailable (timeout, 5xx) | other (not Prometheus)."""
    code = resp.status_code
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
        if code >= 500:
            return "unavailable", None, f"HTTP {code}"
        if 300 <= code < 400:
            return "other", None, f"it redirects (HTTP {code}) to {_clip(resp.headers.get('Location', '?'), 80)}"
        return "other", None, f"HTTP {code} for /api/v1/query, without Prometheus' JSON answer"
    if body["status"] == "error":
        error_type, error = str(body.get("errorType", "")), _clip(" ".join(str(body.get("error", "")).split()), 300)
        if error_type in ("bad_data", "execution") or code in (400, 422):
            return "refused", None, f"{error_type or 'error'}: {error}"
        return "unavailable", None, f"{error_type or 'error'} (HTTP {code}): {error}"
    data = body.get("data")
    if not isinstance(data, dict):
        return "other", None, "the answer has no data"
    kind, result = data.get("resultType"), data.get("result")
    if kind == "vector" and isinstance(result, list):
        if not result:
            return "empty", None, "empty result (no series)"
        if len(result) > 1:
            return "shape", None, f"returns {len(result)} series"
        if isinstance(result[0], dict) and "histogram" in result[0]:
            return "shape", None, "returns a native histogram, not a number"
        sample = result[0].get("value") if isinstance(result[0], dict) else None
    elif kind == "scalar":
        sample = result
    elif kind in ("string", "matrix"):
        what = "a string" if kind == "string" else "a range vector (matrix)"
        return "shape", None, f"returns {what}, not a number"
    else:
        return "other", None, f"unexpected result type {_clip(str(kind), 30)}"
    try:
        value = float(sample[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return "other", None, "the answer holds no sample value"
    if not math.isfinite(value):
        return "no-number", None, f"{sample[1]} is not a number to compare"
    return "value", value, ""


def _why(exc: Exception, timeout: float) -> str:
    import requests
    if isinstance(exc, (requests.Timeout, deadline.Overdue)):
        return f"no answer within {_fmt(timeout)}s"
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errno:
        return errno.group(1).strip().rstrip(".").lower()
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the connection closed without an answer"
    return type(exc).__name__


# ----------------------------------------------------------------------------------------------
# Running


def run(analysis: Analysis, variables: Mapping[str, object], *, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep, on_measurement: Callable[[Measurement], None] | None = None,
        session=None, run_command: Callable[[str, dict], int] | None = None,
        environ: Mapping[str, str] | None = None) -> Result:
    """Take the samples and decide. `on_measurement(m)` is called right after each sample; the
    sample that decides (failure-limit exceeded, min-samples out of reach) returns at once. A
    variable the analysis uses without a value is a ConfigError (preflight finds it first);
    everything that goes wrong while measuring is a sample without a value, never an exception.
    `environ` is the base environment of command samples (default: this process' environment
    without credentials); CD_ANALYSIS and CD_<VARIABLE> are added."""
    spec = _substitute(analysis, variables)
    sampler = _sampler(analysis, spec, variables, session, run_command, environ)
    measurements: list[Measurement] = []
    failures = measured = 0
    start = clock()
    try:
        for index in range(analysis.count):
            wait = start + analysis.initial_delay + index * analysis.interval - clock()
            if wait > 0:
                sleep(wait)
            at = clock() - start
            value, ok, detail = sampler.sample()
            measurement = Measurement(at=at, value=value, ok=ok, detail=detail)
            measurements.append(measurement)
            if on_measurement is not None:
                on_measurement(measurement)
            if ok is not None:
                measured += 1
                failures += not ok
            left = analysis.count - index - 1
            if failures > analysis.failure_limit:
                return _result(analysis, "failed", measurements, sampler.condition)
            if measured + left < analysis.min_samples:
                return _result(analysis, "inconclusive", measurements, sampler.condition)
        return _result(analysis, "passed", measurements, sampler.condition)
    finally:
        sampler.close()


def _result(analysis: Analysis, outcome: str, measurements: list[Measurement], condition: str) -> Result:
    taken = len(measurements)
    values = [m.value for m in measurements]
    shown = ", ".join(_fmt(v) for v in values[:20]) + (f", … ({taken} in all)" if taken > 20 else "")
    measured = sum(m.ok is not None for m in measurements)
    failed = [m for m in measurements if m.ok is False]
    name = analysis.name
    if outcome == "passed":
        reason = f"{name} passed ({condition}; {measured} of {taken} samples with a value, " \
                 f"{len(failed)} failed: {shown})"
    elif outcome == "failed":
        last = failed[-1]
        limit = f"{len(failed)} failed, more than failure-limit {analysis.failure_limit}"
        reason = f"{name} failed at sample {taken} of {analysis.count}: {last.detail} ({limit}; values: {shown})"
    else:
        early = f", stopped after {taken} of {analysis.count}" if taken < analysis.count else ""
        last = next((m.detail for m in reversed(measurements) if m.ok is None), "")
        reason = f"{name} inconclusive: {measured} of {taken} samples had a value, min-samples is " \
                 f"{analysis.min_samples}{early} (last without a value: {last}; values: {shown})"
    return Result(name=name, outcome=outcome, measurements=tuple(measurements), reason=" ".join(reason.split()))


def _sampler(analysis, spec, variables, session, run_command, environ):
    if analysis.provider == "prometheus":
        return _PrometheusSampler(spec, session)
    if analysis.provider == "http":
        return _HTTPSampler(spec, session, str(variables.get("version", "")))
    if analysis.provider == "command":
        return _CommandSampler(analysis.name, spec, variables, run_command, environ)
    raise ConfigError(f"{analysis.source}: analysis `{analysis.name}` has provider {_show(analysis.provider)}",
                      f"the providers are {', '.join(PROVIDERS)}", "use one of them")


class _Session:
    """The caller's requests.Session, or our own (closed at the end). Every sample sends the same
    request, so it is prepared, and the environment's settings (proxies, CA bundle) are read, once
    per run rather than per sample: that was half of the helper's CPU time per sample."""

    def __init__(self, session):
        import requests
        self.requests = requests
        self.own = session is None
        self.session = session or requests.Session()
        self.prepared = self.settings = None

    def get(self, url: str, read: Callable, *, params=None, timeout: float, stream: bool = False):
        """`read(response)` of one GET, all within `timeout`: connecting, the headers and the body
        together (a socket timeout bounds each read, and a server can trickle a byte before each)."""
        if self.prepared is None:
            self.prepared = self.session.prepare_request(self.requests.Request("GET", url, params=params))
            self.settings = self.session.merge_environment_settings(self.prepared.url, {}, stream, None, None)

        def fetch():
            with self.session.send(self.prepared.copy(), timeout=timeout, allow_redirects=False,
                                   **self.settings) as resp:
                return read(resp)
        return deadline.call_by(time.monotonic() + timeout, fetch, name="cdhelper-analysis")

    def close(self) -> None:
        if self.own:
            self.session.close()


class _PrometheusSampler(_Session):
    def __init__(self, spec: Mapping, session):
        super().__init__(session)
        self.url = spec["url"].rstrip("/") + "/api/v1/query"
        self.params = {"query": spec["query"]}
        self.low, self.high, self.timeout = spec["min"], spec["max"], spec["timeout"]
        self.condition = _bounds(self.low, self.high)

    def sample(self) -> tuple[float | None, bool | None, str]:
        try:
            kind, value, text = self.get(self.url, _read_prometheus, params=self.params, timeout=self.timeout)
        except (self.requests.RequestException, deadline.Overdue) as exc:
            return None, None, f"Prometheus unreachable: {_why(exc, self.timeout)}"
        if kind != "value":
            if kind == "shape":
                text = f"the query {text}; it must aggregate to one number (e.g. with sum())"
            elif kind in ("refused", "unavailable", "other"):
                text = f"Prometheus: {text}"
            return None, None, text
        if self.low is not None and value < self.low:
            return value, False, f"{_fmt(value)} < min {_fmt(self.low)}"
        if self.high is not None and value > self.high:
            return value, False, f"{_fmt(value)} > max {_fmt(self.high)}"
        return value, True, f"{_fmt(value)} {self.condition}"


class _HTTPSampler(_Session):
    def __init__(self, spec: Mapping, session, version: str):
        super().__init__(session)
        self.url, self.timeout = spec["url"], spec["timeout"]
        self.status = spec["status"]
        self.where = spec["version"]
        self.version = version
        self.codes = "200-399" if self.status is None else ", ".join(map(str, self.status))
        self.condition = f"status in {self.codes}" + (
            f", version {version} in the {'body' if self.where == 'body' else self.where[7:] + ' header'}"
            if self.where else "")
        self.token = re.compile(r"(?<![0-9])(?<![0-9]\.)" + re.escape(version) + r"(?![0-9A-Za-z+-])(?!\.[0-9A-Za-z])") \
            if version else None

    def sample(self) -> tuple[float | None, bool | None, str]:
        def read(resp):
            return (resp.status_code, self._body(resp) if self.where == "body" else "",
                    resp.headers.get(self.where[7:]) if self.where and self.where != "body" else None)
        try:
            code, body, header = self.get(self.url, read, timeout=self.timeout, stream=True)
        except (self.requests.RequestException, deadline.Overdue) as exc:
            return None, None, f"GET failed: {_why(exc, self.timeout)}"
        good = (200 <= code < 400) if self.status is None else code in self.status
        if not good:
            return float(code), False, f"status {code} not in {self.codes}"
        if self.where == "body" and not self.token.search(body):
            return float(code), False, f"status {code}, but the body does not name version {self.version}"
        if self.where and self.where != "body" and (header or "").strip() != self.version:
            return float(code), False, f"status {code}, but header {self.where[7:]} is {_show((header or '')[:60])}, " \
                                       f"not {self.version}"
        return float(code), True, f"status {code}" + (", version matches" if self.where else "")

    def _body(self, resp) -> str:
        data = bytearray()
        for chunk in resp.iter_content(64 * 1024):
            data += chunk
            if len(data) >= MAX_BODY:
                break
        return bytes(data[:MAX_BODY]).decode("utf-8", errors="replace")


# Runs the command in its own process group; when the timeout has passed, marks the sample as timed
# out (a file only cdhelper knows) and kills that group: TERM, then KILL 2 s later. The command and
# the marker's path come through the environment, so no user text is quoted into a script.
_WATCHDOG = """set +e
c=$CDHELPER_ANALYSIS_RUN; m=$CDHELPER_ANALYSIS_TIMED_OUT
unset CDHELPER_ANALYSIS_RUN CDHELPER_ANALYSIS_TIMED_OUT
set -m
bash -eo pipefail -c "$c" &
cmd=$!
{ sleep %(timeout)s; : > "$m"; kill -TERM -- -"$cmd"; sleep 2; kill -KILL -- -"$cmd"; } >/dev/null 2>&1 &
dog=$!
set +m
wait "$cmd" 2>/dev/null; rc=$?
exec 2>/dev/null  # the command is done: bash's own "Killed" notice about the watchdog is noise
kill -KILL -- -"$dog"
wait "$dog"
exit "$rc"
"""


class _CommandSampler:
    condition = "exit status 0"

    def __init__(self, name: str, spec: Mapping, variables: Mapping, run_command, environ):
        if run_command is None:
            from cdhelper.hooks import run as run_command
        if environ is None:
            from cdhelper.hooks import environment
            environ = environment(os.environ, {})
        self.run_command, self.timeout = run_command, spec["timeout"]
        self.env = {**environ, "CD_ANALYSIS": name, "CDHELPER_ANALYSIS_RUN": spec["run"],
                    **{f"CD_{k.upper().replace('-', '_')}": str(v) for k, v in variables.items()}}
        self.script = _WATCHDOG % {"timeout": f"{self.timeout:.3f}"}

    def sample(self) -> tuple[float | None, bool | None, str]:
        with tempfile.TemporaryDirectory(prefix="cdhelper-analysis-") as scratch:
            marker = os.path.join(scratch, "timed-out")
            try:
                code = self.run_command(self.script, {**self.env, "CDHELPER_ANALYSIS_TIMED_OUT": marker})
            except (OSError, subprocess.SubprocessError) as exc:
                return None, None, f"the command could not run: {_clip(' '.join(str(exc).split()), 120)}"
            if os.path.exists(marker):
                return None, None, f"timed out after {_fmt(self.timeout)}s (killed)"
        return float(code), code == 0, f"exit status {code}"

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------------------------
# Formatting


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"within {_fmt(low)}..{_fmt(high)}"
    return f"<= {_fmt(high)}" if high is not None else f">= {_fmt(low)}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _human(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds:g}s"


def _variables() -> str:
    return ", ".join(f"{{{{{v}}}}}" for v in VARIABLES)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


