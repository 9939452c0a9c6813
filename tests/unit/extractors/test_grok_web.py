"""grok.com REST adapter (v2 multipart and legacy base64 JSON uploads, legacy chat) and Grok on X (attachment
multipart, add_response JSON sent as text/plain, everything else on X passes without inspection)."""

from __future__ import annotations

import base64
import json

import pytest
from phiwall.errors import ExtractionError
from phiwall.extractors.grok_web import GrokWebAdapter
from phiwall.extractors.grok_web import XGrokAdapter
from phiwall.model import PartKind

from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes
from tests.support.samples import multipart
from tests.support.samples import request
from tests.support.samples import xray_png

G = GrokWebAdapter()
X = XGrokAdapter()
DCM = dicom_bytes()


def _files(env):  # noqa: ANN001, ANN202
    return [p for p in env.parts if p.kind == PartKind.FILE]


def _texts(env):  # noqa: ANN001, ANN202
    return [p.text for p in env.parts if p.kind == PartKind.TEXT]


def test_upload_v2_multipart() -> None:
    body, ct = multipart([("file", "scan.png", "image/png", xray_png()), ("file_source", None, None, b"SELF_UPLOAD")])
    env = G.extract(request("POST", "grok.com", "/http/upload-file-v2/direct", body, ct), body)
    assert env.endpoint == "upload.v2" and env.kind == "upload"
    assert [p.media_type for p in _files(env)] == ["image/png"]


@pytest.mark.parametrize("ctype", ["application/json", "text/plain;charset=UTF-8"])
def test_upload_legacy_base64_json(ctype: str) -> None:
    body = json.dumps(
        {"fileName": "Smith_John.dcm", "fileMimeType": "image/png", "content": base64.b64encode(DCM).decode()}
    ).encode()
    env = G.extract(request("POST", "grok.com", "/rest/app-chat/upload-file", body, ctype), body)
    assert env.endpoint == "upload.legacy"
    assert [p.media_type for p in _files(env)] == ["application/dicom"]
    assert _files(env)[0].locator.describe() == "json:content"
    assert "Smith John" in _texts(env)  # the file name as words


def test_upload_legacy_multipart_accepted() -> None:
    body, ct = multipart([("file", "ct.dcm", "application/dicom", DCM)])
    env = G.extract(request("POST", "grok.com", "/rest/app-chat/upload-file", body, ct), body)
    assert [p.media_type for p in _files(env)] == ["application/dicom"]


@pytest.mark.parametrize(
    "body,what",
    [
        (b"\x89PNG\r\n\x1a\nraw", "neither multipart nor a JSON object"),
        (b'{"fileName": "a.png"}', "content"),
        (b'{"fileName": "a.png", "content": "iVBOR%%%%"}', "broken base64"),
    ],
)
def test_upload_legacy_changed_shape_fails_closed(body: bytes, what: str) -> None:
    with pytest.raises(ExtractionError, match=what):
        G.extract(request("POST", "grok.com", "/rest/app-chat/upload-file", body, "application/octet-stream"), body)


@pytest.mark.parametrize(
    "path,name",
    [
        ("/rest/app-chat/conversations/new", "conversations.new"),
        ("/rest/app-chat/conversations/0b5a-11/responses", "conversations.responses"),
    ],
)
def test_legacy_chat_message_and_custom_instructions(path: str, name: str) -> None:
    body = json.dumps(
        {
            "temporary": False,
            "modelName": "grok-3",
            "message": PHI_PROMPT,
            "fileAttachments": ["fmeta-1234567"],
            "imageAttachments": [],
            "customInstructions": "My patient is Jane Roe",
            "parentResponseId": "r-1",
        }
    ).encode()
    env = G.extract(request("POST", "grok.com", path, body), body)
    assert env.endpoint == name and set(_texts(env)) == {PHI_PROMPT, "My patient is Jane Roe"}
    assert "file_ref:fmeta-1234567" in env.notes


def test_legacy_chat_non_string_message_fails_closed() -> None:
    body = b'{"message": {"parts": ["new shape"]}}'
    with pytest.raises(ExtractionError, match="conversations.new"):
        G.extract(request("POST", "grok.com", "/rest/app-chat/conversations/new", body), body)


def test_grok_websocket_and_unknown_paths_are_generic() -> None:
    frame = json.dumps(
        {
            "event": {
                "type": "conversation.item.create",
                "item": {"x_grok": {"input_chunks": [{"text": {"text": PHI_PROMPT}}]}},
            }
        }
    ).encode()
    env = G.extract(request("GET", "grok.com", "/ws/mgw/?uid=u", frame, "", websocket=True), frame)
    assert env.endpoint == "generic" and PHI_PROMPT in _texts(env)


@pytest.mark.parametrize(
    "host,path",
    [
        ("x.com", "/i/api/2/grok/attachment.json"),
        ("api.x.com", "/2/grok/attachment.json"),
        ("grok.x.com", "/2/grok/attachment.json"),
    ],
)
def test_x_attachment_multipart_image(host: str, path: str) -> None:
    body, ct = multipart([("image", "xray.png", "image/png", xray_png())])
    env = X.extract(request("POST", host, path, body, ct), body)
    assert env.endpoint == "grok.attachment" and [p.media_type for p in _files(env)] == ["image/png"]


def test_x_add_response_text_plain_json() -> None:
    body = json.dumps(
        {
            "responses": [
                {
                    "message": PHI_PROMPT,
                    "sender": 1,
                    "promptSource": "",
                    "fileAttachments": [{"mediaId": "1790000000000000001", "fileName": "a.png"}],
                }
            ],
            "systemPromptName": "",
            "grokModelOptionId": "grok-3",
            "conversationId": "1790",
            "returnSearchResults": True,
        }
    ).encode()
    env = X.extract(request("POST", "x.com", "/i/api/2/grok/add_response.json", body, "text/plain;charset=UTF-8"), body)
    assert env.endpoint == "grok.add_response" and PHI_PROMPT in _texts(env)
    assert "file_ref:1790000000000000001" in env.notes


def test_x_add_response_changed_shape() -> None:
    body = b'{"messages": ["moved"]}'
    with pytest.raises(ExtractionError, match="grok.add_response"):
        X.extract(request("POST", "x.com", "/i/api/2/grok/add_response.json", body, "text/plain"), body)


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/i/api/graphql/abc/CreateTweet"),
        ("GET", "/i/api/2/grok/add_response.json"),
        ("POST", "/home"),
    ],
)
def test_x_non_grok_paths_pass_without_inspection(method: str, path: str) -> None:
    body = json.dumps({"text": PHI_PROMPT}).encode()
    env = X.extract(request(method, "x.com", path, body), body)
    assert env.endpoint == "passthrough" and env.parts == ()


def test_x_other_grok_paths_generic() -> None:
    body = json.dumps({"prompt": PHI_PROMPT}).encode()
    env = X.extract(request("POST", "x.com", "/i/api/2/grok/new_feature.json", body), body)
    assert env.endpoint == "generic" and _texts(env) == [PHI_PROMPT]
