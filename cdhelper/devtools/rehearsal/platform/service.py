"""The sample service: one version of an app, one process, one loopback port.

`/` answers 200 with a body naming the version and an `X-Version` header, except for a share
`--error-rate` of the requests, which answer 500. The share is exact and evenly spread (request n
fails when floor(n*R) grows), so a test can count on it without luck. `/metrics` exposes
`http_requests_total{version, code}` and `http_request_duration_seconds` with prometheus_client;
`/healthz` answers 200 and is not counted. `--latency SECONDS` adds that much time to every
answer of `/` (the version's own speed: a rehearsal of a canary judged against its baseline makes
one version slower than another). The metrics carry the app and slot as labels too
(`http_requests_total{app, slot, version, code}`): the platform's Prometheus scrapes a pool of
ports, not targets labelled per service. The service listens on a socket it inherits (`--fd`,
bound by the supervisor) or on `--port` (0: the kernel chooses); the first line of stdout says
which (`listening PORT`).

Started with a feature-flag file (`--flags`, an environment's `<environment>.flagd.json` in the
flagd JSON format; the deploy hook passes CD_FLAGS), `/` also evaluates the flag `new-greeting` per
request through the OpenFeature SDK, with the flagd provider in file mode (in-process, no flagd
daemon), and says the result: `; new-greeting=VALUE (variant V, REASON)` after the version in the
body, `X-Flag-new-greeting` and `X-Flag-new-greeting-Variant` headers. The request's `X-User` header
is the evaluation context (targeting key and attribute `user`), so the file's targeting rules
(JsonLogic: `if`, `fractional`, ...) apply. The provider polls the file's modification time and
re-reads it when it changes, without a restart. Without `--flags` nothing of this is imported.
"""

from __future__ import annotations

import argparse
import math
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FLAG = "new-greeting"
FLAGS_INSTALL = "pip install 'openfeature-sdk==0.10.0' 'openfeature-provider-flagd==0.6.1'  (or pip install -e '.[rehearse,samples]')"
FLAGS_POLL_MS = 200  # how often the flagd file provider checks the file's modification time


class Flags:
    """The app's feature flags: the OpenFeature SDK's client over the flagd provider in file mode,
    which loads `path` before the service answers and reloads it when its mtime changes."""

    def __init__(self, path: str, *, poll_ms: int = FLAGS_POLL_MS):
        try:
            from openfeature import api
            from openfeature.contrib.provider.flagd import FlagdProvider
            from openfeature.contrib.provider.flagd.config import ResolverType
            from openfeature.exception import ErrorCode, OpenFeatureError
        except ImportError as exc:
            raise ValueError(f"feature flags need the OpenFeature SDK and its flagd provider ({exc}): "
                             f"{FLAGS_INSTALL}") from exc

        # In file mode the provider's file watcher sleeps `deadline_ms` between two mtime checks
        # (openfeature-provider-flagd 0.6.1 does not read offline_poll_interval_ms there).
        provider = FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=path, deadline_ms=poll_ms)
        try:
            api.set_provider_and_wait(provider)
        except OpenFeatureError as exc:
            raise ValueError(f"the flag file {path} cannot be loaded: {exc.error_message or type(exc).__name__}") from exc
        self.client = api.get_client()
        self.type_mismatch = ErrorCode.TYPE_MISMATCH

    def evaluate(self, key: str, user: str = ""):
        """The SDK's FlagEvaluationDetails for `key` (a boolean flag, else a string one), with the
        request's user as the evaluation context."""
        from openfeature.evaluation_context import EvaluationContext

        context = EvaluationContext(user or None, {"user": user} if user else {})
        details = self.client.get_boolean_details(key, False, context)
        if details.error_code == self.type_mismatch:
            details = self.client.get_string_details(key, "", context)
        return details


def flag_text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


class Errors:
    """Which requests fail: exactly floor(n*rate) of the first n, spread evenly."""

    def __init__(self, rate: float):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"error rate {rate} is not between 0 and 1")
        self.rate, self.count, self.lock = rate, 0, threading.Lock()

    def next_fails(self) -> bool:
        with self.lock:
            before = math.floor(self.count * self.rate + 1e-9)
            self.count += 1
            return math.floor(self.count * self.rate + 1e-9) > before


def make_server(version: str, *, error_rate: float = 0.0, app: str = "app", slot: str = "",
                port: int = 0, fd: int | None = None, flags: str = "", latency: float = 0.0) -> ThreadingHTTPServer:
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry(auto_describe=True)
    requests = Counter("http_requests", "HTTP requests answered, by version and status code",
                       ["app", "slot", "version", "code"], registry=registry)
    durations = Histogram("http_request_duration_seconds", "Time to answer a request, by version",
                        ["app", "slot", "version"], registry=registry,
                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))
    for code in ("200", "500"):  # both series exist from the start: rate() has a baseline to compare with
        requests.labels(app, slot, version, code)
    if not 0.0 <= latency <= 10.0:
        raise ValueError(f"latency {latency} is not between 0 and 10 seconds")
    errors = Errors(error_rate)
    feature_flags = Flags(flags) if flags else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "cdhelper-sample"

        def _answer(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8",
                    headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Version", version)
            if slot:
                self.send_header("X-Slot", slot)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                return
            if path == "/healthz":
                self._answer(200, b"ok\n")
                return
            started = time.perf_counter()
            if latency:
                time.sleep(latency)
            headers: dict[str, str] = {}
            if errors.next_fails():
                code, body = 500, f"{app} version {version}: internal error (simulated)\n"
            elif feature_flags is None:
                code, body = 200, f"{app} version {version}\n"
            else:
                flag = feature_flags.evaluate(FLAG, self.headers.get("X-User", ""))
                value = flag_text(flag.value)
                headers = {f"X-Flag-{FLAG}": value, f"X-Flag-{FLAG}-Variant": flag.variant or ""}
                reason = getattr(flag.reason, "value", flag.reason)  # the SDK's Reason, e.g. STATIC, TARGETING_MATCH
                code, body = 200, f"{app} version {version}; {FLAG}={value} (variant {flag.variant}, {reason})\n"
            self._answer(code, body.encode(), headers=headers)
            requests.labels(app, slot, version, str(code)).inc()
            durations.labels(app, slot, version).observe(time.perf_counter() - started)

        do_HEAD = do_GET

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class' name)
            pass

    if fd is None:
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    else:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = socket.socket(fileno=fd)
        server.server_address = server.socket.getsockname()
        server.server_activate()  # listen
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdhelper.devtools.rehearsal.platform.service",
                                     description="One version of the sample service on a loopback port.")
    parser.add_argument("--version", required=True)
    parser.add_argument("--app", default="app")
    parser.add_argument("--slot", default="")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 500 (0..1)")
    parser.add_argument("--port", type=int, default=0, help="0: the kernel chooses (printed on stdout)")
    parser.add_argument("--fd", type=int, default=None, help="listen on this inherited, bound socket instead")
    parser.add_argument("--flags", default="", help="a flagd JSON flag file: evaluate the new-greeting flag per request")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer of / (0..10)")
    args = parser.parse_args(argv)
    try:
        server = make_server(args.version, error_rate=args.error_rate, app=args.app, slot=args.slot, port=args.port,
                             fd=args.fd, flags=args.flags, latency=args.latency)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
