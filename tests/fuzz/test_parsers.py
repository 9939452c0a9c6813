"""Fuzzed input for every parser that takes user bytes: only phiwall's own errors, bounded time and memory.

Each strategy mixes arbitrary bytes with mutations (flips, cuts, insertions, splices) of a valid seed, so the
parsers get past their magic bytes and into their structure. See conftest.py for the settings and the long run.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import struct
import tarfile
import zlib
from functools import cache

import brotli
import zstandard
from hypothesis import given
from hypothesis import strategies as st
from phiwall import sniff
from phiwall.dicom_io import DicomReadError
from phiwall.errors import PhiWallError

from tests.factories import image_bytes
from tests.factories import make_dicom
from tests.factories import make_zip

OWN = (PhiWallError, DicomReadError)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """`seed` with a few random edits: byte flips, a cut, an insertion, a duplicated slice."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup", "zero"]))
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "dup":
            j = draw(st.integers(i, min(len(data), i + 64)))
            data[i:i] = data[i:j]
        else:
            data[i : i + draw(st.integers(1, 8))] = b"\0" * 4
    return bytes(data)


def bytes_or(seed: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=2048), mutated(seed))


# -- seeds ------------------------------------------------------------------------------------------------------


@cache
def dicom_seed() -> bytes:
    return make_dicom(pixels=True)


@cache
def png_seed() -> bytes:
    from PIL import Image

    return image_bytes(Image.new("RGB", (40, 30), (120, 10, 200)), "PNG")


@cache
def jpeg_seed() -> bytes:
    from PIL import Image

    return image_bytes(Image.new("RGB", (40, 30), (120, 10, 200)), "JPEG")


@cache
def zip_seed() -> bytes:
    return make_zip({"a/scan.dcm": dicom_seed(), "notes.txt": b"Patient notes here"})


@cache
def tar_seed() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("scan.dcm", dicom_seed()), ("n.txt", b"hello")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


BOUNDARY = "----phiwallfuzz"
MULTIPART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n'
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
    f"Content-Type: text/plain\r\n\r\nhello there\r\n--{BOUNDARY}--\r\n"
).encode()


def grpc_frame(msg: bytes, compressed: bool = False) -> bytes:
    if compressed:
        msg = gzip.compress(msg)
    return struct.pack(">BI", 1 if compressed else 0, len(msg)) + msg


# A protobuf: field 1 string, field 2 nested message with a string, field 3 varint.
PROTO = b"\x0a\x05hello" + b"\x12\x07\x0a\x05world" + b"\x18\x96\x01"
GRPC = grpc_frame(PROTO) + grpc_frame(PROTO, compressed=True)

PACKERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda d: zstandard.ZstdCompressor().compress(d),
}
BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello " * 50}]}).encode()


# -- properties -------------------------------------------------------------------------------------------------


@given(st.sampled_from(sorted(PACKERS)), st.data())
def test_content_encoding(coding: str, data: st.DataObject) -> None:
    from phiwall.encoding import decode_body

    raw = data.draw(bytes_or(PACKERS[coding](BODY)))
    stacked = data.draw(st.sampled_from([coding, f"{coding}, identity", f"identity, {coding}"]))
    try:
        out = decode_body(raw, stacked, 100_000)
    except OWN:
        return
    assert len(out) <= 100_000


@given(st.binary(max_size=1024), st.text(max_size=40))
def test_content_encoding_header_is_free_text(raw: bytes, header: str) -> None:
    """The header is the client's free text: an error never echoes it (only registered coding names)."""
    from phiwall.encoding import decode_body

    try:
        decode_body(raw, "zqx" + header, 10_000)
    except OWN as e:
        assert "zqx" not in str(e)


@given(st.one_of(st.binary(max_size=1024), mutated(dicom_seed()), mutated(png_seed()), mutated(zip_seed())))
def test_sniff_never_raises(data: bytes) -> None:
    assert isinstance(sniff.sniff(data), str)
    out = sniff.with_standard_preamble(data)
    assert out == data or (out[128:132] == b"DICM" and data.endswith(out[128:]))


@given(bytes_or(MULTIPART), st.sampled_from([BOUNDARY, "x", ""]))
def test_multipart(body: bytes, boundary: str) -> None:
    from phiwall.extractors.base import parse_multipart

    try:
        fields = parse_multipart(body, f"multipart/form-data; boundary={boundary}")
    except OWN:
        return
    assert isinstance(fields, list)


_B64 = base64.b64encode(dicom_seed()[:600]).decode()


