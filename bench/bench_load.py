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
import json
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


# -- gateway: cases (b) chat with PHI checks, (c) 5 MB uploads, (d) the mix, (a) non-guarded, 50 clients ---------

CHAT_TEXT = (
    "The patient reports intermittent chest tightness on exertion, relieved by rest, with no radiation. "
    "Vitals were stable and the ECG showed sinus rhythm without acute ST changes. "
)


def _chat_2k() -> bytes:
    text = (CHAT_TEXT * 20)[:2048]
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()


def _serve_counting(cert: str, key: str, ports: Any, stop: Any, result: Any) -> None:
    """The fake service in its own process, counting each request's x-bench-id (lost or duplicated requests)."""
    from collections import Counter

    from tests.support.fake_upstream import FakeUpstream

    seen: Counter[str] = Counter()
    with FakeUpstream(Path(cert), Path(key)) as up:
        ports.put(up.port)
        while not stop.is_set():
            time.sleep(0.2)
            n = len(up.requests)  # handler threads only append: take the first n, leave what arrives meanwhile
            got = up.requests[:n]
            del up.requests[:n]
            seen.update(r.headers.get("x-bench-id", "") for r in got)
        time.sleep(0.5)
        seen.update(r.headers.get("x-bench-id", "") for r in up.requests)
    result.put(dict(seen))


def _gw_client(proxy: str, ca: str, kind: str, threads: int, seconds: float, local: int, out: Any) -> None:
    import httpx

    body = _chat_2k() if kind == "chat" else _upload_5mb() if kind == "upload" else b""
    rows: list[tuple[str, int, float]] = []
    lock = threading.Lock()

    def run(t: int) -> None:
        end = time.monotonic() + seconds
        n = 0
        with httpx.Client(proxy=proxy, verify=ssl.create_default_context(cafile=ca), timeout=120,
                          trust_env=False) as c:  # fmt: skip
            while time.monotonic() < end:
                bid = f"{os.getpid()}-{t}-{n}"
                n += 1
                t0 = time.perf_counter()
                try:
                    if kind == "get":
                        r = c.get(f"http://127.0.0.1:{local}/x")
                    else:
                        r = c.post("https://api.openai.com/v1/chat/completions", content=body,
                                   headers={"content-type": "application/json", "x-bench-id": bid})  # fmt: skip
                    status = r.status_code
                except httpx.HTTPError:
                    status = -1
                with lock:
                    rows.append((bid, status, time.perf_counter() - t0))

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((kind, rows))


