"""Load benchmarks: phiwall next to plain mitmdump (same options, same run), bounded, all on 127.0.0.1.

    .venv/bin/python bench/bench_load.py unguarded [--seconds 8] [--clients 4] [--rounds 2]
    .venv/bin/python bench/bench_load.py gateway [--seconds 20] [--clients 50]

`unguarded` (issue 12, point 7 and case a): small plain-HTTP GETs (a new connection each) and fresh HTTPS tunnels
(CONNECT + TLS + GET) to a host phiwall does not guard, through plain mitmdump and through `phiwall run` with the
same mitmproxy options (allow_hosts, connection_strategy=lazy, flow_detail=0), alternately, after phiwall says it
is ready: requests per second, p50 and p99, and the ratio phiwall / mitmdump.

`gateway` (cases b-d) drives `phiwall gateway --replicas 2` with many concurrent clients: 2 KB chat requests with
PHI checks, 5 MB uploads, and a mix; see docs/performance.md for the numbers and what they mean.
Prints the run's context (time, cores, load average) so numbers from a loaded machine are recognisable.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "proxy"))

from tests.support.proxy import free_port  # noqa: E402
from tests.support.tls import make_test_pki  # noqa: E402


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("content-length", "2")
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(b"ok")
        self.close_connection = True

    def log_message(self, *a: object) -> None:
        pass


def _serve(port_q: Any, cert: str | None, key: str | None) -> None:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    srv.daemon_threads = True
    if cert and key:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    port_q.put(srv.server_address[1])
    srv.serve_forever()


def _one(proxy: int, target: int, tls: ssl.SSLContext | None) -> float:
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", proxy), timeout=10) as s:
        if tls is None:
            head = f"GET http://127.0.0.1:{target}/x HTTP/1.1\r\nHost: 127.0.0.1:{target}\r\n"
            s.sendall((head + "Connection: close\r\n\r\n").encode())
            conn: Any = s
        else:
            s.sendall(f"CONNECT 127.0.0.1:{target} HTTP/1.1\r\nHost: 127.0.0.1:{target}\r\n\r\n".encode())
            if b" 200" not in s.recv(4096):
                raise OSError("CONNECT refused")
            conn = tls.wrap_socket(s, server_hostname="localhost")
            conn.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while not data.endswith(b"ok"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        if not data.endswith(b"ok"):
            raise OSError("short answer")
    return time.perf_counter() - t0


def _client(proxy: int, target: int, ca: str | None, seconds: float, out: Any) -> None:
    tls = ssl.create_default_context(cafile=ca) if ca else None
    lat: list[float] = []
    errors = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            lat.append(_one(proxy, target, tls))
        except OSError:
            errors += 1
    out.put((lat, errors))


def load(proxy: int, target: int, ca: str | None, seconds: float, clients: int) -> dict[str, float]:
    q: Any = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_client, args=(proxy, target, ca, seconds, q)) for _ in range(clients)]
    for p in procs:
        p.start()
    lat: list[float] = []
    errors = 0
    for _ in procs:
        got, err = q.get()
        lat += got
        errors += err
    for p in procs:
        p.join()
    lat.sort()
    return {
        "rps": len(lat) / seconds,
        "p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan"),
        "errors": errors,
    }


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for t in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(x) for x in t.read_text().split()]
            except OSError:
                pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (workers included): a cost that, unlike req/s,
    does not depend on what else the shared machine is doing."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def _wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"proxy exited: {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("proxy did not start")


def start_plain(home: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Plain mitmdump with exactly the mitmproxy options `phiwall run` sets (minus phiwall's own)."""
    from phiwall.extractors import allow_hosts_pattern

    port = free_port()
    cmd = [str(Path(sys.executable).with_name("mitmdump")), "--listen-host", "127.0.0.1", "--listen-port", str(port),
           "--set", f"confdir={home / 'mitmproxy'}", "--set", "connection_strategy=lazy",
           "--set", f"allow_hosts={allow_hosts_pattern()}", "--set", "body_size_limit=52428800",
           "--set", "flow_detail=0"]  # fmt: skip
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    _wait_port(port, p)
    return p, port


