"""Issue 3 acceptance, web apps: requests rebuilt from the spec's recorded shapes (HAR, synthetic PHI) replayed
through the real `phiwall run` process. Each byte-carrying or PHI-carrying request is stopped with a 403 in the
shape that service's own client reads, carrying phiwall's message; each benign one reaches the fake server byte for
byte. The Gemini web app's upload + `f.req` is replayed as a flow: a DICOM is stopped at the `upload, finalize`
request that carries its bytes. (ChatGPT's two-step upload: test_web_chatgpt.py; grok.com's upload + WebSocket
message: test_web_grok_ws.py; claude.ai's wiggle upload is an entry below.)"""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import Recorded
from tests.support.proxy import ProxyProcess
from tests.support.samples import BENIGN
from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes
from tests.support.web_shapes import GEMINI_PUSH
from tests.support.web_shapes import REF
from tests.support.web_shapes import UPLOAD_URL
from tests.support.web_shapes import all_entries
from tests.support.web_shapes import entry_body
from tests.support.web_shapes import gemini_upload_flow
from tests.support.web_shapes import read_har
from tests.support.web_shapes import write_har

pytestmark = pytest.mark.e2e
ENTRIES = all_entries()


@pytest.fixture(scope="module")
def har(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Write the flows as a HAR file and read them back: the replay below works from the HAR, as it would from a
    capture exported by a browser."""
    return read_har(write_har(tmp_path_factory.mktemp("web") / "webapps.har", ENTRIES))


@pytest.fixture(scope="module")
def http(proxy: ProxyProcess) -> httpx.Client:
    with httpx.Client(proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)), timeout=60) as c:
        yield c


@pytest.mark.parametrize("index", range(len(ENTRIES)), ids=[e["_phiwall"]["name"] for e in ENTRIES])
def test_replay(
    index: int, har: list[dict[str, Any]], http: httpx.Client, proxy: ProxyProcess, fresh_upstream: FakeUpstream
) -> None:
    entry = har[index]
    req = entry["request"]
    body = entry_body(entry)
    headers = {h["name"]: h["value"] for h in req["headers"]}
    before = len(proxy.audit_events())
    r = http.request(req["method"], req["url"], content=body, headers=headers)
    host = httpx.URL(req["url"]).host
    if entry["_phiwall"]["expect"] == "block":
        assert r.status_code == 403, r.text[:300]
        assert r.headers.get("x-phiwall-verdict") == "block"
        assert "phiwall blocked" in blocked_message(host, r.json())
        assert fresh_upstream.requests == []  # the bytes never left
        ev = proxy.audit_events()[-1]
        assert ev["verdict"] == "block" and ev["endpoint"] != "generic"  # a known endpoint of that service's adapter
    else:
        assert r.status_code == 200, r.text[:300]
        assert len(fresh_upstream.requests) == 1
        assert fresh_upstream.requests[0].body == body  # forwarded unchanged
        assert fresh_upstream.requests[0].path == "/" + req["url"].split("/", 3)[3]
        if "non-Grok" in entry["_phiwall"]["name"]:  # the rest of X is not phiwall's business: not even audited
            assert len(proxy.audit_events()) == before


def blocked_message(host: str, reply: dict[str, Any]) -> str:
    """Our message, read from the block answer in the error shape that host's own clients expect
    (docs/services.md): X `{"errors": [...]}`, claude.ai the Anthropic envelope, Google's upload hosts the Google
    error, the Gemini web app and grok.com the generic `{"error": {"message", "type"}}`."""
    if host == "x.com":
        assert reply["errors"][0]["code"] == 403
        return str(reply["errors"][0]["message"])
    if host == "claude.ai":
        assert reply["type"] == "error" and reply["error"]["type"] == "permission_error"
    elif host in ("content-push.googleapis.com", "push.clients6.google.com"):
        assert reply["error"]["status"] == "PERMISSION_DENIED" and reply["error"]["code"] == 403
    else:
        assert reply["error"]["type"] == "phiwall_blocked"
    return str(reply["error"]["message"])


def test_har_round_trip_keeps_binary_bodies(har: list[dict[str, Any]]) -> None:
    for original, loaded in zip(ENTRIES, har, strict=True):
        assert entry_body(original) == entry_body(loaded)


# -- Gemini web: upload (resumable start, `upload, finalize`), then StreamGenerate pointing at the file -----------


@pytest.fixture
def push(fresh_upstream: FakeUpstream) -> FakeUpstream:
    """The web app's upload host: `start` answers with a fresh upload URL, `upload, finalize` with the file's
    `/contrib_service/…` reference (spec §3.3); StreamGenerate answers with a length-prefixed frame."""
    import uuid

    def upload(req: Recorded) -> tuple[int, dict[str, str], bytes]:
        if "start" in req.headers.get("x-goog-upload-command", ""):
            url = f"{GEMINI_PUSH}?upload_id={uuid.uuid4().hex}&upload_protocol=resumable"
            return 200, {"x-goog-upload-url": url, "x-goog-upload-status": "active"}, b""
        return 200, {"x-goog-upload-status": "final", "content-type": "text/plain"}, REF.encode()

    def answer(_: Recorded) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": "application/json+protobuf"}, b')]}\'\n\n42\n[["wrb.fr",null,"[]"]]\n'

    fresh_upstream.route("POST", r"^/upload/?$", upload)
    fresh_upstream.route("POST", r"StreamGenerate$", answer)
    return fresh_upstream


def replay_gemini_flow(proxy: ProxyProcess, tmp_path: Any, file: bytes, mime: str, prompt: str) -> list[httpx.Response]:
    """Replay the flow's HAR entries in order, as the web app sends them: the finalize goes to the upload URL the
    start response named, and StreamGenerate is only sent once the upload succeeded."""
    entries = read_har(write_har(tmp_path / "gemini-flow.har", gemini_upload_flow(file, "scan.png", mime, prompt)))
    out: list[httpx.Response] = []
    subs: dict[str, str] = {}
    with httpx.Client(proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)), timeout=60) as c:
        for e in entries:
            rq = e["request"]
            r = c.request(
                rq["method"],
                subs.get(rq["url"], rq["url"]),
                content=entry_body(e),
                headers={h["name"]: h["value"] for h in rq["headers"]},
            )
            out.append(r)
            if r.status_code != 200:
                break
            if "x-goog-upload-url" in r.headers:
                subs[UPLOAD_URL] = r.headers["x-goog-upload-url"]
    return out


def test_gemini_web_dicom_is_stopped_at_the_finalize(proxy: ProxyProcess, push: FakeUpstream, tmp_path: Any) -> None:
    start, finalize = replay_gemini_flow(proxy, tmp_path, dicom_bytes(), "application/dicom", BENIGN)
    assert start.status_code == 200
    assert finalize.status_code == 403 and finalize.headers["x-goog-upload-status"] == "final"
    assert "DICOM" in blocked_message("push.clients6.google.com", finalize.json())
    assert [r.headers.get("x-goog-upload-command") for r in push.requests] == ["start"]  # the bytes never left
    ev = proxy.audit_events()[-1]
    assert ev["host"] == "push.clients6.google.com" and ev["endpoint"] == "files.upload"
    assert ev["verdict"] == "block" and ev["assembled_bytes"] == len(dicom_bytes())


def test_gemini_web_benign_upload_and_prompt_pass_unchanged(
    proxy: ProxyProcess, push: FakeUpstream, tmp_path: Any
) -> None:
    data = b"TSH 6.2 mIU/L, free T4 1.1 ng/dL.\n"
    replies = replay_gemini_flow(proxy, tmp_path, data, "text/plain", BENIGN)
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert replies[1].text == REF
    start, finalize, sg = push.requests
    assert finalize.body == data and finalize.headers["x-goog-upload-command"] == "upload, finalize"
    sent = gemini_upload_flow(data, "scan.png", "text/plain", BENIGN)[2]
    assert sg.body == entry_body(sent)  # the f.req pointing at the file went out byte for byte
    assert proxy.audit_events()[-1]["endpoint"] == "StreamGenerate"


def test_gemini_web_prompt_with_phi_after_an_upload_is_blocked(
    proxy: ProxyProcess, push: FakeUpstream, tmp_path: Any
) -> None:
    replies = replay_gemini_flow(proxy, tmp_path, b"TSH 6.2 mIU/L.\n", "text/plain", PHI_PROMPT)
    assert [r.status_code for r in replies] == [200, 200, 403]
    assert "phiwall blocked" in blocked_message("gemini.google.com", replies[-1].json())
    assert not any("StreamGenerate" in r.path for r in push.requests)
