"""Analysis: sampling, the decision, providers, variables, definitions, preflight.

A fake clock and sleep make timing exact; a stub HTTP server on loopback stands in for
Prometheus and for HTTP targets; commands run through cdhelper.hooks.run as in a rollout.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import requests

from cdhelper import hooks
from cdhelper.core.errors import ConfigError, InputError
from cdhelper.progressive import analysis
from cdhelper.progressive.analysis import Analysis, Measurement, parse, parse_duration, preflight, run

SCHEMA = json.loads((Path(analysis.__file__).parents[2] / "core" / "schemas" / "analysis.schema.json").read_text())


# ----------------------------------------------------------------------------------------------
# Helpers


class Clock:
    """time.monotonic and time.sleep, in a world where only sleeping takes time."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


class Stub:
    """A loopback HTTP server answering from a script: each answer is (status, body, headers,
    delay); the last one repeats. Records every request's path and query."""

    def __init__(self):
        self.answers: list[tuple] = [(200, "ok", {}, 0.0)]
        self.requests: list[tuple[str, dict]] = []
        self.stopped = False
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()  # headers and body go out as separate writes: no Nagle delay between them
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):  # noqa: N802
                if stub.stopped:  # like a server going away: no answer, the connection closes
                    self.close_connection = True
                    return
                parts = urlsplit(self.path)
                stub.requests.append((parts.path, parse_qs(parts.query)))
                status, body, headers, delay = stub.answers.pop(0) if len(stub.answers) > 1 else stub.answers[0]
                if delay:
                    time.sleep(delay)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.handle_error = lambda *a: None
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def script(self, *answers) -> None:
        self.answers = [a if isinstance(a, tuple) else (200, a, {}, 0.0) for a in answers]

    def stop(self) -> None:
        self.stopped = True
        self.server.shutdown()
        self.server.server_close()

    @property
    def queries(self) -> list[str]:
        return [q["query"][0] for path, q in self.requests if path == "/api/v1/query"]


class Trickler:
    """A loopback server that answers a byte at a time, one every 0.2 s, for up to `seconds`: every
    read gets a byte before any socket timeout, so only a deadline for the whole answer ends it."""

    def __init__(self, seconds: float = 10.0):
        self.stop_event = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.seconds = seconds
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop_event.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            end = time.monotonic() + self.seconds
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                while time.monotonic() < end and not self.stop_event.wait(0.2):
                    conn.sendall(b"a")
            except OSError:
                pass

    def close(self) -> None:
        self.stop_event.set()
        self.listener.close()


@pytest.fixture
def trickler():
    t = Trickler()
    yield t
    t.close()


@pytest.fixture
def stub():
    s = Stub()
    yield s
    s.stop()


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


def vector(*values, labels=None):
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": labels or {"job": f"j{i}"}, "value": [1700000000.0, str(v)]} for i, v in enumerate(values)]}}


def scalar(value):
    return {"status": "success", "data": {"resultType": "scalar", "result": [1700000000.0, str(value)]}}


