"""Issue 3 acceptance, grok.com: the chat goes over the `wss://grok.com/ws/mgw/` gateway WebSocket. Through a real
`phiwall run` process (websockets client via the proxy) to a fake gateway: a message with PHI is dropped before the
server sees it and the person gets an error event in the stream; a benign message passes unchanged."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.samples import BENIGN
from tests.support.samples import PHI_PROMPT
from tests.support.special_upstreams import Specials
from tests.support.special_upstreams import special_proxy

pytestmark = pytest.mark.e2e

URL = "wss://grok.com/ws/mgw/?uid=00000000-0000-4000-8000-00000000000a"


@pytest.fixture(scope="module")
def specials(
    tmp_path_factory: pytest.TempPathFactory, pki: tuple[Path, Path, Path], upstream: FakeUpstream
) -> Specials:
    return special_proxy(tmp_path_factory.mktemp("phiwall-special"), pki, upstream.port)


def item(text: str, file_id: str | None = None) -> str:
    """A gateway `conversation.item.create` frame (spec §4.2)."""
    chunks: list[dict[str, object]] = [{"text": {"text": text}}]
    ids = []
    if file_id:
        chunks.insert(0, {"mention": {"target": {"file_mention": {"file_id": file_id}}}})
        ids = [file_id]
    return json.dumps(
        {
            "session_id": "S1",
            "event": {
                "type": "conversation.item.create",
                "event_id": "evt_msg_1",
                "item": {
                    "type": "message",
                    "role": "user",
                    "x_grok": {"client_message_id": "c1", "input_chunks": chunks},
                    "file_attachment_ids": ids,
                },
                "file_attachment_ids": ids,
            },
        }
    )


async def converse(specials: Specials, frames: list[str], expect: int) -> list[dict[str, object]]:
    from websockets.asyncio.client import connect

    ctx = ssl.create_default_context(cafile=str(specials.proxy.ca))
    got: list[dict[str, object]] = []
    async with connect(URL, proxy=specials.proxy.url, ssl=ctx, open_timeout=30) as ws:
        await ws.send(
            json.dumps({"event": {"type": "session.create", "event_id": "evt_init_1", "session": {"model": "grok-4"}}})
        )
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
