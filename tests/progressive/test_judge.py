"""The canary judged against its baseline: judge.py (Mann-Whitney U, Kayenta's classification and
score) and the `compare` analysis (compare.py) through a loopback Prometheus answering range queries,
up to a canary step of a rollout."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import yaml
from scipy.stats import mannwhitneyu

from cdhelper.core import config as cd_config
from cdhelper.core.errors import ConfigError, RolledBack
from cdhelper.deploy import cd_yml
from cdhelper.progressive import analysis, rollout, strategies
from cdhelper.progressive.analysis import judge, parse, preflight, run

SCHEMA = json.loads((Path(analysis.__file__).parents[2] / "core" / "schemas" / "analysis.schema.json").read_text())
QUERY = 'avg(request_seconds{version="{{version}}"})'


def latencies(rng: random.Random, n: int, scale: float = 1.0, spread: float = 0.3) -> list[float]:
    """Request latencies (log-normal, median 0.1 s), `scale` times slower. A series of averages
    over many requests (what a range query returns) spreads less: `spread` 0.1."""
    return [scale * rng.lognormvariate(-2.3, spread) for _ in range(n)]


# ----------------------------------------------------------------------------------------------
# Mann-Whitney U against scipy


@pytest.mark.parametrize("seed", range(12))
def test_u_and_p_values_match_scipy_asymptotic(seed):
    rng = random.Random(seed)
    n1, n2 = rng.randint(5, 400), rng.randint(5, 400)
    shift = rng.choice([0.0, 0.1, 0.3])
    if seed % 3 == 0:  # many ties: values rounded to a coarse grid
        canary = [round(rng.gauss(10 + shift, 1), 0) for _ in range(n1)]
        baseline = [round(rng.gauss(10, 1), 0) for _ in range(n2)]
    else:
        canary, baseline = latencies(rng, n1, 1 + shift), latencies(rng, n2)
    test = judge.mann_whitney(canary, baseline)
    for alternative, p in (("two-sided", test.p_two_sided), ("greater", test.p_greater), ("less", test.p_less)):
        reference = mannwhitneyu(canary, baseline, alternative=alternative, method="asymptotic")
        assert test.u == pytest.approx(reference.statistic, abs=1e-9)
        assert p == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-15), alternative


def test_all_values_equal_tells_nothing_apart():
    test = judge.mann_whitney([3.0] * 7, [3.0] * 9)
    assert (test.p_greater, test.p_less, test.p_two_sided) == (1.0, 1.0, 1.0)
    assert judge.classify("m", [3.0] * 7, [3.0] * 9).classification == "pass"


# ----------------------------------------------------------------------------------------------
# Calibration and classification


@pytest.mark.parametrize("direction, allowed", [("either", 2.0), ("increase", 1.0)])
def test_an_aa_run_fails_no_more_often_than_the_confidence_level_allows(direction, allowed):
    # 400 comparisons of the stable version with itself (the same distribution on both sides), 60
    # values each. At 98% the expected false failures are 2% for either direction (1% per side);
    # the bound is that rate plus three binomial standard deviations.
    rng = random.Random(20261208)
    runs = 400
    failures = sum(judge.classify("latency", latencies(rng, 60), latencies(rng, 60), direction=direction,
                                  confidence=98).classification != "pass" for _ in range(runs))
    p = allowed / 100
    assert failures <= runs * p + 3 * (runs * p * (1 - p)) ** 0.5, f"{failures} of {runs} A/A runs failed"


def test_a_canary_30_percent_slower_fails_and_an_equal_one_passes():
    rng = random.Random(7)
    baseline = latencies(rng, 60)
    slow = judge.classify("latency", latencies(rng, 60, 1.3), baseline, direction="increase")
    equal = judge.classify("latency", latencies(rng, 60), baseline, direction="increase")
    assert slow.classification == "high"
    assert "+" in slow.detail and slow.p < 0.01
    assert equal.classification == "pass"


def test_direction_says_which_change_is_bad():
    rng = random.Random(8)
    baseline = latencies(rng, 60)
    slower, faster = latencies(rng, 60, 1.3), latencies(rng, 60, 0.7)
    assert judge.classify("m", slower, baseline, direction="decrease").classification == "pass"
    assert judge.classify("m", faster, baseline, direction="increase").classification == "pass"
    assert judge.classify("m", faster, baseline, direction="decrease").classification == "low"
    assert judge.classify("m", slower, baseline, direction="either").classification == "high"
    assert judge.classify("m", faster, baseline, direction="either").classification == "low"


def test_tolerance_allows_that_much_worse_a_median():
    rng = random.Random(9)
    baseline, slower = latencies(rng, 200), latencies(rng, 200, 1.2)
    assert judge.classify("m", slower, baseline, direction="increase").classification == "high"
    assert judge.classify("m", slower, baseline, direction="increase", tolerance=10).classification == "high"
    within = judge.classify("m", slower, baseline, direction="increase", tolerance=40)
    assert within.classification == "pass" and "40% allowed" in within.detail


def test_too_few_values_or_nan_only_is_nodata_never_a_pass():
    assert judge.classify("m", [1.0] * 4, [1.0] * 10).classification == "nodata"
    assert judge.classify("m", [float("nan")] * 10, [1.0] * 10).classification == "nodata"
    verdict = judge.score([judge.classify("m", [], [1.0] * 10)])
    assert verdict.outcome == "nodata" and verdict.score is None


def _metrics(passing: int, failing: int) -> list[judge.Metric]:
    return [judge.Metric(f"p{i}", "pass", 1, 1, 0.5, "p") for i in range(passing)] + \
           [judge.Metric(f"f{i}", "high", 2, 1, 0.001, "f") for i in range(failing)]


@pytest.mark.parametrize("passing, failing, pass_, marginal, outcome", [
    (4, 0, 95, 75, "pass"),
    (3, 1, 95, 75, "marginal"),     # 75: not below marginal, below pass
    (3, 1, 95, 80, "fail"),
    (3, 1, 75, 50, "pass"),
    (1, 3, 95, 75, "fail"),
    (0, 1, 0, 0, "pass"),           # thresholds at 0: everything passes, as configured
])
def test_the_score_is_the_share_of_metrics_that_pass_against_pass_and_marginal(passing, failing, pass_, marginal,
                                                                               outcome):
    verdict = judge.score(_metrics(passing, failing), pass_=pass_, marginal=marginal)
    assert verdict.score == pytest.approx(100 * passing / (passing + failing))
    assert verdict.outcome == outcome


# ----------------------------------------------------------------------------------------------
# cd.yml: the compare analysis


GOOD_COMPARE = {"url": "http://127.0.0.1:9090", "metrics": {"latency": {"query": QUERY, "direction": "increase"}}}

BAD = [
    ("no metrics", {"compare": {"url": "http://127.0.0.1:9090"}}, "has no `metrics`", True),
    ("empty metrics", {"compare": {**GOOD_COMPARE, "metrics": {}}}, "key `metrics` is", True),
    ("query without version", {"compare": {**GOOD_COMPARE, "metrics": {"l": {"query": "avg(x)"}}}},
     "does not use {{version}}", True),
    ("bad direction", {"compare": {**GOOD_COMPARE, "metrics": {"l": {"query": QUERY, "direction": "up"}}}},
     "key `direction` is", True),
    ("negative tolerance", {"compare": {**GOOD_COMPARE, "metrics": {"l": {"query": QUERY, "tolerance": -5}}}},
     "key `tolerance` is -5", True),
    ("unknown metric key", {"compare": {**GOOD_COMPARE, "metrics": {"l": {"query": QUERY, "max": 1}}}},
     "unknown key `max`", True),
    ("confidence 100", {"compare": {**GOOD_COMPARE, "confidence": 100}}, "key `confidence` is 100", True),
    ("confidence as a fraction", {"compare": {**GOOD_COMPARE, "confidence": 0.98}}, "key `confidence` is 0.98", True),
    ("marginal above pass", {"compare": {**GOOD_COMPARE, "pass": 60, "marginal": 80}}, "marginal 80 is above pass 60",
     False),
    ("pass above 100", {"compare": {**GOOD_COMPARE, "pass": 101}}, "key `pass` is 101", True),
    ("bad without-baseline", {"compare": {**GOOD_COMPARE, "without-baseline": "fail"}}, "`without-baseline` is", True),
    ("too few points", {"compare": {**GOOD_COMPARE, "window": "30s", "step": "10s"}}, "gives 4 values per series",
     False),
    ("unknown variable", {"compare": {**GOOD_COMPARE, "metrics": {"l": {"query": 'x{v="{{version}}",a="{{nope}}"}'}}}},
     "{{nope}}", False),
    ("compare and prometheus", {"compare": GOOD_COMPARE, "prometheus": {"url": "http://x", "query": "q", "max": 1}},
     "exactly one provider", True),
]


@pytest.mark.parametrize("case, raw, words, schema_too", BAD, ids=[b[0] for b in BAD])
def test_bad_compare_definitions_are_one_line_config_errors(case, raw, words, schema_too):
    with pytest.raises(ConfigError) as caught:
        parse("judge", raw, source="cd.yml")
    text = str(caught.value)
    assert words in text and "\n" not in text and "cd.yml: analysis `judge`" in text
    if schema_too:
        assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(raw), f"the schema accepts {case}"


def test_a_compare_definition_passes_parse_and_the_schema_with_kayentas_defaults():
    raw = {"compare": {**GOOD_COMPARE, "window": "2m", "step": "5s", "without-baseline": "pass",
                       "metrics": {"latency": {"query": QUERY, "direction": "increase", "tolerance": 10},
                                   "errors": {"query": 'sum(rate(errors_total{version="{{version}}"}[1m]))'}}},
           "count": 3, "interval": "1m"}
    jsonschema.Draft202012Validator(SCHEMA).validate(raw)
    spec = parse("judge", raw, source="cd.yml").spec
    assert (spec["confidence"], spec["pass"], spec["marginal"]) == (98.0, 95.0, 75.0)
    assert spec["metrics"]["errors"] == {"query": raw["compare"]["metrics"]["errors"]["query"], "direction": "either",
                                         "tolerance": 0.0}
    assert (spec["window"], spec["step"], spec["without-baseline"]) == (120.0, 5.0, "pass")


# ----------------------------------------------------------------------------------------------
# The compare analysis against a loopback Prometheus


class RangePrometheus:
    """Answers /api/v1/query_range with one series per version (the value of the query's version
    label), /api/v1/query with one number; records every query."""

    def __init__(self, series: dict[str, list[float]]):
        self.series = series
        self.queries: list[tuple[str, dict]] = []
        prom = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                prom.queries.append((parts.path, params))
                version = params["query"].split('version="', 1)[1].split('"', 1)[0]
                values = prom.series.get(version, [])
                if parts.path.endswith("/query_range"):
                    result = [{"metric": {}, "values": [[1000 + i, str(v)] for i, v in enumerate(values)]}] \
                        if values else []
                    data = {"resultType": "matrix", "result": result}
                else:
                    data = {"resultType": "vector", "result": [{"metric": {}, "value": [1000, "0.1"]}]}
                body = json.dumps({"status": "success", "data": data}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def prom():
    rng = random.Random(11)
    server = RangePrometheus({"1.0.0": latencies(rng, 31, spread=0.1), "2.0.0-slow": latencies(rng, 31, 1.3, 0.1),
                              "2.0.0-same": latencies(rng, 31, spread=0.1)})
    yield server
    server.stop()


def compare(prom: RangePrometheus, **settings) -> analysis.Analysis:
    return parse("latency-vs-stable", {"compare": {"url": prom.url, "metrics": {"latency": {
        "query": QUERY, "direction": "increase"}}, **settings}}, source="cd.yml")


def test_a_slower_canary_fails_against_the_stable_version_over_the_same_window(prom):
    result = run(compare(prom), {"version": "2.0.0-slow", "environment": "prod", "CD_PREVIOUS_VERSION": "1.0.0"})
    assert result.outcome == "failed"
    assert "latency" in result.reason and "score 0 < marginal 75" in result.reason
    ranges = [q for path, q in prom.queries if path == "/api/v1/query_range"]
    assert [q["query"] for q in ranges] == ['avg(request_seconds{version="2.0.0-slow"})',
                                            'avg(request_seconds{version="1.0.0"})']
    assert ranges[0]["start"] == ranges[1]["start"] and ranges[0]["end"] == ranges[1]["end"]
    assert float(ranges[0]["end"]) - float(ranges[0]["start"]) == pytest.approx(300) and ranges[0]["step"] == "10"


def test_an_equal_canary_passes(prom):
    result = run(compare(prom), {"version": "2.0.0-same", "environment": "prod", "CD_PREVIOUS_VERSION": "1.0.0"})
    assert result.outcome == "passed", result.reason
    assert result.measurements[0].value == 100


def test_a_first_rollout_without_a_stable_version_is_inconclusive_or_passes_as_configured(prom):
    variables = {"version": "2.0.0-slow", "environment": "prod", "CD_PREVIOUS_VERSION": ""}
    result = run(compare(prom), variables)
    assert result.outcome == "inconclusive" and "no stable version to compare with" in result.reason
    allowed = run(compare(prom, **{"without-baseline": "pass"}), variables)
    assert allowed.outcome == "passed" and "passed by without-baseline: pass" in allowed.measurements[0].detail
    assert not prom.queries  # nothing to compare: nothing asked


def test_a_stable_version_without_data_leaves_the_sample_without_a_value(prom):
    result = run(compare(prom), {"version": "2.0.0-same", "environment": "prod", "CD_PREVIOUS_VERSION": "0.9.0"})
    assert result.outcome == "inconclusive" and "too few values (canary 31, baseline 0" in result.reason


def test_preflight_evaluates_each_metric_for_the_version_being_rolled_out(prom):
    preflight([compare(prom)], {"version": "2.0.0-slow", "environment": "prod"})
    assert prom.queries == [("/api/v1/query", {"query": 'avg(request_seconds{version="2.0.0-slow"})'})]


def test_a_canary_step_judged_against_its_baseline_rolls_back_the_slower_version(prom):
    plan = strategies.Plan("canary", steps=(strategies.Step("weight", weight=50, analysis=("latency-vs-stable",)),
                                            strategies.Step("weight", weight=100)))
    cd_vars = {"CD_VERSION": "2.0.0-slow", "CD_ENVIRONMENT": "prod", "CD_DIGEST": "sha256:" + "a" * 64,
               "CD_PREVIOUS_VERSION": "1.0.0"}
    commands = {"deploy": "true", "shift-traffic": "true", "teardown": "true"}
    lines: list[str] = []
    with pytest.raises(RolledBack) as caught:
        rollout.run(plan=plan, commands=commands, cd_vars=cd_vars, token="t", analyses={"latency-vs-stable": compare(prom)},
                    report=lines.append, log=lines.append, sleep=lambda s: None)
    assert "latency-vs-stable failed" in str(caught.value) and "back on 1.0.0" in str(caught.value)
    passed = rollout.run(plan=plan, commands=commands, cd_vars={**cd_vars, "CD_VERSION": "2.0.0-same"}, token="t",
                         analyses={"latency-vs-stable": compare(prom)}, report=lines.append, log=lines.append,
                         sleep=lambda s: None)
    assert passed.state == "success"


def test_a_cd_yml_whose_canary_step_uses_a_compare_analysis_loads():
    text = f"""
version: 1
environments:
  - name: production
    strategy:
      canary:
        steps:
          - weight: 20
            analysis: [latency-vs-stable]
          - weight: 100
    hooks: {{deploy: ./deploy.sh, shift-traffic: ./shift.sh}}
analysis:
  latency-vs-stable:
    compare:
      url: http://127.0.0.1:9090
      metrics:
        latency: {{query: '{QUERY}', direction: increase, tolerance: 10}}
    initial-delay: 5m
"""
    loaded = cd_yml.from_dict(yaml.safe_load(text), source="cd.yml")
    assert loaded.analyses["latency-vs-stable"].provider == "compare"
    assert loaded.environments[0].plan.steps[0].analysis == ("latency-vs-stable",)
    jsonschema.Draft202012Validator(cd_config.schema()).validate(yaml.safe_load(text))
