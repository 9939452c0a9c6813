"""The descriptor-free gRPC/protobuf walker, checked against messages built with the xAI SDK's own descriptors."""

from __future__ import annotations

import base64
import gzip
import struct

import pytest
from phiwall.errors import ExtractionError
from phiwall.extractors.grpc import GrpcAdapter
from phiwall.extractors.grpc import XaiAdapter
from phiwall.extractors.grpc import grpc_frames
from phiwall.model import PartKind
from phiwall.request import RequestData

from tests.factories import make_dicom

chat_pb2 = pytest.importorskip("xai_sdk.proto.v6.chat_pb2")
files_pb2 = pytest.importorskip("xai_sdk.proto.v6.files_pb2")
image_pb2 = pytest.importorskip("xai_sdk.proto.v6.image_pb2")


def frame(msg: bytes, compressed: bool = False) -> bytes:
    if compressed:
        msg = gzip.compress(msg)
    return struct.pack(">BI", 1 if compressed else 0, len(msg)) + msg


def req(path: str, body: bytes, **headers: str) -> RequestData:
    h = (("content-type", "application/grpc"),) + tuple(headers.items())
    return RequestData("POST", "https", "api.x.ai", 443, path, h, body)


def completion(*contents: object) -> bytes:
    return chat_pb2.GetCompletionsRequest(
        model="grok-4", messages=[chat_pb2.Message(role=1, content=list(contents))]
    ).SerializeToString()


def test_text_and_data_url_image_and_raw_file_bytes() -> None:
    dcm = make_dicom()
    url = "data:image/png;base64," + base64.b64encode(dcm).decode()
    body = frame(
        completion(
            chat_pb2.Content(text="Patient John Smith"),
            chat_pb2.Content(image_url=image_pb2.ImageUrlContent(image_url=url)),
            chat_pb2.Content(file=chat_pb2.FileContent(data=dcm, filename="x.dcm")),
        )
    )
    env = XaiAdapter().extract(req("/xai_api.Chat/GetCompletion", body), body)
    assert env.service == "xai_api" and env.endpoint == "chat.get_completion"
    texts = [p.text for p in env.parts if p.kind == PartKind.TEXT]
    assert "Patient John Smith" in texts and "grok-4" in texts
    files = [p for p in env.parts if p.kind == PartKind.FILE]
    assert [p.media_type for p in files] == ["application/dicom", "application/dicom"]
    assert files[0].locator.encoding == "data-url" and files[1].data == dcm


def test_gzip_compressed_frame() -> None:
    body = frame(completion(chat_pb2.Content(text="hello there")), compressed=True)
    env = GrpcAdapter().extract(req("/xai_api.Chat/GetCompletion", body, **{"grpc-encoding": "gzip"}), body)
    assert "hello there" in [p.text for p in env.parts]


def test_https_image_url_is_a_remote_reference() -> None:
    body = frame(
        completion(chat_pb2.Content(image_url=image_pb2.ImageUrlContent(image_url="https://example.org/a.png")))
    )
    env = GrpcAdapter().extract(req("/xai_api.Chat/GetCompletion", body), body)
    assert [f.entity for f in env.adapter_findings] == ["REMOTE_REFERENCE"]


def test_upload_file_stream_is_concatenated_into_one_file() -> None:
    dcm = make_dicom()
    msgs = [files_pb2.UploadFileChunk(init=files_pb2.UploadFileInit(name="scan.dcm")).SerializeToString()]
    msgs += [files_pb2.UploadFileChunk(data=dcm[i : i + 100]).SerializeToString() for i in range(0, len(dcm), 100)]
    body = b"".join(frame(m) for m in msgs)
    env = GrpcAdapter().extract(req("/xai_api.Files/UploadFile", body), body)
    files = [p for p in env.parts if p.kind == PartKind.FILE]
    assert len(files) == 1 and files[0].data == dcm and files[0].media_type == "application/dicom"
    assert env.endpoint == "files.upload" and env.kind.value == "upload"


def test_unknown_method_is_still_walked() -> None:
    body = frame(completion(chat_pb2.Content(text="some text here")))
    env = GrpcAdapter().extract(req("/xai_api.Future/NewThing", body), body)
    assert env.endpoint == "grpc:NewThing" and "some text here" in [p.text for p in env.parts]


@pytest.mark.parametrize("body", [b"\x00\x00\x00", b"\x00\x00\x00\x00\x09abc", b"\x07\x00\x00\x00\x00"])
def test_broken_framing_is_an_extraction_error(body: bytes) -> None:
    with pytest.raises(ExtractionError):
        grpc_frames(body)


def test_invalid_protobuf_is_an_extraction_error() -> None:
    body = frame(b"\xff\xff\xff")
    with pytest.raises(ExtractionError, match="not valid protobuf"):
        GrpcAdapter().extract(req("/xai_api.Chat/GetCompletion", body), body)


def test_rest_on_the_same_host_goes_to_the_openai_shapes() -> None:
    body = b'{"model": "grok-4", "messages": [{"role": "user", "content": "hi there"}]}'
    r = RequestData(
        "POST", "https", "api.x.ai", 443, "/v1/chat/completions", (("content-type", "application/json"),), body
    )
    env = XaiAdapter().extract(r, body)
    assert env.endpoint == "chat.completions" and [p.text for p in env.parts] == ["hi there"]
