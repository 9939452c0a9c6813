"""Time limits on the two waits mitmproxy leaves open: a request body that arrives too slowly, and a service that
does not answer.

mitmproxy's only timer is `tcp_timeout`, an *idle* timeout: a client sending one byte every few seconds, or a
service that accepted the request and never answers on a connection kept busy by others, holds a guarded flow
(and its buffer) for ever. Two options bound them, for guarded hosts only:

- `phiwall_body_timeout` (seconds from the request headers to the end of the body, default 120): the person gets
  a 408 in the service's error format saying the upload was too slow, the connection is closed, and the audit
  records it. The body is never forwarded (it was not complete, so it was never inspected).
- `phiwall_upstream_timeout` (seconds from forwarding the request to the reply's headers, default 300): a 504 in
  the service's format, the upstream connection is closed, and the audit records it.

mitmproxy has no public way to answer a flow between hooks, so the answer is delivered the way mitmproxy's own
`inject.websocket` command delivers a message: a `MessageInjected` event routed to the flow's HTTP stream, whose
next step is replaced, once, by "send this response". HTTP/1.1 flows only: mitmproxy's injection path cannot
address an HTTP/2 stream (it asserts an HTTP/1 connection), so HTTP/2 flows keep only mitmproxy's idle timeout
(logged when a limit passes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from mitmproxy import ctx
from mitmproxy import http
from mitmproxy.addonmanager import Loader
from mitmproxy.proxy import commands
from mitmproxy.proxy import events
from mitmproxy.proxy.layers.http import HttpResponseHeadersHook
from mitmproxy.proxy.layers.http import HttpStream
from mitmproxy.utils import asyncio_utils

from phiwall.model import Decision
from phiwall.model import Verdict

log = logging.getLogger("phiwall")

META = "phiwall"


class Deadlines:
    """The addon (after PhiWall, which marks guarded flows and owns the enforcer that answers and audits)."""

    def __init__(self, wall: Any) -> None:
        self.wall = wall
        # One pending deadline per flow id, cancelled as soon as what it waits for happens: a sleeping task must not
        # keep a finished flow (and its body) alive until the limit.
        self._pending: dict[str, asyncio.Task[None]] = {}

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "phiwall_body_timeout",
            int,
            120,
            "Seconds a guarded request's body may take to arrive, from its headers (0: no limit). A slower one "
            "gets a 408 and is never forwarded.",
        )
        loader.add_option(
            "phiwall_upstream_timeout",
            int,
            300,
            "Seconds a chatbot service may take to start its reply to a forwarded request (0: no limit); then 504.",
        )

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import exceptions

        for name in ("phiwall_body_timeout", "phiwall_upstream_timeout"):
            if getattr(ctx.options, name) < 0:
                raise exceptions.OptionsError(f"{name} must be 0 (no limit) or a number of seconds")

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        limit = ctx.options.phiwall_body_timeout
        if limit > 0 and flow.metadata.get(META) is not None and flow.response is None and flow.live:
            self._start(flow, self._body_deadline(flow, limit), "phiwall body deadline")

    def request(self, flow: http.HTTPFlow) -> None:
        self._cancel(flow)
        limit = ctx.options.phiwall_upstream_timeout
        if limit > 0 and flow.metadata.get(META) is not None and flow.response is None and flow.live:
            self._start(flow, self._upstream_deadline(flow, limit), "phiwall upstream deadline")

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self._cancel(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._cancel(flow)

    def done(self) -> None:
        for task in self._pending.values():
            task.cancel()
        self._pending.clear()

    def _start(self, flow: http.HTTPFlow, coro: Any, name: str) -> None:
        self._cancel(flow)
        task = asyncio_utils.create_task(coro, name=name, keep_ref=False)
        self._pending[flow.id] = task
        fid = flow.id

        def forget(t: asyncio.Task[None]) -> None:
            if self._pending.get(fid) is t:
                del self._pending[fid]

        task.add_done_callback(forget)

    def _cancel(self, flow: http.HTTPFlow) -> None:
        task = self._pending.pop(flow.id, None)
        if task is not None:
            task.cancel()

    async def _body_deadline(self, flow: http.HTTPFlow, limit: int) -> None:
        await asyncio.sleep(limit)
        if flow.request.timestamp_end is not None or flow.response is not None or not flow.live:
            return
        reason = (
            f"the request body was still arriving after {limit} s (phiwall_body_timeout), so phiwall could not "
            "inspect it and did not send it. Check the connection and send it again."
        )
        try:
            done = self._answer(flow, reason, 408, "body_timeout", upstream=False)
        except Exception as e:  # noqa: BLE001 - a failed answer must not leave the flow waiting for ever
            log.error("phiwall: could not answer a slow request body: %s", type(e).__name__)
            done = False
        if not done:
            log.info("phiwall: a request body is still arriving after %s s (HTTP/2: not answered early)", limit)

    async def _upstream_deadline(self, flow: http.HTTPFlow, limit: int) -> None:
        await asyncio.sleep(limit)
        if flow.response is not None or not flow.live or flow.error is not None:
            return
        reason = f"the service did not start its answer within {limit} s (phiwall_upstream_timeout). Try again later."
        if not self._answer(flow, reason, 504, "upstream_timeout", upstream=True):
            log.info("phiwall: a service has not answered after %s s (HTTP/2: not answered early)", limit)

    def _answer(self, flow: http.HTTPFlow, reason: str, status: int, rule: str, *, upstream: bool) -> bool:
        """Answer the flow now, in the service's format, and audit it; False when its stream cannot be reached."""
        from phiwall.extractors import route_request

        stream = _find_stream(flow)
        if stream is None or flow.request.http_version != "HTTP/1.1":
            return False
        service = route_request(flow.request.pretty_host, flow.request.path)
        if service is None:
            return False
        meta = flow.metadata.setdefault(META, {})
        meta.pop("audited", None)  # an upstream timeout is a second event for a request already audited
        meta.setdefault("style", service.error_style)
        self.wall.enforcer.apply(flow, Decision(Verdict.BLOCK, (rule,), (reason,)), service=service, status=status)
        if flow.response is None:  # shadow mode: nothing is answered in phiwall's name
            return True
        flow.response.headers["connection"] = "close"
        _inject_response(stream, flow, upstream)
        log.info("phiwall: %s after its time limit (flow %s)", rule.replace("_", " "), flow.id)
        return True


