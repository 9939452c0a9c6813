"""ChatGPT web adapter: registration, conversation (logged in and anonymous), prepare, the blob PUT."""

from __future__ import annotations

import json

import pytest
from phiwall.extractors.chatgpt_web import ChatGPTFilesAdapter
from phiwall.extractors.chatgpt_web import ChatGPTWebAdapter
from phiwall.model import PartKind
from phiwall.request import RequestData

from tests.factories import make_dicom


def req(method: str, path: str, body: bytes, host: str = "chatgpt.com", ctype: str = "application/json") -> RequestData:
    return RequestData(method, "https", host, 443, path, (("content-type", ctype),), body)


CONV = {
    "action": "next",
    "messages": [
        {
            "id": "m1",
            "author": {"role": "user"},
            "content": {
                "content_type": "multimodal_text",
                "parts": [
                    {
                        "content_type": "image_asset_pointer",
                        "asset_pointer": "file-service://file-XXXX",
                        "size_bytes": 1,
                    },
                    "Patient Jane Roe DOB 1970-01-01",
                ],
            },
            "metadata": {"attachments": [{"id": "file-XXXX", "name": "scan.png", "mimeType": "image/png"}]},
        }
    ],
    "parent_message_id": "p",
    "model": "auto",
    "conversation_mode": {"kind": "primary_assistant"},
    "timezone": "UTC",
}


@pytest.mark.parametrize(
    "path", ["/backend-api/f/conversation", "/backend-anon/f/conversation", "/backend-api/conversation"]
)
def test_conversation_text_only_user_strings(path: str) -> None:
    env = ChatGPTWebAdapter().extract(req("POST", path, json.dumps(CONV).encode()), json.dumps(CONV).encode())
    assert env.endpoint == "conversation"
    assert sorted(p.text for p in env.parts) == ["Patient Jane Roe DOB 1970-01-01", "scan.png"]


def test_prepare_partial_query() -> None:
    body = json.dumps(
        {"partial_query": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["MRN 1234567"]}}}
    ).encode()
    env = ChatGPTWebAdapter().extract(req("POST", "/backend-anon/f/conversation/prepare", body), body)
    assert env.endpoint == "conversation.prepare" and [p.text for p in env.parts] == ["MRN 1234567"]


def test_registration_is_an_upload_with_the_file_name_as_text() -> None:
    body = json.dumps({"file_name": "Smith_John_CT.png", "file_size": 3, "use_case": "multimodal"}).encode()
    env = ChatGPTWebAdapter().extract(req("POST", "/backend-api/files", body), body)
    assert env.endpoint == "files.create" and env.kind.value == "upload"
    assert [(p.text, p.role) for p in env.parts] == [("Smith John CT", "filename")]  # as words, extension aside


def test_unknown_path_goes_generic() -> None:
    body = b'{"note": "free text here"}'
    env = ChatGPTWebAdapter().extract(req("POST", "/backend-api/some/new/thing", body), body)
    assert env.endpoint == "generic" and [p.text for p in env.parts] == ["free text here"]


def test_broken_conversation_json_raises() -> None:
    from phiwall.errors import ExtractionError

    with pytest.raises(ExtractionError, match="not valid JSON"):
        ChatGPTWebAdapter().extract(req("POST", "/backend-api/f/conversation", b"{"), b"{")


def test_blob_put_is_one_raw_file_whatever_the_content_type() -> None:
    dcm = make_dicom()
    r = req(
        "PUT", "/files/file-XXXX?sig=s", dcm, host="fileserviceuploadsperm.blob.core.windows.net", ctype="image/png"
    )
    env = ChatGPTFilesAdapter().extract(r, dcm)
    assert (
        env.endpoint == "blob.put"
        and env.parts[0].kind == PartKind.FILE
        and env.parts[0].media_type == "application/dicom"
    )


def test_blocklist_has_no_content() -> None:
    body = b"<BlockList><Latest>YQ==</Latest></BlockList>"
    r = req("PUT", "/files/f?comp=blocklist", body, host="fileserviceuploadsperm.blob.core.windows.net")
    env = ChatGPTFilesAdapter().extract(r, body)
    assert env.endpoint == "blob.blocklist" and env.parts == ()
