"""Decompression bombs (issue 13, item 9): every coding goes through one bounded streaming reader, so decoding a
body that expands to gigabytes costs about the limit in memory, not the expansion.

Each bomb is decoded in a fresh subprocess whose address space is capped (RLIMIT_AS), so a regression fails with
a MemoryError there instead of taking the machine's memory; the child reports its peak RSS (VmHWM) growth."""

from __future__ import annotations

import gzip
import json
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import brotli
import pytest
import zstandard
from phiwall.encoding import decode_body
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError

MB = 1 << 20
LIMIT = 50 * MB  # the default policy's max_body_bytes
REPO = Path(__file__).resolve().parents[2]


def _zeros(n_mb: int):
    z = b"\0" * MB
    for _ in range(n_mb):
        yield z


def brotli_bomb(n_mb: int = 1024) -> bytes:
    c = brotli.Compressor(quality=5)
    return b"".join([c.process(z) for z in _zeros(n_mb)] + [c.finish()])


def zstd_bomb(n_mb: int = 2200) -> bytes:
    c = zstandard.ZstdCompressor(level=19).compressobj()
    return b"".join([c.compress(z) for z in _zeros(n_mb)] + [c.flush()])


def zlib_bomb(n_mb: int, wbits: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join([c.compress(z) for z in _zeros(n_mb)] + [c.flush()])


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bombs")
    made = {
        "br": brotli_bomb(),  # 1 GB in ~1.6 KB
        "zstd": zstd_bomb(),  # 2.2 GB in ~70 KB
        "gzip": zlib_bomb(1024, 31),  # 1 GB in ~1 MB (deflate tops out near 1:1030)
        "deflate": zlib_bomb(1024, 15),
        "br, gzip": gzip.compress(brotli_bomb(), 9),  # stacked codings: the inner bomb still stops at the limit
    }
    assert len(made["br"]) < 4000 and len(made["zstd"]) < 100_000
    out = {}
    for name, data in made.items():
        p = d / name.replace(", ", "_")
        p.write_bytes(data)
        out[name] = p
    return out


_CHILD = """
import json, resource, sys
sys.path.insert(0, {proxy!r})
from phiwall.encoding import decode_body
from phiwall.errors import LimitError
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
data = open(sys.argv[1], "rb").read()
before = hwm()
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
try:
    decode_body(data, sys.argv[2], {limit})
    result = "decoded"
except LimitError as e:
    result = "limit: " + str(e)
except MemoryError:
    result = "MemoryError"
print(json.dumps({{"result": result, "growth": hwm() - before}}))
"""


def _decode_in_child(path: Path, coding: str) -> dict[str, object]:
    # The cap on address space: the interpreter's own mappings plus room for ~6x the limit, far under 1 GB.
    own = resource.getrlimit(resource.RLIMIT_AS)
    assert own[0] == resource.RLIM_INFINITY or own[0] > 2 << 30
    script = _CHILD.format(proxy=str(REPO / "proxy"), cap=900 * MB, limit=LIMIT)
    r = subprocess.run(
        [sys.executable, "-c", script, str(path), coding], capture_output=True, text=True, timeout=120, check=False
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip", "deflate", "br, gzip"])
def test_bomb_peak_memory_stays_near_the_limit(bombs: dict[str, Path], coding: str) -> None:
    got = _decode_in_child(bombs[coding], coding)
    assert str(got["result"]).startswith("limit: ") and "decompression bomb" in str(got["result"]), got
    growth = int(got["growth"])  # type: ignore[call-overload]
    # The bombs expand to 1-2.2 GB; the decoder may hold the limit (50 MiB) plus one chunk per layer.
    assert growth < 3 * LIMIT, f"{coding}: peak RSS grew by {growth / MB:.0f} MiB"


def test_concatenated_gzip_members_decode_in_full() -> None:
    """RFC 1952 §2.2: a gzip file is a series of members (what `cat a.gz b.gz` and pigz produce)."""
    a, b = b'{"messages": [{"role": "user", ', b'"content": "hello"}]}'
    assert decode_body(gzip.compress(a) + gzip.compress(b), "gzip", 10_000) == a + b
    assert decode_body(gzip.compress(a) + gzip.compress(b) + b"\0" * 64, "gzip", 10_000) == a + b  # padding
    many = b"".join(gzip.compress(bytes([65 + i % 26]) * 1000) for i in range(300))
    assert len(decode_body(many, "gzip", 1_000_000)) == 300_000
    with pytest.raises(LimitError):
        decode_body(many, "gzip", 299_999)  # the limit counts every member


def test_concatenated_zstd_frames_and_trailing_garbage() -> None:
    c = zstandard.ZstdCompressor()
    assert decode_body(c.compress(b"one ") + c.compress(b"two"), "zstd", 100) == b"one two"
    for coding, packed in (("gzip", gzip.compress(b"x" * 100)), ("zstd", c.compress(b"x" * 100))):
        with pytest.raises(ExtractionError, match="not valid|after the end"):
            decode_body(packed + b"trailing junk", coding, 10_000)


def test_zstd_window_over_rfc_9659_is_refused() -> None:
    """A zstd frame may ask the decoder for a window up to 2 GB; RFC 9659 caps HTTP's at 8 MB."""
    params = zstandard.ZstdCompressionParameters(window_log=27)
    c = zstandard.ZstdCompressor(compression_params=params).compressobj()
    packed = c.compress(bytes(range(256)) * 200_000) + c.flush()
    with pytest.raises(ExtractionError, match="window"):
        decode_body(packed, "zstd", 100 * MB)


def test_truncated_zstd_is_an_error_not_a_short_body() -> None:
    import os

    data = os.urandom(200_000).hex().encode()
    packed = zstandard.ZstdCompressor().compress(data)
    with pytest.raises(ExtractionError, match="truncated"):
        decode_body(packed[: len(packed) // 2], "zstd", 10 * MB)


def _grpc_frame(payload: bytes, compressed: bool) -> bytes:
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(payload)) + payload


def test_grpc_messages_share_one_budget() -> None:
    """Each compressed gRPC message used to be allowed 64 MiB on its own: 100 small frames meant 6.4 GB."""
    from phiwall.extractors.grpc import MAX_MESSAGE
    from phiwall.extractors.grpc import grpc_frames

    one = gzip.compress(b"\0" * (MAX_MESSAGE // 4), 9)  # ~65 KB each, 16 MiB decoded
    body = b"".join(_grpc_frame(one, True) for _ in range(8))  # 128 MiB decoded in all
    with pytest.raises(LimitError, match="decompression bomb"):
        grpc_frames(body, "gzip")


@pytest.mark.parametrize("enc", ["gzip", "deflate", "zstd"])
def test_grpc_per_message_codings_use_the_shared_reader(enc: str) -> None:
    """grpc-encoding values gRPC implementations send; the shared reader decodes them (zstd is new) and the same
    concatenated-member rule holds."""
    from phiwall.extractors.grpc import grpc_frames

    pack = {
        "gzip": lambda d: gzip.compress(d[:3]) + gzip.compress(d[3:]),
        "deflate": zlib.compress,
        "zstd": zstandard.ZstdCompressor().compress,
    }[enc]
    msg = b"\x0a\x05hello"
    assert grpc_frames(_grpc_frame(pack(msg), True), enc) == [msg]