def _find_stream(flow: http.HTTPFlow) -> HttpStream | None:
    """The HTTP stream carrying `flow`, found by walking the connection's layer stack (tunnels, TLS, HTTP)."""
    ps = ctx.master.addons.get("proxyserver")
    handler = getattr(ps, "connections", {}).get(flow.client_conn.id) if ps else None
    if handler is None:
        return None
    todo: list[Any] = [handler.layer]
    seen: set[int] = set()
    while todo:
        obj = todo.pop()
        if obj is None or id(obj) in seen or len(seen) > 200:
            continue
        seen.add(id(obj))
        if isinstance(obj, HttpStream) and obj.flow is flow:
            return obj
        for attr in ("layer", "child_layer"):
            todo.append(getattr(obj, attr, None))
        # Mode layers (regular proxy) keep their child only as a bound `_handle_event`.
        todo.append(getattr(getattr(obj, "_handle_event", None), "__self__", None))
        streams = getattr(obj, "streams", None)
        if isinstance(streams, dict):
            todo.extend(streams.values())
    return None


def _inject_response(stream: HttpStream, flow: http.HTTPFlow, upstream: bool) -> None:
    """Deliver `flow.response` to the client now: the stream's next event is our injected one, which it handles by
    sending the response (its own `_handle_event` only takes HTTP events, so it is wrapped for that one event)."""
    original = stream._handle_event

    def answer(event: events.Event) -> Iterator[commands.Command]:
        if not (isinstance(event, events.MessageInjected) and event.flow is flow):
            yield from original(event)
            return
        del stream._handle_event  # back to the class's method for every later event
        stream.client_state = stream.state_errored  # the rest of a slow body is dropped
        stream.server_state = stream.state_errored  # a late reply from a hung service too
        if upstream and stream.context.server.connected:
            yield commands.CloseConnection(stream.context.server)
        yield HttpResponseHeadersHook(flow)
        yield from stream.send_response()
        if not upstream:
            # The client may still be sending: close only our side (a FIN after the answer), so it reads the answer
            # instead of a reset; what it still sends is dropped until it closes too (or tcp_timeout).
            yield commands.CloseTcpConnection(stream.context.client, half_close=True)

    stream._handle_event = answer
    ps = ctx.master.addons.get("proxyserver")
    ps.inject_event(events.MessageInjected(flow, b""))
