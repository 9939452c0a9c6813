"""Issue 2 acceptance: the real openai SDK through a real `phiwall run` process to a fake OpenAI server."""

from __future__ import annotations

import base64
import gzip
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from tests.factories import make_dicom
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

PHI_PROMPT = "Patient John Smith, DOB 03/14/1961, MRN 48213977, has a cough. What could it be?"
BENIGN = "What does a TSH of 6.2 mIU/L usually mean?"
POLICIES = Path(__file__).with_name("policies")


def client(proxy: ProxyProcess, sent: list[bytes] | None = None) -> openai.OpenAI:
    hooks = {"request": [lambda r: sent.append(r.read())]} if sent is not None else {}
    http_client = openai.DefaultHttpxClient(proxy=proxy.url, verify=str(proxy.ca), event_hooks=hooks, timeout=60)
    return openai.OpenAI(
        api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http_client, max_retries=0
    )


def raw_client(proxy: ProxyProcess) -> httpx.Client:
    return httpx.Client(proxy=proxy.url, verify=str(proxy.ca), timeout=60)


def test_benign_question_reaches_server_byte_identical(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    sent: list[bytes] = []
    r = client(proxy, sent).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": BENIGN}])
    assert r.choices[0].message.content == "Fake answer."
    assert len(fresh_upstream.requests) == 1
    assert fresh_upstream.requests[0].body == sent[0]
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "allow" and ev["endpoint"] == "chat.completions"


def test_chat_with_patient_identifiers_is_blocked(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PHI_PROMPT}])
    err = ei.value
    assert err.status_code == 403
    msg = err.body["message"] if isinstance(err.body, dict) else str(err)
    assert "phiwall blocked" in msg
    assert "John" not in msg and "48213977" not in msg
    assert "medical record number" in msg or "person name" in msg
    assert {"message", "type", "code"} <= set(err.body), err.body  # OpenAI's own error shape
    assert fresh_upstream.requests == []
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "block" and ev["applied"] == "block"
    assert {"MRN", "PERSON"} <= set(ev["entity_counts"])
    # The audit event's fields (issue 2, deliverable 7), and no value in it.
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", ev["ts"])
    assert ev["client"] == "127.0.0.1" and ev["service"] == "openai_api" and ev["endpoint"] == "chat.completions"
    assert ev["rule_ids"] and ev["latency_ms"] > 0 and ev["policy_id"] == "default"
    assert ev["digests"] and all(re.fullmatch(r"[0-9a-f]{16}", d) for d in ev["digests"])
    flat = json.dumps(ev)
    assert "John" not in flat and "Smith" not in flat and "48213977" not in flat and "1961" not in flat


def test_earlier_turns_are_inspected(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    messages = [
        {"role": "user", "content": PHI_PROMPT},
        {"role": "assistant", "content": "It could be many things."},
        {"role": "user", "content": BENIGN},
    ]
    with pytest.raises(openai.PermissionDeniedError):
        client(proxy).chat.completions.create(model="gpt-4o", messages=messages)
    assert fresh_upstream.requests == []


def test_dicom_upload_with_files_create_is_blocked(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    dcm = make_dicom(patient_name="Smith^John", patient_id="48213977")
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).files.create(file=("scan.dcm", dcm, "application/dicom"), purpose="user_data")
    assert "DICOM" in str(ei.value)
    assert fresh_upstream.requests == []


def test_dicom_renamed_as_png_in_data_url_is_blocked(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    dcm = make_dicom(preamble=False, file_meta=False, encoding="implicit")  # no preamble, no DICM magic
    url = "data:image/png;base64," + base64.b64encode(dcm).decode()
    content = [{"type": "text", "text": "What does this show?"}, {"type": "image_url", "image_url": {"url": url}}]
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])
    assert "DICOM" in str(ei.value)
    assert fresh_upstream.requests == []


def test_responses_api_input_file_is_blocked(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    dcm = make_dicom()
    file_data = "data:application/octet-stream;base64," + base64.b64encode(dcm).decode()
    with pytest.raises(openai.PermissionDeniedError):
        client(proxy).responses.create(
            model="gpt-4o",
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Read this"},
                        {"type": "input_file", "filename": "x.dcm", "file_data": file_data},
                    ],
                }
            ],
        )
    assert fresh_upstream.requests == []