EMPTY = {"status": "success", "data": {"resultType": "vector", "result": []}}
BAD_DATA = {"status": "error", "errorType": "bad_data",
            "error": "invalid parameter \"query\": 1:16: parse error: unclosed left parenthesis"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prom(url, *, query="sum(rate(errors[1m]))", max=0.05, min=None, **sampling) -> Analysis:  # noqa: A002
    spec = {"url": url, "query": query}
    if max is not None:
        spec["max"] = max
    if min is not None:
        spec["min"] = min
    return parse("error-rate", {"prometheus": spec, "interval": "10s", "count": 3, **sampling}, source="cd.yml")


def go(a: Analysis, variables=None, clock=None, **kwargs):
    clock = clock or Clock()
    seen: list[tuple[float, Measurement]] = []
    result = run(a, variables or {"version": "1.2.3"}, clock=clock, sleep=clock.sleep,
                 on_measurement=lambda m: seen.append((clock(), m)), **kwargs)
    return result, seen, clock


# ----------------------------------------------------------------------------------------------
# The decision


def test_passes_when_every_sample_is_within_max_and_sleeps_only_between_samples(stub, session):
    stub.script(vector(0.01), vector(0.02), scalar(0.03))
    result, seen, clock = go(prom(stub.url), session=session)
    assert result.outcome == "passed" and result.passed()
    assert [m.value for m in result.measurements] == [0.01, 0.02, 0.03]
    assert [m.ok for m in result.measurements] == [True, True, True]
    assert [m.at for m in result.measurements] == [0, 10, 20]
    assert clock.sleeps == [10, 10]  # none before the first, none after the last
    assert [m for _, m in seen] == list(result.measurements)
    assert result.reason == ("error-rate passed (<= 0.05; 3 of 3 samples with a value, 0 failed: 0.01, 0.02, 0.03)")
    assert "\n" not in result.reason


def test_fails_at_the_first_bad_sample_and_decides_there(stub, session):
    stub.script(vector(0.01), vector(0.2), vector(0.01))
    result, seen, clock = go(prom(stub.url, count=6), session=session)
    assert result.outcome == "failed" and not result.passed()
    assert len(result.measurements) == 2 and len(stub.queries) == 2
    assert clock.sleeps == [10]  # no interval waited after the failing sample
    decided_at, failing = seen[-1]
    assert failing.ok is False and failing.value == 0.2 and clock() == decided_at  # returned at that sample
    assert failing.detail == "0.2 > max 0.05"
    assert result.reason.startswith("error-rate failed at sample 2 of 6: 0.2 > max 0.05 (1 failed, more than "
                                    "failure-limit 0; values: 0.01, 0.2)")


def test_the_failing_sample_returns_without_waiting_in_real_time(stub, session):
    stub.script(vector(9))
    a = parse("e", {"prometheus": {"url": stub.url, "query": "x", "max": 1}, "interval": "5s", "count": 10},
              source="cd.yml")
    start = time.monotonic()
    result = run(a, {}, session=session)
    assert result.outcome == "failed" and time.monotonic() - start < 2


def test_failure_limit_tolerates_that_many_failed_samples(stub, session):
    stub.script(vector(0.01), vector(0.2), vector(0.01), vector(0.01))
    result, _, _ = go(prom(stub.url, count=4, **{"failure-limit": 1}), session=session)
    assert result.outcome == "passed" and [m.ok for m in result.measurements] == [True, False, True, True]
    assert "1 failed" in result.reason

    stub.script(vector(0.2), vector(0.01), vector(0.3), vector(0.01))
    result, _, clock = go(prom(stub.url, count=4, **{"failure-limit": 1}), session=session)
    assert result.outcome == "failed" and len(result.measurements) == 3 and clock.sleeps == [10, 10]


def test_min_bound_and_both_bounds(stub, session):
    stub.script(vector(0.99), vector(0.5))
    result, _, _ = go(prom(stub.url, max=None, min=0.95, count=2), session=session)
    assert [m.detail for m in result.measurements] == ["0.99 >= 0.95", "0.5 < min 0.95"]
    assert result.outcome == "failed"
    stub.script(vector(5), vector(10), vector(10.5))
    result, _, _ = go(prom(stub.url, min=5, max=10), session=session)
    assert [m.ok for m in result.measurements] == [True, True, False]


def test_samples_without_a_value_are_neither_pass_nor_failure(stub, session):
    stub.script(vector(0.01), EMPTY, vector("NaN"), scalar("+Inf"), vector(0.02))
    result, _, _ = go(prom(stub.url, count=5, **{"min-samples": 2}), session=session)
    assert result.outcome == "passed"
    assert [m.value for m in result.measurements] == [0.01, None, None, None, 0.02]
    assert [m.ok for m in result.measurements] == [True, None, None, None, True]
    assert result.measurements[1].detail == "empty result (no series)"
    assert result.measurements[2].detail == "NaN is not a number to compare"
    assert result.measurements[3].detail == "+Inf is not a number to compare"


def test_inconclusive_as_soon_as_min_samples_is_out_of_reach(stub, session):
    stub.script(vector(0.01), EMPTY, EMPTY, vector(0.01))
    result, _, clock = go(prom(stub.url, count=4, **{"min-samples": 3}), session=session)
    # after the third sample only one is left: 1 + 1 < 3, so waiting for it cannot help
    assert result.outcome == "inconclusive" and not result.passed()
    assert len(result.measurements) == 3 and clock.sleeps == [10, 10]
    assert result.reason == ("error-rate inconclusive: 1 of 3 samples had a value, min-samples is 3, stopped after 3 "
                             "of 4 (last without a value: empty result (no series); values: 0.01, -, -)")


def test_default_min_samples_is_count_so_one_missing_value_is_inconclusive(stub, session):
    stub.script(EMPTY, vector(0.01))
    result, _, clock = go(prom(stub.url), session=session)
    assert result.outcome == "inconclusive" and len(result.measurements) == 1 and clock.sleeps == []


def test_inconclusive_never_passes_even_when_nothing_failed(stub, session):
    stub.script(vector(0.01), EMPTY, EMPTY)
    result, _, _ = go(prom(stub.url, **{"min-samples": 2}), session=session)
    assert result.outcome == "inconclusive" and not result.passed()


@pytest.mark.parametrize("answer, detail", [
    (vector(0.01, 0.02), "the query returns 2 series; it must aggregate to one number (e.g. with sum())"),
    ({"status": "success", "data": {"resultType": "string", "result": [1.0, "abc"]}},
     "the query returns a string, not a number; it must aggregate to one number (e.g. with sum())"),
    ({"status": "success", "data": {"resultType": "matrix", "result": []}},
     "the query returns a range vector (matrix), not a number; it must aggregate to one number (e.g. with sum())"),
    ((400, BAD_DATA, {}, 0.0), "Prometheus: bad_data: invalid parameter \"query\": 1:16: parse error: unclosed left "
                               "parenthesis"),
    ((503, {"status": "error", "errorType": "timeout", "error": "query timed out"}, {}, 0.0),
     "Prometheus: timeout (HTTP 503): query timed out"),
    ((502, "<html>bad gateway</html>", {}, 0.0), "Prometheus: HTTP 502"),
    ((200, "not json", {}, 0.0), "Prometheus: HTTP 200 for /api/v1/query, without Prometheus' JSON answer"),
    ({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "histogram": [1.0, {}]}]}},
     "the query returns a native histogram, not a number; it must aggregate to one number (e.g. with sum())"),
])
def test_answers_that_are_not_one_number_have_no_value(stub, session, answer, detail):
    stub.script(answer)
    result, _, _ = go(prom(stub.url, count=1), session=session)
    assert result.outcome == "inconclusive"
    assert result.measurements[0].value is None and result.measurements[0].detail == detail


