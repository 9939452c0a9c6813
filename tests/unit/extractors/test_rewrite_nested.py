"""Write-back through nested wrappings the matcher-table samples do not reach: OpenAI batch JSON Lines inside a
multipart file (Multipart → Jsonl → Json → DataUrl → Base64), JSON inside a generic url-encoded form, Python-style
`\\uXXXX` JSON from the OpenAI SDK's JSONL writer, lossy multipart text, whitespace-only strings."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
from phiwall.extractors import adapter_for
from phiwall.extractors import route
from phiwall.extractors.base import parse_multipart
from phiwall.extractors.generic import GenericAdapter
from phiwall.locators import Base64
from phiwall.locators import DataUrl
from phiwall.locators import Json
from phiwall.locators import Jsonl
from phiwall.locators import Multipart
from phiwall.locators import RewriteError
from phiwall.locators import rewrite_parts
from phiwall.model import PartKind

from tests.support.samples import dicom_bytes
from tests.support.samples import multipart
from tests.support.samples import request

DCM = dicom_bytes()


def _batch_line(n: int, text: str) -> dict[str, object]:
    url = "data:application/dicom;base64," + base64.b64encode(DCM).decode()
    return {
        "custom_id": f"r{n}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}],
                }
            ],
        },
    }


def _batch_request(ensure_ascii: bool) -> tuple[object, object, bytes]:
    lines = [json.dumps(_batch_line(n, f"Patiënt {n} John Smith"), ensure_ascii=ensure_ascii) for n in range(3)]
    jsonl = ("\n".join(lines) + "\n").encode()
    body, ctype = multipart([("purpose", None, None, b"batch"), ("file", "b.jsonl", "application/jsonl", jsonl)])
    req = request("POST", "api.openai.com", "/v1/files", body, ctype)
    return adapter_for(route("api.openai.com")), req, body  # type: ignore[arg-type]


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_batch_jsonl_in_multipart_text_and_image(ensure_ascii: bool) -> None:
    adapter, req, body = _batch_request(ensure_ascii)
    env = adapter.extract(req, body)  # type: ignore[attr-defined]
    texts = [p for p in env.parts if p.kind == PartKind.TEXT and "Patiënt" in (p.text or "")]
    images = [p for p in env.parts if p.media_type == "application/dicom"]
    assert len(texts) == 3 and len(images) == 3
    t1, i2 = texts[1], images[2]
    assert t1.locator.steps[:2] == (Multipart(1, "----phiwallTestB7x"), Jsonl(1))
    assert t1.locator.steps[2] == Json("body", "messages", 0, "content", 0, "text")
    assert isinstance(i2.locator.steps[-2], DataUrl) and isinstance(i2.locator.steps[-1], Base64)
    # Identity through every layer is byte-identical, in both JSON escape styles.
    assert rewrite_parts(body, env.parts, {p.id: p.text or p.data for p in env.parts}, force=True) == body  # type: ignore[misc]
    out = adapter.rewrite(req, body, {t1.id: "Patiënt [PATIENT_1]", i2.id: DCM + b"clean"}, env.parts)  # type: ignore[attr-defined]
    env2 = adapter.extract(replace(req, raw_body=out), out)  # type: ignore[attr-defined]
    assert [p.text for p in env2.parts if "Patiënt" in (p.text or "")] == [
        "Patiënt 0 John Smith",
        "Patiënt [PATIENT_1]",
        "Patiënt 2 John Smith",
    ]
    assert [p.data for p in env2.parts if p.media_type == "application/dicom"] == [DCM, DCM, DCM + b"clean"]
    jsonl = parse_multipart(out, req.header("content-type"))[1].data  # type: ignore[attr-defined]
    line = jsonl.splitlines()[1]
    assert (b"\\u00eb" in line) == ensure_ascii  # the writer's escape style is kept in the edited line
    assert jsonl.endswith(b"\n") and len(jsonl.splitlines()) == 3


def test_json_inside_a_generic_form() -> None:
    body = b"meta=ok&payload=%7B%22note%22%3A%22Patient+John+Smith%22%2C%22n%22%3A1%7D&x=1"
    req = request("POST", "example.test", "/submit", body, "application/x-www-form-urlencoded")
    adapter = GenericAdapter()
    env = adapter.extract(req, body)
    (note,) = [p for p in env.parts if p.text == "Patient John Smith"]
    out = adapter.rewrite(req, body, {note.id: "Patient [P1]"}, env.parts)
    assert out.startswith(b"meta=ok&payload=") and out.endswith(b"&x=1")
    assert [p.text for p in adapter.extract(req, out).parts if p.text and "Patient" in p.text] == ["Patient [P1]"]


def test_lossy_multipart_text_is_read_but_refused_for_write_back() -> None:
    field = b"Patient John Smith " * 300 + b"caf\xe9"  # _is_text samples 4 KB; the bad byte is past it
    body, ctype = multipart([("prompt", None, None, field)])
    req = request("POST", "example.test", "/upload", body, ctype)
    adapter = GenericAdapter()
    env = adapter.extract(req, body)
    (p,) = env.parts
    assert p.kind == PartKind.TEXT and p.not_rewritable
    with pytest.raises(RewriteError) as e:
        adapter.rewrite(req, body, {p.id: "x"}, env.parts)
    assert e.value.code == "not_rewritable"


def test_multipart_keeps_part_headers_and_whitespace_strings_stay_put() -> None:
    body, ctype = multipart(
        [("note", None, "text/plain; charset=utf-8", b"John Smith"), ("file", "x.dcm", "application/dicom", DCM)]
    )
    fields = parse_multipart(body, ctype)
    assert (
        fields[0].raw_headers
        == b'Content-Disposition: form-data; name="note"\r\nContent-Type: text/plain; charset=utf-8'
    )
    doc = {"messages": [{"role": "user", "content": "   "}, {"role": "user", "content": "John Smith"}]}
    raw = json.dumps(doc).encode()
    req = request("POST", "api.openai.com", "/v1/chat/completions", raw)
    adapter = adapter_for(route("api.openai.com"))  # type: ignore[arg-type]
    env = adapter.extract(req, raw)
    (p,) = env.parts  # the whitespace-only content is no part ...
    out = adapter.rewrite(req, raw, {p.id: "[P1]"})
    assert json.loads(out)["messages"][0]["content"] == "   "  # ... and is sent exactly as it was


@pytest.mark.parametrize(
    ("service", "host", "path", "ctype", "headers", "kind"),
    [
        ("openai_uploads", "api.openai.com", "/v1/uploads/upload_1/parts", "multipart", (), "multipart"),
        ("openai_uploads", "api.openai.com", "/v1/uploads", "application/json", (), "json"),
        ("chatgpt_files", "files.oaiusercontent.com", "/file-1?sig=x", "application/dicom", (), "raw"),
        (
            "gemini_api_upload",
            "generativelanguage.googleapis.com",
            "/upload/v1beta/files?upload_id=u1",
            "application/octet-stream",
            (("x-goog-upload-command", "upload, finalize"),),
            "raw",
        ),
        (
            "gemini_api_upload",
            "content-push.googleapis.com",
            "/upload/",
            "application/x-www-form-urlencoded",
            (("x-goog-upload-command", "start"),),
            "formkey",
        ),
    ],
)
def test_upload_adapters_write_back(
    service: str, host: str, path: str, ctype: str, headers: tuple[tuple[str, str], ...], kind: str
) -> None:
    from phiwall.extractors import hostless_service
    from phiwall.extractors import service_by_name

    if kind == "multipart":
        body, ctype = multipart([("data", "blob", "application/octet-stream", DCM)])
    elif kind == "json":
        body = json.dumps({"filename": "John Smith.dcm", "purpose": "assistants", "bytes": 10}).encode()
    elif kind == "formkey":
        body = b"File+name%3A+John+Smith.dcm="
    else:
        body = DCM
    req = request("PUT" if service == "chatgpt_files" else "POST", host, path, body, ctype, headers)
    row = service_by_name(service) or hostless_service(service)
    adapter = adapter_for(row)
    env = adapter.extract(req, body)
    (part,) = [p for p in env.parts if p.kind == PartKind.FILE or "John" in (p.text or "")]
    new: str | bytes = (part.text or "").replace("John Smith", "scan") if part.kind == PartKind.TEXT else DCM + b"x"
    out = adapter.rewrite(req, body, {part.id: new}, env.parts)
    env2 = adapter.extract(replace(req, raw_body=out), out)
    again = next(p for p in env2.parts if p.locator == part.locator)
    assert (again.text if part.kind == PartKind.TEXT else again.data) == new
    if kind == "raw":
        assert out == new  # the body is the file


def test_request_with_a_rewritten_body_drops_stale_length_and_encoding() -> None:
    req = request(
        "POST", "api.openai.com", "/v1/chat/completions", b"x", "application/json",
        (("Content-Encoding", "gzip"), ("Content-Length", "1"), ("x-keep", "1")),
    )  # fmt: skip
    new = req.with_body(b'{"a": "b"}')
    assert new.raw_body == b'{"a": "b"}' and new.header("x-keep") == "1"
    assert new.header("content-encoding") == "" and new.header("content-length") == ""
    assert new.content_type == "application/json" and req.raw_body == b"x"
