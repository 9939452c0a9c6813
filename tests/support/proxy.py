"""Start a real `phiwall run` process for end-to-end tests, pointed at local fake upstreams."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REDIRECT = Path(__file__).with_name("redirect_addon.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ProxyProcess:
    proc: subprocess.Popen[bytes]
    port: int
    home: Path
    audit: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.home / "mitmproxy" / "mitmproxy-ca-cert.pem"

    def audit_events(self) -> list[dict]:
        import json

        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines() if line.strip()]

    def raw_https(self, host: str, request: bytes, *, then: float = 0.0) -> bytes:
        """Send hand-written HTTP/1.1 bytes through a CONNECT tunnel, for what no HTTP client will send (a lying
        Content-Length, a client that hangs up mid-body). Reads one reply unless `then` > 0, in which case it
        waits that long and hangs up without reading."""
        import ssl

        ctx = ssl.create_default_context(cafile=str(self.ca))
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as raw:
            raw.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
            assert b"200" in raw.recv(4096)
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                s.sendall(request)
                if then > 0:
                    time.sleep(then)
                    return b""
                return s.recv(65536)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path, seconds: float = 60) -> None:
    """Return once `proc` accepts connections on `port`; raise with the end of its log if it exits or times out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"not listening after {seconds} s:\n{log.read_text()[-3000:]}")


def start_proxy(
    home: Path,
    upstreams: dict[str, int],
    upstream_ca: Path,
    *,
    policy: Path | None = None,
    mode: str = "enforce",
    workers: int = 1,
    extra: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> ProxyProcess:
    """Run `phiwall run` as a real process and wait until it accepts connections and its workers are warm."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    audit = home / "audit.jsonl"
    log = home / "proxy.log"
    mapping = ",".join(f"{h}=127.0.0.1:{p}" for h, p in upstreams.items())
    cmd = [
        sys.executable,
        "-m",
        "phiwall.cli",
        "run",
        "--port",
        str(port),
        "--mode",
        mode,
        "--audit-file",
        str(audit),
        "--workers",
        str(workers),
    ]
    if policy is not None:
        cmd += ["--policy", str(policy)]
    cmd += ["--", "-s", str(REDIRECT), "--set", f"ssl_verify_upstream_trusted_ca={upstream_ca}"]
    cmd += extra or []
    e = dict(os.environ, PHIWALL_HOME=str(home), PHIWALL_TEST_UPSTREAMS=mapping, PYTHONUNBUFFERED="1")
    for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
        e.pop(k, None)
    e.update(env or {})
    fh = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=e, cwd=REPO)
    pp = ProxyProcess(proc, port, home, audit, log)
    try:
        wait_listening(proc, port, log, 60)
    except RuntimeError:
        pp.stop()
        raise
    return pp