def _upload_5mb() -> bytes:
    """bench_proxy's 5 MB PNG upload body, loaded from its file (bench/ is scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_bench_proxy", REPO / "bench" / "bench_proxy.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    body: bytes = mod.upload_body("png")
    return body


def _run_mix(
    proxy: str, ca: str, mix: dict[str, int], seconds: float, local: int
) -> dict[str, list[tuple[str, int, float]]]:
    q: Any = multiprocessing.Queue()
    procs = []
    for kind, clients in mix.items():
        per = 5 if kind != "upload" else 1
        for i in range(0, clients, per):
            a = (proxy, ca, kind, min(per, clients - i), seconds, local, q)
            procs.append(multiprocessing.Process(target=_gw_client, args=a))
    for p in procs:
        p.start()
    out: dict[str, list[tuple[str, int, float]]] = {}
    for _ in procs:
        kind, rows = q.get()
        out.setdefault(kind, []).extend(rows)
    for p in procs:
        p.join()
    return out


def _stats(rows: list[tuple[str, int, float]], seconds: float) -> str:
    ok = sorted(r[2] for r in rows if r[1] == 200)
    n503 = [r[2] for r in rows if r[1] == 503]
    other = sum(1 for r in rows if r[1] not in (200, 503))
    if not ok:
        return f"0 ok | - | - | {len(n503)} | {other}"
    p50 = 1000 * statistics.median(ok)
    p99 = 1000 * ok[min(len(ok) - 1, int(len(ok) * 0.99))]
    o = f" (max {1000 * max(n503):.0f} ms)" if n503 else ""
    return f"{len(ok) / seconds:.1f} | {p50:.0f} | {p99:.0f} | {len(n503)}{o} | {other}"


def _peak_rss_mb(pid: int) -> float:
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cmd_gateway(args: argparse.Namespace) -> None:
    from tests.support.proxy import REDIRECT
    from tests.support.tls import SERVICE_HOSTS

    tmp = Path(tempfile.mkdtemp(prefix="phiwall-bench-gw-"))
    ca, cert, key = make_test_pki(tmp / "pki")
    ports: Any = multiprocessing.Queue()
    stop = multiprocessing.Event()
    result: Any = multiprocessing.Queue()
    up = multiprocessing.Process(target=_serve_counting, args=(str(cert), str(key), ports, stop, result), daemon=True)
    up.start()
    up_port = ports.get()
    loc = multiprocessing.Process(target=_serve, args=(ports, None, None), daemon=True)
    loc.start()
    local = ports.get()
    mapping = ",".join(f"{h}=127.0.0.1:{up_port}" for h in SERVICE_HOSTS) + f",127.0.0.1=127.0.0.1:{local}"
    env = dict(os.environ, PHIWALL_TEST_UPSTREAMS=mapping, PHIWALL_HOME=str(tmp / "home"))
    print(f"# bench_load gateway — {context()}")
    print(f"# {args.clients} clients, {args.seconds:g} s per case; phiwall gateway --replicas {args.replicas}")
    gport = free_port()
    gw = subprocess.Popen(
        [sys.executable, "-m", "phiwall.cli", "gateway", "--replicas", str(args.replicas), "--port", str(gport),
         "--", "--workers", str(args.workers), "--", "-s", str(REDIRECT),
         "--set", f"ssl_verify_upstream_trusted_ca={ca}"],
        stdout=(tmp / "gateway.out").open("wb"), stderr=subprocess.STDOUT, env=env, cwd=REPO,
    )  # fmt: skip
    pport = free_port()
    plain = subprocess.Popen(
        [str(Path(sys.executable).with_name("mitmdump")), "--listen-host", "127.0.0.1", "--listen-port", str(pport),
         "-s", str(REDIRECT), "--set", f"confdir={tmp}/plain", "--set", "connection_strategy=lazy",
         "--set", "flow_detail=0", "--set", f"ssl_verify_upstream_trusted_ca={ca}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        end = time.monotonic() + 300
        while "phiwall gateway: ready" not in (tmp / "gateway.out").read_text():
            if time.monotonic() > end or gw.poll() is not None:
                raise SystemExit("gateway did not become ready:\n" + (tmp / "gateway.out").read_text()[-2000:])
            time.sleep(0.5)
        gca = str(tmp / "home" / "mitmproxy" / "mitmproxy-ca-cert.pem")
        pca = str(tmp / "plain" / "mitmproxy-ca-cert.pem")
        small = max(1, args.clients - args.uploaders)
        cases = [
            ("(a) non-guarded GETs", {"get": args.clients}),
            ("(b) 2 KB chat, PHI checks", {"chat": args.clients}),
            ("(c) 5 MB image uploads", {"upload": args.uploaders}),
            ("(d) mix: chat + uploads", {"chat": small, "upload": args.uploaders}),
        ]
        print("\n| case | proxy | requests | ok/s | p50 ms | p99 ms | 503s | other errors |")
        print("|---|---|---|---|---|---|---|---|")
        all_rows: list[tuple[str, int, float]] = []
        for name, mix in cases:
            for proxy, url, cafile in (("mitmdump", f"http://127.0.0.1:{pport}", pca),
                                       ("gateway", f"http://127.0.0.1:{gport}", gca)):  # fmt: skip
                out = _run_mix(url, cafile, mix, args.seconds, local)
                for kind, rows in out.items():
                    if proxy == "gateway" and kind != "get":  # GETs go to the local server, not the service
                        all_rows += rows
                    print(f"| {name} | {proxy} | {kind} | {_stats(rows, args.seconds)} |", flush=True)
        print(f"\n# peak RSS of the gateway's process tree: {_peak_rss_mb(gw.pid):.0f} MB")
    finally:
        gw.send_signal(__import__("signal").SIGINT)
        gw.wait(60)
        plain.terminate()
        plain.wait(20)
        stop.set()
        seen = result.get(timeout=30)
        loc.terminate()
    ok_ids = [r[0] for r in all_rows if r[1] == 200]
    lost = [i for i in ok_ids if i not in seen]
    dup = [i for i, n in seen.items() if n > 1 and i]
    print(
        f"# gateway: {len(ok_ids)} answered 200 (chat/upload); lost at the service: {len(lost)}; duplicated: {len(dup)}"
    )
    print(f"# after: load average {os.getloadavg()[0]:.2f}")


def _fds(pid: int) -> int:
    n = 0
    for p in _tree(pid):
        try:
            n += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return n


def _rss_mb(pid: int) -> float:
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cmd_soak(args: argparse.Namespace) -> None:
    """A bounded soak through `phiwall gateway`: chat clients for N minutes, memory and descriptors of the whole
    process tree sampled each interval, every request counted at the fake service (lost or duplicated)."""
    from tests.support.proxy import REDIRECT
    from tests.support.tls import SERVICE_HOSTS

    tmp = Path(tempfile.mkdtemp(prefix="phiwall-soak-"))
    ca, cert, key = make_test_pki(tmp / "pki")
    ports: Any = multiprocessing.Queue()
    stop = multiprocessing.Event()
    result: Any = multiprocessing.Queue()
    up = multiprocessing.Process(target=_serve_counting, args=(str(cert), str(key), ports, stop, result), daemon=True)
    up.start()
    up_port = ports.get()
    mapping = ",".join(f"{h}=127.0.0.1:{up_port}" for h in SERVICE_HOSTS)
    env = dict(os.environ, PHIWALL_TEST_UPSTREAMS=mapping, PHIWALL_HOME=str(tmp / "home"))
    gport = free_port()
    gw = subprocess.Popen(
        [sys.executable, "-m", "phiwall.cli", "gateway", "--replicas", "2", "--port", str(gport), "--",
         "--workers", "1", "--", "-s", str(REDIRECT), "--set", f"ssl_verify_upstream_trusted_ca={ca}"],
        stdout=(tmp / "gateway.out").open("wb"), stderr=subprocess.STDOUT, env=env, cwd=REPO,
    )  # fmt: skip
    print(f"# bench_load soak — {context()}; {args.minutes:g} min, {args.clients} chat clients")
    rows: list[tuple[str, int, float]] = []
    try:
        end = time.monotonic() + 300
        while "phiwall gateway: ready" not in (tmp / "gateway.out").read_text():
            if time.monotonic() > end or gw.poll() is not None:
                raise SystemExit("gateway did not become ready")
            time.sleep(0.5)
        gca = str(tmp / "home" / "mitmproxy" / "mitmproxy-ca-cert.pem")
        url = f"http://127.0.0.1:{gport}"
        _run_mix(url, gca, {"chat": args.clients}, 20, 0)  # warm-up, not counted in the samples
        print("| minute | RSS MB (tree) | open fds (tree) | ok/s | 503s |")
        print("|---|---|---|---|---|")
        step = 60.0
        for m in range(int(args.minutes)):
            out = _run_mix(url, gca, {"chat": args.clients}, step, 0)
            got = out.get("chat", [])
            rows += got
            ok = sum(1 for r in got if r[1] == 200)
            print(f"| {m + 1} | {_rss_mb(gw.pid):.0f} | {_fds(gw.pid)} | {ok / step:.1f} | "
                  f"{sum(1 for r in got if r[1] == 503)} |", flush=True)  # fmt: skip
    finally:
        gw.send_signal(__import__("signal").SIGINT)
        gw.wait(60)
        stop.set()
        seen = result.get(timeout=30)
    ok_ids = [r[0] for r in rows if r[1] == 200]
    lost = [i for i in ok_ids if i not in seen]
    dup = [i for i, n in seen.items() if n > 1 and i]
    print(f"# {len(ok_ids)} answered 200; lost at the service: {len(lost)}; duplicated: {len(dup)}")


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
    g = sub.add_parser("gateway", help="cases (a)-(d) through phiwall gateway with many clients")
    g.add_argument("--seconds", type=float, default=15.0)
    g.add_argument("--clients", type=int, default=50)
    g.add_argument("--uploaders", type=int, default=4, help="clients sending 5 MB uploads in (c) and (d)")
    g.add_argument("--replicas", type=int, default=2)
    g.add_argument("--workers", type=int, default=1, help="general workers per replica (plus 1 express)")
    g.set_defaults(func=cmd_gateway)
    k = sub.add_parser("soak", help="bounded soak through the gateway: memory, descriptors, lost requests")
    k.add_argument("--minutes", type=float, default=10)
    k.add_argument("--clients", type=int, default=10)
    k.set_defaults(func=cmd_soak)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
