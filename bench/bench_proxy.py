"""Proxy latency and isolation benchmark: phiwall next to plain mitmproxy, in the same run.

    .venv/bin/python bench/bench_proxy.py [--n 60]

Prints the run's context (date, machine, cores, load average before and after, versions), then two tables:
1. Added latency of a chat request (200 B, 2 KB, 20 KB of clinical-style text without PHI, so it is forwarded)
   through plain mitmdump and through phiwall: median and p99 of each, the added milliseconds and the ratio.
2. Unrelated small requests while large uploads are being inspected: a small GET to a host phiwall does not
   guard, and a small benign chat request to a guarded host (it needs a worker), each alone and while two clients
   keep uploading 5 MB files (an opaque binary; a PNG photo the image detectors look at): requests per second
   and p99, through plain mitmdump and phiwall.
Everything runs on 127.0.0.1: a fake HTTPS upstream stands in for the chatbot service. Both proxies run in the
same run, alternately, so the machine's load (shared with other jobs) weighs on both alike.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

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


def upload_body(kind: str) -> bytes:
    """A ~5 MB chat request carrying one file as a data URL: opaque random bytes, or a noisy PNG photo."""
    import base64

    if kind == "binary":
        blob = os.urandom(5 * 1024 * 1024)
        mime = "application/octet-stream"
    else:
        import io

        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(7)
        yy, xx = np.mgrid[0:1300, 0:1300]
        base = np.stack([(xx * 0.15) % 255, (yy * 0.12) % 255, ((xx + yy) * 0.08) % 255], axis=-1)
        pixels = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buf, "PNG")
        blob = buf.getvalue()
        mime = "image/png"
    url = f"data:{mime};base64," + base64.b64encode(blob).decode()
    content = [{"type": "file", "file": {"filename": "upload", "file_data": url}}]
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}).encode()


def context_lines() -> list[str]:
    """When and where the numbers were taken: they mean little without the machine and its load."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import mitmproxy.version

    return [
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"machine: {platform.machine()} {cpu or platform.processor()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}",
        f"python {platform.python_version()}, mitmproxy {mitmproxy.version.VERSION}",
    ]


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def upstream_map(upstream_port: int, local_port: int) -> dict[str, int]:
    """Where the test redirect addon sends each host: chatbot hosts to the fake service, 127.0.0.1 (the unguarded
    probe target) to itself. Without the second entry the redirect addon answers the probe with a 502 itself."""
    return {**{h: upstream_port for h in SERVICE_HOSTS}, "127.0.0.1": local_port}


def start_plain(targets: dict[str, int], ca: Path, home: Path) -> tuple[subprocess.Popen[bytes], int]:
    import socket

    port = free_port()
    mapping = ",".join(f"{h}=127.0.0.1:{p}" for h, p in targets.items())
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


def _upload_loop(proxy_url: str, ca: str, kind: str, stop: Any, counts: Any) -> None:
    """One uploading client, in a process of its own so its work never competes with the probe for a GIL."""
    body = upload_body(kind)
    with httpx.Client(proxy=proxy_url, verify=ca, timeout=120) as c:
        while not stop.is_set():
            r = c.post(
                "https://api.openai.com/v1/chat/completions", content=body, headers={"content-type": "application/json"}
            )
            counts.put(r.status_code)


def _serve_upstream(cert: str, key: str, ports: Any) -> None:
    """The fake service in its own process; it forgets what it received (5 MB uploads would fill the memory)."""
    with FakeUpstream(Path(cert), Path(key)) as up:
        ports.put(up.port)
        while True:
            time.sleep(0.5)
            up.clear()


def _serve_local(ports: Any) -> None:
    local = ThreadingHTTPServer(("127.0.0.1", 0), _Local)
    ports.put(local.server_address[1])
    local.serve_forever()


