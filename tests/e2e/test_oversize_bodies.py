"""Bodies over the policy's size limit (issue 13 item 4): every client gets a 413 in the service's error format
with phiwall's message within seconds, whether it declared the size (Content-Length), asked first
(`Expect: 100-continue`) or sends chunks that grow past the limit; the proxy stays up, nothing reaches the service,
and the audit records each refusal once.

Before phiwall answered these itself, mitmproxy's `body_size_limit` refused them with its own HTML page, which the
openai SDK met as a 60 s timeout, httpx as a `WriteTimeout` and curl as HTML."""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess

POLICY = Path(__file__).with_name("policies") / "small_body.yaml"
LIMIT = 65536
BIG = 2 * 1024 * 1024  # 32 times the limit: a client would still be sending when a refusal arrived
QUICK = 10.0  # seconds; the SDKs' own timeouts below are 60 s


@pytest.fixture(scope="module")
def small(proxy_factory: Callable[..., ProxyProcess]) -> ProxyProcess:
    return proxy_factory(POLICY)


def _sdk(proxy: ProxyProcess) -> openai.OpenAI:
    http_client = openai.DefaultHttpxClient(proxy=proxy.url, verify=str(proxy.ca), timeout=60)
    return openai.OpenAI(
        api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http_client, max_retries=0
    )


def _too_large_events(proxy: ProxyProcess, path: str) -> list[dict]:
    return [e for e in proxy.audit_events() if e.get("path") == path and "too large" in (e.get("error") or "")]


def _audited_once(proxy: ProxyProcess, path: str, before: int) -> dict:
    """The refusal is audited exactly once (waits briefly: the audit line is written as the answer goes out)."""
    deadline = time.monotonic() + 5
    while len(_too_large_events(proxy, path)) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a second (duplicate) event would land by now
    events = _too_large_events(proxy, path)
    assert len(events) == before + 1, events[before:]
    ev = events[-1]
    assert ev["verdict"] == "block" and ev["applied"] == "block" and ev["rule_ids"] == ["on_error"]
    return ev


def _is_phiwall_413_json(status: int, body: bytes) -> str:
    assert status == 413, body[:300]
    doc = json.loads(body)  # the service's JSON error shape, not mitmproxy's HTML page
    err = doc["error"]
    assert err["code"] == "request_too_large"
    assert f"{LIMIT}-byte limit" in err["message"] and "phiwall" in err["message"]
    return str(err["message"])


def _still_serves(proxy: ProxyProcess) -> None:
    assert proxy.proc.poll() is None
    with httpx.Client(proxy=proxy.url, verify=str(proxy.ca), timeout=60) as c:
        r = c.post(
            "https://api.openai.com/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "What is a normal TSH?"}]},
        )
    assert r.status_code == 200


def test_openai_sdk_file_upload_over_the_limit(small: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    before = len(_too_large_events(small, "/v1/files"))
    t0 = time.monotonic()
    with pytest.raises(openai.APIStatusError) as ei:
        _sdk(small).files.create(file=("notes.txt", io.BytesIO(b"x" * BIG)), purpose="assistants")
    assert time.monotonic() - t0 < QUICK
    assert ei.value.status_code == 413
    assert f"{LIMIT}-byte limit" in ei.value.message and "phiwall" in ei.value.message
    assert ei.value.response.headers["x-phiwall-verdict"] == "block"
    assert fresh_upstream.requests == []
    _audited_once(small, "/v1/files", before)
    _still_serves(small)


def test_openai_sdk_chat_over_the_limit(small: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    before = len(_too_large_events(small, "/v1/chat/completions"))
    t0 = time.monotonic()
    with pytest.raises(openai.APIStatusError) as ei:
        _sdk(small).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "a" * BIG}])
    assert time.monotonic() - t0 < QUICK
    assert ei.value.status_code == 413 and f"{LIMIT}-byte limit" in ei.value.message
    assert fresh_upstream.requests == []
    _audited_once(small, "/v1/chat/completions", before)
    _still_serves(small)


