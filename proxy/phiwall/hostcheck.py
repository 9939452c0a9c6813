"""A request must name the host its connection really goes to.

A client can CONNECT api.openai.com:443 (or send SNI api.openai.com) and then write `Host: example.org` (HTTP/2:
`:authority`). mitmproxy connects to the CONNECT target; phiwall routed on the Host header, saw a host it does not
guard, and let the body through uninspected and unaudited. Routing on the Host header alone is what makes that
possible, so a request whose Host or :authority names another host than the connection is answered
421 Misdirected Request (RFC 9110 §15.5.20) whenever either of the two is a host phiwall guards. Browsers and SDKs
never send such requests; a proxy in front of another proxy that rewrites Host would have to be fixed.
"""

from __future__ import annotations

import logging

from mitmproxy import http

from phiwall.extractors import route

log = logging.getLogger(__name__)


def _norm(host: str | None) -> str:
    h = (host or "").strip().lower()
    if h.startswith("["):  # [v6]:port
        return h[1 : h.find("]")] if "]" in h else h
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


def connection_host(flow: http.HTTPFlow) -> str:
    """The host mitmproxy will connect to: the CONNECT target (or URL host) as the proxy recorded it."""
    addr = flow.server_conn.address
    return _norm(addr[0] if addr else flow.request.host)


def misdirected(flow: http.HTTPFlow) -> str | None:
    """Why the request names another host than its connection (a PHI-free sentence), or None when it does not."""
    target = connection_host(flow)
    named = {_norm(flow.request.host_header)} if flow.request.host_header else set()
    if flow.client_conn.sni:
        named.add(_norm(flow.client_conn.sni))
    named.discard("")
    others = {n for n in named if n != target}
    if not others:
        return None
    if route(target) is None and not any(route(n) is not None for n in others):
        return None  # neither side is guarded: not phiwall's business
    return (
        f"phiwall refused this request: its connection goes to {target}, but the request names another host "
        "(Host header, :authority or TLS server name). Send each host its own connection."
    )


def answer_misdirected(flow: http.HTTPFlow) -> bool:
    """Answer 421 when the request is misdirected (see the module docstring); True when answered."""
    why = misdirected(flow)
    if why is None:
        return False
    log.warning("phiwall: refused a request whose Host differs from its connection's host %s", connection_host(flow))
    body = ('{"error": {"message": "' + why + '", "type": "phiwall_misdirected", "code": 421}}').encode()
    flow.response = http.Response.make(421, body, {"content-type": "application/json"})
    return True
