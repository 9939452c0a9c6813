"""Issue 3 acceptance, grok.com: files go up in a multipart v2 upload and the chat goes over the
`wss://grok.com/ws/mgw/` gateway WebSocket. Through a real `phiwall run` process (httpx and a websockets client via
the proxy) to a fake grok.com and a fake gateway: a DICOM is stopped at the upload, the request that carries its
bytes; a message with PHI is dropped before the gateway sees it and the person gets an error event in the stream;
a benign upload and the message that mentions it pass unchanged. The upload + message flow is replayed from a HAR
file built from the spec's shapes (the WebSocket frames in Chrome's `_webSocketMessages` field)."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import Recorded
from tests.support.samples import BENIGN
from tests.support.samples import PHI_PROMPT
from tests.support.special_upstreams import Specials
from tests.support.special_upstreams import special_proxy
from tests.support.web_shapes import FILE_ID
from tests.support.web_shapes import GROK_SESSION_CREATE
from tests.support.web_shapes import entry_body
from tests.support.web_shapes import grok_item
from tests.support.web_shapes import grok_upload_ws_flow
from tests.support.web_shapes import read_har
from tests.support.web_shapes import write_har

pytestmark = pytest.mark.e2e

URL = "wss://grok.com/ws/mgw/?uid=00000000-0000-4000-8000-00000000000a"


@pytest.fixture(scope="module")
def specials(
    tmp_path_factory: pytest.TempPathFactory, pki: tuple[Path, Path, Path], upstream: FakeUpstream
) -> Specials:
    return special_proxy(tmp_path_factory.mktemp("phiwall-special"), pki, upstream.port)


item = grok_item


async def converse(specials: Specials, frames: list[str], expect: int) -> list[dict[str, object]]:
    from websockets.asyncio.client import connect

    ctx = ssl.create_default_context(cafile=str(specials.proxy.ca))
    got: list[dict[str, object]] = []
    async with connect(URL, proxy=specials.proxy.url, ssl=ctx, open_timeout=30) as ws:
        await ws.send(GROK_SESSION_CREATE)
        for f in frames:
            await ws.send(f)
        while len(got) < expect:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
    return got


def test_benign_message_reaches_the_gateway(specials: Specials) -> None:
    specials.grok_ws.clear()
    got = asyncio.run(converse(specials, [item(BENIGN)], expect=2))
    assert got[0]["event"]["type"] == "response.output_text.delta"  # type: ignore[index]
    assert item(BENIGN) in specials.grok_ws.received


def test_phi_message_is_dropped_with_a_notice(specials: Specials) -> None:
    specials.grok_ws.clear()
    got = asyncio.run(converse(specials, [item(PHI_PROMPT)], expect=1))
    ev = got[0]["event"]
    assert ev["type"] == "error" and "phiwall blocked" in ev["error"]["message"]  # type: ignore[index]
    assert "John" not in json.dumps(got)
    assert got[0]["session_id"] == "S1"
    received = [m for m in specials.grok_ws.received if "conversation.item.create" in str(m)]
    assert received == []  # the server never saw the message
    audit = [e for e in specials.proxy.audit_events() if e.get("websocket")]
    assert (
        audit[-1]["verdict"] == "block"
        and audit[-1]["applied"] == "drop"
        and audit[-1]["endpoint"] == "ws.grok_gateway"
    )
    assert "PERSON" in audit[-1]["entity_counts"] or "MRN" in audit[-1]["entity_counts"]


def test_inline_base64_dicom_in_a_frame_is_dropped(specials: Specials) -> None:
    import base64

    from tests.support.samples import dicom_bytes

    specials.grok_ws.clear()
    frame = json.dumps(
        {
            "session_id": "S1",
            "event": {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "x_grok": {"input_chunks": [{"attachment": {"content": base64.b64encode(dicom_bytes()).decode()}}]},
                },
            },
        }
    )
    got = asyncio.run(converse(specials, [frame], expect=1))
    assert got[0]["event"]["type"] == "error"  # type: ignore[index]
    assert not any("conversation.item.create" in str(m) for m in specials.grok_ws.received)


# -- upload, then the message that mentions the file (replayed from a HAR) --------------------------------------


@pytest.fixture
def grok_up(fresh_upstream: FakeUpstream) -> FakeUpstream:
    """grok.com's upload endpoint: every upload gets a fresh fileMetadataId (ids are unique in real traffic)."""
    import uuid

    def upload(_: Recorded) -> tuple[int, dict[str, str], bytes]:
        fid = str(uuid.uuid4())
        doc = {
            "uploadId": "up-" + fid[:8],
            "fileMetadata": {"fileMetadataId": fid, "fileId": fid, "fileUri": f"users/u1/{fid}"},
            "terminalError": None,
        }
        return 200, {"content-type": "application/json"}, json.dumps(doc).encode()

    fresh_upstream.route("POST", r"^/http/upload-file-v2/direct$", upload)
    return fresh_upstream