def test_httpx_declared_size_over_the_limit(small: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    before = len(_too_large_events(small, "/v1/chat/completions"))
    t0 = time.monotonic()
    with httpx.Client(proxy=small.url, verify=str(small.ca), timeout=60) as c:
        r = c.post(
            "https://api.openai.com/v1/chat/completions",
            content=b'{"messages": "' + b"a" * BIG + b'"}',
            headers={"content-type": "application/json"},
        )
    assert time.monotonic() - t0 < QUICK
    _is_phiwall_413_json(r.status_code, r.content)
    assert fresh_upstream.requests == []
    _audited_once(small, "/v1/chat/completions", before)
    _still_serves(small)


def test_httpx_chunked_body_growing_past_the_limit(small: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    """No Content-Length: the body is cut off once it grows past the limit, with the same answer."""

    def chunks() -> Iterator[bytes]:
        for _ in range(BIG // 16384):
            yield b"a" * 16384

    before = len(_too_large_events(small, "/v1/chat/completions"))
    t0 = time.monotonic()
    with httpx.Client(proxy=small.url, verify=str(small.ca), timeout=60) as c:
        r = c.post(
            "https://api.openai.com/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"}
        )
    assert time.monotonic() - t0 < QUICK
    assert "content-length" not in r.request.headers
    _is_phiwall_413_json(r.status_code, r.content)
    assert fresh_upstream.requests == []
    _audited_once(small, "/v1/chat/completions", before)
    _still_serves(small)


def test_expect_100_continue_is_answered_before_the_body(small: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    """A client that asks first gets the 413 instead of `100 Continue`, without sending a byte of its body."""
    before = len(_too_large_events(small, "/v1/files"))
    reply = _raw_reply(
        small,
        b"POST /v1/files HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/octet-stream\r\n"
        b"Expect: 100-continue\r\nContent-Length: " + str(BIG).encode() + b"\r\n\r\n",
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), reply[:300]
    assert b"100 Continue" not in head
    _is_phiwall_413_json(413, body)
    assert fresh_upstream.requests == []
    _audited_once(small, "/v1/files", before)
    _still_serves(small)


def _raw_reply(proxy: ProxyProcess, head: bytes) -> bytes:
    """Send only a request head through a CONNECT tunnel and read one whole reply (head and Content-Length body)."""
    ctx = ssl.create_default_context(cafile=str(proxy.ca))
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=QUICK) as raw:
        raw.sendall(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n")
        assert b"200" in raw.recv(4096)
        with ctx.wrap_socket(raw, server_hostname="api.openai.com") as s:
            s.sendall(head)
            got = b""
            while True:
                top, sep, body = got.partition(b"\r\n\r\n")
                m = re.search(rb"(?im)^content-length:\s*(\d+)", top)
                if sep and (m is None or len(body) >= int(m.group(1))):
                    return got
                chunk = s.recv(65536)
                if not chunk:
                    return got
                got += chunk


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("expect", [True, False], ids=["expect-100-continue", "no-expect"])
def test_curl_over_the_limit(small: ProxyProcess, fresh_upstream: FakeUpstream, tmp_path: Path, expect: bool) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * BIG)
    before = len(_too_large_events(small, "/v1/files"))
    cmd = ["curl", "-sS", "--max-time", "60", "--proxy", small.url, "--cacert", str(small.ca)]
    cmd += ["-H", "Content-Type: application/octet-stream", "--data-binary", f"@{big}"]
    # With a 30 s wait for `100 Continue`, only an answer before the body makes curl finish within seconds.
    cmd += ["-H", "Expect: 100-continue", "--expect100-timeout", "30"] if expect else ["-H", "Expect:"]
    cmd += ["-w", "\n%{http_code}", "https://api.openai.com/v1/files"]
    t0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, timeout=90, check=False)
    assert time.monotonic() - t0 < QUICK, out.stderr
    body, _, code = out.stdout.rpartition(b"\n")
    _is_phiwall_413_json(int(code), body)
    assert fresh_upstream.requests == []
    _audited_once(small, "/v1/files", before)
    _still_serves(small)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_bodies_under_the_limit_still_pass(small: ProxyProcess, fresh_upstream: FakeUpstream, chunked: bool) -> None:
    before = len(_too_large_events(small, "/v1/chat/completions"))
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "TSH " * (LIMIT // 8)}]}).encode()
    assert LIMIT // 2 < len(body) <= LIMIT
    content: bytes | Iterator[bytes] = iter([body[: len(body) // 2], body[len(body) // 2 :]]) if chunked else body
    with httpx.Client(proxy=small.url, verify=str(small.ca), timeout=60) as c:
        r = c.post(
            "https://api.openai.com/v1/chat/completions", content=content, headers={"content-type": "application/json"}
        )
    if chunked:
        # Forwarded as sent (chunked), which the fake service cannot read (it reads Content-Length bodies only):
        # what matters here is that phiwall passed it on instead of refusing it.
        assert r.status_code != 413 and len(fresh_upstream.requests) == 1, r.text[:300]
    else:
        assert r.status_code == 200, r.text[:300]
        assert [rec.body for rec in fresh_upstream.requests] == [body]
    assert len(_too_large_events(small, "/v1/chat/completions")) == before


def test_http2_stream_is_answered_before_its_body(small: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    """HTTP/2 (browsers): a stream declaring a body over the limit gets the 413 before sending any DATA."""
    import h2.config
    import h2.connection
    import h2.events

    before = len(_too_large_events(small, "/v1/chat/completions"))
    ctx = ssl.create_default_context(cafile=str(small.ca))
    ctx.set_alpn_protocols(["h2"])
    status, data = 0, b""
    with socket.create_connection(("127.0.0.1", small.port), timeout=QUICK) as raw:
        raw.sendall(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n")
        assert b"200" in raw.recv(4096)
        with ctx.wrap_socket(raw, server_hostname="api.openai.com") as s:
            assert s.selected_alpn_protocol() == "h2"
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            headers = [
                (":method", "POST"),
                (":scheme", "https"),
                (":authority", "api.openai.com"),
                (":path", "/v1/chat/completions"),
                ("content-type", "application/json"),
                ("content-length", str(BIG)),
            ]
            conn.send_headers(1, headers)  # and no DATA: the answer must not wait for it
            s.sendall(conn.data_to_send())
            done = False
            while not done:
                chunk = s.recv(65536)
                assert chunk, "connection closed without an answer"
                for ev in conn.receive_data(chunk):
                    if isinstance(ev, h2.events.ResponseReceived):
                        status = int(dict(ev.headers)[b":status"])
                    elif isinstance(ev, h2.events.DataReceived):
                        data += ev.data
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded | h2.events.StreamReset):
                        done = True
                s.sendall(conn.data_to_send())
    _is_phiwall_413_json(status, data)
    assert fresh_upstream.requests == []
    _audited_once(small, "/v1/chat/completions", before)
    _still_serves(small)


def test_shadow_mode_refuses_with_mitmproxy_limit_and_audits_once(
    proxy_factory: Callable[..., ProxyProcess], fresh_upstream: FakeUpstream
) -> None:
    """Shadow mode answers nothing in phiwall's name: mitmproxy's own limit refuses the body (it cannot be held, so it
    is not forwarded either), and the audit records once what enforce mode would have done."""
    shadow = proxy_factory(POLICY, mode="shadow")
    before = len(_too_large_events(shadow, "/v1/files"))
    reply = _raw_reply(
        shadow,
        b"POST /v1/files HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: " + str(BIG).encode() + b"\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
    assert fresh_upstream.requests == []
    deadline = time.monotonic() + 5
    while len(_too_large_events(shadow, "/v1/files")) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    events = _too_large_events(shadow, "/v1/files")
    assert len(events) == before + 1
    assert events[-1]["verdict"] == "block" and events[-1]["applied"] == "none" and events[-1]["mode"] == "shadow"
    assert shadow.proc.poll() is None
