"""Reply shapes for the warn-notice tests (issue 13 item 5): structured JSON, tool calls, and the event streams of
the OpenAI Responses API and the Anthropic Messages API, as the real services send them. `install(up)` routes
them and returns an `uninstall` callable (routes outlive `FakeUpstream.clear`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import Recorded

JSON_ANSWER = {"diagnosis": "viral bronchitis", "confidence": 0.7}
TEXT = "Probably a viral cough."
TOOL_ARGS = {"city": "Boston"}


def _json(obj: Any) -> tuple[int, dict[str, str], bytes]:
    return 200, {"content-type": "application/json"}, json.dumps(obj).encode()


def _sse(events: list[dict[str, Any]], *, named: bool) -> tuple[int, dict[str, str], bytes]:
    out = b""
    for ev in events:
        head = f"event: {ev['type']}\n".encode() if named else b""
        out += head + b"data: " + json.dumps(ev).encode() + b"\n\n"
    return 200, {"content-type": "text/event-stream"}, out


def chat(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    body = req.json()
    msg: dict[str, Any] = {"role": "assistant", "content": TEXT}
    if body.get("response_format"):
        msg["content"] = json.dumps(JSON_ANSWER)
    elif body.get("tools"):
        msg["content"] = ""
        msg["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": json.dumps(TOOL_ARGS)},
            }
        ]
    return _json(
        {
            "id": "chatcmpl-s",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o",
            "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
        }
    )


def _response(text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 0,
        "model": "gpt-4o",
        "status": status,
        "output": [
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ]
        if status == "completed"
        else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def responses(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    body = req.json()
    fmt = (body.get("text") or {}).get("format") or {}
    text = json.dumps(JSON_ANSWER) if fmt.get("type") in ("json_object", "json_schema") else TEXT
    if not body.get("stream"):
        return _json(_response(text))
    pieces = [text[: len(text) // 2], text[len(text) // 2 :]]
    item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    evs: list[dict[str, Any]] = [
        {"type": "response.created", "sequence_number": 0, "response": _response("", "in_progress")},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": item},
        {
            "type": "response.content_part.added",
            "sequence_number": 2,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "part": part,
        },
    ]
    for p in pieces:
        evs.append(
            {
                "type": "response.output_text.delta",
                "sequence_number": len(evs),
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": p,
                "logprobs": [],
            }
        )
    done_part = {"type": "output_text", "text": text, "annotations": []}
    done_item = dict(item, status="completed", content=[done_part])
    evs += [
        {
            "type": "response.output_text.done",
            "sequence_number": len(evs),
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "text": text,
            "logprobs": [],
        },
        {
            "type": "response.content_part.done",
            "sequence_number": len(evs) + 1,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "part": done_part,
        },
        {"type": "response.output_item.done", "sequence_number": len(evs) + 2, "output_index": 0, "item": done_item},
        {"type": "response.completed", "sequence_number": len(evs) + 3, "response": _response(text)},
    ]
    return _sse(evs, named=True)


def anthropic(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    body = req.json()
    usage = {"input_tokens": 5, "output_tokens": 5}
    if not body.get("stream"):
        content: list[dict[str, Any]] = [{"type": "text", "text": TEXT}]
        if body.get("tools"):
            content = [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": TOOL_ARGS}]
        return _json(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": content,
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            }
        )
    start = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    evs: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    ]
    for p in (TEXT[:9], TEXT[9:]):
        evs.append({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}})
    evs += [
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": usage},
        {"type": "message_stop"},
    ]
    return _sse(evs, named=True)


def install(up: FakeUpstream) -> Callable[[], None]:
    mine = [chat, responses, anthropic]
    up.route("POST", r"/v1/chat/completions$", chat)
    up.route("POST", r"/v1/responses$", responses)
    up.route("POST", r"/v1/messages$", anthropic)

    def uninstall() -> None:
        up.routes[:] = [r for r in up.routes if r[2] not in mine]

    return uninstall
