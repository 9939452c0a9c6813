"""Applying a decision to a mitmproxy flow: block (answer in the service's place), warn (forward, then make the
warning visible in the reply), allow (untouched, byte for byte)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from mitmproxy import http

from phiwall.model import combine_reasons
from phiwall.responses import Answer

WARN_PREFIX = "⚠️ "


def respond(flow: http.HTTPFlow, answer: Answer) -> None:
    flow.response = http.Response.make(answer.status, answer.body, answer.headers)


def warning_text(reasons: Iterable[str]) -> str:
    return WARN_PREFIX + combine_reasons(reasons) + "\n\n"


def add_warning_to_json(body: bytes, notice: str) -> bytes | None:
    """Prepend the notice to the assistant's text in a JSON chat reply (OpenAI chat/responses, Anthropic, Gemini).
    Returns None when the reply has no text we recognise (the header still carries the warning)."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    changed = False
    for choice in doc.get("choices") or []:  # OpenAI chat completions
        msg = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(msg, dict) and isinstance(msg.get("content"), str):
            msg["content"] = notice + msg["content"]
            changed = True
    if not changed:
        for item in doc.get("output") or []:  # OpenAI responses
            for c in (item.get("content") or []) if isinstance(item, dict) else []:
                if isinstance(c, dict) and c.get("type") == "output_text" and isinstance(c.get("text"), str):
                    c["text"] = notice + c["text"]
                    changed = True
                    break
            if changed:
                break
    if not changed and doc.get("type") == "message":  # Anthropic messages
        for c in doc.get("content") or []:
            if isinstance(c, dict) and c.get("type") == "text":
                c["text"] = notice + c.get("text", "")
                changed = True
                break
    if not changed:
        for cand in doc.get("candidates") or []:  # Gemini
            parts = ((cand or {}).get("content") or {}).get("parts") or []
            for p in parts:
                if isinstance(p, dict) and isinstance(p.get("text"), str):
                    p["text"] = notice + p["text"]
                    changed = True
                    break
            if changed:
                break
    return json.dumps(doc).encode("utf-8") if changed else None


def sse_notice_event(style: str, notice: str) -> bytes | None:
    """A first SSE event carrying the notice, in the stream format of the service, or None if we have none."""
    if style == "openai":
        chunk: dict[str, Any] = {
            "id": "phiwall-notice",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "phiwall",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": notice}, "finish_reason": None}],
        }
        return b"data: " + json.dumps(chunk).encode("utf-8") + b"\n\n"
    if style == "google":
        chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": notice}]}, "index": 0}]}
        return b"data: " + json.dumps(chunk).encode("utf-8") + b"\r\n\r\n"
    return None


class InjectFirst:
    """A mitmproxy stream callable that emits `prefix` before the first chunk of a streamed response."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.sent = False

    def __call__(self, chunk: bytes) -> bytes:
        if not self.sent:
            self.sent = True
            return self.prefix + chunk
        return chunk
