"""The admin endpoint of one proxy process, on 127.0.0.1 only: /metrics, /healthz, /readyz, /proxy.pac.

A deliberately tiny HTTP/1.1 server on asyncio (one GET per connection, no body): it runs on mitmproxy's event
loop beside the proxy, shares nothing with the traffic path, and binds loopback only, so the metrics never face
the network the proxy serves (a Prometheus on the same host, or a sidecar, scrapes it; see docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from phiwall.metrics import CONTENT_TYPE
from phiwall.metrics import Metrics

log = logging.getLogger("phiwall")

ADMIN_HOST = "127.0.0.1"
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class AdminServer:
    """Serves the admin paths. `ready()` says why the process is not ready yet (None: ready)."""

    def __init__(self, metrics: Metrics, ready: Callable[[], str | None], pac: Callable[[], str]) -> None:
        self.metrics = metrics
        self.ready = ready
        self.pac = pac
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self, port: int, host: str = ADMIN_HOST) -> None:
        self._server = await asyncio.start_server(self._handle, host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("phiwall: admin endpoint on http://%s:%d", host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def route(self, method: str, path: str) -> tuple[int, str, bytes]:
        path = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"GET only\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE, self.metrics.exposition()
        if path == "/healthz":
            return 200, "application/json", b'{"status":"up"}\n'
        if path == "/readyz":
            why = self.ready()
            if why is None:
                return 200, "application/json", b'{"status":"ready"}\n'
            return 503, "application/json", json.dumps({"status": "starting", "reason": why}).encode() + b"\n"
        if path == "/proxy.pac":
            return 200, "application/x-ns-proxy-autoconfig", self.pac().encode()
        return 404, "text/plain", b"not found: try /metrics /healthz /readyz /proxy.pac\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            status, ctype, body = self.route(method, path)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            status, ctype, body = 400, "text/plain", b"bad request\n"
            method = "GET"
        except Exception:  # noqa: BLE001 - a metrics bug must not take the admin port down
            log.exception("phiwall: admin endpoint failed")
            status, ctype, body = 500, "text/plain", b"internal error\n"
            method = "GET"
        hdr = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n"
        )
        try:
            writer.write(hdr.encode("latin-1") + (body if method != "HEAD" else b""))
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
