"""Guarded request bodies over the policy's `max_body_bytes`: answered at once, in the service's error format.

mitmproxy checks `body_size_limit` before any addon sees the request and answers with its own HTML page; a client
still sending its body often never reads that page (the openai SDK waited 60 s for a timeout, httpx raised a
`WriteTimeout`). So for guarded flows phiwall's limit is checked first, at the one place mitmproxy checks sizes
(`HttpStream.check_body_size`: once on the request headers with the declared Content-Length, then on every chunk of
a body being buffered, which covers a chunked body that grows past the limit):

1. the request headers hook runs (PhiWall marks the flow as guarded, checks Host and SNI), then the
   `phiwall_body_over_limit` hook: `BodyLimit` builds the on_error decision and hands it to the one enforcement
   path (`Enforcer.apply`, status 413: the service-shaped answer, audited once);
2. the answer is sent now, before the rest of the body: a client that sent `Expect: 100-continue` gets it instead of
   `100 Continue` and never sends its body;
3. what the client still sends is read and thrown away (nothing is buffered), up to `DISCARD_CAP` bytes, so it can
   finish writing and read the answer; past the cap the connection (HTTP/2: the stream) is closed.

A body phiwall cannot hold is never forwarded, whatever `on_error` says (forwarding it would mean sending it
uninspected before any decision): the audit records a block. In shadow mode nothing is answered in phiwall's name
and mitmproxy's own hard limit refuses it, as before. mitmproxy's `body_size_limit` stays the hard cap: phiwall
answers at the lower of the two, so mitmproxy's HTML page is never what a guarded client gets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from mitmproxy import ctx
from mitmproxy import flow as mflow
from mitmproxy import http
from mitmproxy.addonmanager import Loader
from mitmproxy.net.http.http1 import expected_http_body_size
from mitmproxy.proxy import commands
from mitmproxy.proxy.layers.http import DropStream
from mitmproxy.proxy.layers.http import ErrorCode
from mitmproxy.proxy.layers.http import HttpErrorHook
from mitmproxy.proxy.layers.http import HttpRequestHeadersHook
from mitmproxy.proxy.layers.http import HttpResponseHeadersHook
from mitmproxy.proxy.layers.http import HttpStream
from mitmproxy.proxy.layers.http import RequestData
from mitmproxy.proxy.layers.http import RequestEndOfMessage
from mitmproxy.proxy.layers.http import ResponseEndOfMessage
from mitmproxy.proxy.layers.http import ResponseProtocolError
from mitmproxy.proxy.layers.http import SendHttp
from mitmproxy.utils import human

from phiwall.extractors import route_request
from phiwall.model import Decision
from phiwall.model import RuleHit
from phiwall.model import Verdict

log = logging.getLogger("phiwall")

META = "phiwall"

# Bytes of an over-limit body read and dropped after the answer, so a client that does not wait for it (httpx, the
# SDKs) can finish writing and read it. Dropping costs no memory, only the client's bandwidth.
DISCARD_CAP = 2 * 1024**3

# mitmproxy's message when its own body_size_limit refuses a request (PhiWall.error audits it as "too big").
_MITMPROXY_TOO_LARGE = "Request body exceeds mitmproxy's body_size_limit."

SIZE_KEY = "phiwall_body_over_limit"


@dataclass
class BodyOverLimitHook(commands.StartHook):
    """A guarded request's body is over phiwall's limit (declared, or grown so far); set `flow.response` to answer."""

    name = "phiwall_body_over_limit"
    flow: http.HTTPFlow  # (mitmproxy hooks carry one object: the size is in flow.metadata[SIZE_KEY])


# The limit phiwall answers at (None: no PhiWall loaded in this process, mitmproxy's own check only).
_limit: Callable[[], int | None] = lambda: None  # noqa: E731
_original_check: Any = None


def install(limit: Callable[[], int | None]) -> None:
    """Put phiwall's check in front of mitmproxy's (once per process; `limit` is read on every request)."""
    global _limit, _original_check
    _limit = limit
    if _original_check is None:
        _original_check = HttpStream.check_body_size
        HttpStream.check_body_size = _check_body_size  # type: ignore[method-assign]


def _check_body_size(self: HttpStream, request: bool) -> Generator[commands.Command, Any, bool]:
    limit = _limit() if request else None
    if limit is not None:
        size = _body_size(self)
        flow = self.flow
        if size is not None and size > limit and route_request(flow.request.pretty_host, flow.request.path):
            return (yield from _over_limit(self, size))
    return bool((yield from _original_check(self, request)))


def _body_size(stream: HttpStream) -> int | None:
    """The declared size before the body (Content-Length), else what has been buffered so far."""
    if stream.request_body_buf:
        return len(stream.request_body_buf)
    try:
        size = expected_http_body_size(stream.flow.request, None)
    except ValueError:
        return None
    return size if size is not None and size > 0 else None


def _over_limit(stream: HttpStream, size: int) -> Generator[commands.Command, Any, bool]:
    flow = stream.flow
    if not stream.request_body_buf:  # before the body: the flow has not been seen by the addons yet
        yield HttpRequestHeadersHook(flow)
    if flow.response is None and flow.error is None:
        flow.metadata[SIZE_KEY] = size
        yield BodyOverLimitHook(flow)
    stream.request_body_buf.clear()
    if flow.response is None or flow.error is not None:
        # Shadow mode, or killed: refuse the way mitmproxy's own limit does (without its second headers hook).
        if flow.error is None:
            flow.error = mflow.Error(_MITMPROXY_TOO_LARGE)
        yield HttpErrorHook(flow)
        yield SendHttp(
            ResponseProtocolError(stream.stream_id, flow.error.msg, ErrorCode.REQUEST_TOO_LARGE), stream.context.client
        )
        stream.client_state = stream.state_errored
        flow.live = False
        return True
    if not (flow.request.is_http2 or flow.request.is_http3):
        flow.response.headers["connection"] = "close"  # the rest of the body is not worth keeping the connection for
    flow.request.headers.pop("expect", None)
    flow.response.timestamp_start = time.time()
    yield HttpResponseHeadersHook(flow)
    stream.client_state = _discarding(stream)
    yield from stream.send_response()
    if stream.client_state != stream.state_errored:  # (errored: killed while the response hook ran)
        # The answer ends now; the body's end comes later, to the discarding state (events wait while we yield).
        yield SendHttp(ResponseEndOfMessage(stream.stream_id), stream.context.client)
        flow.live = False
    return True


def _discarding(stream: HttpStream) -> Callable[[Any], Generator[commands.Command, Any, None]]:
    """The client side of a stream already answered: the rest of the body is counted and dropped."""
    seen = 0

    def discard(event: Any) -> Generator[commands.Command, Any, None]:
        nonlocal seen
        if isinstance(event, RequestData):
            seen += len(event.data)
            if seen > DISCARD_CAP:
                stream.client_state = stream.state_errored
                yield SendHttp(
                    ResponseProtocolError(stream.stream_id, "request body too large", ErrorCode.REQUEST_TOO_LARGE),
                    stream.context.client,
                )
                yield DropStream(stream.stream_id)
        elif isinstance(event, RequestEndOfMessage):
            stream.client_state = stream.state_done
            yield DropStream(stream.stream_id)

    return discard


class BodyLimit:
    """The addon (after PhiWall, whose policy sets the limit and whose enforcer answers and audits)."""

    def __init__(self, wall: Any) -> None:
        self.wall = wall

    def load(self, loader: Loader) -> None:
        install(self.limit)

    def limit(self) -> int | None:
        """phiwall's limit: the policy's max_body_bytes, or mitmproxy's body_size_limit where that is lower."""
        policy = self.wall.policy
        if policy is None:
            return None
        limit = int(policy.max_body_bytes)
        try:
            hard = human.parse_size(ctx.options.body_size_limit)
        except (AttributeError, ValueError):
            hard = None
        return min(limit, hard) if hard is not None else limit

    def phiwall_body_over_limit(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(META)
        size = int(flow.metadata.get(SIZE_KEY, 0))
        limit = self.limit()
        if meta is None or flow.response is not None or not flow.live or limit is None:
            return
        service = route_request(flow.request.pretty_host, flow.request.path)
        if service is None:
            return
        what = f"{size} bytes" if "content-length" in flow.request.headers else f"more than {limit} bytes"
        message = (
            f"phiwall blocked this request to {service.title}: its body is {what}, over this policy's {limit}-byte "
            "limit, so phiwall could not inspect it and did not send it. Send a smaller file or less text (split it "
            "into parts), or ask your administrator about the limit (max_body_bytes)."
        )
        error = f"request body too large: {what}, over the {limit}-byte limit (answered before reading it)"
        decision = Decision(
            Verdict.BLOCK,
            ("on_error",),
            (message,),
            error=error,
            error_kind="limit",
            hits=(RuleHit("on_error", Verdict.BLOCK, message),),
        )
        self.wall.enforcer.apply(flow, decision, service=service, status=413)
        if flow.response is not None:
            log.info("phiwall: request body over the %s-byte limit answered with 413 (flow %s)", limit, flow.id)
