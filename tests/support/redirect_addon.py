"""Test-only mitmproxy addon: sends upstream connections for chatbot hosts to local fake servers.

Loaded after phiwall (`phiwall run -- -s tests/support/redirect_addon.py`), so phiwall sees the real host name
and decides first; only requests phiwall lets through reach this hook. Map format (env PHIWALL_TEST_UPSTREAMS):
"host=127.0.0.1:port,host2=127.0.0.1:port2" or "*=127.0.0.1:port". A key "ws:host" sends that host's WebSocket
handshakes elsewhere than its plain HTTP requests (grok.com serves uploads over HTTPS and chat over a WebSocket;
the fakes for the two are different servers).
"""

from __future__ import annotations

import os

from mitmproxy import http


class Redirect:
    def __init__(self) -> None:
        self.map: dict[str, tuple[str, int]] = {}
        for item in os.environ.get("PHIWALL_TEST_UPSTREAMS", "").split(","):
            if "=" in item:
                host, target = item.split("=", 1)
                h, p = target.rsplit(":", 1)
                self.map[host.strip()] = (h, int(p))

    def _target(self, host: str, websocket: bool = False) -> tuple[str, int] | None:
        return (self.map.get("ws:" + host) if websocket else None) or self.map.get(host) or self.map.get("*")

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        host = flow.request.pretty_host
        target = self._target(host, flow.request.headers.get("upgrade", "").lower() == "websocket")
        if target is None:
            flow.response = http.Response.make(502, b"test redirect: no fake upstream for " + host.encode())
            return
        flow.request.host, flow.request.port = target
        flow.request.host_header = host

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        pass


addons = [Redirect()]
