"""Bounded decoding of compressed request bodies: HTTP Content-Encoding and gRPC's per-message compression.

mitmproxy's own decoder expands a body fully in memory, and a one-shot `decompress()` call expands a whole input
chunk before anything can look at the size: a 1.7 KB brotli body becomes 1 GB, a 65 KB zstd body 2 GB. So every
coding goes through one streaming reader here. Each layer is a small file-like object whose `read(n)` returns at
most `n` bytes (zlib's and zstd's `max_length`, brotli's `output_buffer_limit`), layers stack
for `Content-Encoding: br, gzip`, and the caller's loop stops as soon as the output passes the limit. Peak memory
is therefore the limit plus one chunk per layer, whatever the expansion ratio.

Decoding up to the limit is still CPU work (about 0.1-0.3 s for 50 MiB); `decode_body_async` runs it in a thread
(zlib, brotli and zstandard release the GIL while they work), so the proxy's event loop never waits for it.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import zlib
from collections.abc import Callable
from typing import Any

import brotli

try:
    from backports import zstd
except ImportError:  # Python >= 3.14 has it in the standard library
    zstd = importlib.import_module("compression.zstd")

from phiwall.errors import ExtractionError
from phiwall.errors import LimitError

CHUNK = 256 * 1024
# RFC 9659 §3: a zstd content coding uses a window of at most 8 MB, and decoders need not accept more. A larger
# window is a memory request the client makes of the proxy (up to 2 GB per stream), so it is refused.
ZSTD_MAX_WINDOW_LOG = 23  # 8 MiB
# IANA HTTP Content Coding registry entries phiwall does not decode (only these are named in an error).
_REGISTERED = frozenset({"compress", "x-compress", "exi", "pack200-gzip", "aes128gcm", "dcb", "dcz", "snappy"})


class _Reader:
    """The smallest file-like protocol the layers need: `read(n)` returns 1..n bytes, or b"" at the end."""

    def read(self, n: int = -1, /) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError


class _BytesSource(_Reader):
    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def read(self, n: int = -1, /) -> bytes:
        return self._buf.read(CHUNK if n < 0 else n)


class _Zlib(_Reader):
    """gzip (every member of a multi-member file, RFC 1952 §2.2), zlib-wrapped deflate, or raw deflate."""

    def __init__(self, src: _Reader, coding: str, what: str) -> None:
        self._src = src
        self._coding = coding
        self._what = what
        self._gzip = coding in ("gzip", "x-gzip")
        self._wbits = zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS
        self._d = zlib.decompressobj(self._wbits)
        self._pending = b""  # input read from the source and not yet consumed by the decompressor
        self._started = False  # any byte of the current member fed (for raw-deflate detection)
        self._done = False

    def read(self, n: int = -1, /) -> bytes:
        n = CHUNK if n < 0 else n
        while not self._done:
            if not self._pending:
                self._pending = self._src.read(CHUNK)
                if not self._pending:
                    # Input ended: pending output may still sit in the decompressor.
                    out = self._call(b"", n)
                    if out:
                        return out
                    if not self._d.eof:
                        raise ExtractionError(f"{self._what} is truncated {self._coding} data")
                    self._done = True
                    return b""
            out = self._call(self._pending, n)
            self._pending = self._d.unconsumed_tail
            if self._d.eof:
                self._next_member()
            if out:
                return out
        return b""

    def _call(self, data: bytes, n: int) -> bytes:
        try:
            return self._d.decompress(data, n)
        except zlib.error as e:
            if self._coding == "deflate" and self._wbits == zlib.MAX_WBITS and not self._started:
                # Some clients send raw deflate (no zlib header) as "deflate": start over in raw mode.
                self._wbits = -zlib.MAX_WBITS
                self._d = zlib.decompressobj(self._wbits)
                self._started = True
                return self._call(data, n)
            raise ExtractionError(f"{self._what} is not valid {self._coding} data ({e})") from e
        finally:
            self._started = True

    def _next_member(self) -> None:
        rest = self._d.unused_data + self._pending
        while not rest.strip(b"\0"):  # nothing but zero padding so far (gzip tools pad): look further
            more = self._src.read(CHUNK)
            if not more:
                self._pending = b""
                self._done = True
                return
            rest = more
        if self._gzip and not rest.startswith(b"\0"):
            # Another gzip member follows (RFC 1952 §2.2: a gzip file is a series of members).
            self._d = zlib.decompressobj(self._wbits)
            self._pending = rest
        else:
            raise ExtractionError(f"{self._what} has data after the end of its {self._coding} stream")


class _Brotli(_Reader):
    def __init__(self, src: _Reader, what: str) -> None:
        self._src = src
        self._what = what
        self._d = brotli.Decompressor()
        self._eof = False

    def read(self, n: int = -1, /) -> bytes:
        n = CHUNK if n < 0 else n
        try:
            while True:
                if not self._d.can_accept_more_data():
                    out = self._d.process(b"", output_buffer_limit=n)
                elif self._eof:
                    if not self._d.is_finished():
                        raise ExtractionError(f"{self._what} is truncated br data")
                    return b""
                else:
                    data = self._src.read(CHUNK)
                    if not data:
                        self._eof = True
                        continue
                    if self._d.is_finished():
                        raise ExtractionError(f"{self._what} has data after the end of its br stream")
                    out = self._d.process(data, output_buffer_limit=n)
                if out:
                    return bytes(out)
        except brotli.error as e:
            raise ExtractionError(f"{self._what} is not valid br data ({e})") from e


class _Zstd(_Reader):
    """zstd frames one after the other (RFC 8878 §3.1), each decoded with `max_length` like zlib."""

    def __init__(self, src: _Reader, what: str) -> None:
        self._src = src
        self._what = what
        self._d = self._new()
        self._pending = b""
        self._done = False

    @staticmethod
    def _new() -> Any:
        return zstd.ZstdDecompressor(options={zstd.DecompressionParameter.window_log_max: ZSTD_MAX_WINDOW_LOG})

    def read(self, n: int = -1, /) -> bytes:
        n = CHUNK if n < 0 else n
        while not self._done:
            if self._d.eof:
                rest = self._d.unused_data + self._pending
                if not rest:
                    rest = self._src.read(CHUNK)
                if not rest:
                    self._done = True
                    return b""
                self._d, self._pending = self._new(), rest
                continue
            if self._d.needs_input:
                if not self._pending:
                    self._pending = self._src.read(CHUNK)
                if not self._pending:
                    raise ExtractionError(f"{self._what} is truncated zstd data")
                data, self._pending = self._pending, b""
            else:
                data = b""  # output is still buffered inside the decompressor
            out = self._call(data, n)
            if out:
                return out
        return b""

    def _call(self, data: bytes, n: int) -> bytes:
        try:
            out: bytes = self._d.decompress(data, n)
            return out
        except zstd.ZstdError as e:
            if "memory" in str(e).lower() or "window" in str(e).lower():
                raise ExtractionError(
                    f"{self._what} is zstd data with a window over {1 << ZSTD_MAX_WINDOW_LOG >> 20} MiB (RFC 9659 §3)"
                ) from e
            raise ExtractionError(f"{self._what} is not valid zstd data") from e


def _layer(src: _Reader, coding: str, what: str, header: str) -> _Reader:
    if coding in ("gzip", "x-gzip", "deflate"):
        return _Zlib(src, coding, what)
    if coding == "br":
        return _Brotli(src, what)
    if coding == "zstd":
        return _Zstd(src, what)
    # Name only codings from the IANA registry: the header is the client's free text, never echoed.
    named = f" '{coding}'" if coding in _REGISTERED else ""
    raise ExtractionError(f"{what} uses an unsupported {header}{named}")


def codings(content_encoding: str) -> list[str]:
    """The codings named in a Content-Encoding value, in the order they were applied, identity dropped."""
    return [c for c in (p.strip().lower() for p in content_encoding.split(",")) if c and c != "identity"]


def decode_body(
    raw: bytes, content_encoding: str, limit: int, *, what: str = "request body", header: str = "Content-Encoding"
) -> bytes:
    """Undo every coding in `content_encoding` (the last applied first), refusing output over `limit` bytes.

    Raises LimitError (a possible decompression bomb) as soon as the decoded size passes `limit`, and
    ExtractionError for data that is not what its header says.
    """
    names = codings(content_encoding)
    if not names or not raw:
        if len(raw) > limit:
            raise LimitError(f"{what} is {len(raw)} bytes, over the {limit}-byte limit")
        return raw
    src: _Reader = _BytesSource(raw)
    for coding in reversed(names):
        src = _layer(src, coding, what, header)
    out = bytearray()
    while True:
        piece = src.read(min(CHUNK, limit + 1 - len(out)))
        if not piece:
            return bytes(out)
        out += piece
        if len(out) > limit:
            raise LimitError(
                f"{'/'.join(names)}-compressed {what} expands beyond the {limit}-byte limit "
                "(possible decompression bomb)"
            )


async def decode_body_async(raw: bytes, content_encoding: str, limit: int) -> bytes:
    """`decode_body` off the event loop (in a thread) whenever the body is compressed: even a tiny body can
    expand to the limit."""
    if not codings(content_encoding):
        return decode_body(raw, content_encoding, limit)
    call: Callable[[], bytes] = lambda: decode_body(raw, content_encoding, limit)  # noqa: E731
    return await asyncio.to_thread(call)