def replay_grok_flow(
    specials: Specials, tmp_path: Path, file: bytes, mime: str, prompt: str, expect: int
) -> tuple[httpx.Response, list[dict[str, object]] | None]:
    """Replay the HAR's upload entry with httpx, then (if the upload went through, as the web app would) open the
    WebSocket entry and send its frames with the file id the upload returned."""
    entries = read_har(
        write_har(tmp_path / "grok-flow.har", grok_upload_ws_flow(file, "scan" + _ext(mime), mime, prompt))
    )
    upload, ws_entry = entries
    rq = upload["request"]
    with httpx.Client(proxy=specials.proxy.url, verify=ssl.create_default_context(cafile=str(specials.proxy.ca))) as c:
        r = c.post(rq["url"], content=entry_body(upload), headers={h["name"]: h["value"] for h in rq["headers"]})
    if r.status_code != 200:
        return r, None
    fid = r.json()["fileMetadata"]["fileMetadataId"]
    frames = [m["data"].replace(FILE_ID, fid) for m in ws_entry["_webSocketMessages"] if m["type"] == "send"]
    return r, asyncio.run(_send_frames(specials, ws_entry["request"]["url"], frames, expect))


def _ext(mime: str) -> str:
    return {"application/dicom": ".dcm", "text/plain": ".txt"}.get(mime, ".bin")


async def _send_frames(specials: Specials, url: str, frames: list[str], expect: int) -> list[dict[str, object]]:
    from websockets.asyncio.client import connect

    ctx = ssl.create_default_context(cafile=str(specials.proxy.ca))
    got: list[dict[str, object]] = []
    async with connect(url, proxy=specials.proxy.url, ssl=ctx, open_timeout=30) as ws:
        for f in frames:
            await ws.send(f)
        while len(got) < expect:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
    return got


def test_upload_flow_dicom_is_stopped_at_the_upload(specials: Specials, grok_up: FakeUpstream, tmp_path: Path) -> None:
    from tests.support.samples import dicom_bytes

    specials.grok_ws.clear()
    r, got = replay_grok_flow(specials, tmp_path, dicom_bytes(), "application/dicom", BENIGN, expect=0)
    assert r.status_code == 403 and r.headers.get("x-phiwall-verdict") == "block"
    assert "phiwall blocked" in r.json()["error"]["message"] and "DICOM" in r.json()["error"]["message"]
    assert got is None  # no file id came back, so the app has nothing to mention
    assert grok_up.requests == []  # the bytes never left
    ev = specials.proxy.audit_events()[-1]
    assert ev["endpoint"] == "upload.v2" and ev["verdict"] == "block" and "DICOM_FILE" in ev["entity_counts"]


def test_upload_flow_benign_file_and_message_pass_unchanged(
    specials: Specials, grok_up: FakeUpstream, tmp_path: Path
) -> None:
    specials.grok_ws.clear()
    data = b"TSH 6.2 mIU/L, free T4 1.1 ng/dL.\n"
    r, got = replay_grok_flow(specials, tmp_path, data, "text/plain", BENIGN, expect=2)
    assert r.status_code == 200 and len(grok_up.requests) == 1 and data in grok_up.requests[0].body
    assert got is not None and got[0]["event"]["type"] == "response.output_text.delta"  # type: ignore[index]
    fid = r.json()["fileMetadata"]["fileMetadataId"]
    assert grok_item(BENIGN, fid) in specials.grok_ws.received  # the frame reached the gateway byte for byte


def test_upload_flow_message_with_phi_is_dropped(specials: Specials, grok_up: FakeUpstream, tmp_path: Path) -> None:
    specials.grok_ws.clear()
    r, got = replay_grok_flow(specials, tmp_path, b"TSH 6.2 mIU/L.\n", "text/plain", PHI_PROMPT, expect=1)
    assert r.status_code == 200
    assert got is not None and got[0]["event"]["type"] == "error"  # type: ignore[index]
    assert "phiwall blocked" in got[0]["event"]["error"]["message"]  # type: ignore[index]
    assert not any("conversation.item.create" in str(m) for m in specials.grok_ws.received)
