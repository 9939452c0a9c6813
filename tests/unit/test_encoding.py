from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard
from phiwall.encoding import decode_body
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError

DATA = b'{"messages": [{"content": "hello"}]}' * 10


@pytest.mark.parametrize(
    "coding,pack",
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", brotli.compress),
        ("zstd", lambda d: zstandard.ZstdCompressor().compress(d)),
        ("identity", lambda d: d),
        ("", lambda d: d),
    ],
)
def test_decodes(coding, pack) -> None:
    assert decode_body(pack(DATA), coding, 10_000) == DATA


def test_raw_deflate_and_stacked_codings() -> None:
    c = zlib.compressobj(wbits=-15)
    raw = c.compress(DATA) + c.flush()
    assert decode_body(raw, "deflate", 10_000) == DATA
    assert decode_body(gzip.compress(brotli.compress(DATA)), "br, gzip", 10_000) == DATA


@pytest.mark.parametrize(
    "coding,pack",
    [
        ("gzip", gzip.compress),
        ("br", brotli.compress),
        ("zstd", lambda d: zstandard.ZstdCompressor().compress(d)),
        ("deflate", zlib.compress),
    ],
)
def test_bomb_stops_at_limit(coding, pack) -> None:
    bomb = pack(b"\0" * 20_000_000)
    with pytest.raises(LimitError, match="decompression bomb"):
        decode_body(bomb, coding, 1_000_000)


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_garbage_and_truncation(coding) -> None:
    with pytest.raises(ExtractionError):
        decode_body(b"this is not compressed at all", coding, 10_000)
    packed = {"gzip": gzip.compress, "br": brotli.compress, "zstd": zstandard.ZstdCompressor().compress}[coding](
        DATA * 50
    )
    with pytest.raises(ExtractionError):
        decode_body(packed[: len(packed) // 2], coding, 100_000)


def test_unknown_coding_is_an_error() -> None:
    with pytest.raises(ExtractionError, match="unsupported Content-Encoding 'compress'"):
        decode_body(DATA, "compress", 10_000)
