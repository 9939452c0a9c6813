"""Restoring replies: every stream format, stand-ins cut anywhere (by events and by bytes), bounded hold-back, JSON
replies with tool arguments, and text that only looks like a stand-in."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from phiwall.deid.restore import NdjsonRestorer
from phiwall.deid.restore import Restorer
from phiwall.deid.restore import SseRestorer
from phiwall.deid.restore import StreamText
from phiwall.deid.restore import restore_body

MAP = {"[PATIENT_1]": "Margaret Okafor", "[PATIENT_12]": 'Dr "Joe" Adeyemi', "[DATE_1]": "03/14/1961"}
R = Restorer(MAP)
ANSWER = "Ask [PATIENT_1] (born [DATE_1]) and [PATIENT_12] about [PATIENT_1]. [PATIENT_9] is unknown; [PATI"
RESTORED = (
    'Ask Margaret Okafor (born 03/14/1961) and Dr "Joe" Adeyemi about Margaret Okafor. [PATIENT_9] is unknown; [PATI'
)


def pieces(text: str, n: int = 3) -> list[str]:
    return [text[i : i + n] for i in range(0, len(text), n)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 11, 200])
def test_stream_text_restores_across_any_cut_and_holds_back_less_than_a_stand_in(n: int) -> None:
    st = StreamText(R)
    out = []
    for p in pieces(ANSWER, n):
        out.append(st.feed(p))
        assert len(st.pending) < R.longest
    out.append(st.flush())
    assert "".join(out) == RESTORED


def openai_chat(text: str) -> list[Any]:
    evs: list[Any] = [{"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces(text)]
    return [*evs, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, "[DONE]"]


def openai_tools(text: str) -> list[Any]:
    args = json.dumps({"patient": text})
    return [
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}}]}
        for p in pieces(args)
    ] + [{"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}, "[DONE]"]


def responses(text: str) -> list[Any]:
    evs: list[Any] = [
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "item_id": "m", "delta": p}
        for p in pieces(text)
    ]
    return [
        *evs,
        {"type": "response.output_text.done", "output_index": 0, "content_index": 0, "text": text},
        {"type": "response.completed", "response": {"output": [{"content": [{"type": "output_text", "text": text}]}]}},
    ]


def anthropic(text: str) -> list[Any]:
    evs: list[Any] = [{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}]
    evs += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}} for p in pieces(text)
    ]
    return [*evs, {"type": "content_block_stop", "index": 0}, {"type": "message_stop"}]


def gemini(text: str) -> list[Any]:
    ps = pieces(text)
    return [
        {
            "candidates": [
                {
                    "index": 0,
                    "content": {"parts": [{"text": p}]},
                    **({"finishReason": "STOP"} if i == len(ps) - 1 else {}),
                }
            ]
        }
        for i, p in enumerate(ps)
    ]


def chatgpt_web(text: str) -> list[Any]:
    ps = pieces(text)
    first = {"p": "/message/content/parts/0", "o": "append", "v": ps[0]}
    return [
        first,
        *({"v": p} for p in ps[1:]),
        {"p": "", "o": "patch", "v": [{"p": "/message/status", "o": "replace", "v": "finished_successfully"}]},
        "[DONE]",
    ]


def wire(events: list[Any], sep: bytes = b"\n\n") -> bytes:
    return b"".join(b"data: " + (e.encode() if isinstance(e, str) else json.dumps(e).encode()) + sep for e in events)


def texts(out: bytes, fmt: str) -> str:
    got = ""
    for line in out.replace(b"\r\n", b"\n").split(b"\n"):
        if not line.startswith(b"data: {"):
            continue
        d = json.loads(line[6:])
        if fmt == "openai_chat":
            delta = d["choices"][0]["delta"]
            got += delta.get("content") or "".join(t["function"]["arguments"] for t in delta.get("tool_calls", []))
        elif fmt == "openai_responses" and d["type"].endswith(".delta"):
            got += d["delta"]
        elif fmt == "anthropic" and d["type"] == "content_block_delta":
            got += d["delta"]["text"]
        elif fmt == "gemini":
            got += d["candidates"][0]["content"]["parts"][0]["text"]
        elif fmt == "chatgpt_web" and isinstance(d.get("v"), str):
            got += d["v"]
    return got


@pytest.mark.parametrize(
    "fmt,make",
    [
        ("openai_chat", openai_chat),
        ("openai_responses", responses),
        ("anthropic", anthropic),
        ("gemini", gemini),
        ("chatgpt_web", chatgpt_web),
    ],
)
@pytest.mark.parametrize("byte_cut", [1, 7, 4096])
def test_every_stream_format_is_restored(fmt: str, make: Any, byte_cut: int) -> None:
    data = wire(make(ANSWER), b"\r\n\r\n" if fmt == "gemini" else b"\n\n")
    s = SseRestorer(R, fmt)
    out = b"".join(s(data[i : i + byte_cut]) for i in range(0, len(data), byte_cut)) + s(b"")
    assert texts(out, fmt) == RESTORED
    assert s.max_held < R.longest
    assert b"Okafor" not in data and out.count(b"Margaret Okafor") >= 2
    if fmt == "openai_responses":  # the full texts of the done/completed events are restored too
        assert out.count(RESTORED.replace('"', '\\"').encode()) == 2


def grok_lines(text: str, *, nested: bool = True) -> bytes:
    """grok.com's reply: one JSON object per line, a token each, then the whole message in `modelResponse`."""

    def wrap(r: dict[str, Any]) -> dict[str, Any]:
        return {"result": {"response": r} if nested else r}

    lines = [wrap({"token": p, "isThinking": False, "isSoftStop": False, "responseId": "r1"}) for p in pieces(text)]
    lines.append(wrap({"modelResponse": {"responseId": "r1", "message": text, "sender": "ASSISTANT"}}))
    return b"".join(json.dumps(ln).encode() + b"\n" for ln in lines)


