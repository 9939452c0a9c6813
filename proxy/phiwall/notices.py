"""Where a warning may be shown inside a reply, and the stream stages that show it.

A warn notice is text put in front of the assistant's answer. It must never break the reply: a reply the client
asked to be JSON (OpenAI `response_format`/`text.format`, Gemini `responseMimeType`/`responseSchema`, Anthropic
`output_format`), a reply that is a tool call, or a request that forces a tool call gets no notice in its content
(the `x-phiwall-warning` header and the audit still carry it). In event streams the notice goes into the first text
delta, in the format of the stream, so the SDKs parse every event as they would without phiwall.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Cheap markers first: a request body is parsed only when one of these appears in it.
_MARKERS = (
    b"response_format",
    b'"format"',
    b"responseMimeType",
    b"response_mime_type",
    b"responseSchema",
    b"response_schema",
    b"responseJsonSchema",
    b"output_format",
    b"tool_choice",
    b"toolConfig",
    b"tool_config",
)
# Over this size a request that names a structured-output field is taken as structured without parsing it (the
# check runs on the event loop; the notice then goes only in the header).
_PARSE_LIMIT = 4 * 1024 * 1024


def structured_request(body: bytes | None) -> bool:
    """True when the request asks for a reply that is JSON or a forced tool call (no room for a notice)."""
    if not body or not any(m in body for m in _MARKERS):
        return False
    if len(body) > _PARSE_LIMIT:
        return True
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and _asks_structured(doc)


def _asks_structured(doc: dict[str, Any]) -> bool:
    rf = doc.get("response_format")  # OpenAI chat completions
    if isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema"):
        return True
    text = doc.get("text")  # OpenAI responses
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        return True
    of = doc.get("output_format")  # Anthropic structured outputs
    if isinstance(of, dict) and of.get("type") not in (None, "text"):
        return True
    tc = doc.get("tool_choice")  # a forced tool call: OpenAI "required"/{"type": "function"}, Anthropic any/tool
    if tc == "required" or (isinstance(tc, dict) and tc.get("type") in ("function", "tool", "any", "allowed_tools")):
        return True
    for key in ("generationConfig", "generation_config", "config"):  # Gemini
        gc = doc.get(key)
        if not isinstance(gc, dict):
            continue
        mime = gc.get("responseMimeType") or gc.get("response_mime_type")
        if isinstance(mime, str) and mime.lower() not in ("", "text/plain"):
            return True
        if any(gc.get(k) for k in ("responseSchema", "response_schema", "responseJsonSchema", "response_json_schema")):
            return True
    for key in ("toolConfig", "tool_config"):
        fc = (doc.get(key) or {}).get("functionCallingConfig") if isinstance(doc.get(key), dict) else None
        if isinstance(fc, dict) and str(fc.get("mode", "")).upper() == "ANY":
            return True
    return False


def structured_reply(doc: Any) -> bool:
    """True when a JSON chat reply carries a tool call (its text, if any, belongs to that exchange)."""
    if not isinstance(doc, dict):
        return False
    for choice in doc.get("choices") or []:
        msg = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(msg, dict) and (msg.get("tool_calls") or msg.get("function_call")):
            return True
    for item in doc.get("output") or []:
        if isinstance(item, dict) and item.get("type") not in (None, "message", "reasoning"):
            return True
    for c in doc.get("content") or [] if isinstance(doc.get("content"), list) else []:
        if isinstance(c, dict) and c.get("type") in ("tool_use", "server_tool_use"):
            return True
    for cand in doc.get("candidates") or []:
        parts = ((cand or {}).get("content") or {}).get("parts") or [] if isinstance(cand, dict) else []
        if any(isinstance(p, dict) and ("functionCall" in p or "function_call" in p) for p in parts):
            return True
    return False


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_MAX_HELD = 1024 * 1024  # an event longer than this is passed through unread (no notice rather than a stall)


class SseNotice:
    """A mitmproxy `response.stream` callable that puts the notice in front of the first text of an SSE reply.

    Formats: `openai_responses` (the first `response.output_text.delta`, and the same part's `.done`,
    `content_part.done`, `output_item.done` and the final `response.completed` text, so a client that reads the
    final response sees what a client that reads the deltas saw) and `anthropic` (the first `text_delta`; the SDK
    builds the final message from the deltas). Bytes that do not end an event yet are held until they do; once the
    notice is placed (or the stream ends), everything passes through untouched.
    """

    def __init__(self, notice: str, fmt: str) -> None:
        self.notice = notice
        self.fmt = fmt
        self.buf = b""
        self.done = False
        self.target: tuple[Any, Any] | None = None  # (item_id, content_index) of the Responses text part

    def __call__(self, chunk: bytes) -> bytes:
        if not chunk:
            tail, self.buf = self.buf, b""
            return tail
        if self.done:
            return chunk
        self.buf += chunk
        out: list[bytes] = []
        while not self.done:
            m = _EVENT_END.search(self.buf)
            if m is None:
                if len(self.buf) > _MAX_HELD:
                    self.done = True
                break
            raw, sep = self.buf[: m.start()], m.group(0)
            self.buf = self.buf[m.end() :]
            out.append(self._event(raw) + sep)
        if self.done:
            out.append(self.buf)
            self.buf = b""
        return b"".join(out)

    def _event(self, raw: bytes) -> bytes:
        lines = raw.splitlines()
        idx = [i for i, ln in enumerate(lines) if ln.startswith(b"data:")]
        if not idx:
            return raw
        try:
            doc = json.loads(b"\n".join(lines[i][5:].removeprefix(b" ") for i in idx))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return raw
        if not isinstance(doc, dict):
            return raw
        changed = self._anthropic(doc) if self.fmt == "anthropic" else self._responses(doc)
        if not changed:
            return raw
        data = b"data: " + json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        kept = [ln for i, ln in enumerate(lines) if i not in idx]
        return b"\n".join([*kept[: idx[0]], data, *kept[idx[0] :]])

    def _anthropic(self, doc: dict[str, Any]) -> bool:
        kind = doc.get("type")
        if kind in ("message_stop", "error"):
            self.done = True
            return False
        delta = doc.get("delta")
        if kind == "content_block_delta" and isinstance(delta, dict) and delta.get("type") == "text_delta":
            delta["text"] = self.notice + str(delta.get("text", ""))
            self.done = True
            return True
        return False

    def _responses(self, doc: dict[str, Any]) -> bool:
        kind = doc.get("type")
        if kind == "response.output_text.delta" and self.target is None and isinstance(doc.get("delta"), str):
            self.target = (doc.get("item_id"), doc.get("content_index", 0))
            doc["delta"] = self.notice + doc["delta"]
            return True
        if self.target is None:
            if kind in ("response.completed", "response.incomplete", "response.failed", "error"):
                self.done = True
            return False
        item_id, ci = self.target
        if kind == "response.output_text.done" and (doc.get("item_id"), doc.get("content_index", 0)) == self.target:
            return self._prefix(doc, "text")
        if kind == "response.content_part.done" and (doc.get("item_id"), doc.get("content_index", 0)) == self.target:
            return self._prefix(doc.get("part"), "text")
        if kind == "response.output_item.done" and isinstance(doc.get("item"), dict):
            return self._item(doc["item"], item_id, ci)
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self.done = True
            resp = doc.get("response")
            items = resp.get("output") if isinstance(resp, dict) else None
            return any(self._item(it, item_id, ci) for it in items or [] if isinstance(it, dict))
        return False

    def _item(self, item: dict[str, Any], item_id: Any, ci: Any) -> bool:
        content = item.get("content")
        if item.get("id") != item_id or not isinstance(content, list) or not isinstance(ci, int):
            return False
        return 0 <= ci < len(content) and self._prefix(content[ci], "text")

    def _prefix(self, holder: Any, key: str) -> bool:
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            holder[key] = self.notice + holder[key]
            return True
        return False


_REQUEST_WORDING = re.compile(r"^phiwall warning: this (?:request|message|upload) to (?P<svc>.+?) contained ")


def file_notice(reason: str) -> str:
    """A warned upload's notice, worded for the message that later refers to the file: the upload's own reply
    (a file object) has no place a person reads, so the warning is shown where the file is used."""
    m = _REQUEST_WORDING.match(reason)
    if m:
        return (
            f"phiwall warning: a file this message refers to was uploaded to {m['svc']} with a warning: it contained "
            + reason[m.end() :]
        )
    return "phiwall warning about a file this message refers to: " + reason
