"""phiwall.notices: which requests ask for structured replies, and the SSE notice stage fed byte by byte."""

from __future__ import annotations

import json

import pytest
from phiwall.notices import SseNotice
from phiwall.notices import structured_reply
from phiwall.notices import structured_request

from tests.support import fake_replies
from tests.support.fake_upstream import Recorded


@pytest.mark.parametrize(
    ("doc", "structured"),
    [
        ({"messages": [], "response_format": {"type": "json_object"}}, True),
        ({"messages": [], "response_format": {"type": "json_schema", "json_schema": {}}}, True),
        ({"messages": [], "response_format": {"type": "text"}}, False),
        ({"input": "x", "text": {"format": {"type": "json_schema"}}}, True),
        ({"input": "x", "text": {"format": {"type": "text"}}}, False),
        ({"messages": [], "tool_choice": "required"}, True),
        ({"messages": [], "tool_choice": "auto"}, False),
        ({"messages": [], "tool_choice": {"type": "tool", "name": "f"}}, True),
        ({"contents": [], "generationConfig": {"responseMimeType": "application/json"}}, True),
        ({"contents": [], "generationConfig": {"responseMimeType": "text/plain"}}, False),
        ({"contents": [], "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}, True),
        ({"messages": [{"role": "user", "content": "the format of a response_format"}]}, False),
    ],
)
def test_structured_request(doc: dict, structured: bool) -> None:
    assert structured_request(json.dumps(doc).encode()) is structured


def test_structured_reply() -> None:
    assert structured_reply({"choices": [{"message": {"content": "", "tool_calls": [{}]}}]})
    assert not structured_reply({"choices": [{"message": {"content": "hi"}}]})
    assert structured_reply({"type": "message", "content": [{"type": "tool_use"}]})
    assert structured_reply({"candidates": [{"content": {"parts": [{"functionCall": {}}]}}]})
    assert structured_reply({"output": [{"type": "function_call"}]})


def _events(data: bytes) -> list[dict]:
    return [json.loads(line[6:]) for line in data.splitlines() if line.startswith(b"data: ")]


@pytest.mark.parametrize("fmt", ["openai_responses", "anthropic"])
def test_sse_notice_byte_by_byte(fmt: str) -> None:
    body = json.dumps({"input": "x", "stream": True, "messages": [], "max_tokens": 5}).encode()
    rec = Recorded("POST", "h", "/", {}, body)
    _, _, data = fake_replies.responses(rec) if fmt == "openai_responses" else fake_replies.anthropic(rec)
    stage = SseNotice("NOTE ", fmt)
    out = b"".join(stage(data[i : i + 1]) for i in range(len(data))) + stage(b"")
    evs = _events(out)
    assert len(evs) == len(_events(data))
    texts = [
        e["delta"]["text"] if fmt == "anthropic" else e["delta"]
        for e in evs
        if "delta" in e and (fmt != "anthropic" or e["delta"].get("type") == "text_delta")
    ]
    assert texts[0].startswith("NOTE ") and not texts[1].startswith("NOTE ")
    if fmt == "openai_responses":
        assert evs[-1]["response"]["output"][0]["content"][0]["text"] == "NOTE " + fake_replies.TEXT
    assert b"event: " in out  # named events kept
