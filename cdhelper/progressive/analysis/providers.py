"""The analysis providers: what a sample measures, and what is checked before anything is written.

A provider is a class registered with `@provider` (spec.py keeps the table). It has:
- `name`, its key in cd.yml, and `keys`/`required`: its settings (analysis.schema.json says the same);
- `default_timeout`/`max_timeout` (seconds) for its `timeout` key, and `example`: a fix for a
  setting that is not a mapping;
- `settings(raw, where, timeout)`: its own checks of the settings, returning them validated;
- `sampler(analysis, spec, variables, ...)`: an object whose `sample()` returns (value, ok, detail)
  and never raises for what goes wrong while measuring, with `condition` and `close()`;
- `preflight(analysis, spec, session)`: checks before anything is written (none by default).
To add a provider: a class here and its entry in cdhelper/core/schemas/analysis.schema.json.

- prometheus: an instant query (`GET {url}/api/v1/query`); its one value must be >= `min` and
  <= `max`. Prometheus evaluates the PromQL; nothing here re-implements it.
- http: one GET (redirects are not followed); the status code must be in `status` (default
  200-399) and, with `version`, the body must name the version (as a whole word) or the header
  must equal it.
- command: bash, run through the caller's `run_command` (cdhelper.hooks.run); exit status 0
  passes. `timeout` kills it.
- compare: the canary against the stable version (Kayenta's judgement), in compare.py and judge.py.

A Prometheus or HTTP sample's `timeout` is one deadline for the whole request (deadline.py):
socket timeouts bound each read, and a server trickling a byte before each would hold a sample
for as long as it liked.

Before anything is written, `preflight` asks every Prometheus to evaluate its query with the
variables filled in: unreachable servers and rejected queries stop the rollout before it starts.
Variables are percent-encoded in URLs; commands get them as environment variables (CD_VERSION,
...), never spliced into the script.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote

from cdhelper import hooks
from cdhelper.core import deadline
from cdhelper.core.errors import ConfigError, InputError
from cdhelper.core.errors import show as _show

from . import promql
from .spec import PLACEHOLDER, PROVIDERS, Analysis, check_url, clip, fmt, provider, url_problem

MAX_QUERY = 20_000
MAX_BODY = 1 << 20                 # bytes of an HTTP body searched for the version
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class Provider:
    """What every provider has by default (see the module's docstring)."""

    name = ""
    keys: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    default_timeout = max_timeout = 0.0
    example = ""

    @staticmethod
    def preflight(analysis: Analysis, spec: Mapping, session) -> None:
        return None


@provider
class Prometheus(Provider):
    name = "prometheus"
    keys = ("url", "query", "min", "max", "timeout")
    required = ("url", "query")
    default_timeout, max_timeout = 10.0, 300.0
    example = "write `prometheus: {url: http://..., query: ..., max: ...}`"

    @staticmethod
    def settings(raw: Mapping, where: str, timeout: float) -> dict:
        url = check_url(raw["url"], f"{where} key `url`", base=True)
        query = raw["query"]
        if not isinstance(query, str) or not query.strip():
            raise ConfigError(f"{where} key `query` is {_show(query)}", "it must be a PromQL expression",
                              "write the query, e.g. sum(rate(http_requests_total{code=~\"5..\"}[1m]))")
        if len(query) > MAX_QUERY:
            raise ConfigError(f"{where} key `query` is {len(query)} characters", f"the limit is {MAX_QUERY}",
                              "shorten the query (recording rules help)")
        promql.compile_query(query, f"{where} key `query`")
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
            raise ConfigError(f"{where}: min {fmt(bounds['min'])} is above max {fmt(bounds['max'])}",
                              "no value could pass", "swap them, or correct one")
        return {"url": url, "query": query, "min": bounds.get("min"), "max": bounds.get("max"), "timeout": timeout}

    @staticmethod
    def sampler(analysis, spec, variables, session, run_command, environ):
        return _PrometheusSampler(spec, session)

    @staticmethod
    def preflight(analysis: Analysis, spec: Mapping, session) -> None:
        _preflight_prometheus(analysis, spec, session)


@provider
class HTTP(Provider):
    name = "http"
    keys = ("url", "status", "version", "timeout")
    required = ("url",)
    default_timeout, max_timeout = 5.0, 300.0
    example = "write `http: {url: https://...}`"

    @staticmethod
    def settings(raw: Mapping, where: str, timeout: float) -> dict:
        url = check_url(raw["url"], f"{where} key `url`", base=False)
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

    @staticmethod
    def sampler(analysis, spec, variables, session, run_command, environ):
        return _HTTPSampler(spec, session, str(variables.get("version", "")))


@provider
class Command(Provider):
    name = "command"
    keys = ("run", "timeout")
    required = ("run",)
    default_timeout, max_timeout = 60.0, 3600.0
    example = "write `command: {run: ./check.sh}`"

    @staticmethod
    def settings(raw: Mapping, where: str, timeout: float) -> dict:
        command = raw["run"]
        if not isinstance(command, str) or not command.strip():
            raise ConfigError(f"{where} key `run` is {_show(command)}", "it must be a bash command",
                              "write e.g. `run: ./smoke-test.sh`")
        if len(command) > MAX_QUERY:
            raise ConfigError(f"{where} key `run` is {len(command)} characters", f"the limit is {MAX_QUERY}",
                              "put the command in a script and run that")
        placeholder = PLACEHOLDER.search(command)
        if placeholder:
            var = placeholder.group(1)
            raise ConfigError(f"{where} key `run` contains `{clip(placeholder.group(0), 40)}`",
                              "values are never spliced into a command (that would let them run as code)",
                              f'read the environment variable instead, e.g. "$CD_{var.upper().replace("-", "_")}"')
        return {"run": command, "timeout": timeout}

    @staticmethod
    def sampler(analysis, spec, variables, session, run_command, environ):
        return _CommandSampler(analysis.name, spec, variables, run_command, environ)


# ----------------------------------------------------------------------------------------------
# Variables filled in


def substitute(analysis: Analysis, variables: Mapping[str, object]) -> dict:
    """The provider's settings with the variables filled in (query, URL). A variable the analysis
    uses but the caller does not provide is a ConfigError."""
    values = {k: str(v) for k, v in variables.items()}
    spec = analysis.spec
    where = f"{analysis.source}: analysis `{analysis.name}`"
    needed: set[str] = set()
    template = None
    if analysis.provider == "prometheus":
        template = promql.compile_query(spec["query"], f"{where} prometheus key `query`")
        needed |= template.variables
    if "url" in spec:
        needed |= {m.group(1) for m in PLACEHOLDER.finditer(spec["url"])}
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
            if var and context == "code" and not promql.NUMBER.fullmatch(values[var]):
                raise ConfigError(f"{where}: {{{{{var}}}}} stands outside a quoted string and its value "
                                  f"{_show(values[var])} is not a number", "there it would become PromQL of its own",
                                  f'quote it, e.g. label="{{{{{var}}}}}"')
    out = dict(spec)
    if template is not None:
        out["query"] = template.render(values)
    if "url" in spec:
        url = PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe=""), spec["url"])
        problem = url_problem(url, base=analysis.provider == "prometheus")
        if problem:
            raise ConfigError(f"{where}: the URL with its variables filled in is {_show(url)}", problem,
                              "correct the URL or the value it uses")
        out["url"] = url
    if analysis.provider == "compare":  # renders each metric's query twice, canary and baseline (compare.py)
        out["variables"] = values
    return out


