"""The analysis' own cost: CPU time of cdhelper per Prometheus sample.

    python benchmarks/analysis.py [samples]

`run()` takes N samples (no sleeping) from a stub Prometheus that answers a canned one-series
vector at once. The stub runs in another process, so `time.process_time()` here counts only the
helper: building the request, requests/urllib3 over a kept-alive loopback connection, reading the
JSON, the decision, the Measurement and the on_measurement call. Wall time per sample is given
beside it (it includes the stub's answer). benchmarks/run.py calls bench().
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STUB = r"""
import json, socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {}, "value": [1700000000.0, "0.0123"]}]}}).encode()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *a):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def bench(samples: int = 500) -> dict:
    from cdhelper.progressive.analysis import parse, run
    stub = subprocess.Popen([sys.executable, "-c", STUB], stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{int(stub.stdout.readline())}"
        analysis = parse("bench", {"prometheus": {"url": url, "query": 'sum(rate(x{v="{{version}}"}[1m]))',
                                                  "max": 0.05}, "interval": "1s", "count": 2},
                         source="benchmark")
        analysis = dataclasses.replace(analysis, count=samples)  # beyond parse()'s cap of 1000 if asked
        seen = []
        warm = parse("warm", {"prometheus": {"url": url, "query": "x", "max": 1}, "interval": "1s", "count": 20},
                     source="benchmark")
        run(warm, {}, sleep=lambda s: None)  # imports, first connection
        cpu, wall = time.process_time(), time.perf_counter()
        result = run(analysis, {"version": "1.2.3"}, sleep=lambda s: None, on_measurement=seen.append)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assert result.passed() and len(seen) == analysis.count, result.reason
    finally:
        stub.terminate()
        stub.wait(timeout=10)
        stub.stdout.close()
    n = analysis.count
    return {"analysis_samples": n, "analysis_cpu_ms_per_sample": round(cpu / n * 1000, 3),
            "analysis_wall_ms_per_sample": round(wall / n * 1000, 3)}


if __name__ == "__main__":
    print(json.dumps(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 500), indent=2))