def test_prometheus_going_away_mid_run_fails_closed(stub, session):
    stub.script(vector(0.01))
    a = prom(stub.url, count=4, **{"min-samples": 2})
    clock = Clock()
    result = run(a, {}, clock=clock, sleep=clock.sleep, session=session,
                 on_measurement=lambda m: stub.stop() if m.ok else None)
    assert result.outcome == "inconclusive"
    assert [m.value for m in result.measurements] == [0.01, None, None, None]
    assert all(m.detail.startswith("Prometheus unreachable: ") for m in result.measurements[1:])


def test_initial_delay_comes_before_the_first_sample(stub, session):
    stub.script(vector(0))
    result, _, clock = go(prom(stub.url, **{"initial-delay": "1m"}), session=session)
    assert clock.sleeps == [60, 10, 10] and [m.at for m in result.measurements] == [60, 70, 80]


def test_a_slow_sample_is_not_followed_by_a_full_interval():
    """Samples keep their schedule: start + initial-delay + i * interval."""
    clock = Clock()

    def slow(cmd, env):
        clock.now += 4  # the command takes 4 s of the 10 s interval
        return 0
    a = parse("c", {"command": {"run": "true"}, "interval": 10, "count": 3}, source="cd.yml")
    result = run(a, {}, clock=clock, sleep=clock.sleep, run_command=slow, environ={})
    assert result.passed() and clock.sleeps == [6, 6] and [m.at for m in result.measurements] == [0, 10, 20]


# ----------------------------------------------------------------------------------------------
# Variables


def test_variables_are_escaped_for_the_promql_string_they_stand_in(stub, session):
    stub.script(vector(0))
    query = ('sum(rate(http_requests_total{version="{{version}}",env=\'{{ environment }}\',slot=~"{{slot}}"}[1m]))'
             ' > {{weight}} # {{version}}')
    a = prom(stub.url, query=query, count=1)
    version = '1.0"} or vector(1) or x{a="\\'
    run(a, {"version": version, "environment": "it's", "slot": "blue.1+", "weight": "10"}, session=session)
    assert stub.queries == ['sum(rate(http_requests_total{version="1.0\\"} or vector(1) or x{a=\\"\\\\",'
                            "env='it\\'s',slot=~\"blue\\\\.1\\\\+\"}[1m])) > 10 # "
                            + version]


def test_regular_expressions_get_the_value_escaped_as_a_literal(stub, session):
    stub.script(vector(0))
    query = 'sum(x{a=~"{{version}}", b !~\n  \'{{version}}\', c="{{version}}"}) # =~ "{{version}}"'
    run(prom(stub.url, query=query, count=1), {"version": "1.2.3+b(1)"}, session=session)
    assert stub.queries == ['sum(x{a=~"1\\\\.2\\\\.3\\\\+b\\\\(1\\\\)", b !~\n  \'1\\\\.2\\\\.3\\\\+b\\\\(1\\\\)\', '
                            'c="1.2.3+b(1)"}) # =~ "1.2.3+b(1)"']