# ----------------------------------------------------------------------------------------------
# Preflight



# ----------------------------------------------------------------------------------------------
# Preflight and samplers


def preflight(analyses: Iterable[Analysis], variables: Mapping[str, object], *, session=None) -> None:
    """Before anything is written: every variable an analysis uses has a value, every URL is
    well-formed, every Prometheus answers and accepts its query (evaluated with the variables filled
    in) with one number or nothing yet. Raises ConfigError for a definition Prometheus refuses (quoting
    Prometheus' own message) or a query that returns several series or a string; InputError when a
    Prometheus cannot be reached or cannot answer. HTTP targets are not contacted: the version they
    are to serve is not deployed yet."""
    import requests  # heavy: imported when used, so --help and the launcher start without it
    own = session is None
    session = session or requests.Session()
    try:
        for analysis in analyses:
            PROVIDERS[analysis.provider].preflight(analysis, substitute(analysis, variables), session)
    finally:
        if own:
            session.close()


def _preflight_prometheus(analysis: Analysis, spec: Mapping, session) -> None:
    import requests  # heavy: imported when used, so --help and the launcher start without it
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
            return "other", None, f"it redirects (HTTP {code}) to {clip(resp.headers.get('Location', '?'), 80)}"
        return "other", None, f"HTTP {code} for /api/v1/query, without Prometheus' JSON answer"
    if body["status"] == "error":
        error_type, error = str(body.get("errorType", "")), clip(" ".join(str(body.get("error", "")).split()), 300)
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
        return "other", None, f"unexpected result type {clip(str(kind), 30)}"
    try:
        value = float(sample[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return "other", None, "the answer holds no sample value"
    if not math.isfinite(value):
        return "no-number", None, f"{sample[1]} is not a number to compare"
    return "value", value, ""


def _why(exc: Exception, timeout: float) -> str:
    import requests  # heavy: imported when used, so --help and the launcher start without it
    if isinstance(exc, (requests.Timeout, deadline.Overdue)):
        return f"no answer within {fmt(timeout)}s"
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



def sampler(analysis: Analysis, spec: Mapping, variables: Mapping, session, run_command, environ):
    """The sampler of the analysis' provider, its settings `spec` with the variables filled in."""
    if analysis.provider not in PROVIDERS:
        raise ConfigError(f"{analysis.source}: analysis `{analysis.name}` has provider {_show(analysis.provider)}",
                          f"the providers are {', '.join(PROVIDERS)}", "use one of them")
    return PROVIDERS[analysis.provider].sampler(analysis, spec, variables, session, run_command, environ)


class _Session:
    """The caller's requests.Session, or our own (closed at the end). Every sample sends the same
    request, so it is prepared, and the environment's settings (proxies, CA bundle) are read, once
    per run rather than per sample: that was half of the helper's CPU time per sample."""

    def __init__(self, session):
        import requests  # heavy: imported when used, so --help and the launcher start without it
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
            return value, False, f"{fmt(value)} < min {fmt(self.low)}"
        if self.high is not None and value > self.high:
            return value, False, f"{fmt(value)} > max {fmt(self.high)}"
        return value, True, f"{fmt(value)} {self.condition}"


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
            run_command = hooks.run
        if environ is None:
            environ = hooks.environment(os.environ, {})
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
                return None, None, f"the command could not run: {clip(' '.join(str(exc).split()), 120)}"
            if os.path.exists(marker):
                return None, None, f"timed out after {fmt(self.timeout)}s (killed)"
        return float(code), code == 0, f"exit status {code}"

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------------------------
# Formatting



def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"within {fmt(low)}..{fmt(high)}"
    return f"<= {fmt(high)}" if high is not None else f">= {fmt(low)}"
