"""Bounded decoding of request Content-Encoding. mitmproxy's own decoder expands a body fully in memory, so a
10 MB gzip of zeros would become 10 GB on the event loop; here every decoder stops at the size limit."""

from __future__ import annotations

import zlib

import brotli
import zstandard

from phiwall.errors import ExtractionError
from phiwall.errors import LimitError

_CHUNK = 1 << 20
# IANA HTTP Content Coding registry entries phiwall does not decode (only these are named in an error).
_REGISTERED = frozenset({"compress", "x-compress", "exi", "pack200-gzip", "aes128gcm", "dcb", "dcz"})


def decode_body(raw: bytes, content_encoding: str, limit: int) -> bytes:
    """Undo every coding in Content-Encoding (in reverse order), refusing output larger than `limit` bytes."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    data = raw
    for coding in reversed(codings):
        if coding in ("identity", ""):
            continue
        if coding in ("gzip", "x-gzip"):
            data = _zlib(data, zlib.MAX_WBITS | 16, limit, coding)
        elif coding == "deflate":
            try:
                data = _zlib(data, zlib.MAX_WBITS, limit, coding)
            except ExtractionError:
                data = _zlib(data, -zlib.MAX_WBITS, limit, coding)  # raw deflate, as some clients send
        elif coding == "br":
            data = _brotli(data, limit)
        elif coding == "zstd":
            data = _zstd(data, limit)
        else:
            # Name only codings from the IANA registry: the header is the client's free text, never echoed.
            named = f" '{coding}'" if coding in _REGISTERED else ""
            raise ExtractionError(f"request body uses an unsupported Content-Encoding{named}")
    if len(data) > limit:
        raise LimitError(f"request body is {len(data)} bytes, over the {limit}-byte limit")
    return data


def _too_big(coding: str, limit: int) -> LimitError:
    return LimitError(
        f"{coding}-compressed request body expands beyond the {limit}-byte limit (possible decompression bomb)"
    )


def _zlib(data: bytes, wbits: int, limit: int, coding: str) -> bytes:
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(data, limit + 1)
        if len(out) > limit or d.unconsumed_tail:
            raise _too_big(coding, limit)
        out += d.flush()
    except zlib.error as e:
        raise ExtractionError(f"request body is not valid {coding} data ({e})") from e
    if not d.eof:
        raise ExtractionError(f"request body is truncated {coding} data")
    if len(out) > limit:
        raise _too_big(coding, limit)
    return out


def _brotli(data: bytes, limit: int) -> bytes:
    d = brotli.Decompressor()
    out = bytearray()
    try:
        for i in range(0, len(data), _CHUNK):
            out += d.process(data[i : i + _CHUNK])
            if len(out) > limit:
                raise _too_big("br", limit)
        if not d.is_finished():
            raise ExtractionError("request body is truncated br data")
    except brotli.error as e:
        raise ExtractionError(f"request body is not valid br data ({e})") from e
    return bytes(out)


def _zstd(data: bytes, limit: int) -> bytes:
    d = zstandard.ZstdDecompressor().decompressobj()
    out = bytearray()
    try:
        for i in range(0, len(data), 64 * 1024):
            out += d.decompress(data[i : i + 64 * 1024])
            if len(out) > limit:
                raise _too_big("zstd", limit)
    except zstandard.ZstdError as e:
        raise ExtractionError(f"request body is not valid zstd data ({e})") from e
    if not d.eof:
        raise ExtractionError("request body is truncated zstd data")
    return bytes(out)
