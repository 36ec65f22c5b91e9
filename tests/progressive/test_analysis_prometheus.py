"""Analysis against a real Prometheus (Debian's prometheus package): the query is Prometheus' to
evaluate, the refusal is Prometheus' own message, and Prometheus going away fails closed.

Prometheus scrapes a tiny text-format endpoint served here every second. Skipped when the binary
is missing, unless CDHELPER_REQUIRE_PROGRESSIVE=1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from cdhelper.core.errors import ConfigError, InputError
from cdhelper.progressive.analysis import parse, preflight, run
from tests.progressive.test_analysis import Trickler

INSTALL = "apt-get install -y --no-install-recommends prometheus"

# Two versions: 1.2.3 healthy (0 of 1000 requests failed), 2.0.0 failing (200 of 1000), and a
# decoy 1x2x3 that an unescaped regular expression for 1.2.3 would also match.
METRICS = """# HELP cd_test_requests_total Requests served, by version and status code.
# TYPE cd_test_requests_total counter
cd_test_requests_total{version="1.2.3",code="200"} 1000
cd_test_requests_total{version="1.2.3",code="500"} 0
cd_test_requests_total{version="2.0.0",code="200"} 800
cd_test_requests_total{version="2.0.0",code="500"} 200
cd_test_requests_total{version="1x2x3",code="200"} 1
cd_test_requests_total{version="1x2x3",code="500"} 99
"""
ERROR_RATE = ('sum(cd_test_requests_total{version="{{version}}",code=~"5.."})'
              ' / sum(cd_test_requests_total{version="{{version}}"})')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary() -> str:
    path = shutil.which("prometheus")
    if not path:
        if os.environ.get("CDHELPER_REQUIRE_PROGRESSIVE") == "1":
            pytest.fail(f"prometheus is not installed and CDHELPER_REQUIRE_PROGRESSIVE=1; install it: {INSTALL}")
        pytest.skip(f"prometheus is not installed ({INSTALL})")
    return path


class Prometheus:
    """A Prometheus of our own on loopback, optionally scraping `target` every second."""

    def __init__(self, work: Path, target: str | None = None):
        program = binary()
        work.mkdir(parents=True, exist_ok=True)
        scrape = (f"scrape_configs:\n  - job_name: app\n    scrape_interval: 1s\n"
                  f"    static_configs: [{{targets: ['{target}']}}]\n") if target else "scrape_configs: []\n"
        (work / "prometheus.yml").write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n" + scrape)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(work / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [program, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"], stdout=self.log, stderr=subprocess.STDOUT)

    def wait_for(self, query: str, *, seconds: float = 20) -> None:
        """Until `query` answers with at least one series (`up` first: Prometheus is ready)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited with {self.proc.returncode}: {self.tail()}")
            try:
                body = requests.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=2).json()
                if body.get("status") == "success" and body["data"]["result"]:
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.1)
        pytest.fail(f"prometheus did not answer {query!r} within {seconds} s: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-800:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def app():
    """The text-format endpoint Prometheus scrapes."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            data = METRICS.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def prometheus(app, tmp_path_factory):
    binary()
    prom = Prometheus(tmp_path_factory.mktemp("prometheus"), target=app)
    try:
        prom.wait_for('up{job="app"} == 1')
        prom.wait_for("cd_test_requests_total")
        yield prom
    finally:
        prom.stop()


def instant(prom: Prometheus, query: str) -> float:
    body = requests.get(f"{prom.url}/api/v1/query", params={"query": query}, timeout=5).json()
    return float(body["data"]["result"][0]["value"][1])


def error_rate(url: str, query: str = ERROR_RATE, **sampling):
    return parse("error-rate", {"prometheus": {"url": url, "query": query, "max": 0.05},
                                "interval": "200ms", "count": 3, **sampling}, source=".github/cd.yml")


def test_the_served_counter_passes_for_the_healthy_version(prometheus):
    a = error_rate(prometheus.url)
    preflight([a], {"version": "1.2.3"})
    result = run(a, {"version": "1.2.3"})
    assert result.outcome == "passed", result.reason
    assert [m.value for m in result.measurements] == [0, 0, 0]


def test_the_served_counter_fails_the_failing_version_at_the_first_sample(prometheus):
    a = error_rate(prometheus.url, count=10, interval="5s")
    preflight([a], {"version": "2.0.0"})
    start = time.monotonic()
    result = run(a, {"version": "2.0.0"})
    assert time.monotonic() - start < 3  # decided at the first sample, no 5 s interval waited
    assert result.outcome == "failed" and len(result.measurements) == 1
    assert result.measurements[0].value == pytest.approx(0.2)
    assert result.measurements[0].detail == "0.2 > max 0.05"


def test_a_value_cannot_break_out_of_the_promql_string(prometheus):
    """Unescaped, this version would end the label string and add `or vector(1)` (value 1: fail)."""
    a = error_rate(prometheus.url, query='sum(cd_test_requests_total{version="{{version}}"}) > 0 or vector(0)',
                   count=1)
    evil = 'nope"}) > 0 or vector(1) #'
    spliced = a.spec["query"].replace("{{version}}", evil)
    assert instant(prometheus, spliced) == 1  # what splicing without escaping would measure
    preflight([a], {"version": evil})  # still one valid query
    result = run(a, {"version": evil})
    assert result.passed() and result.measurements[0].value == 0, result.reason


def test_a_value_in_a_regular_expression_matches_only_itself(prometheus):
    """`1.2.3` unescaped after =~ would also match the decoy version 1x2x3, which has errors."""
    a = error_rate(prometheus.url, query='sum(cd_test_requests_total{version=~"{{version}}",code=~"5.."})', count=1)
    assert instant(prometheus, a.spec["query"].replace("{{version}}", "1.2.3")) == 99  # unescaped: the decoy too
    result = run(a, {"version": "1.2.3"})
    assert result.passed() and result.measurements[0].value == 0, result.reason


def test_preflight_quotes_prometheus_refusing_bad_promql(prometheus):
    a = error_rate(prometheus.url, query="sum(rate(x[5m])")
    with pytest.raises(ConfigError) as exc:
        preflight([a], {"version": "1.2.3"})
    line = exc.value.one_line()
    assert line.startswith(f".github/cd.yml: analysis `error-rate`: Prometheus at {prometheus.url} refuses the query: "
                           "bad_data: invalid parameter \"query\": ")
    assert "parse error: unclosed left parenthesis" in line and "\n" not in line


def test_preflight_refuses_a_query_that_returns_several_series(prometheus):
    a = error_rate(prometheus.url, query='cd_test_requests_total{code="200"}')
    with pytest.raises(ConfigError) as exc:
        preflight([a], {})
    assert "the query returns 3 series: a sample is one number. Fix: aggregate it" in exc.value.one_line()


def test_preflight_names_an_unreachable_prometheus():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(InputError) as exc:
        preflight([error_rate(url)], {"version": "1.2.3"})
    assert exc.value.one_line() == (f"Prometheus at {url} is unreachable (analysis `error-rate`): connection refused. "
                                    "Fix: start Prometheus there, or correct analysis.error-rate.prometheus.url in "
                                    ".github/cd.yml")


def test_prometheus_stopping_mid_run_leaves_samples_without_value_and_fails_closed(tmp_path):
    """A Prometheus of its own (no scrape needed: vector(0) is evaluated without data), stopped
    right after the first sample."""
    prom = Prometheus(tmp_path / "prometheus")
    try:
        prom.wait_for("vector(1)")
        a = error_rate(prom.url, query="sum(vector(0))", count=5, interval="100ms", **{"min-samples": 3})
        preflight([a], {})
        result = run(a, {}, on_measurement=lambda m: prom.stop() if m.ok else None)
    finally:
        prom.stop()
    assert result.outcome == "inconclusive" and not result.passed()
    assert [m.value for m in result.measurements] == [0, None, None, None]  # 1 + 1 left < 3: decided
    assert all(m.detail.startswith("Prometheus unreachable: ") for m in result.measurements[1:])
    assert "1 of 4 samples had a value, min-samples is 3" in result.reason


def test_a_prometheus_trickling_its_answer_ends_the_sample_at_its_timeout():
    """A byte every 0.2 s never lets a read time out (it held one sample 42 s with `timeout: 1s`):
    one deadline per sample, for connect and read, ends it like a timeout, without a value."""
    trickler = Trickler()
    try:
        a = parse("error-rate", {"prometheus": {"url": trickler.url, "query": "up", "max": 1, "timeout": "1s"},
                                 "interval": "200ms", "count": 2, "min-samples": 1}, source=".github/cd.yml")
        started = time.monotonic()
        result = run(a, {})
        took = time.monotonic() - started
    finally:
        trickler.close()
    assert took < 2 * 1.0 + 0.2 + 0.8, took  # two samples of at most their timeout, one interval, a margin
    assert result.outcome == "inconclusive" and [m.value for m in result.measurements] == [None, None]
    assert all(m.detail == "Prometheus unreachable: no answer within 1s" for m in result.measurements)
