"""The `compare` provider: the canary judged against the stable version it runs beside.

Each sample reads every metric's PromQL twice over the same window (a range query ending now, one
value per `step`): with `{{version}}` the version being rolled out (the canary), then with
`{{version}}` the stable version (CD_PREVIOUS_VERSION: what the environment ran before this
rollout). judge.py classifies each metric (Mann-Whitney U at `confidence`, `direction`,
`tolerance`) and scores the share that pass against `pass` and `marginal`, as Kayenta does:

- score >= pass: the sample passes; score < marginal: it fails;
- in between (marginal), a metric with too few values, or a Prometheus that does not answer: the
  sample has no value (neither a pass nor a failure; decide.py's min-samples decides what follows).

A first rollout has no stable version: `without-baseline: inconclusive` (the default) gives samples
without a value, so the analysis is inconclusive and nothing is judged to have passed;
`without-baseline: pass` lets such a sample pass, saying why. Either way the reason is recorded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from cdhelper.core import deadline
from cdhelper.core.errors import ConfigError
from cdhelper.core.errors import show as _show

from . import judge, promql, providers
from .spec import NAME, check_url, clip, fmt, parse_duration, provider

MAX_METRICS = 20
MAX_POINTS = 11_000               # Prometheus refuses a range query of more points per series
BASELINE_VARIABLE = "CD_PREVIOUS_VERSION"


@provider
class Compare(providers.Provider):
    name = "compare"
    keys = ("url", "metrics", "window", "step", "confidence", "pass", "marginal", "without-baseline", "timeout")
    required = ("url", "metrics")
    default_timeout, max_timeout = 10.0, 300.0
    example = "write `compare: {url: http://..., metrics: {latency: {query: ..., direction: increase}}}`"

    @staticmethod
    def settings(raw: Mapping, where: str, timeout: float) -> dict:
        url = check_url(raw["url"], f"{where} key `url`", base=True)
        window = parse_duration(raw.get("window", "5m"), what=f"{where} key `window`")
        step = parse_duration(raw.get("step", "10s"), what=f"{where} key `step`")
        points = int(window // step) + 1
        if points < judge.MIN_POINTS or points > MAX_POINTS:
            raise ConfigError(f"{where}: window {fmt(window)}s at step {fmt(step)}s gives {points} values per series",
                              f"the judgement needs {judge.MIN_POINTS} to {MAX_POINTS}",
                              "widen the window or shorten the step (e.g. window: 5m, step: 10s)")
        confidence = _number(raw, "confidence", where, 98.0, 50.0, 100.0, "a percent above 50 and below 100, e.g. 98",
                             open_high=True)
        pass_ = _number(raw, "pass", where, 95.0, 0.0, 100.0, "a score from 0 to 100, e.g. 95")
        marginal = _number(raw, "marginal", where, 75.0, 0.0, 100.0, "a score from 0 to 100, e.g. 75")
        if marginal > pass_:
            raise ConfigError(f"{where}: marginal {fmt(marginal)} is above pass {fmt(pass_)}",
                              "a score below marginal fails and one at pass or above passes",
                              "lower marginal to at most pass")
        without = raw.get("without-baseline", "inconclusive")
        if without not in ("inconclusive", "pass"):
            raise ConfigError(f"{where} key `without-baseline` is {_show(without)}",
                              "it says what a first rollout (no stable version to compare with) gets",
                              "write `without-baseline: inconclusive` or `without-baseline: pass`")
        metrics = raw["metrics"]
        if not isinstance(metrics, Mapping) or not metrics or len(metrics) > MAX_METRICS:
            raise ConfigError(f"{where} key `metrics` is {_show(metrics)}",
                              f"it is a mapping of 1 to {MAX_METRICS} named metrics",
                              "write e.g. `metrics: {latency: {query: ..., direction: increase}}`")
        return {"url": url, "window": window, "step": step, "confidence": confidence, "pass": pass_,
                "marginal": marginal, "without-baseline": without, "timeout": timeout,
                "metrics": {name: _metric(name, spec, f"{where} metric") for name, spec in metrics.items()}}

    @staticmethod
    def sampler(analysis, spec, variables, session, run_command, environ):
        return _CompareSampler(analysis, spec, variables, session)

    @staticmethod
    def preflight(analysis, spec: Mapping, session) -> None:
        """Every metric's query, filled in for the version being rolled out, is evaluated once."""
        for metric in spec["metrics"].values():
            query = _render(analysis, metric["query"], spec["variables"])
            providers._preflight_prometheus(analysis, {"url": spec["url"], "query": query,
                                                       "timeout": spec["timeout"]}, session)


def _metric(name: object, raw: object, where: str) -> dict:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(f"{where} name {_show(name)} is not allowed",
                          "names are 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit",
                          "rename it, e.g. latency")
    where = f"{where} `{name}`"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} is {_show(raw)}", "a metric is a mapping with `query`",
                          "write e.g. `{query: ..., direction: increase, tolerance: 10}`")
    unknown = [str(k) for k in raw if k not in ("query", "direction", "tolerance")]
    if unknown:
        raise ConfigError(f"{where}: unknown key `{clip(unknown[0], 40)}`", "allowed here: query, direction, tolerance",
                          "remove or rename the key")
    query = raw.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ConfigError(f"{where} key `query` is {_show(query)}", "it must be a PromQL expression using {{version}}",
                          'write e.g. avg(rate(latency_sum{version="{{version}}"}[1m]))')
    if len(query) > providers.MAX_QUERY:
        raise ConfigError(f"{where} key `query` is {len(query)} characters", f"the limit is {providers.MAX_QUERY}",
                          "shorten the query (recording rules help)")
    if "version" not in promql.compile_query(query, f"{where} key `query`").variables:
        raise ConfigError(f"{where} key `query` does not use {{{{version}}}}",
                          "the canary and the stable version would read the same series",
                          'select the version with it, e.g. {version="{{version}}"}')
    direction = raw.get("direction", "either")
    if direction not in judge.DIRECTIONS:
        raise ConfigError(f"{where} key `direction` is {_show(direction)}",
                          "it says which change of the metric is bad", "write increase, decrease or either")
    tolerance = _number(raw, "tolerance", where, 0.0, 0.0, 1000.0, "a percent from 0 to 1000, e.g. 10")
    return {"query": query, "direction": direction, "tolerance": tolerance}