@pytest.mark.parametrize("shape", ["raw-body", "multipart", "json-base64"])
def test_generic_adapter_finds_a_dicom_by_its_bytes(
    proxy: ProxyProcess, fresh_upstream: FakeUpstream, shape: str
) -> None:
    """Any other path on a guarded host goes through the generic adapter: a raw body, any multipart file part,
    any JSON string that decodes to a file. Sniffed by magic bytes (a preamble-less data set here), never by the
    declared type or name."""
    dcm = make_dicom(preamble=False, file_meta=False, encoding="implicit")
    url = "https://api.openai.com/v1/some/new/endpoint"
    with raw_client(proxy) as c:
        if shape == "raw-body":
            r = c.put(url, content=dcm, headers={"content-type": "text/plain"})
        elif shape == "multipart":
            r = c.post(url, files={"attachment": ("notes.txt", dcm, "text/plain")}, data={"purpose": "x"})
        else:
            r = c.post(url, json={"payload": {"blob": base64.b64encode(dcm).decode()}})
    assert r.status_code == 403, r.text
    assert "DICOM" in r.json()["error"]["message"]
    assert fresh_upstream.requests == []
    ev = proxy.audit_events()[-1]
    assert ev["endpoint"] == "generic" and "DICOM_FILE" in ev["entity_counts"]


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd", "deflate"])
def test_compressed_body_is_inspected(proxy: ProxyProcess, fresh_upstream: FakeUpstream, coding: str) -> None:
    import zlib

    import brotli
    import zstandard

    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": PHI_PROMPT}]}).encode()
    packed = {
        "gzip": gzip.compress,
        "br": brotli.compress,
        "zstd": zstandard.ZstdCompressor().compress,
        "deflate": zlib.compress,
    }[coding](body)
    with raw_client(proxy) as c:
        r = c.post(
            "https://api.openai.com/v1/chat/completions",
            content=packed,
            headers={"content-type": "application/json", "content-encoding": coding},
        )
    assert r.status_code == 403, r.text
    assert r.json()["error"]["type"] == "phiwall_blocked"
    assert fresh_upstream.requests == []


def test_compressed_benign_body_passes(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": BENIGN}]}).encode()
    packed = gzip.compress(body)
    with raw_client(proxy) as c:
        r = c.post(
            "https://api.openai.com/v1/chat/completions",
            content=packed,
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
    assert r.status_code == 200
    assert fresh_upstream.requests[0].body == packed  # forwarded as sent, still compressed


def test_warn_notice_in_sdk_reply(proxy_factory: Callable[..., ProxyProcess], fresh_upstream: FakeUpstream) -> None:
    p = proxy_factory(POLICIES / "warn.yaml")
    raw = client(p).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": PHI_PROMPT}]
    )
    r = raw.parse()
    assert raw.headers["x-phiwall-verdict"] == "warn"
    assert r.choices[0].message.content.startswith("⚠️ phiwall")
    assert r.choices[0].message.content.endswith("Fake answer.")
    assert len(fresh_upstream.requests) == 1  # forwarded unchanged
    assert "John Smith" in fresh_upstream.requests[0].body.decode()


def test_warn_notice_is_first_streamed_chunk(
    proxy_factory: Callable[..., ProxyProcess], fresh_upstream: FakeUpstream
) -> None:
    p = proxy_factory(POLICIES / "warn.yaml")
    stream = client(p).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": PHI_PROMPT}], stream=True
    )
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert pieces[0].startswith("⚠️ phiwall")
    assert "".join(pieces[1:]) == "Fake answer."


def test_detector_error_follows_on_error(
    proxy_factory: Callable[..., ProxyProcess], fresh_upstream: FakeUpstream
) -> None:
    """A truncated PNG makes the image detector fail: default policy blocks (422), a warn policy forwards."""
    png = _truncated_png()
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    content = [{"type": "image_url", "image_url": {"url": url}}]
    default = proxy_factory()
    with pytest.raises(openai.APIStatusError) as ei:
        client(default).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])
    assert ei.value.status_code == 422
    assert "could not inspect" in str(ei.value)
    assert fresh_upstream.requests == []
    ev = default.audit_events()[-1]
    assert ev["rule_ids"] == ["on_error"] and ev["verdict"] == "block"

    warn = proxy_factory(POLICIES / "warn.yaml")
    r = client(warn).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])
    assert r.choices[0].message.content.startswith("⚠️ phiwall")
    assert len(fresh_upstream.requests) == 1


