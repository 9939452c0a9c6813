"""The reply side of enforcement: what the person sees come back from the service.

A warned request's reply carries the warning (a header always; a notice in the reply text where the reply has a
place for one). A de-identified request's reply gets the original values back in place of the stand-ins
(`phiwall.deid.restore`), in JSON replies and in event streams, so the person reads the real names.
"""

from __future__ import annotations

import logging
from typing import Any

from mitmproxy import http

from phiwall import actions

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
        if ctype.startswith("text/event-stream"):
            notice = None
            if meta.get("warn") and meta.get("endpoint") in ("chat.completions", "generateContent"):
                notice = actions.sse_notice_event(meta.get("style", ""), actions.warning_text([meta["warn"]]))
            if notice:
                _reframe(flow)
                flow.response.stream = actions.InjectFirst(notice)
            else:
                flow.response.stream = True

    def body(self, flow: http.HTTPFlow, meta: dict[str, Any]) -> None:
        """A whole (not streamed) reply: add the warning notice."""
        assert flow.response is not None
        if not meta.get("warn") or flow.response.stream:
            return
        if "json" in flow.response.headers.get("content-type", ""):
            new = actions.add_warning_to_json(flow.response.content or b"", actions.warning_text([meta["warn"]]))
            if new is not None:
                flow.response.content = new


def _reframe(flow: http.HTTPFlow) -> None:
    """The streamed body changes length: drop the upstream length and re-frame the stream."""
    assert flow.response is not None
    if "content-length" in flow.response.headers:
        del flow.response.headers["content-length"]
        if not flow.response.is_http2 and not flow.response.is_http3:
            flow.response.headers["transfer-encoding"] = "chunked"


def header_safe(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:900]
