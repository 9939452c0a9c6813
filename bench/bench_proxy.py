"""Proxy latency and isolation benchmark: phiwall next to plain mitmproxy, in the same run.

    .venv/bin/python bench/bench_proxy.py [--n 60]

Prints two tables:
1. Added latency of a chat request (200 B, 2 KB, 20 KB of clinical-style text without PHI, so it is forwarded)
   through plain mitmdump and through phiwall: median and p99, and the ratio.
2. Unrelated small requests (a host phiwall does not guard) while 5 MB uploads are being inspected: requests per
   second and p99, through plain mitmdump and phiwall.
Everything runs on 127.0.0.1: a fake HTTPS upstream stands in for the chatbot service.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.fake_upstream import FakeUpstream  # noqa: E402
from tests.support.proxy import REDIRECT  # noqa: E402
from tests.support.proxy import free_port  # noqa: E402
from tests.support.proxy import start_proxy  # noqa: E402
from tests.support.tls import SERVICE_HOSTS  # noqa: E402
from tests.support.tls import make_test_pki  # noqa: E402

SENTENCE = (
    "The patient reports intermittent chest tightness on exertion, relieved by rest, with no radiation. "
    "Vitals were stable and the ECG showed sinus rhythm without acute ST changes. "
)


def chat_body(size: int) -> bytes:
    text = (SENTENCE * (size // len(SENTENCE) + 1))[:size]
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def start_plain(upstream_port: int, ca: Path, home: Path) -> tuple[subprocess.Popen[bytes], int]:
    import os
    import socket

    port = free_port()
    mapping = ",".join(f"{h}=127.0.0.1:{upstream_port}" for h in SERVICE_HOSTS)
    env = dict(os.environ, PHIWALL_TEST_UPSTREAMS=mapping)
    exe = Path(sys.executable).with_name("mitmdump")
    proc = subprocess.Popen(
        [
            str(exe),
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            str(port),
            "-s",
            str(REDIRECT),
            "--set",
            f"confdir={home}/mitmproxy",
            "--set",
            "connection_strategy=lazy",
            "--set",
            "flow_detail=0",
            "--set",
            f"ssl_verify_upstream_trusted_ca={ca}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    return proc, port


class _Local(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        import socket

        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *a: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def measure_latency(proxy_url: str, ca: Path, body: bytes, n: int) -> list[float]:
    out = []
    with httpx.Client(proxy=proxy_url, verify=str(ca), timeout=120) as c:
        for i in range(n + 3):
            t = time.perf_counter()
            r = c.post(
                "https://api.openai.com/v1/chat/completions", content=body, headers={"content-type": "application/json"}
            )
            dt = (time.perf_counter() - t) * 1000
            if r.status_code != 200:
                raise SystemExit(f"unexpected {r.status_code}: {r.text[:300]}")
            if i >= 3:
                out.append(dt)
    return out


def measure_isolation(
    proxy_url: str, ca: Path, local_url: str, seconds: float, uploads: bool
) -> tuple[float, float, int]:
    stop = threading.Event()
    done_uploads = [0]

    def uploader() -> None:
        import base64
        import os

        blob = os.urandom(5 * 1024 * 1024)
        body = json.dumps(
            {
                "model": "gpt-4o",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "file",
                                "file": {
                                    "filename": "a.bin",
                                    "file_data": "data:application/octet-stream;base64,"
                                    + base64.b64encode(blob).decode(),
                                },
                            }
                        ],
                    }
                ],
            }
        ).encode()
        with httpx.Client(proxy=proxy_url, verify=str(ca), timeout=120) as c:
            while not stop.is_set():
                c.post(
                    "https://api.openai.com/v1/chat/completions",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                done_uploads[0] += 1

    threads = [threading.Thread(target=uploader, daemon=True) for _ in range(2)] if uploads else []
    for t in threads:
        t.start()
    time.sleep(0.5 if uploads else 0)
    lat: list[float] = []
    with httpx.Client(proxy=proxy_url, timeout=60) as c:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            c.get(local_url)
            lat.append((time.perf_counter() - t0) * 1000)
    stop.set()
    for t in threads:
        t.join(120)
    return len(lat) / seconds, pct(lat, 99), done_uploads[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60, help="requests per size")
    ap.add_argument("--seconds", type=float, default=8.0, help="duration of each isolation run")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="phiwall-bench-"))
    ca, cert, key = make_test_pki(tmp / "pki")
    local = ThreadingHTTPServer(("127.0.0.1", 0), _Local)
    threading.Thread(target=local.serve_forever, daemon=True).start()
    local_url = f"http://127.0.0.1:{local.server_address[1]}/"
    with FakeUpstream(cert, key) as up:
        plain, plain_port = start_plain(up.port, ca, tmp / "plain")
        pw = start_proxy(tmp / "phiwall", {h: up.port for h in SERVICE_HOSTS}, ca, workers=2)
        try:
            time.sleep(4)  # let the workers finish warming
            plain_url = f"http://127.0.0.1:{plain_port}"
            plain_ca = tmp / "plain" / "mitmproxy" / "mitmproxy-ca-cert.pem"
            print(f"\nChat request latency, {args.n} requests each (ms)\n")
            print(
                f"{'size':>6} | {'plain p50':>9} {'plain p99':>9} | "
                f"{'phiwall p50':>11} {'phiwall p99':>11} | {'p50 ratio':>9}"
            )
            print("-" * 70)
            for size in (200, 2000, 20000):
                body = chat_body(size)
                a = measure_latency(plain_url, plain_ca, body, args.n)
                b = measure_latency(pw.url, pw.ca, body, args.n)
                print(
                    f"{size:>6} | {statistics.median(a):9.1f} {pct(a, 99):9.1f} | {statistics.median(b):11.1f} "
                    f"{pct(b, 99):11.1f} | {statistics.median(b) / statistics.median(a):8.1f}x"
                )
            print(
                f"\nUnrelated small requests (unguarded host), {args.seconds:g} s each, "
                "2 clients uploading 5 MB files\n"
            )
            print(f"{'proxy':>8} | {'uploads':>7} | {'req/s':>7} | {'p99 ms':>7} | {'uploads done':>12}")
            print("-" * 56)
            for name, url, pca in (("plain", plain_url, plain_ca), ("phiwall", pw.url, pw.ca)):
                for uploads in (False, True):
                    rps, p99, n = measure_isolation(url, pca, local_url, args.seconds, uploads)
                    print(f"{name:>8} | {'yes' if uploads else 'no':>7} | {rps:7.0f} | {p99:7.1f} | {n:>12}")
        finally:
            pw.stop()
            plain.terminate()
            local.shutdown()


if __name__ == "__main__":
    main()