@given(
    st.one_of(
        st.text(max_size=300),
        st.builds(lambda m, s: f"data:{m};base64,{s}", st.text(max_size=30), st.text(max_size=200)),
        st.builds(lambda cut: "data:application/dicom;base64," + _B64[:cut], st.integers(0, len(_B64))),
        st.builds(lambda s: _B64[: len(s)] + s, st.text(alphabet="ABCD=+/-_ \n%", max_size=60)),
    )
)
def test_data_urls_and_base64(s: str) -> None:
    from phiwall.extractors.base import decode_b64
    from phiwall.extractors.base import maybe_base64_file
    from phiwall.extractors.base import parse_data_url

    for fn in (parse_data_url, maybe_base64_file, decode_b64):
        try:
            fn(s)
        except OWN:
            pass


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
    max_leaves=40,
)
_KEYS = "messages content role type image_url url input contents parts inlineData data mimeType source media_type"
_KEYS += " file file_data text model tools system"
API_JSON = st.recursive(
    st.none() | st.integers() | st.text(max_size=40) | st.sampled_from(["data:image/png;base64,iVBORw0KGgo=", "user"]),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.sampled_from(_KEYS.split()), kids, max_size=4),
    max_leaves=30,
)


@cache
def _pipeline():  # type: ignore[no-untyped-def]
    from phiwall.pipeline import Pipeline
    from phiwall.policy import Policy
    from phiwall.policy import load_policy

    return Pipeline(Policy(load_policy(None)), detectors={})


FORM = "application/x-www-form-urlencoded"
ENDPOINTS = [
    ("api.openai.com", "/v1/chat/completions", "application/json"),
    ("api.openai.com", "/v1/responses", "application/json"),
    ("api.anthropic.com", "/v1/messages", "application/json"),
    ("generativelanguage.googleapis.com", "/v1beta/models/gemini-2.0-flash:generateContent", "application/json"),
    ("chatgpt.com", "/backend-api/conversation", "application/json"),
    ("api.openai.com", "/v1/files", f"multipart/form-data; boundary={BOUNDARY}"),
    ("api.x.ai", "/xai_api.Chat/GetCompletion", "application/grpc"),
    ("gemini.google.com", "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate", FORM),
]  # fmt: skip


@given(st.sampled_from(ENDPOINTS), st.one_of(JSON, API_JSON, st.binary(max_size=512)), st.data())
def test_adapters_through_the_pipeline_fail_closed(
    endpoint: tuple[str, str, str], doc: object, data: st.DataObject
) -> None:
    """What the addon does with a request: the pipeline's answer is a decision, and a body it cannot parse is the
    policy's on_error verdict (block by default), never an exception and never a silent allow."""
    from phiwall.model import Verdict
    from phiwall.request import RequestData

    host, path, ctype = endpoint
    if isinstance(doc, bytes):
        body = doc
    elif ctype.startswith("multipart"):
        body = data.draw(mutated(MULTIPART))
    elif ctype == "application/grpc":
        body = data.draw(mutated(GRPC))
    else:
        body = json.dumps(doc).encode()
    headers = (("content-type", ctype),) + ((("grpc-encoding", "gzip"),) if "grpc" in ctype else ())
    ins = _pipeline().inspect_request(RequestData("POST", "https", host, 443, path, headers, body))
    if ins.decision.error:
        assert ins.decision.verdict == Verdict.BLOCK, ins.decision


@given(bytes_or(GRPC), st.sampled_from(["", "gzip", "deflate", "zstd", "snappy"]))
def test_grpc_frames_and_protobuf(body: bytes, enc: str) -> None:
    from phiwall.extractors.base import PartCollector
    from phiwall.extractors.grpc import grpc_frames
    from phiwall.extractors.grpc import parse_message
    from phiwall.extractors.grpc import walk_message

    try:
        frames = grpc_frames(body, enc)
    except OWN:
        return
    for f in frames:
        try:
            parse_message(f)
        except ValueError:
            pass  # documented: "ValueError when the bytes are not a well-formed message"
        try:
            walk_message(f, PartCollector(), (0,))
        except OWN:
            pass


@given(st.one_of(mutated(PROTO), st.binary(max_size=256)))
def test_protobuf_walk(buf: bytes) -> None:
    from phiwall.extractors.base import PartCollector
    from phiwall.extractors.grpc import walk_message

    try:
        walk_message(buf, PartCollector(), (0,))
    except OWN:
        pass


def _file_part(data: bytes):  # type: ignore[no-untyped-def]
    from phiwall.model import Locator
    from phiwall.model import Part
    from phiwall.model import PartKind

    return Part("f0", PartKind.FILE, Locator("body"), data=data, media_type=sniff.sniff(data))


@given(st.one_of(mutated(zip_seed()), mutated(tar_seed()), mutated(gzip.compress(dicom_seed()))))
def test_archives(data: bytes) -> None:
    from phiwall import containers

    try:
        children = containers.expand(_file_part(data))
    except OWN:
        return
    assert isinstance(children, list)


@given(mutated(dicom_seed()))
def test_dicom_reader_and_detector(data: bytes) -> None:
    from phiwall.detectors.dicom import DicomDetector
    from phiwall.dicom_io import read_dicom

    try:
        read_dicom(data, with_pixels=True)
    except OWN:
        pass
    try:
        DicomDetector({}).detect(_file_part(data))
    except OWN:
        pass


@given(st.one_of(mutated(png_seed()), mutated(jpeg_seed()), st.binary(max_size=512)))
def test_image_loading(data: bytes) -> None:
    from phiwall.imaging.load import load_image

    try:
        img = load_image(data)
    except OWN:
        return
    assert img.mode in ("L", "RGB") and max(img.size) <= 512
