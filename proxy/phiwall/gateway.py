"""`phiwall gateway`: the no-container egress topology from Debian packages, on one host.

    clients ──► HAProxy (TCP mode, HOST:PORT) ──► N × `phiwall run` on 127.0.0.1 (each with its admin port)
                   │ health check: GET /readyz on each admin port       │
                   └────────────────────────────────────────────────────┴──► redis-server (shared state)

TCP mode keeps TLS end to end between the client and a replica (HAProxy never sees a byte in clear) and lets
every replica answer CONNECT itself. All replicas share one PHIWALL_HOME: one CA (clients trust one certificate),
one installation secret (digests, state keys and pseudonyms agree), one policy; each writes its own audit file.
Redis holds the upload sessions and verdicts, so a multi-request upload may cross replicas. A replica that exits
is restarted; Ctrl-C (SIGINT/SIGTERM) stops HAProxy, the replicas and the Redis it started, in that order.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from phiwall import home

DEFAULT_REDIS_MAXMEMORY = "1gb"


def find_binary(name: str) -> str | None:
    """A Debian daemon may live in /usr/sbin, which is not on every user's PATH."""
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def haproxy_config(
    host: str, port: int, replicas: Sequence[tuple[int, int]], *, stats_port: int | None = None, maxconn: int = 20000
) -> str:
    """HAProxy in TCP mode in front of the replicas. `replicas` are (proxy port, admin port) pairs: each server is
    checked with GET /readyz on its admin port, so a replica takes traffic only once its workers are warm, and a
    dead one is out within ~2 s; `redispatch` + `retries` move a refused connection to a live replica."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [
        "global",
        f"    maxconn {maxconn}",
        "defaults",
        "    mode tcp",
        "    timeout connect 2s",
        "    timeout client 15m",  # long uploads and streamed answers
        "    timeout server 15m",
        "    timeout check 2s",
        "    retries 3",
        "    option redispatch",
        "frontend phiwall",
        f"    bind {bind}",
        "    default_backend replicas",
        "backend replicas",
        "    balance roundrobin",
        "    option httpchk GET /readyz",
        "    http-check expect status 200",
        "    default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 1 on-marked-down shutdown-sessions",
    ]
    lines += [f"    server r{i} 127.0.0.1:{p} check port {a}" for i, (p, a) in enumerate(replicas, 1)]
    if stats_port:
        lines += ["frontend stats", "    mode http", f"    bind 127.0.0.1:{stats_port}", "    stats enable",
                  "    stats uri /"]  # fmt: skip
    return "\n".join(lines) + "\n"


@dataclass
class Replica:
    index: int
    port: int
    admin: int
    audit: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0


@dataclass
class Gateway:
    """The processes of one gateway, started and stopped together."""

    host: str
    port: int
    replicas: int
    redis_url: str | None
    extra: list[str]
    workdir: Path
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    members: list[Replica] = field(default_factory=list)
    redis: subprocess.Popen[bytes] | None = None
    haproxy: subprocess.Popen[bytes] | None = None
    _stopping: bool = False
    stats_port: int = 0
    state_url: str = ""

    # -- start ------------------------------------------------------------------------------------------------

    def start_redis(self) -> str:
        exe = find_binary("redis-server")
        if exe is None:
            raise SystemExit(
                "phiwall gateway: redis-server is not installed (apt-get install redis-server), or pass --redis URL"
            )
        port = free_port()
        d = self.workdir / "redis"
        d.mkdir(parents=True, exist_ok=True)
        # No persistence (state lives an hour and holds file chunks), loopback only, and noeviction: when full,
        # writes fail and the upload fails closed instead of Redis silently dropping another upload's chunks.
        cmd = [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
               "--dir", str(d), "--maxmemory", DEFAULT_REDIS_MAXMEMORY, "--maxmemory-policy", "noeviction",
               "--protected-mode", "yes"]  # fmt: skip
        self.redis = self._spawn(cmd, d / "redis.log")
        _wait_port(port, self.redis, 20, "redis-server")
        return f"redis://127.0.0.1:{port}/0"

    def _replica_cmd(self, r: Replica, state: str) -> list[str]:
        user, mitm = _split_extra(self.extra)
        cmd = [sys.executable, "-m", "phiwall.cli", "run", "--host", "127.0.0.1", "--port", str(r.port),
               "--admin-port", str(r.admin), "--state", state, "--audit-file", str(r.audit), *user]  # fmt: skip
        cmd += ["--", "--set", f"phiwall_pac_proxy={self._public()}", *mitm]
        return cmd

    def _public(self) -> str:
        host = self.host if self.host not in ("", "0.0.0.0", "::") else socket.getfqdn()
        return f"{host}:{self.port}"

    def start_replica(self, r: Replica, state: str) -> None:
        r.proc = self._spawn(self._replica_cmd(r, state), r.log)

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        state = self.redis_url or self.start_redis()
        self.state_url = state
        for i in range(1, self.replicas + 1):
            r = Replica(i, free_port(), free_port(), self.workdir / f"audit-r{i}.jsonl", self.workdir / f"r{i}.log")
            self.members.append(r)
            self.start_replica(r, state)
        exe = find_binary("haproxy")
        if exe is None:
            raise SystemExit("phiwall gateway: haproxy is not installed (apt-get install haproxy)")
        cfg = self.workdir / "haproxy.cfg"
        pairs = [(r.port, r.admin) for r in self.members]
        self.stats_port = free_port()  # loopback only: lets supervise() see HAProxy's own view of the servers
        cfg.write_text(haproxy_config(self.host, self.port, pairs, stats_port=self.stats_port, maxconn=_maxconn()))
        check = subprocess.run([exe, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"phiwall gateway: HAProxy refused its configuration:\n{check.stderr}")
        self.haproxy = self._spawn([exe, "-db", "-f", str(cfg)], self.workdir / "haproxy.log")
        self._write_state()

    def _spawn(self, cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
        fh = log.open("ab")
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        fh.close()
        self.children.append(p)
        return p

    def _write_state(self) -> None:
        """gateway.json: ports and pids, for operators (and tests) who need to find a replica."""
        doc = {
            "listen": f"{self.host}:{self.port}",
            "state": _safe_url(self.state_url),
            "haproxy_pid": self.haproxy.pid if self.haproxy else None,
            "redis_pid": self.redis.pid if self.redis else None,
            "replicas": [
                {"index": r.index, "port": r.port, "admin_port": r.admin, "pid": r.proc.pid if r.proc else None,
                 "audit": str(r.audit), "log": str(r.log), "restarts": r.restarts}
                for r in self.members
            ],
        }  # fmt: skip
        tmp = self.workdir / "gateway.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(self.workdir / "gateway.json")

    # -- run ----------------------------------------------------------------------------------------------------

    def ready(self) -> list[int]:
        """Indexes of the replicas whose /readyz answers 200."""
        out = []
        for r in self.members:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{r.admin}/readyz", timeout=1) as resp:  # noqa: S310
                    if resp.status == 200:
                        out.append(r.index)
            except OSError:
                pass
        return out

    def haproxy_up(self) -> int:
        """How many replicas HAProxy itself marks UP (its health checks lag /readyz by up to a check interval)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/;csv", timeout=1) as resp:  # noqa: S310
                rows = resp.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return 0
        return sum(1 for r in rows if r.startswith("replicas,r") and ",UP," in r)

    def supervise(self, announce: bool = True) -> int:
        """Until stopped: restart a replica that exits, stop everything if HAProxy or our Redis dies."""
        t0 = time.monotonic()
        announced = False
        while not self._stopping:
            if self.haproxy is not None and self.haproxy.poll() is not None:
                print(f"phiwall gateway: HAProxy exited ({self.haproxy.returncode}); stopping", file=sys.stderr)
                return 1
            if self.redis is not None and self.redis.poll() is not None:
                print("phiwall gateway: redis-server exited; stopping", file=sys.stderr)
                return 1
            for r in self.members:
                if r.proc is not None and r.proc.poll() is not None and not self._stopping:
                    code = r.proc.returncode
                    r.restarts += 1
                    if r.restarts > 20:
                        print(f"phiwall gateway: replica r{r.index} keeps exiting; see {r.log}", file=sys.stderr)
                        return 1
                    print(f"phiwall gateway: replica r{r.index} exited ({code}); restarting it", flush=True)
                    self.start_replica(r, self.state_url)
                    self._write_state()
            if (
                announce
                and not announced
                and len(self.ready()) == len(self.members)
                and self.haproxy_up() == len(self.members)
            ):
                announced = True
                print(
                    f"phiwall gateway: ready in {time.monotonic() - t0:.1f} s on http://{self.host}:{self.port} "
                    f"({len(self.members)} replicas, state {_safe_url(self.state_url)}, files in {self.workdir})",
                    flush=True,
                )
            time.sleep(0.5)
        return 0

    def stop(self) -> None:
        """HAProxy first (no new connections), then the replicas (they finish what they hold), then Redis."""
        self._stopping = True
        order = (
            [p for p in (self.haproxy,) if p]
            + [r.proc for r in self.members if r.proc]
            + ([self.redis] if self.redis else [])
        )
        for p in order:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 15
        for p in order:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def _maxconn() -> int:
    """HAProxy needs about two descriptors per connection; stay within what this process may open."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard if hard != resource.RLIM_INFINITY else 1_000_000
    return max(256, min(20000, (limit - 200) // 2))


def _split_extra(extra: Sequence[str]) -> tuple[list[str], list[str]]:
    """`phiwall run` arguments, and after a second `--` the mitmdump ones."""
    args = list(extra)
    if args and args[0] == "--":
        args = args[1:]
    if "--" in args:
        i = args.index("--")
        return args[:i], args[i + 1 :]
    return args, []


def _safe_url(url: str) -> str:
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


def _wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"phiwall gateway: {what} exited at start ({proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"phiwall gateway: {what} did not start within {seconds:g} s")


def gateway_problem(host: str, extra: Sequence[str]) -> str | None:
    """The open-proxy rule for the gateway's own listener, and identity headers that HAProxy would make useless:
    in TCP mode every client reaches a replica from 127.0.0.1, so trusting a header from a proxy address would
    trust it from everyone."""
    from phiwall import exposure

    user, mitm = _split_extra(extra)
    flat = [*user, *mitm]
    if "--trusted-proxies" in flat or exposure.option_from_extra(flat, "phiwall_trusted_proxies"):
        return (
            "phiwall gateway: --trusted-proxies cannot work behind the gateway's HAProxy (TCP mode): every client "
            "reaches a replica from 127.0.0.1, so the header would be trusted from anyone. Use --htpasswd (or "
            "--proxyauth) for identity, or run replicas yourself behind your authenticating proxy."
        )
    auth = "--htpasswd" in flat or "--proxyauth" in flat or bool(exposure.option_from_extra(flat, "proxyauth"))
    return exposure.refusal(
        exposure.ListenAuth(host=host, proxyauth="on" if auth else "", open_proxy_ok=exposure.OPEN_PROXY_FLAG in flat)
    )


def run_gateway(host: str, port: int, replicas: int, redis_url: str | None, extra: Sequence[str]) -> int:
    """The `phiwall gateway` command. Returns the exit status."""
    problem = gateway_problem(host, extra)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if replicas < 1:
        print("phiwall gateway: --replicas must be at least 1", file=sys.stderr)
        return 2
    from phiwall import digest
    from phiwall.cli import ensure_ca

    ca = ensure_ca()  # one CA and one installation secret for every replica, made before any starts
    digest.load_or_create_secret(home.default_secret_file())
    workdir = home.home() / "gateway"
    gw = Gateway(host, port, replicas, redis_url, list(extra), workdir)

    def _stop(signum: int, _frame: object) -> None:
        gw._stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        gw.start()
        print(
            f"phiwall gateway: HAProxy on {host}:{port} -> {replicas} replicas "
            f"({', '.join(str(r.port) for r in gw.members)}); clients trust {ca}",
            flush=True,
        )
        return gw.supervise()
    finally:
        gw.stop()
        print("phiwall gateway: stopped", flush=True)