def test_a_newline_cannot_end_a_string_or_a_comment(stub, session):
    stub.script(vector(0))
    a = prom(stub.url, query='sum(x{v="{{version}}"}) # {{version}}', count=1)
    run(a, {"version": "a\nvector(1)\r\t\x01"}, session=session)
    assert stub.queries == ['sum(x{v="a\\nvector(1)\\r\\t\\x01"}) # a vector(1) \t\x01']


def test_urls_get_percent_encoded_values(stub, session):
    a = parse("smoke", {"http": {"url": stub.url + "/health/{{environment}}?v={{version}}"}}, source="cd.yml")
    run(a, {"version": "1.0+b&x=1 #", "environment": "prod/eu"}, session=session)
    assert stub.requests == [("/health/prod%2Feu", {"v": ["1.0+b&x=1 #"]})]


def test_a_variable_without_a_value_is_a_config_error(stub, session):
    a = prom(stub.url, query='sum(x{slot="{{slot}}"})')
    with pytest.raises(ConfigError) as exc:
        run(a, {"version": "1"}, session=session)
    assert exc.value.one_line() == ("cd.yml: analysis `error-rate` uses {{slot}}, which has no value here: the values "
                                    "given for this analysis are: version. Fix: use only the variables this strategy "
                                    "sets (version and environment always; slot for blue-green; weight for canary)")
    with pytest.raises(ConfigError):
        preflight([a], {"version": "1"}, session=session)
    assert stub.requests == []


def test_weight_outside_a_string_must_be_a_number(stub, session):
    a = prom(stub.url, query="sum(x) > {{weight}}")
    with pytest.raises(ConfigError, match="not a number"):
        run(a, {"weight": "1 or vector(1)"}, session=session)


# ----------------------------------------------------------------------------------------------
# HTTP


def smoke(url, **spec):
    return parse("smoke", {"http": {"url": url, **spec}, "interval": "2s", "count": 1}, source="cd.yml")


@pytest.mark.parametrize("status, spec, ok", [
    (200, {}, True), (204, {}, True), (302, {}, True), (404, {}, False), (500, {}, False),
    (204, {"status": [200]}, False), (503, {"status": [200, 503]}, True),
])
def test_http_status(stub, session, status, spec, ok):
    stub.script((status, "", {"Location": "/elsewhere"}, 0.0))
    result = run(smoke(stub.url + "/healthz", **spec), {}, session=session)
    m = result.measurements[0]
    assert m.value == status and m.ok is ok and result.passed() is ok
    assert len(stub.requests) == 1  # a redirect is not followed


@pytest.mark.parametrize("header, ok", [("1.2.3", True), (" 1.2.3 ", True), ("1.2.4", False), (None, False)])
def test_http_version_header(stub, session, header, ok):
    stub.script((200, "", {"X-Version": header} if header else {}, 0.0))
    result = run(smoke(stub.url, version="header:X-Version"), {"version": "1.2.3"}, session=session)
    assert result.measurements[0].ok is ok
    if not ok:
        assert "header X-Version is" in result.measurements[0].detail


@pytest.mark.parametrize("body, ok", [
    ('{"version":"1.2.3"}', True), ("running v1.2.3.", True), ("1.2.3\n", True),
    ("1.2.30", False), ("11.2.3", False), ("1.2.3-rc1", False), ("1.2.3.4", False), ("version 1.2", False),
])
def test_http_version_in_body_as_a_whole_word(stub, session, body, ok):
    stub.script((200, body, {}, 0.0))
    result = run(smoke(stub.url, version="body"), {"version": "1.2.3"}, session=session)
    assert result.measurements[0].ok is ok, body


def test_http_timeout_and_connection_error_have_no_value(stub, session):
    stub.script((200, "", {}, 1.0))
    result = run(smoke(stub.url, timeout="200ms"), {}, session=session)
    assert result.outcome == "inconclusive" and result.measurements[0].value is None
    assert result.measurements[0].detail == "GET failed: no answer within 0.2s"
    result = run(smoke(f"http://127.0.0.1:{closed_port()}/"), {}, session=session)
    assert result.measurements[0].value is None and result.measurements[0].detail == "GET failed: connection refused"


