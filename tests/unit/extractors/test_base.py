from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from phiwall.errors import ExtractionError
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import collect_any
from phiwall.extractors.base import decode_b64
from phiwall.extractors.base import parse_data_url
from phiwall.extractors.base import parse_multipart
from phiwall.extractors.base import walk_json
from phiwall.model import PartKind

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
@pytest.mark.parametrize("strip_padding", [False, True])
def test_decode_b64_both_alphabets(encode, strip_padding) -> None:
    data = bytes(range(256)) * 3 + b"\xfb\xff"
    s = encode(data).decode()
    if strip_padding:
        s = s.rstrip("=")
    assert decode_b64(s) == data


def test_decode_b64_broken_raises() -> None:
    with pytest.raises(ExtractionError, match="broken base64"):
        decode_b64("iVBORw0KGgo%%%")


def test_data_url() -> None:
    mime, data = parse_data_url("data:image/png;base64," + base64.b64encode(PNG).decode())  # type: ignore[misc]
    assert mime == "image/png" and data == PNG
    assert parse_data_url("https://example.com/a.png") is None


def test_walk_json_finds_files_text_and_references() -> None:
    doc = {
        "model": "gpt-4o",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Jane Roe has a cough"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(PNG).decode()},
                    },
                    {"type": "image_url", "image_url": {"url": "https://example.org/x.png"}},
                    {
                        "inlineData": {
                            "mimeType": "image/png",
                            "data": base64.urlsafe_b64encode(PNG * 4).decode().rstrip("="),
                        }
                    },
                ],
            }
        ],
    }
    c = PartCollector()
    walk_json(doc, c)
    kinds = [(p.kind, p.media_type, p.locator.encoding) for p in c.parts]
    assert (PartKind.TEXT, None, "utf8") in kinds
    assert (PartKind.FILE, "image/png", "data-url") in kinds  # declared jpeg, sniffed png
    assert (PartKind.FILE, "image/png", "base64") in kinds
    assert [f.entity for f in c.findings] == ["REMOTE_REFERENCE"]
    assert all(p.text != "gpt-4o" for p in c.parts)  # protocol metadata is not user content


def test_strict_base64_key_raises_on_garbage() -> None:
    with pytest.raises(ExtractionError, match=r"broken base64 .* at messages.0.data"):
        walk_json({"messages": [{"data": "not base64!!"}]}, PartCollector(), strict_b64_keys=frozenset({"data"}))


def _multipart(fields: list[tuple[str, str | None, bytes]], boundary: str = "----b0und") -> bytes:
    out = b""
    for name, filename, data in fields:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_multipart_keeps_trailing_crlf_of_binaries() -> None:
    payload = PNG + b"\r\n\r\n"  # a binary that ends in CR LF must survive exactly
    body = _multipart([("purpose", None, b"user_data"), ("file", "scan.png", payload)])
    fields = parse_multipart(body, "multipart/form-data; boundary=----b0und")
    assert [f.name for f in fields] == ["purpose", "file"]
    assert fields[1].filename == "scan.png" and fields[1].data == payload


def test_multipart_truncated_raises() -> None:
    body = _multipart([("file", "a.png", PNG)])[:-20]
    with pytest.raises(ExtractionError, match="truncated"):
        parse_multipart(body, "multipart/form-data; boundary=----b0und")


@pytest.mark.parametrize(
    "body,ctype,shape",
    [
        (PNG, "application/x-www-form-urlencoded", "file"),  # Gemini web finalize lies about its type
        (json.dumps({"message": "hello Jane"}).encode(), "text/plain", "json"),  # X Grok sends JSON as text/plain
        (b"f.req=" + json.dumps([None, "hi"]).encode(), "application/x-www-form-urlencoded", "form"),
        (b"plain words", "", "text"),
        (bytes(range(256)), "", "binary"),
    ],
)
def test_collect_any_sniffs_not_trusts(body: bytes, ctype: str, shape: str) -> None:
    assert collect_any(body, ctype, PartCollector()) == shape


@given(st.binary(min_size=1, max_size=300))
def test_multipart_roundtrip_any_bytes(data: bytes) -> None:
    body = _multipart([("file", "x.bin", data)], boundary="XyZ123")
    assert parse_multipart(body, "multipart/form-data; boundary=XyZ123")[0].data == data