def start_phiwall(
    home: Path, workers: int, extra: list[str], wait_ready: bool = True
) -> tuple[subprocess.Popen[bytes], int]:
    port, admin = free_port(), free_port()
    env = dict(os.environ, PHIWALL_HOME=str(home))
    cmd = [sys.executable, "-m", "phiwall.cli", "run", "--port", str(port), "--workers", str(workers),
           "--admin-port", str(admin), "--audit-file", str(home / "audit.jsonl"), "--", *extra]  # fmt: skip
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    _wait_port(port, p)
    end = time.monotonic() + (180 if wait_ready else 0)
    while time.monotonic() < end:  # measure a ready proxy, not one whose workers are still loading models
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    if wait_ready:
        time.sleep(2)  # let the warm-up's last CPU settle
    return p, port


def context() -> str:
    return (
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {len(os.sched_getaffinity(0))} cores, "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def cmd_unguarded(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="phiwall-bench-"))
    ca, cert, key = make_test_pki(tmp / "pki")
    q: Any = multiprocessing.Queue()
    servers = [
        multiprocessing.Process(target=_serve, args=(q, None, None), daemon=True),
        multiprocessing.Process(target=_serve, args=(q, str(cert), str(key)), daemon=True),
    ]
    servers[0].start()
    http_port = q.get()
    servers[1].start()
    https_port = q.get()
    print(f"# bench_load unguarded — {context()}")
    print(f"# {args.clients} client processes, {args.seconds:g} s per run, {args.rounds} rounds, alternating")
    if args.no_wait_ready:
        print("# phiwall measured from the moment it listens, while its workers still load their models")
    plain, pport = start_plain(tmp / "plain")
    wall, wport = start_phiwall(tmp / "phiwall", args.workers, args.extra or [], not args.no_wait_ready)
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for _ in range(args.rounds):
            for kind, target, cafile in (("http GET", http_port, None), ("https tunnel", https_port, str(ca))):
                for name, port, proc in (("mitmdump", pport, plain), ("phiwall", wport, wall)):
                    c0 = cpu_seconds(proc.pid)
                    r = load(port, target, cafile, args.seconds, args.clients)
                    n = r["rps"] * args.seconds
                    r["cpu_ms"] = 1000 * (cpu_seconds(proc.pid) - c0) / n if n else float("nan")
                    rows.setdefault((kind, name), []).append(r)
    finally:
        for p in (plain, wall):
            p.terminate()
            p.wait(20)
        for s in servers:
            s.terminate()
    print("\n| traffic | proxy | req/s (median of rounds) | p50 ms | p99 ms | errors | req/s ratio "
          "| proxy CPU ms/request | CPU ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in ("http GET", "https tunnel"):
        base = statistics.median(r["rps"] for r in rows[(kind, "mitmdump")])
        cbase = statistics.median(r["cpu_ms"] for r in rows[(kind, "mitmdump")])
        for name in ("mitmdump", "phiwall"):
            rs = rows[(kind, name)]
            rps = statistics.median(r["rps"] for r in rs)
            print(
                f"| {kind} | {name} | {rps:.0f} ({', '.join(f'{r["rps"]:.0f}' for r in rs)}) "
                f"| {statistics.median(r['p50_ms'] for r in rs):.1f} "
                f"| {statistics.median(r['p99_ms'] for r in rs):.1f} "
                f"| {sum(int(r['errors']) for r in rs)} | {rps / base:.2f} "
                f"| {statistics.median(r['cpu_ms'] for r in rs):.2f} "
                f"| {statistics.median(r['cpu_ms'] for r in rs) / cbase:.2f} |"
            )
    print(f"\n# after: load average {os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("unguarded", help="non-guarded traffic: phiwall vs plain mitmdump")
    u.add_argument("--seconds", type=float, default=8.0)
    u.add_argument("--clients", type=int, default=4)
    u.add_argument("--rounds", type=int, default=2)
    u.add_argument("--workers", type=int, default=2)
    u.add_argument("--no-wait-ready", action="store_true", help="start measuring before /readyz (warm-up)")
    u.add_argument("extra", nargs="*", help="mitmdump options for phiwall (after --)")
    u.set_defaults(func=cmd_unguarded)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