def test_an_http_target_trickling_its_answer_ends_the_sample_at_its_timeout(trickler, session):
    """Every read gets a byte within the timeout: only one deadline for the whole GET ends it."""
    started = time.monotonic()
    result = run(smoke(trickler.url + "/healthz", timeout="1s"), {}, session=session)
    took = time.monotonic() - started
    assert took < 1.0 + 0.8, took
    assert result.outcome == "inconclusive" and result.measurements[0].value is None
    assert result.measurements[0].detail == "GET failed: no answer within 1s"


def test_http_version_needs_a_version(stub, session):
    with pytest.raises(ConfigError, match="version"):
        run(smoke(stub.url, version="body"), {"environment": "prod"}, session=session)


# ----------------------------------------------------------------------------------------------
# Commands (through cdhelper.hooks.run, as the executor runs them)


def check(run_, timeout=None, count=1):
    spec = {"run": run_} | ({"timeout": timeout} if timeout else {})
    return parse("check", {"command": spec, "count": count, "interval": "1s"}, source="cd.yml")


def test_command_exit_status_is_the_value(tmp_path):
    result = run(check("exit 0"), {}, run_command=hooks.run, environ=dict(os.environ))
    assert result.passed() and result.measurements[0].value == 0
    result = run(check("exit 3"), {}, run_command=hooks.run, environ=dict(os.environ))
    assert result.outcome == "failed" and result.measurements[0].value == 3
    assert result.measurements[0].detail == "exit status 3"
    result = run(check("false; true"), {}, run_command=hooks.run, environ=dict(os.environ))
    assert result.measurements[0].value == 1  # bash -e, as for hooks


def test_command_gets_the_variables_in_its_environment_not_in_its_text(tmp_path):
    out = tmp_path / "env"
    a = check(f'printf "%s|%s|%s|%s" "$CD_VERSION" "$CD_WEIGHT" "$CD_ANALYSIS" "${{CDHELPER_ANALYSIS_RUN-unset}}" > {out}')
    result = run(a, {"version": '1.0"; rm -rf /', "weight": 10}, run_command=hooks.run,
                 environ={"PATH": os.environ["PATH"]})
    assert result.passed() and out.read_text() == '1.0"; rm -rf /|10|check|unset'


@pytest.mark.parametrize("script", [
    "sleep 300 & echo $! >> {pids}; echo $$ >> {pids}; trap '' TERM; wait",  # ends 0 once its child is killed
    "trap '' TERM; sleep 300 & echo $! >> {pids}; echo $$ >> {pids}; wait",  # ignores TERM: killed 2 s later
], ids=["term", "kill"])
def test_command_timeout_kills_it_and_what_it_started(tmp_path, script):
    pids = tmp_path / "pids"
    a = check(script.format(pids=pids), timeout="300ms", count=2)
    start = time.monotonic()
    result = run(a, {}, run_command=hooks.run, environ={"PATH": os.environ["PATH"]})
    assert time.monotonic() - start < 10
    assert result.outcome == "inconclusive" and len(result.measurements) == 1
    assert result.measurements[0].value is None and result.measurements[0].detail == "timed out after 0.3s (killed)"
    for pid in map(int, pids.read_text().split()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_command_that_cannot_run_has_no_value():
    def broken(cmd, env):
        raise FileNotFoundError(2, "No such file or directory", "bash")
    result = run(check("true"), {}, run_command=broken, environ={})
    assert result.measurements[0].value is None and "could not run" in result.measurements[0].detail


# ----------------------------------------------------------------------------------------------
# Definitions


def test_parse_gives_defaults_and_a_read_only_spec():
    a = parse("error-rate", {"prometheus": {"url": "http://127.0.0.1:9090", "query": "up", "max": 1},
                             "interval": "2m", "count": 5}, source="cd.yml")
    assert (a.provider, a.interval, a.count, a.failure_limit, a.min_samples, a.initial_delay) == \
        ("prometheus", 120.0, 5, 0, 5, 0.0)
    assert dict(a.spec) == {"url": "http://127.0.0.1:9090", "query": "up", "min": None, "max": 1.0, "timeout": 10.0}
    with pytest.raises(TypeError):
        a.spec["max"] = 2  # type: ignore[index]
    one = parse("smoke", {"http": {"url": "https://example.com/healthz", "status": [200]}}, source="cd.yml")
    assert (one.count, one.interval, one.min_samples, one.spec["timeout"], one.spec["status"]) == (1, 0.0, 1, 5.0, (200,))


@pytest.mark.parametrize("raw, seconds", [
    ("10s", 10), ("2m", 120), ("1h30m", 5400), ("500ms", 0.5), ("1.5s", 1.5), (" 3s ", 3), ("7", 7), (30, 30),
    (0.25, 0.25), ("24h", 86400),
])
def test_durations(raw, seconds):
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw, words", [
    ("-5s", "cannot be negative"), (-1, "cannot be negative"), ("10 parsecs", "not a duration"), ("5 m", "not a duration"),
    ("1d", "not a duration"), ("\u0661\u0660s", "not a duration"), ("", "not a duration"), ("1e3", "not a duration"),
    (float("inf"), "finite"), (10**400, "longer than the limit"), ("9" * 41, "too long"), (None, "a duration is"),
    ([10], "a duration is"), (False, "a duration is"),
])
def test_bad_durations_are_one_line(raw, words):
    with pytest.raises(ConfigError) as exc:
        parse_duration(raw, what="cd.yml: pause")
    assert words in exc.value.one_line() and exc.value.one_line().startswith("cd.yml: pause is ")