def measure_isolation(
    proxy_url: str, ca: Path, probe: str, local_url: str, seconds: float, upload: str | None
) -> tuple[float, float, dict[int, int]]:
    """Requests/s and p99 of one probe client (`probe`: "get" to an unguarded host, or "chat" to a guarded one)
    while two client processes keep posting `upload` files (None: no uploads). Returns (req/s, p99 ms, upload
    status counts)."""
    mp = multiprocessing.get_context("spawn")
    stop = mp.Event()
    counts: Any = mp.Queue()
    procs = [mp.Process(target=_upload_loop, args=(proxy_url, str(ca), upload, stop, counts)) for _ in range(2)]
    for pr in procs if upload is not None else []:
        pr.start()
    if upload is not None:
        # Wait until both uploaders are under way (each builds its body first).
        first = [counts.get(timeout=120)]
        time.sleep(1.0)
    lat: list[float] = []
    small = chat_body(200)
    with httpx.Client(proxy=proxy_url, verify=str(ca), timeout=120) as c:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            if probe == "get":
                r = c.get(local_url)
            else:
                r = c.post(
                    "https://api.openai.com/v1/chat/completions",
                    content=small,
                    headers={"content-type": "application/json"},
                )
            if r.status_code != 200:
                raise SystemExit(f"probe got {r.status_code}: {r.text[:300]}")
            lat.append((time.perf_counter() - t0) * 1000)
    statuses: dict[int, int] = {}
    if upload is not None:
        stop.set()
        for pr in procs:
            pr.join(180)
        statuses[first[0]] = 1
        while True:
            try:
                code = counts.get(timeout=0.2)
            except queue.Empty:
                break
            statuses[code] = statuses.get(code, 0) + 1
    return len(lat) / seconds, pct(lat, 99), statuses


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60, help="requests per size")
    ap.add_argument("--seconds", type=float, default=8.0, help="duration of each isolation run")
    ap.add_argument("--workers", type=int, default=2, help="phiwall inspection workers (phiwall run's default: 2)")
    ap.add_argument("--express", type=int, default=1, help="phiwall express workers for small requests (default 1)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below: stop both proxies
    for line in context_lines():
        print(line)
    print(f"load average at start: {loadavg()}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="phiwall-bench-"))
    ca, cert, key = make_test_pki(tmp / "pki")
    mp = multiprocessing.get_context("spawn")
    ports: Any = mp.Queue()
    servers = [
        mp.Process(target=_serve_upstream, args=(str(cert), str(key), ports), daemon=True),
        mp.Process(target=_serve_local, args=(ports,), daemon=True),
    ]
    servers[0].start()
    up_port = ports.get(timeout=60)
    servers[1].start()
    local_port = ports.get(timeout=60)
    local_url = f"http://127.0.0.1:{local_port}/"
    sizes = ", ".join(f"{k}: a ~5 MB file in a {len(upload_body(k)) / 1e6:.1f} MB request" for k in ("binary", "png"))
    targets = upstream_map(up_port, local_port)
    plain, plain_port = start_plain(targets, ca, tmp / "plain")
    express = ["--set", f"phiwall_express_workers={args.express}"]
    pw = start_proxy(tmp / "phiwall", targets, ca, workers=args.workers, extra=express)
    try:
        time.sleep(6)  # let the workers finish warming
        plain_url = f"http://127.0.0.1:{plain_port}"
        plain_ca = tmp / "plain" / "mitmproxy" / "mitmproxy-ca-cert.pem"
        print(
            f"\nChat request latency, {args.n} requests each after 3 warm-up (ms); "
            f"phiwall with {args.workers} workers + {args.express} express\n"
        )
        print(
            f"{'size':>6} | {'plain p50':>9} {'plain p99':>9} | {'phiwall p50':>11} {'phiwall p99':>11} | "
            f"{'added p50':>9} {'added p99':>9} | {'p50 ratio':>9}"
        )
        print("-" * 92)
        for size in (200, 2000, 20000):
            body = chat_body(size)
            a = measure_latency(plain_url, plain_ca, body, args.n)
            b = measure_latency(pw.url, pw.ca, body, args.n)
            ma, mb = statistics.median(a), statistics.median(b)
            print(
                f"{size:>6} | {ma:9.1f} {pct(a, 99):9.1f} | {mb:11.1f} {pct(b, 99):11.1f} | "
                f"{mb - ma:9.1f} {pct(b, 99) - pct(a, 99):9.1f} | {mb / ma:8.1f}x",
                flush=True,
            )
        print(
            f"\nSmall requests while 2 clients upload large files ({sizes}), {args.seconds:g} s "
            "each.\nprobe get: GET to an unguarded host; probe chat: 200 B benign chat to api.openai.com\n"
        )
        print(
            f"{'proxy':>8} | {'probe':>5} | {'uploads':>7} | {'req/s':>7} | {'p99 ms':>8} | "
            f"{'uploads done (status: count)':>28}"
        )
        print("-" * 80)
        for probe in ("get", "chat"):
            for kind in ("none", "binary", "png"):
                for name, url, pca in (("plain", plain_url, plain_ca), ("phiwall", pw.url, pw.ca)):
                    upload = None if kind == "none" else kind
                    rps, p99, st = measure_isolation(url, pca, probe, local_url, args.seconds, upload)
                    done = ", ".join(f"{k}: {v}" for k, v in sorted(st.items())) or "-"
                    print(f"{name:>8} | {probe:>5} | {kind:>7} | {rps:7.0f} | {p99:8.1f} | {done:>28}", flush=True)
    finally:
        pw.stop()
        plain.terminate()
        for sv in servers:
            sv.terminate()
    print(f"\nload average at end: {loadavg()}")


if __name__ == "__main__":
    main()