def _truncated_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (300, 300), 128).save(buf, "PNG")
    return buf.getvalue()[:200]


# -- malformed bodies: a clear 4xx, an audit event, and the proxy stays up ----------------------------------------


def _post(proxy: ProxyProcess, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    with raw_client(proxy) as c:
        return c.post(
            "https://api.openai.com/v1/chat/completions",
            content=body,
            headers={"content-type": "application/json", **(headers or {})},
        )


@pytest.mark.parametrize(
    "name,body,status,expect",
    [
        ("invalid-json", b'{"model": "gpt-4o", "messages": [', 422, "not valid JSON"),
        ("truncated-gzip", gzip.compress(b'{"messages": []}' * 50)[:40], 422, "truncated gzip"),
        ("unknown-encoding", b'{"messages": []}', 422, "unsupported Content-Encoding"),
        (
            "broken-base64",
            json.dumps(
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo%%%%"}}
                            ],
                        }
                    ]
                }
            ).encode(),
            422,
            "broken base64",
        ),
        ("truncated-dicom", None, 403, "DICOM"),
    ],
)
def test_malformed_bodies(
    proxy: ProxyProcess, fresh_upstream: FakeUpstream, name: str, body: bytes | None, status: int, expect: str
) -> None:
    if body is None:
        dcm = make_dicom()[:300]
        body = json.dumps(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "file",
                                "file": {
                                    "filename": "a.dcm",
                                    "file_data": "data:application/dicom;base64," + base64.b64encode(dcm).decode(),
                                },
                            }
                        ],
                    }
                ]
            }
        ).encode()
    headers = {"truncated-gzip": {"content-encoding": "gzip"}, "unknown-encoding": {"content-encoding": "xpress7"}}
    before = len(proxy.audit_events())
    r = _post(proxy, body, headers.get(name))
    assert r.status_code == status, r.text
    assert expect in r.json()["error"]["message"]
    assert fresh_upstream.requests == []
    assert len(proxy.audit_events()) == before + 1
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "block" and ev["path"] == "/v1/chat/completions"
    _still_serves(proxy)


def _still_serves(proxy: ProxyProcess) -> None:
    """The proxy stays up: the same process answers a benign request right after."""
    assert proxy.proc.poll() is None
    assert _post(proxy, json.dumps({"messages": [{"role": "user", "content": BENIGN}]}).encode()).status_code == 200


