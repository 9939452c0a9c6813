"""The reply side of enforcement: what the person sees come back from the service.

A warned request's reply carries the warning (a header always; a notice in the reply text where the reply has a
place for one). A de-identified request's reply gets the original values back in place of the stand-ins
(`phiwall.deid.restore`), in JSON replies and in event streams, so the person reads the real names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from mitmproxy import http

from phiwall import actions
from phiwall import notices
from phiwall.deid.restore import NdjsonRestorer
from phiwall.deid.restore import Restorer
from phiwall.deid.restore import SseRestorer
from phiwall.deid.restore import restore_body
from phiwall.encoding import decode_body
from phiwall.errors import PhiWallError
from phiwall.extractors import adapter_for
from phiwall.extractors import service_by_name

log = logging.getLogger("phiwall")


class Replies:
    """Reply-side hooks, called by the addon with the flow's phiwall metadata."""

    def headers(self, flow: http.HTTPFlow, meta: dict[str, Any]) -> None:
        """Decide, before the body arrives, how the reply is streamed or rewritten."""
        assert flow.response is not None
        ctype = flow.response.headers.get("content-type", "")
        if meta.get("warn"):
            flow.response.headers["x-phiwall-verdict"] = "warn"
            flow.response.headers["x-phiwall-warning"] = header_safe(meta["warn"])
        if meta.get("restore") is not None:
            flow.response.headers["x-phiwall-verdict"] = "deidentify"
        if meta.get("warn"):  # a reply the client asked to be JSON or a tool call has no room for a notice
            meta["structured"] = notices.structured_request(_request_body(flow))
        if ctype.startswith("text/event-stream"):
            notice: Callable[[bytes], bytes] | None = None
            fmt = stream_format(meta.get("service", ""), meta.get("endpoint", ""))
            if meta.get("warn") and not meta.get("structured"):
                text = actions.warning_text([meta["warn"]])
                if meta.get("endpoint") in ("chat.completions", "generateContent"):
                    event = actions.sse_notice_event(meta.get("style", ""), text)
                    notice = actions.InjectFirst(event) if event else None
                elif fmt in ("openai_responses", "anthropic"):
                    notice = notices.SseNotice(text, fmt)
            restorer = Restorer(meta.get("restore") or {})
            if notice or restorer:
                _reframe(flow)
                stream: Callable[[bytes], bytes] = SseRestorer(restorer, fmt) if restorer else _identity
                flow.response.stream = _chain(notice, stream) if notice else stream
                meta["restoring"] = bool(restorer)
            else:
                flow.response.stream = True
        elif (
            meta.get("restore")
            and not flow.response.headers.get("content-encoding")  # encoded: restored whole in body()
            and stream_format(meta.get("service", ""), meta.get("endpoint", "")) == "grok_web"
        ):
            # grok.com streams its reply as JSON Lines (whatever its content-type says): restored line by line,
            # so the person still sees it arrive as it is written.
            _reframe(flow)
            flow.response.stream = NdjsonRestorer(Restorer(meta["restore"]))
            meta["restoring"] = True

    def body(self, flow: http.HTTPFlow, meta: dict[str, Any]) -> None:
        """A whole (not streamed) reply: put the originals back, add the warning notice."""
        assert flow.response is not None
        if flow.response.stream:
            return
        if meta.get("restore"):
            try:
                new = restore_body(flow.response.content or b"", Restorer(meta["restore"]))
            except ValueError:  # a reply whose Content-Encoding cannot be undone: passed as it came
                new = None
            if new is not None:
                flow.response.content = new
        if not meta.get("warn") or meta.get("structured"):
            return
        if "json" in flow.response.headers.get("content-type", ""):
            content = flow.response.content or b""
            if notices.structured_reply(json_or_none(content)):
                return
            new = actions.add_warning_to_json(content, actions.warning_text([meta["warn"]]))
            if new is not None:
                flow.response.content = new


def stream_format(service: str, endpoint: str) -> str:
    """The `phiwall.deid.restore` stream format of a reply: OpenAI's Responses and chat-completions endpoints by
    name (other services' OpenAI-compatible endpoints stream as OpenAI does), else the service adapter's
    `reply_stream`."""
    if endpoint.startswith("responses"):
        return "openai_responses"
    if endpoint.startswith("chat.completions") or endpoint == "completions":
        return "openai_chat"
    row = service_by_name(service)
    return adapter_for(row).reply_stream if row is not None else "openai_chat"


def _identity(chunk: bytes) -> bytes:
    return chunk


def _chain(first: Callable[[bytes], bytes], then: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    def run(chunk: bytes) -> bytes:
        if not chunk:  # the end of the stream: both stages flush
            head = first(b"")
            return (then(head) if head else b"") + then(b"")
        return then(first(chunk))

    return run


def _reframe(flow: http.HTTPFlow) -> None:
    """The streamed body changes length: drop the upstream length and re-frame the stream."""
    assert flow.response is not None
    if "content-length" in flow.response.headers:
        del flow.response.headers["content-length"]
        if not flow.response.is_http2 and not flow.response.is_http3:
            flow.response.headers["transfer-encoding"] = "chunked"


def _request_body(flow: http.HTTPFlow) -> bytes | None:
    """The request body as the service got it, decoded (bounded); None when it cannot be read."""
    raw = flow.request.raw_content
    ce = flow.request.headers.get("content-encoding", "")
    if not raw or not ce:
        return raw
    try:
        return decode_body(raw, ce, 64 * 1024 * 1024)
    except PhiWallError:
        return None


def json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def header_safe(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:900]