def test_zero_duration_only_where_meaningful():
    assert parse_duration("0s", allow_zero=True) == 0
    with pytest.raises(ConfigError, match="zero makes no sense"):
        parse_duration("0s")
    assert parse_duration("48h", maximum=3 * 86400) == 172800


GOOD_PROM = {"url": "http://127.0.0.1:9090", "query": "sum(rate(x[1m]))", "max": 0.05}
BAD = [
    # (case, raw entry, words in the one-line error, the schema refuses it too)
    ("negative interval", {"prometheus": GOOD_PROM, "interval": "-10s", "count": 3}, "cannot be negative", True),
    ("parsecs", {"prometheus": GOOD_PROM, "interval": "10 parsecs", "count": 3}, "not a duration", True),
    ("zero interval", {"prometheus": GOOD_PROM, "interval": 0, "count": 3}, "zero makes no sense", True),
    ("zero interval text", {"prometheus": GOOD_PROM, "interval": "0s", "count": 3}, "zero makes no sense", True),
    ("huge interval", {"prometheus": GOOD_PROM, "interval": "25h", "count": 3}, "longer than the limit of 24h", False),
    ("nan interval", {"prometheus": GOOD_PROM, "interval": float("nan"), "count": 3}, "finite", False),
    ("boolean interval", {"prometheus": GOOD_PROM, "interval": True, "count": 3}, "a duration is a number", True),
    ("count 0", {"prometheus": GOOD_PROM, "interval": "1s", "count": 0}, "key `count` is 0", True),
    ("count text", {"prometheus": GOOD_PROM, "interval": "1s", "count": "3"}, "whole number", True),
    ("count huge", {"prometheus": GOOD_PROM, "interval": "1s", "count": 10**6}, "at most 1000", True),
    ("no interval", {"prometheus": GOOD_PROM, "count": 3}, "has no `interval`", True),
    ("failure-limit = count", {"prometheus": GOOD_PROM, "interval": "1s", "count": 3, "failure-limit": 3},
     "could never fail", False),
    ("negative failure-limit", {"prometheus": GOOD_PROM, "interval": "1s", "count": 3, "failure-limit": -1},
     "-1 turns failures off", True),
    ("min-samples > count", {"prometheus": GOOD_PROM, "interval": "1s", "count": 3, "min-samples": 4},
     "only 3 samples are taken", False),
    ("min-samples 0", {"prometheus": GOOD_PROM, "interval": "1s", "count": 3, "min-samples": 0}, "at least 1", True),
    ("min-samples <= failure-limit", {"prometheus": GOOD_PROM, "interval": "1s", "count": 5, "min-samples": 2,
                                      "failure-limit": 2}, "every measured sample failed could pass", False),
    ("negative initial-delay", {"prometheus": GOOD_PROM, "initial-delay": "-1m"}, "cannot be negative", True),
    ("two providers", {"prometheus": GOOD_PROM, "http": {"url": "https://x.example"}}, "2 providers", True),
    ("no provider", {"interval": "1s", "count": 3}, "names no provider", True),
    ("empty", {}, "is {}", True),
    ("not a mapping", ["prometheus"], "is ['prometheus']", True),
    ("unknown key", {"prometheus": GOOD_PROM, "intervall": "1s"}, "unknown key `intervall`", True),
    ("unknown provider key", {"prometheus": {**GOOD_PROM, "treshold": 1}}, "unknown key `treshold`", True),
    ("min > max", {"prometheus": {**GOOD_PROM, "min": 1, "max": 0.5}}, "min 1 is above max 0.5", False),
    ("no bound", {"prometheus": {"url": "http://p:9090", "query": "up"}}, "neither `min` nor `max`", True),
    ("text bound", {"prometheus": {**GOOD_PROM, "max": "5%"}}, "finite number", True),
    ("infinite bound", {"prometheus": {**GOOD_PROM, "max": float("inf")}}, "finite number", False),
    ("no query", {"prometheus": {"url": "http://p:9090", "max": 1}}, "has no `query`", True),
    ("blank query", {"prometheus": {**GOOD_PROM, "query": "  "}}, "PromQL expression", True),
    ("unknown variable", {"prometheus": {**GOOD_PROM, "query": 'x{v="{{ver}}"}'}}, "uses `{{ver}}`", False),
    ("variable outside a string", {"prometheus": {**GOOD_PROM, "query": "x{v={{version}}}"}},
     "outside a quoted string", False),
    ("variable in a raw string", {"prometheus": {**GOOD_PROM, "query": "x{v=`{{version}}`}"}}, "backtick", False),
    ("ftp url", {"prometheus": {**GOOD_PROM, "url": "ftp://p:9090"}}, "scheme is 'ftp'", True),
    ("no scheme", {"prometheus": {**GOOD_PROM, "url": "127.0.0.1:9090"}}, "http", True),
    ("credentials in url", {"http": {"url": "https://user:pw@x.example/healthz"}}, "credentials", True),
    ("bad port", {"http": {"url": "http://x.example:99999/"}}, "not a valid URL", False),
    ("space in url", {"http": {"url": "http://x.example/a b"}}, "spaces", True),
    ("query in prometheus url", {"prometheus": {**GOOD_PROM, "url": "http://p:9090/?x=1"}}, "no query or fragment",
     True),
    ("unknown variable in url", {"http": {"url": "https://{{host}}/healthz"}}, "uses `{{host}}`", False),
    ("status not a list", {"http": {"url": "https://x.example", "status": "200"}}, "list of HTTP status codes", True),
    ("status 700", {"http": {"url": "https://x.example", "status": [200, 700]}}, "list of HTTP status codes", True),
    ("status twice", {"http": {"url": "https://x.example", "status": [200, 200]}}, "twice", True),
    ("bad version", {"http": {"url": "https://x.example", "version": "json"}}, "version: body", True),
    ("bad header name", {"http": {"url": "https://x.example", "version": "header:X Version"}}, "version: body", True),
    ("zero timeout", {"http": {"url": "https://x.example", "timeout": 0}}, "zero makes no sense", True),
    ("huge timeout", {"http": {"url": "https://x.example", "timeout": "2h"}}, "limit of 300s", False),
    ("empty command", {"command": {"run": ""}}, "bash command", True),
    ("placeholder in command", {"command": {"run": "./check.sh {{version}}"}}, '"$CD_VERSION"', True),
    ("provider not a mapping", {"command": "./check.sh"}, "command takes a mapping", True),
]


