"""A local HTTPS server standing in for the chatbot services (the only fakes in the test suite): it records
every request it receives, byte for byte, and answers with canned, service-shaped responses."""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Recorded:
    method: str
    host: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        body = self.body
        if self.headers.get("content-encoding") == "gzip":
            import gzip

            body = gzip.decompress(body)
        return json.loads(body)


Handler = Callable[[Recorded], tuple[int, dict[str, str], bytes]]


def _json(obj: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json"}, json.dumps(obj).encode()


def openai_chat(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    body = req.json()
    if body.get("stream"):
        chunks = []
        for i, piece in enumerate(["Fake ", "answer."]):
            delta: dict[str, Any] = {"content": piece}
            if i == 0:
                delta["role"] = "assistant"
            chunks.append(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "gpt-4o",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
            )
        chunks.append(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "gpt-4o",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
        )
        data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
        return 200, {"content-type": "text/event-stream"}, data
    return _json(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Fake answer."}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        }
    )


def openai_responses(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    return _json(
        {
            "id": "resp_fake",
            "object": "response",
            "created_at": 0,
            "model": "gpt-4o",
            "status": "completed",
            "output": [
                {
                    "type": "message",
                    "id": "msg_fake",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "Fake answer.", "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
    )


def openai_files(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    return _json(
        {
            "id": "file-fake",
            "object": "file",
            "bytes": len(req.body),
            "created_at": 0,
            "filename": "upload",
            "purpose": "user_data",
            "status": "processed",
        }
    )


DEFAULT_ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", r"/v1/chat/completions$", openai_chat),
    ("POST", r"/v1/responses$", openai_responses),
    ("POST", r"/v1/files$", openai_files),
]


class FakeUpstream:
    """Start with `with FakeUpstream(cert, key) as up:`; `up.port`, `up.requests`, `up.route(...)`."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.requests: list[Recorded] = []
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for m, p, h in DEFAULT_ROUTES:
            self.route(m, p, h)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["http/1.1"])
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without NODELAY, Nagle + delayed ACK add ~40 ms each.
                import socket

                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                rec = Recorded(
                    self.command,
                    self.headers.get("host", ""),
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                outer.requests.append(rec)
                status, headers, data = outer._dispatch(rec)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.server.daemon_threads = True
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def route(self, method: str, path_regex: str, handler: Handler) -> None:
        self.routes.insert(0, (method, re.compile(path_regex), handler))

    def _dispatch(self, rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        path = rec.path.split("?", 1)[0]
        for m, rx, h in self.routes:
            if m == rec.method and rx.search(path):
                return h(rec)
        return _json({"ok": True, "fake": "default"})

    def clear(self) -> None:
        self.requests.clear()

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- echo answers for the de-identification tests -----------------------------------------------------------------
# The fake model answers about the stand-ins it received, so a test can see (1) that only stand-ins arrived and (2)
# that the proxy put the originals back. Streams send 3 characters per event: every stand-in is cut across events.

STAND_IN = re.compile(r"\[[A-Z_]+_\d+\]")


def echo_text(text: str) -> str:
    found = list(dict.fromkeys(STAND_IN.findall(text)))
    if not found:
        return "No stand-ins arrived."
    return f"About {found[0]}: " + ", ".join(found) + f". Follow up with {found[0]} next week."


def _last_user_text(body: Any) -> str:
    """The text of everything the client sent (all turns), as one string."""
    return json.dumps(body, ensure_ascii=False)


def pieces(text: str, n: int = 3) -> list[str]:
    return [text[i : i + n] for i in range(0, len(text), n)]


def _sse(events: list[Any], *, named: bool = False, done: bool = False) -> tuple[int, dict[str, str], bytes]:
    out = b""
    for e in events:
        if named:
            out += b"event: " + e["type"].encode() + b"\n"
        out += b"data: " + json.dumps(e).encode() + b"\n\n"
    if done:
        out += b"data: [DONE]\n\n"
    return 200, {"content-type": "text/event-stream"}, out


def echo_openai_chat(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    body = req.json()
    answer = echo_text(_last_user_text(body.get("messages")))
    base = {"id": "chatcmpl-echo", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o"}
    if body.get("stream"):
        events = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": p}, "finish_reason": None}]}
            for p in pieces(answer)
        ]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        return _sse(events, done=True)
    return _json(
        {
            "id": "chatcmpl-echo",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        }
    )


def _response_obj(answer: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_echo",
        "object": "response",
        "created_at": 0,
        "model": "gpt-4o",
        "status": status,
        "output": [
            {
                "type": "message",
                "id": "msg_echo",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": answer, "annotations": []}],
            }
        ]
        if answer
        else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def echo_openai_responses(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    body = req.json()
    answer = echo_text(_last_user_text(body.get("input")))
    if not body.get("stream"):
        return _json(_response_obj(answer))
    n = iter(range(1000))
    item = {"type": "message", "id": "msg_echo", "role": "assistant", "status": "in_progress", "content": []}
    events: list[Any] = [
        {"type": "response.created", "sequence_number": next(n), "response": _response_obj("", "in_progress")},
        {"type": "response.output_item.added", "sequence_number": next(n), "output_index": 0, "item": item},
        {
            "type": "response.content_part.added",
            "sequence_number": next(n),
            "item_id": "msg_echo",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
    ]
    for p in pieces(answer):
        events.append(
            {
                "type": "response.output_text.delta",
                "sequence_number": next(n),
                "item_id": "msg_echo",
                "output_index": 0,
                "content_index": 0,
                "delta": p,
                "logprobs": [],
            }
        )
    events += [
        {
            "type": "response.output_text.done",
            "sequence_number": next(n),
            "item_id": "msg_echo",
            "output_index": 0,
            "content_index": 0,
            "text": answer,
            "logprobs": [],
        },
        {"type": "response.completed", "sequence_number": next(n), "response": _response_obj(answer)},
    ]
    return _sse(events, named=True)


def echo_anthropic(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    body = req.json()
    answer = echo_text(_last_user_text(body.get("messages")))
    msg = {
        "id": "msg_echo",
        "type": "message",
        "role": "assistant",
        "model": "claude-fake",
        "content": [{"type": "text", "text": answer}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 2},
    }
    if not body.get("stream"):
        return _json(msg)
    events: list[Any] = [
        {"type": "message_start", "message": {**msg, "content": [], "stop_reason": None}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}} for p in pieces(answer)
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]
    return _sse(events, named=True)


def echo_gemini(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    body = req.json()
    answer = echo_text(_last_user_text(body.get("contents")))

    def chunk(text: str, final: bool) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if final:
            cand["finishReason"] = "STOP"
        return {"candidates": [cand], "modelVersion": "gemini-fake"}

    if ":streamGenerateContent" in req.path:
        ps = pieces(answer)
        return _sse([chunk(p, i == len(ps) - 1) for i, p in enumerate(ps)])
    return _json(chunk(answer, True))


def route_echo(up: FakeUpstream) -> None:
    """Answer chats on every API with `echo_text` (call in a test; `FakeUpstream.clear` does not undo it)."""
    up.route("POST", r"/v1/chat/completions$", echo_openai_chat)
    up.route("POST", r"/v1/responses$", echo_openai_responses)
    up.route("POST", r"/v1/messages$", echo_anthropic)
    up.route("POST", r":(?:stream)?[gG]enerateContent$", echo_gemini)


def unroute_echo(up: FakeUpstream) -> None:
    echoes = {echo_openai_chat, echo_openai_responses, echo_anthropic, echo_gemini}
    up.routes[:] = [r for r in up.routes if r[2] not in echoes]