def grok_texts(out: bytes) -> tuple[str, str]:
    tokens, whole = "", ""
    for line in out.splitlines():
        d = json.loads(line)["result"]
        d = d.get("response", d)
        tokens += d.get("token", "")
        whole = d.get("modelResponse", {}).get("message", whole)
    return tokens, whole


@pytest.mark.parametrize("nested", [True, False])
@pytest.mark.parametrize("byte_cut", [1, 7, 4096])
def test_grok_json_lines_are_restored_streamed_and_whole(nested: bool, byte_cut: int) -> None:
    data = grok_lines(ANSWER, nested=nested)
    s = NdjsonRestorer(R)
    out = b"".join(s(data[i : i + byte_cut]) for i in range(0, len(data), byte_cut)) + s(b"")
    assert grok_texts(out) == (RESTORED, RESTORED)
    assert s.max_held < R.longest and b"[PATIENT_1]" not in out
    # Buffered (a reply phiwall did not stream): the same result through restore_body.
    assert grok_texts(restore_body(data, R) or b"") == (RESTORED, RESTORED)


def test_tool_call_arguments_stay_json() -> None:
    s = SseRestorer(R, "openai_chat")
    out = s(wire(openai_tools("[PATIENT_12]"))) + s(b"")
    assert json.loads(texts(out, "openai_chat")) == {"patient": 'Dr "Joe" Adeyemi'}


def test_json_reply_restored_everywhere_and_untouched_when_nothing_to_do() -> None:
    body = json.dumps(
        {"content": [{"type": "text", "text": "[PATIENT_1]"}, {"type": "tool_use", "input": {"n": "[DATE_1]"}}]}
    )
    assert json.loads(restore_body(body.encode(), R) or b"") == {
        "content": [{"type": "text", "text": "Margaret Okafor"}, {"type": "tool_use", "input": {"n": "03/14/1961"}}]
    }
    assert restore_body(b'{"text": "nothing here"}', R) is None
    assert restore_body(b"plain [PATIENT_1] text", R) == b"plain Margaret Okafor text"


def test_restore_costs_well_under_a_millisecond_per_chunk() -> None:
    data = wire(openai_chat(ANSWER * 20))
    chunks = [data[i : i + 120] for i in range(0, len(data), 120)]
    s = SseRestorer(R, "openai_chat")
    t0 = time.perf_counter()
    for c in chunks:
        s(c)
    per_chunk_ms = (time.perf_counter() - t0) * 1000 / len(chunks)
    print(f"restore: {per_chunk_ms:.3f} ms per chunk over {len(chunks)} chunks")
    assert per_chunk_ms < 5  # generous bound on a shared 2-core machine; bench/ measures the real number
