"""The addon's hooks in process: option checks, flows it must leave alone, gRPC answers, WebSocket drops."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy import http
from mitmproxy import websocket
from mitmproxy.test import tflow
from wsproto.frame_protocol import Opcode

from tests.addon.conftest import audit
from tests.addon.test_addon_uploads import flow
from tests.addon.test_addon_uploads import send
from tests.support.samples import BENIGN
from tests.support.samples import PHI_PROMPT


def test_stream_large_bodies_is_refused(phiwall_ctx) -> None:
    addon, tctx = phiwall_ctx
    with pytest.raises(exceptions.OptionsError, match="stream_large_bodies"):
        tctx.configure(addon, stream_large_bodies="1m")


def test_bad_mode_is_refused(phiwall_ctx) -> None:
    addon, tctx = phiwall_ctx
    with pytest.raises(exceptions.OptionsError, match="phiwall_mode"):
        tctx.configure(addon, phiwall_mode="loud")


def test_bad_policy_path_is_refused(phiwall_ctx, tmp_path: Path) -> None:
    addon, tctx = phiwall_ctx
    with pytest.raises(exceptions.OptionsError, match="phiwall_policy"):
        tctx.configure(addon, phiwall_policy=str(tmp_path / "missing.yaml"))


async def test_non_guarded_host_is_untouched(phiwall_ctx, tmp_path: Path) -> None:
    addon, _ = phiwall_ctx
    body = json.dumps({"messages": [{"role": "user", "content": PHI_PROMPT}]}).encode()
    f = await send(
        addon, flow("POST", "https://example.org/v1/chat/completions", body, {"content-type": "application/json"})
    )
    assert f.response is None and "phiwall" not in f.metadata and f.request.content == body
    assert audit(tmp_path) == []


async def test_already_answered_flow_is_left_alone(phiwall_ctx, tmp_path: Path) -> None:
    addon, _ = phiwall_ctx
    f = flow(
        "POST",
        "https://api.openai.com/v1/chat/completions",
        json.dumps({"messages": [{"role": "user", "content": PHI_PROMPT}]}).encode(),
        {"content-type": "application/json"},
    )
    f.response = http.Response.make(200, b"cached")
    await addon.request(f)
    assert f.response.content == b"cached" and audit(tmp_path) == []


async def test_grpc_request_gets_a_trailers_only_permission_denied(phiwall_ctx) -> None:
    addon, _ = phiwall_ctx
    msg = b"\x0a" + bytes([len(PHI_PROMPT) + 2]) + b"\x0a" + bytes([len(PHI_PROMPT)]) + PHI_PROMPT.encode()
    msg = b"\x0a" + bytes([len(msg)]) + msg  # messages=1 { content=1 { text=1 } }
    body = struct.pack(">BI", 0, len(msg)) + msg
    f = await send(
        addon,
        flow(
            "POST",
            "https://api.x.ai/xai_api.Chat/GetCompletion",
            body,
            {"content-type": "application/grpc", "te": "trailers"},
        ),
    )
    assert f.response is not None and f.response.status_code == 200
    assert f.response.headers["grpc-status"] == "7" and "phiwall blocked" in f.response.headers["grpc-message"]
    assert f.response.headers["content-type"] == "application/grpc" and f.response.content == b""


def ws_flow(host: str, path: str, messages: list[bytes]) -> http.HTTPFlow:
    f = tflow.twebsocketflow()
    f.request.host = host
    f.request.headers["host"] = host
    f.request.path = path
    f.websocket.messages = [websocket.WebSocketMessage(Opcode.TEXT, True, m) for m in messages]
    return f


async def test_websocket_phi_message_is_dropped_and_audited(phiwall_ctx, tmp_path: Path) -> None:
    addon, _ = phiwall_ctx
    frame = json.dumps(
        {
            "session_id": "S",
            "event": {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "x_grok": {"input_chunks": [{"text": {"text": PHI_PROMPT}}]},
                },
            },
        }
    ).encode()
    f = ws_flow("grok.com", "/ws/mgw/?uid=u", [frame])
    await addon.websocket_message(f)
    assert f.websocket.messages[-1].dropped
    ev = audit(tmp_path)[-1]
    assert ev["websocket"] is True and ev["applied"] == "drop" and ev["endpoint"] == "ws.grok_gateway"
    assert PHI_PROMPT not in json.dumps(ev)


async def test_websocket_benign_and_server_messages_pass(phiwall_ctx) -> None:
    addon, _ = phiwall_ctx
    f = ws_flow("api.openai.com", "/v1/responses", [json.dumps({"type": "response.create", "input": BENIGN}).encode()])
    await addon.websocket_message(f)
    assert not f.websocket.messages[-1].dropped
    g = ws_flow(
        "grok.com",
        "/ws/mgw/",
        [json.dumps({"event": {"type": "response.output_text.delta", "delta": PHI_PROMPT}}).encode()],
    )
    g.websocket.messages[-1].from_client = False
    await addon.websocket_message(g)
    assert not g.websocket.messages[-1].dropped


async def test_websocket_unparseable_frame_fails_closed(phiwall_ctx) -> None:
    addon, _ = phiwall_ctx
    frame = json.dumps(
        {"type": "response.create", "input": [{"type": "input_file", "file_data": "data:application/pdf;base64,%%%%"}]}
    ).encode()
    f = ws_flow("api.openai.com", "/v1/responses", [frame])
    await addon.websocket_message(f)
    assert f.websocket.messages[-1].dropped


async def test_shadow_mode_forwards_but_audits_the_drop_it_would_make(phiwall_ctx, tmp_path: Path) -> None:
    addon, tctx = phiwall_ctx
    tctx.configure(addon, phiwall_mode="shadow")
    frame = json.dumps({"type": "response.create", "input": PHI_PROMPT}).encode()
    f = ws_flow("api.openai.com", "/v1/responses", [frame])
    await addon.websocket_message(f)
    assert not f.websocket.messages[-1].dropped
    assert audit(tmp_path)[-1]["verdict"] == "block" and audit(tmp_path)[-1]["applied"] == "none"


async def test_responses_websocket_phi_is_dropped_with_an_error_event(phiwall_ctx, tmp_path: Path) -> None:
    """OpenAI Responses WebSocket mode: a `response.create` with PHI never reaches the service, and the client gets
    the documented `error` server event carrying our message, so the SDK fails the pending response at once."""
    addon, _ = phiwall_ctx
    sent: list[bytes] = []
    addon._inject = lambda flow, notice: sent.append(notice)  # type: ignore[method-assign]
    frame = json.dumps({"type": "response.create", "model": "gpt-4o", "input": PHI_PROMPT}).encode()
    f = ws_flow("api.openai.com", "/v1/responses", [frame])
    await addon.websocket_message(f)
    assert f.websocket.messages[-1].dropped
    [notice] = [json.loads(n) for n in sent]
    assert notice["type"] == "error" and notice["error"]["code"] == "phi_detected"
    assert "phiwall blocked" in notice["error"]["message"] and "John" not in notice["error"]["message"]
    ev = audit(tmp_path)[-1]
    assert ev["endpoint"] == "ws.responses" and ev["applied"] == "drop" and ev["service"] == "openai_api"


async def test_grok_gateway_notice_keeps_the_session(phiwall_ctx) -> None:
    """grok.com's gateway: the error event is sent in the gateway's envelope with the message's session id, so the
    page shows it in the conversation it belongs to."""
    addon, _ = phiwall_ctx
    sent: list[bytes] = []
    addon._inject = lambda flow, notice: sent.append(notice)  # type: ignore[method-assign]
    frame = json.dumps(
        {
            "session_id": "S42",
            "event": {
                "type": "conversation.item.create",
                "item": {"x_grok": {"input_chunks": [{"text": {"text": PHI_PROMPT}}]}},
            },
        }
    ).encode()
    f = ws_flow("grok.com", "/ws/mgw/?uid=u", [frame])
    await addon.websocket_message(f)
    [notice] = [json.loads(n) for n in sent]
    assert notice["session_id"] == "S42" and notice["event"]["type"] == "error"
    assert "phiwall blocked" in notice["event"]["error"]["message"]
