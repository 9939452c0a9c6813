"""A Host header (HTTP/1) or :authority (HTTP/2) that names another host than the CONNECT target (issue 13,
hostile input): mitmproxy connects to the CONNECT target, so routing on the Host header let PHI reach the chatbot
uninspected and unaudited. Through a real `phiwall run`, such requests are answered 421 and nothing is forwarded;
a Host that matches (with or without the port) still works."""

from __future__ import annotations

import json
import socket
import ssl

import h2.config
import h2.connection
import h2.events
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.samples import BENIGN
from tests.support.samples import PHI_PROMPT

pytestmark = pytest.mark.e2e
BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": PHI_PROMPT}]}).encode()


def _h1(proxy: ProxyProcess, host_header: str, body: bytes = BODY) -> bytes:
    req = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    ctx = ssl.create_default_context(cafile=str(proxy.ca))
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as raw:
        raw.sendall(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n")
        assert b"200" in raw.recv(4096)
        with ctx.wrap_socket(raw, server_hostname="api.openai.com") as s:
            s.sendall(req)
            out = b""
            while b"\r\n\r\n" not in out or len(out.split(b"\r\n\r\n", 1)[1]) < _length(out):
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            return out


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def _h2(proxy: ProxyProcess, authority: str, body: bytes = BODY) -> tuple[int, bytes]:
    """One HTTP/2 POST through a CONNECT tunnel to api.openai.com, with `authority` as :authority."""
    ctx = ssl.create_default_context(cafile=str(proxy.ca))
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as raw:
        raw.sendall(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n")
        assert b"200" in raw.recv(4096)
        with ctx.wrap_socket(raw, server_hostname="api.openai.com") as s:
            assert s.selected_alpn_protocol() == "h2"
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            headers = [
                (":method", "POST"),
                (":scheme", "https"),
                (":authority", authority),
                (":path", "/v1/chat/completions"),
                ("content-type", "application/json"),
                ("content-length", str(len(body))),
            ]
            conn.send_headers(1, headers)
            conn.send_data(1, body, end_stream=True)
            s.sendall(conn.data_to_send())
            status, data = 0, b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                for ev in conn.receive_data(chunk):
                    if isinstance(ev, h2.events.ResponseReceived):
                        status = int(dict(ev.headers)[b":status"])
                    elif isinstance(ev, h2.events.DataReceived):
                        data += ev.data
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded | h2.events.StreamReset):
                        return status, data
                s.sendall(conn.data_to_send())
            return status, data


@pytest.mark.parametrize("host", ["example.org", "example.org:443", "chat.example.org"])
def test_http1_host_header_naming_another_host_is_refused(
    proxy: ProxyProcess, fresh_upstream: FakeUpstream, host: str
) -> None:
    reply = _h1(proxy, host)
    assert reply.startswith(b"HTTP/1.1 421"), reply[:300]
    assert b"phiwall_misdirected" in reply
    assert fresh_upstream.requests == []


def test_http2_authority_naming_another_host_is_refused(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    status, data = _h2(proxy, "example.org")
    assert status == 421, data[:300]
    assert json.loads(data)["error"]["type"] == "phiwall_misdirected"
    assert fresh_upstream.requests == []


def test_matching_host_still_inspected_on_both_protocols(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    assert _h1(proxy, "api.openai.com").startswith(b"HTTP/1.1 403")  # PHI: blocked, as usual
    assert _h1(proxy, "API.OpenAI.com:443").startswith(b"HTTP/1.1 403")
    status, _ = _h2(proxy, "api.openai.com")
    assert status == 403
    benign = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": BENIGN}]}).encode()
    status, _ = _h2(proxy, "api.openai.com", benign)
    assert status == 200 and len(fresh_upstream.requests) == 1
