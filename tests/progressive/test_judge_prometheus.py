"""The compare analysis against a real Prometheus: a version 30% slower than the stable version,
with no fixed latency threshold anywhere, fails; a version as fast as it passes.

Prometheus scrapes an endpoint served here every second; each scrape gives the stable version a
latency within 5% of 0.1 s, the equal version the same value and the slow version 1.3 times it.
Skipped when the prometheus binary is missing, unless CDHELPER_REQUIRE_PROGRESSIVE=1.
"""

from __future__ import annotations

import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from cdhelper.progressive.analysis import parse, run
from tests.progressive.test_analysis_prometheus import Prometheus, binary

QUERY = 'max(cd_judge_latency_seconds{version="{{version}}"})'
WINDOW = 8  # seconds judged, one value a second: 9 per version


@pytest.fixture(scope="module")
def latency_app():
    rng = random.Random(5)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            with lock:
                stable = 0.1 * rng.uniform(0.95, 1.05)
            data = ("# TYPE cd_judge_latency_seconds gauge\n"
                    f'cd_judge_latency_seconds{{version="1.0.0"}} {stable}\n'
                    f'cd_judge_latency_seconds{{version="2.0.0-same"}} {stable}\n'
                    f'cd_judge_latency_seconds{{version="2.0.0-slow"}} {stable * 1.3}\n').encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def prometheus(latency_app, tmp_path_factory):
    binary()
    prom = Prometheus(tmp_path_factory.mktemp("prometheus-judge"), target=latency_app)
    try:
        prom.wait_for("cd_judge_latency_seconds")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the window holds enough scrapes
            body = requests.get(f"{prom.url}/api/v1/query",
                                params={"query": f"count_over_time(cd_judge_latency_seconds{{version=\"1.0.0\"}}[{WINDOW}s])"},
                                timeout=2).json()
            if body["data"]["result"] and float(body["data"]["result"][0]["value"][1]) >= WINDOW:
                break
            time.sleep(0.5)
        yield prom
    finally:
        prom.stop()


def judged(url: str, version: str):
    compare = parse("latency-vs-stable", {"compare": {
        "url": url, "window": f"{WINDOW}s", "step": "1s",
        "metrics": {"latency": {"query": QUERY, "direction": "increase"}}}}, source=".github/cd.yml")
    return run(compare, {"version": version, "environment": "production", "CD_PREVIOUS_VERSION": "1.0.0"})


def test_a_version_30_percent_slower_than_the_stable_one_fails_without_any_fixed_threshold(prometheus):
    result = judged(prometheus.url, "2.0.0-slow")
    assert result.outcome == "failed", result.reason
    assert "latency: canary median" in result.reason and ": high" in result.reason


def test_a_version_as_fast_as_the_stable_one_passes(prometheus):
    result = judged(prometheus.url, "2.0.0-same")
    assert result.outcome == "passed", result.reason
    assert result.measurements[0].value == 100