@pytest.mark.parametrize("case, raw, words, schema_too", BAD, ids=[b[0] for b in BAD])
def test_bad_definitions_are_one_line_config_errors(case, raw, words, schema_too):
    with pytest.raises(ConfigError) as exc:
        parse("error-rate", raw, source=".github/cd.yml")
    line = exc.value.one_line()
    assert "\n" not in line and line.startswith(".github/cd.yml: analysis `error-rate`") and "Fix: " in line
    assert words in line, line
    assert len(line) < 400
    if schema_too:
        assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(raw), f"the schema accepts {case}"


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 65, 7, "é"])
def test_bad_names(name):
    with pytest.raises(ConfigError, match="analysis name"):
        parse(name, {"command": {"run": "true"}}, source="cd.yml")
    assert not jsonschema.Draft202012Validator(SCHEMA["$defs"]["name"]).is_valid(name)


GOOD = [
    {"prometheus": GOOD_PROM},
    {"prometheus": {**GOOD_PROM, "min": 0, "max": 0, "timeout": "30s", "url": "https://prom.example/prefix/"},
     "interval": "1m30s", "count": 10, "failure-limit": 2, "min-samples": 5, "initial-delay": "0s"},
    {"prometheus": {"url": "http://{{environment}}-prom:9090", "query": 'x{v=~"{{version}}"} > {{weight}}', "min": 1},
     "interval": 5, "count": 2},
    {"http": {"url": "https://example.com/healthz", "status": [200], "version": "header:X-Version"}, "interval": "2s",
     "count": 3},
    {"http": {"url": "http://127.0.0.1:8080/v?{{version}}", "version": "body", "timeout": 1.5}},
    {"command": {"run": './smoke.sh "$CD_VERSION"', "timeout": "2m"}, "count": 1, "interval": "10s"},
]