def _number(raw: Mapping, key: str, where: str, default: float, low: float, high: float, fix: str, *,
            open_high: bool = False) -> float:
    value = raw.get(key, default)
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or value < low or value > high or (open_high and value >= high) or (key == "confidence" and value <= low):
        raise ConfigError(f"{where} key `{key}` is {_show(value)}", f"it must be {fix.split(', e.g.')[0]}",
                          f"write {fix}")
    return float(value)


def _render(analysis, query: str, values: Mapping[str, object]) -> str:
    """`query` with its variables filled in (escaped by promql.py); a missing one is a ConfigError."""
    where = f"{analysis.source}: analysis `{analysis.name}` compare query"
    template = promql.compile_query(query, where)
    values = {k: str(v) for k, v in values.items()}
    missing = sorted(v for v in template.variables if v not in values)
    if missing:
        raise ConfigError(f"{where} uses {{{{{missing[0]}}}}}, which has no value here",
                          f"the values given are: {', '.join(sorted(values)) or 'none'}",
                          "use only the variables this strategy sets (version, environment; weight for canary)")
    for _, var, context, _ in template.parts:
        if var and context == "code" and not promql.NUMBER.fullmatch(values[var]):
            raise ConfigError(f"{where}: {{{{{var}}}}} stands outside a quoted string and its value "
                              f"{_show(values[var])} is not a number", "there it would become PromQL of its own",
                              f'quote it, e.g. label="{{{{{var}}}}}"')
    return template.render(values)


class _CompareSampler:
    def __init__(self, analysis, spec: Mapping, variables: Mapping, session):
        import requests  # heavy: imported when used, so --help and the launcher start without it
        self.requests = requests
        self.own = session is None
        self.session = session or requests.Session()
        self.spec = spec
        self.url = spec["url"].rstrip("/") + "/api/v1/query_range"
        self.canary = str(variables.get("version", ""))
        self.baseline = str(variables.get(BASELINE_VARIABLE, ""))
        self.queries = {}
        for name, metric in spec["metrics"].items():
            canary = _render(analysis, metric["query"], variables)
            baseline = _render(analysis, metric["query"], {**variables, "version": self.baseline})
            self.queries[name] = (canary, baseline)
        self.condition = (f"{self.canary} against {self.baseline or 'no stable version'}: score >= pass "
                          f"{fmt(spec['pass'])} (fails below marginal {fmt(spec['marginal'])}), confidence "
                          f"{fmt(spec['confidence'])}%, window {fmt(spec['window'])}s")

    def sample(self) -> tuple[float | None, bool | None, str]:
        if not self.baseline:
            why = "no stable version to compare with (a first rollout)"
            if self.spec["without-baseline"] == "pass":
                return None, True, why + ": passed by without-baseline: pass"
            return None, None, why + ": inconclusive (without-baseline: inconclusive)"
        end = time.time()
        start = end - self.spec["window"]
        judged = []
        for name, (canary_query, baseline_query) in self.queries.items():
            series = []
            for query in (canary_query, baseline_query):
                values, problem = self._range(query, start, end)
                if problem:
                    return None, None, f"{name}: {problem}"
                series.append(values)
            metric = self.spec["metrics"][name]
            judged.append(judge.classify(name, series[0], series[1], direction=metric["direction"],
                                         tolerance=metric["tolerance"], confidence=self.spec["confidence"]))
        verdict = judge.score(judged, pass_=self.spec["pass"], marginal=self.spec["marginal"])
        ok = {"pass": True, "fail": False}.get(verdict.outcome)
        return verdict.score, ok, verdict.detail

    def _range(self, query: str, start: float, end: float) -> tuple[list[float], str]:
        """The values of the query's one series over [start, end], or why there are none."""
        timeout = self.spec["timeout"]
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{self.spec['step']:g}"}

        def fetch():
            with self.session.get(self.url, params=params, timeout=timeout, allow_redirects=False) as resp:
                try:
                    return resp.status_code, resp.json()
                except ValueError:
                    return resp.status_code, None
        try:
            code, body = deadline.call_by(time.monotonic() + timeout, fetch, name="cdhelper-compare")
        except (self.requests.RequestException, deadline.Overdue) as exc:
            return [], f"Prometheus unreachable: {providers._why(exc, timeout)}"
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else "not JSON"
            return [], f"Prometheus: HTTP {code}: {clip(str(error), 200)}"
        data = body.get("data") or {}
        result = data.get("result") if data.get("resultType") == "matrix" else None
        if not isinstance(result, list):
            return [], "Prometheus: the answer is not a range of values"
        if len(result) > 1:
            return [], f"the query returns {len(result)} series; it must aggregate to one (e.g. with sum())"
        values = []
        for point in (result[0].get("values") or []) if result else []:
            try:
                values.append(float(point[1]))
            except (TypeError, ValueError, IndexError):
                continue
        return values, ""

    def close(self) -> None:
        if self.own:
            self.session.close()
