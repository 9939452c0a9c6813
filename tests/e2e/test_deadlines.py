"""Issue 13 (smaller gaps): a guarded request body sent byte by byte slower than `phiwall_body_timeout`, and a
service that does not answer within `phiwall_upstream_timeout`, get a clear answer in the service's format from a
real `phiwall run`; the body is never forwarded, both are audited, and the proxy keeps serving."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import Recorded
from tests.support.proxy import ProxyProcess
from tests.support.proxy import start_proxy
from tests.support.tls import SERVICE_HOSTS

pytestmark = pytest.mark.e2e
LIMIT = 3


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, pki: tuple[Path, Path, Path], upstream: FakeUpstream
) -> Iterator[ProxyProcess]:
    p = start_proxy(
        tmp_path_factory.mktemp("deadlines"),
        {h: upstream.port for h in SERVICE_HOSTS},
        pki[0],
        extra=["--set", f"phiwall_body_timeout={LIMIT}", "--set", f"phiwall_upstream_timeout={LIMIT}"],
    )
    try:  # the first guarded request waits for the workers to warm: not part of any time measured below
        client(p).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        yield p
    finally:
        p.stop()


def client(proxy: ProxyProcess) -> openai.OpenAI:
    http = openai.DefaultHttpxClient(proxy=proxy.url, verify=str(proxy.ca), timeout=60)
    return openai.OpenAI(api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)


def _read_reply(s: ssl.SSLSocket) -> bytes:
    out = b""
    s.settimeout(30)
    try:
        while chunk := s.recv(65536):
            out += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return out


def test_slow_body_gets_408_and_is_never_forwarded(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello " * 20}]}).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    ctx = ssl.create_default_context(cafile=str(proxy.ca))
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as raw:
        raw.sendall(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n")
        assert b"200" in raw.recv(4096)
        with ctx.wrap_socket(raw, server_hostname="api.openai.com") as s:
            s.sendall(head)
            s.setblocking(False)
            reply = b""
            for b in body:  # one byte every 0.25 s: the whole body would take ~40 s
                try:
                    s.send(bytes([b]))
                except (ssl.SSLWantWriteError, BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    break
                time.sleep(0.25)
                try:
                    reply += s.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue
                except (ConnectionResetError, ssl.SSLError):
                    break
                if b"\r\n\r\n" in reply:
                    break
            s.setblocking(True)
            reply += _read_reply(s)  # the answer closes the connection: read to the end
    elapsed = time.monotonic() - t0
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"phiwall_body_timeout" in reply and b"application/json" in reply.lower()
    assert LIMIT <= elapsed < LIMIT + 15
    assert fresh_upstream.requests == []
    ev = proxy.audit_events()[-1]
    assert ev["rule_ids"] == ["body_timeout"] and ev["verdict"] == "block"
    # the proxy keeps serving
    r = client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Fake answer."


def _hang(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    time.sleep(LIMIT + 5)
    return 200, {"content-type": "application/json"}, b"{}"


def test_hung_service_gets_504_in_the_service_format(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    fresh_upstream.route("POST", r"/v1/hang/chat/completions$", _hang)
    try:
        hung = openai.OpenAI(
            api_key="sk-test",
            base_url="https://api.openai.com/v1/hang",
            http_client=openai.DefaultHttpxClient(proxy=proxy.url, verify=str(proxy.ca), timeout=60),
            max_retries=0,
        )
        t0 = time.monotonic()
        with pytest.raises(openai.APIStatusError) as ei:
            hung.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert time.monotonic() - t0 < LIMIT + 4
        assert ei.value.status_code == 504 and "phiwall_upstream_timeout" in str(ei.value)
        ev = proxy.audit_events()[-1]
        assert ev["rule_ids"] == ["upstream_timeout"]
    finally:
        fresh_upstream.routes[:] = [r for r in fresh_upstream.routes if r[2] is not _hang]
    r = client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Fake answer."
