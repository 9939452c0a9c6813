"""Fake upstreams that FakeUpstream (HTTP/1.1) cannot play: a gRPC server over TLS + HTTP/2 standing in for
api.x.ai (xai_api.Chat/GetCompletion, xai_api.Files/UploadFile), and a WebSocket server standing in for grok.com's
gateway. Plus one `phiwall run` process whose redirect map sends api.x.ai and grok.com's WebSocket handshakes to
them (every other host, and grok.com's plain HTTPS requests, to the session's FakeUpstream), started once per test
session and shared by the modules that need it.

Both servers only record what arrives and answer in the service's shape; they are the only fakes.
"""

from __future__ import annotations

import asyncio
import atexit
import ssl
import threading
from concurrent import futures
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from tests.support.proxy import ProxyProcess
from tests.support.proxy import free_port
from tests.support.proxy import start_proxy
from tests.support.tls import SERVICE_HOSTS


@dataclass
class FakeXai:
    """grpcio server with TLS; records raw request messages (bytes) per method."""

    port: int
    calls: list[tuple[str, list[bytes]]] = field(default_factory=list)
    server: object = None

    def clear(self) -> None:
        self.calls.clear()


def start_fake_xai(cert: Path, key: Path) -> FakeXai:
    import grpc
    from xai_sdk.proto.v6 import chat_pb2
    from xai_sdk.proto.v6 import files_pb2

    fake = FakeXai(port=0)

    def get_completion(request: bytes, context: object) -> bytes:
        fake.calls.append(("/xai_api.Chat/GetCompletion", [request]))
        return chat_pb2.GetChatCompletionResponse(
            id="fake-completion",
            model="grok-4",
            outputs=[
                chat_pb2.CompletionOutput(index=0, message=chat_pb2.CompletionMessage(content="Fake answer.", role=2))
            ],
        ).SerializeToString()

    def upload_file(requests: object, context: object) -> bytes:
        msgs = list(requests)  # type: ignore[call-overload]
        fake.calls.append(("/xai_api.Files/UploadFile", msgs))
        size = 0
        for m in msgs:
            chunk = files_pb2.UploadFileChunk.FromString(m)
            size += len(chunk.data)
        return files_pb2.File(id="file_fake0001", filename="upload", size=size).SerializeToString()

    handlers = [
        grpc.method_handlers_generic_handler(
            "xai_api.Chat",
            {
                "GetCompletion": grpc.unary_unary_rpc_method_handler(get_completion),
            },
        ),
        grpc.method_handlers_generic_handler(
            "xai_api.Files",
            {
                "UploadFile": grpc.stream_unary_rpc_method_handler(upload_file),
            },
        ),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=handlers)
    creds = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    fake.port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    fake.server = server
    atexit.register(server.stop, 0)
    return fake


@dataclass
class FakeGrokWs:
    """A TLS WebSocket server: records client messages, answers each conversation.item.create with a reply."""

    port: int
    received: list[str | bytes] = field(default_factory=list)

    def clear(self) -> None:
        self.received.clear()


def start_fake_grok_ws(cert: Path, key: Path) -> FakeGrokWs:
    import json

    from websockets.asyncio.server import serve

    fake = FakeGrokWs(port=free_port())
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ready = threading.Event()

    async def handler(ws: object) -> None:
        async for message in ws:  # type: ignore[attr-defined]
            fake.received.append(message)
            try:
                event = json.loads(message).get("event", {})
            except (ValueError, AttributeError):
                continue
            if event.get("type") == "conversation.item.create":
                await ws.send(json.dumps({"event": {"type": "response.output_text.delta", "delta": "Fake answer."}}))  # type: ignore[attr-defined]
                await ws.send(json.dumps({"event": {"type": "response.done"}}))  # type: ignore[attr-defined]

    def run() -> None:
        async def main() -> None:
            async with serve(handler, "127.0.0.1", fake.port, ssl=ctx):
                ready.set()
                await asyncio.Future()

        asyncio.run(main())

    threading.Thread(target=run, daemon=True, name="fake-grok-ws").start()
    ready.wait(10)
    return fake


@dataclass
class Specials:
    proxy: ProxyProcess
    xai: FakeXai
    grok_ws: FakeGrokWs


_started: dict[str, Specials] = {}


def special_proxy(home: Path, pki: tuple[Path, Path, Path], upstream_port: int) -> Specials:
    """The shared proxy for gRPC and WebSocket tests (one per test session)."""
    if "s" not in _started:
        ca, cert, key = pki
        xai = start_fake_xai(cert, key)
        ws = start_fake_grok_ws(cert, key)
        mapping = {h: upstream_port for h in SERVICE_HOSTS}
        mapping["api.x.ai"] = xai.port
        mapping["ws:grok.com"] = ws.port  # grok.com's plain HTTPS requests (uploads) go to the FakeUpstream
        proxy = start_proxy(home, mapping, ca)
        atexit.register(proxy.stop)
        _started["s"] = Specials(proxy, xai, ws)
    return _started["s"]