def test_decompression_bomb(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    bomb = gzip.compress(b'{"messages": "' + b"A" * (60 * 1024 * 1024) + b'"}', 9)
    assert len(bomb) < 200_000
    before = len(proxy.audit_events())
    r = _post(proxy, bomb, {"content-encoding": "gzip"})
    assert r.status_code == 413
    assert "decompression bomb" in r.json()["error"]["message"]
    assert fresh_upstream.requests == []
    assert len(proxy.audit_events()) == before + 1
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "block" and ev["rule_ids"] == ["on_error"] and "bomb" in ev["error"]
    _still_serves(proxy)


def test_huge_content_length_is_refused_before_the_body(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    """A 10 GB Content-Length is answered at once (413) without reading or forwarding the body."""

    reply = proxy.raw_https(
        "api.openai.com",
        b"POST /v1/files HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: 10000000000\r\n\r\n" + b"x" * 1000,
    )
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"text/html" not in reply and b"application/json" in reply  # phiwall's answer, not mitmproxy's page
    assert fresh_upstream.requests == []
    ev = _wait_for_event(proxy, lambda e: e["path"] == "/v1/files" and "limit" in (e.get("error") or ""))
    assert ev["verdict"] == "block" and ev["rule_ids"] == ["on_error"]
    _still_serves(proxy)


def _wait_for_event(proxy: ProxyProcess, match: Callable[[dict], bool], seconds: float = 10) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        hits = [e for e in proxy.audit_events() if match(e)]
        if hits:
            return hits[-1]
        time.sleep(0.1)
    raise AssertionError(f"no matching audit event; last: {proxy.audit_events()[-1:]}")


# -- the time limit, lazy connections, TLS only for guarded hosts, the start banner -------------------------------


def test_inspection_time_limit_follows_on_error(
    proxy_factory: Callable[..., ProxyProcess], fresh_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An inspection that runs past the policy's limit is cut off (504, on_error, audited); the stuck worker is
    replaced and the proxy keeps answering."""
    policy = tmp_path_factory.mktemp("timeout-policy") / "timeout.yaml"
    policy.write_text(
        "version: 1\nid: test-timeout\ndefaults:\n  timeout_seconds: 0.01\nrules:\n"
        "  - id: phi\n    when: {parts: [text], entities: [PERSON]}\n    action: block\n"
    )
    p = proxy_factory(policy)
    note = (BENIGN + " ") * 450  # ~20 KB: NER alone takes far longer than 10 ms
    for _ in range(2):
        with pytest.raises(openai.APIStatusError) as ei:
            client(p).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": note}])
        assert ei.value.status_code == 504
        assert "longer than the policy's 0.01 s limit" in str(ei.value)
        ev = p.audit_events()[-1]
        assert ev["verdict"] == "block" and ev["rule_ids"] == ["on_error"] and "0.01 s limit" in ev["error"]
    assert fresh_upstream.requests == []
    assert p.proc.poll() is None
    assert "replaced an inspection worker" in p.log.read_text()


def test_blocked_request_never_connects_to_the_service(
    proxy: ProxyProcess, fresh_upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """connection_strategy=lazy: a blocked request opens no connection to the service, not even a TCP handshake
    (the fake server counts every connection it accepts)."""
    accepted: list[int] = []
    real_accept = fresh_upstream.server.get_request

    def counting_accept() -> tuple[socket.socket, object]:
        conn = real_accept()
        accepted.append(1)
        return conn

    monkeypatch.setattr(fresh_upstream.server, "get_request", counting_accept)
    with pytest.raises(openai.PermissionDeniedError):
        client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PHI_PROMPT}])
    with pytest.raises(openai.PermissionDeniedError):
        client(proxy).files.create(file=("scan.dcm", make_dicom(), "application/dicom"), purpose="user_data")
    assert accepted == []
    client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": BENIGN}])
    assert len(accepted) == 1  # the counter works: an allowed request does connect


def test_small_request_does_not_wait_behind_a_large_inspection(
    proxy: ProxyProcess, fresh_upstream: FakeUpstream
) -> None:
    """Off the event loop, and in the right lane: while the one general worker spends seconds on a large body,
    a small chat message is inspected by the express worker and answered at once."""
    big = (BENIGN + " The thyroid panel was otherwise unremarkable. ") * 4500  # ~400 KB of text: seconds of NER
    done: dict[str, float] = {}  # seconds, and the status code

    def large() -> None:
        t = time.perf_counter()
        with raw_client(proxy) as c:
            r = c.post(
                "https://api.openai.com/v1/chat/completions",
                json={"model": "gpt-4o", "messages": [{"role": "user", "content": big}]},
            )
        done["large"] = time.perf_counter() - t
        done["large_status"] = r.status_code

    th = threading.Thread(target=large)
    th.start()
    time.sleep(0.5)  # the large body is in the general worker
    t = time.perf_counter()
    r = client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": BENIGN}])
    small = time.perf_counter() - t
    assert "large" not in done, "the large inspection finished too soon to show anything"
    th.join(120)
    assert r.choices[0].message.content == "Fake answer."
    assert done["large_status"] in (200, 403)
    assert small < done["large"] / 3, f"small {small:.2f} s, large {done['large']:.2f} s"


def _peer_issuer(proxy: ProxyProcess, host: str, port: int) -> str:
    """The issuer of the certificate a client sees for host:port through the proxy."""
    from cryptography import x509

    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as raw:
        raw.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        assert b" 200" in raw.recv(4096)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            der = s.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).issuer.rfc4514_string()


def test_tls_is_intercepted_only_for_guarded_hosts(proxy: ProxyProcess, upstream: FakeUpstream) -> None:
    """api.openai.com gets phiwall's certificate (inspected); any other host is tunnelled (allow_hosts): the
    client sees that server's own certificate and phiwall never decrypts it."""
    assert "CN=mitmproxy" in _peer_issuer(proxy, "api.openai.com", 443)
    assert "phiwall test upstream CA" in _peer_issuer(proxy, "127.0.0.1", upstream.port)


def test_run_prints_how_to_use_the_proxy(proxy: ProxyProcess) -> None:
    banner = proxy.log.read_text()
    assert f"export HTTPS_PROXY={proxy.url} HTTP_PROXY={proxy.url}" in banner
    assert f"SSL_CERT_FILE={proxy.ca} REQUESTS_CA_BUNDLE={proxy.ca}" in banner
    assert "policy default" in banner