@pytest.mark.parametrize("raw", GOOD)
def test_good_definitions_pass_both_parse_and_the_schema(raw):
    parse("ok", raw, source="cd.yml")
    jsonschema.Draft202012Validator(SCHEMA).validate(raw)


def test_the_schema_is_valid_and_describes_a_whole_section():
    from referencing import Registry, Resource
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    # how cd-config.schema.json can use it: {"$ref": "analysis.schema.json#/$defs/section"}
    registry = Registry().with_resource(SCHEMA["$id"], Resource.from_contents(SCHEMA))
    config = {"$schema": SCHEMA["$schema"], "$id": "https://cdhelper.dev/schemas/cd-config.schema.json",
              "$ref": "analysis.schema.json#/$defs/section"}
    section = jsonschema.Draft202012Validator(config, registry=registry)
    assert section.is_valid({"error-rate": GOOD[0], "smoke": GOOD[3]})
    assert not section.is_valid({"bad name": GOOD[0]})
    assert not section.is_valid({"x": {"interval": "1s"}})


# ----------------------------------------------------------------------------------------------
# Preflight


def test_preflight_asks_prometheus_with_the_variables_filled_in(stub, session):
    stub.script(EMPTY)  # no traffic yet is fine
    a = prom(stub.url, query='sum(x{v="{{version}}"})')
    http = smoke("https://unreachable.invalid/healthz")
    preflight([a, http], {"version": "2.0.0"}, session=session)
    assert stub.queries == ['sum(x{v="2.0.0"})']  # the HTTP target is not contacted


def test_preflight_quotes_prometheus_refusing_the_query(stub, session):
    stub.script((400, BAD_DATA, {}, 0.0))
    with pytest.raises(ConfigError) as exc:
        preflight([prom(stub.url, query="sum(rate(x[5m])")], {}, session=session)
    assert exc.value.one_line() == (
        f"cd.yml: analysis `error-rate`: Prometheus at {stub.url} refuses the query: bad_data: invalid parameter "
        f"\"query\": 1:16: parse error: unclosed left parenthesis. Fix: correct the PromQL (try it in Prometheus' "
        f"expression browser, {stub.url}/graph)")


@pytest.mark.parametrize("answer, words", [
    (vector(1, 2), "the query returns 2 series: a sample is one number. Fix: aggregate it to one number"),
    ({"status": "success", "data": {"resultType": "string", "result": [1, "x"]}}, "returns a string"),
    ((404, "404 page not found", {}, 0.0), "does not answer like Prometheus' HTTP API: HTTP 404"),
    ((301, "", {"Location": "/login"}, 0.0), "it redirects (HTTP 301) to /login"),
])
def test_preflight_refuses_queries_that_cannot_give_one_number(stub, session, answer, words):
    stub.script(answer)
    with pytest.raises(ConfigError) as exc:
        preflight([prom(stub.url)], {}, session=session)
    assert words in exc.value.one_line()


def test_preflight_names_an_unreachable_prometheus():
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(InputError) as exc:
        preflight([prom(url)], {})
    assert exc.value.one_line() == (
        f"Prometheus at {url} is unreachable (analysis `error-rate`): connection refused. Fix: start Prometheus "
        "there, or correct analysis.error-rate.prometheus.url in cd.yml")


def test_preflight_reports_an_overloaded_prometheus_as_unavailable(stub, session):
    stub.script((503, {"status": "error", "errorType": "timeout", "error": "query timed out"}, {}, 0.0))
    with pytest.raises(InputError, match="cannot answer"):
        preflight([prom(stub.url)], {}, session=session)


def test_preflight_ends_at_the_timeout_when_prometheus_trickles_its_answer(trickler, session):
    started = time.monotonic()
    with pytest.raises(InputError) as exc:
        preflight([parse("error-rate", {"prometheus": {"url": trickler.url, "query": "up", "max": 1, "timeout": "1s"}},
                         source="cd.yml")], {}, session=session)
    assert time.monotonic() - started < 1.0 + 0.8
    assert exc.value.one_line().startswith(f"Prometheus at {trickler.url} is unreachable (analysis `error-rate`): "
                                           "no answer within 1s.")
