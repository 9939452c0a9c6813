"""Web-app requests rebuilt from the spec's recorded shapes (/work/shared/spec/request-shapes.md §3.3, §4.2,
§4.3, §5.2) with synthetic PHI only, written as HAR 1.2 entries so they can be replayed through the real proxy
(or loaded in a browser devtools / mitmproxy for comparison with a live capture).

Each entry carries `_phiwall: {"name", "expect": "block"|"forward"}`; binary bodies are stored base64 in
`postData.text` with `postData.encoding = "base64"` (the convention Chrome uses for response content).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.support.samples import BENIGN
from tests.support.samples import PHI_NOTE
from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes
from tests.support.samples import multipart

ORG = "4f1c2a77-0b6e-4c38-9a51-1e0a6f2b9c11"
CONV = "9d2e6b10-55aa-4f0e-b7c3-2c1d0e9f8a77"
GEMINI_SG = (
    "https://gemini.google.com/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate"
    "?bl=boq_assistant-bard-web-server_20260801.08_p0&f.sid=-4242&hl=en&_reqid=12345&rt=c"
)
FORM = "application/x-www-form-urlencoded;charset=utf-8"
REF = "/contrib_service/ttl_1d/1709764705i7wdlyx3mdzndme3a767pluckv4flj"


def _entry(
    name: str, expect: str, method: str, url: str, ctype: str, body: bytes, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    try:
        text, enc = body.decode("utf-8"), None
    except UnicodeDecodeError:
        text, enc = base64.b64encode(body).decode(), "base64"
    post: dict[str, Any] = {"mimeType": ctype, "text": text}
    if enc:
        post["encoding"] = enc
    hs = [{"name": "content-type", "value": ctype}] + [{"name": k, "value": v} for k, v in (headers or {}).items()]
    return {
        "_phiwall": {"name": name, "expect": expect},
        "request": {
            "method": method,
            "url": url,
            "httpVersion": "HTTP/1.1",
            "headers": hs,
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": len(body),
            "postData": post,
        },
    }


def gemini_f_req(prompt: str, files: list[Any] | None = None) -> bytes:
    inner: list[Any] = [[prompt, 0, None, files, None, None, 0], ["en"], ["", "", ""]] + [None] * 66
    return urlencode({"f.req": json.dumps([None, json.dumps(inner)]), "at": "AJvLN6Mfake:1754000000000"}).encode()


def gemini_entries() -> list[dict[str, Any]]:
    up, ct = multipart([("file", "scan.dcm", "application/dicom", dicom_bytes())])
    hdr = {"x-same-domain": "1", "origin": "https://gemini.google.com"}
    return [
        _entry("gemini-web f.req PHI prompt", "block", "POST", GEMINI_SG, FORM, gemini_f_req(PHI_PROMPT), hdr),
        _entry(
            "gemini-web f.req benign with file ref",
            "forward",
            "POST",
            GEMINI_SG,
            FORM,
            gemini_f_req(BENIGN, [[[REF, 1, None, "image/png"], "chart.png"]]),
            hdr,
        ),
        _entry(
            "gemini-web content-push upload variant A (DICOM)",
            "block",
            "POST",
            "https://content-push.googleapis.com/upload",
            ct,
            up,
            {"push-id": "feeds/mcudyrk2a4khkz", "x-tenant-id": "bard-storage", "origin": "https://gemini.google.com"},
        ),
    ]


def grok_entries() -> list[dict[str, Any]]:
    v2, v2ct = multipart([("file", "scan.dcm", "application/dicom", dicom_bytes())])
    v2ok, v2okct = multipart([("file", "question.txt", "text/plain", BENIGN.encode())])
    legacy = json.dumps(
        {"fileName": "scan.png", "fileMimeType": "image/png", "content": base64.b64encode(dicom_bytes()).decode()}
    ).encode()
    chat = {
        "temporary": False,
        "modelName": "grok-3",
        "fileAttachments": [],
        "imageAttachments": [],
        "disableSearch": False,
        "enableImageGeneration": True,
        "customInstructions": "",
        "webpageUrls": [],
    }
    return [
        _entry(
            "grok.com upload v2 multipart (DICOM)",
            "block",
            "POST",
            "https://grok.com/http/upload-file-v2/direct",
            v2ct,
            v2,
        ),
        _entry(
            "grok.com upload v2 multipart (benign text)",
            "forward",
            "POST",
            "https://grok.com/http/upload-file-v2/direct",
            v2okct,
            v2ok,
        ),
        _entry(
            "grok.com legacy upload base64 JSON (DICOM)",
            "block",
            "POST",
            "https://grok.com/rest/app-chat/upload-file",
            "application/json",
            legacy,
        ),
        _entry(
            "grok.com legacy chat PHI",
            "block",
            "POST",
            "https://grok.com/rest/app-chat/conversations/new",
            "application/json",
            json.dumps({**chat, "message": PHI_PROMPT}).encode(),
        ),
        _entry(
            "grok.com legacy chat benign",
            "forward",
            "POST",
            "https://grok.com/rest/app-chat/conversations/new",
            "application/json",
            json.dumps({**chat, "message": BENIGN}).encode(),
        ),
    ]


def x_entries() -> list[dict[str, Any]]:
    att, attct = multipart([("image", "scan.png", "image/png", dicom_bytes())])

    def add_response(msg: str) -> bytes:
        return json.dumps(
            {
                "responses": [{"message": msg, "sender": 1, "promptSource": "", "fileAttachments": []}],
                "systemPromptName": "",
                "grokModelOptionId": "grok-3",
                "conversationId": "1790000000000000001",
                "returnSearchResults": True,
                "returnCitations": True,
            }
        ).encode()

    plain = "text/plain;charset=UTF-8"
    return [
        _entry(
            "x.com grok attachment multipart (DICOM)",
            "block",
            "POST",
            "https://x.com/i/api/2/grok/attachment.json",
            attct,
            att,
        ),
        _entry(
            "x.com grok add_response text/plain PHI",
            "block",
            "POST",
            "https://x.com/i/api/2/grok/add_response.json",
            plain,
            add_response(PHI_PROMPT),
        ),
        _entry(
            "x.com grok add_response text/plain benign",
            "forward",
            "POST",
            "https://x.com/i/api/2/grok/add_response.json",
            plain,
            add_response(BENIGN),
        ),
        _entry(
            "x.com non-Grok request passes uninspected",
            "forward",
            "POST",
            "https://x.com/i/api/graphql/abc123/CreateTweet",
            "application/json",
            json.dumps({"variables": {"tweet_text": PHI_PROMPT}}).encode(),
        ),
    ]


def claude_entries() -> list[dict[str, Any]]:
    up, upct = multipart([("file", "scan.dcm", "application/dicom", dicom_bytes())])
    base = f"https://claude.ai/api/organizations/{ORG}"

    def completion(prompt: str, attachment: str | None) -> bytes:
        atts = (
            [
                {
                    "file_name": "notes.txt",
                    "file_type": "text/plain",
                    "file_size": len(attachment),
                    "extracted_content": attachment,
                }
            ]
            if attachment
            else []
        )
        return json.dumps(
            {
                "prompt": prompt,
                "model": "claude-sonnet-5",
                "timezone": "UTC",
                "locale": "en-US",
                "rendering_mode": "messages",
                "attachments": atts,
                "files": [],
                "turn_message_uuids": {"human_message_uuid": "h-1", "assistant_message_uuid": "a-1"},
            }
        ).encode()

    hdr = {"anthropic-client-platform": "web_claude_ai"}
    return [
        _entry(
            "claude.ai wiggle upload (DICOM)",
            "block",
            "POST",
            f"{base}/conversations/{CONV}/wiggle/upload-file",
            upct,
            up,
            hdr,
        ),
        _entry(
            "claude.ai completion with PHI in extracted_content",
            "block",
            "POST",
            f"{base}/chat_conversations/{CONV}/completion",
            "application/json",
            completion(BENIGN, PHI_NOTE),
            hdr,
        ),
        _entry(
            "claude.ai completion benign",
            "forward",
            "POST",
            f"{base}/chat_conversations/{CONV}/completion",
            "application/json",
            completion(BENIGN, "TSH 6.2 mIU/L, free T4 normal."),
            hdr,
        ),
    ]


# -- multi-request flows (replayed in order; a placeholder is filled from an earlier response) -----------------------

UPLOAD_URL = "{UPLOAD_URL}"  # the `x-goog-upload-url` the resumable start response returned
FILE_ID = "{FILE_ID}"  # the `fileMetadata.fileMetadataId` grok.com's upload response returned
GEMINI_PUSH = "https://push.clients6.google.com/upload/"
GROK_WS = "wss://grok.com/ws/mgw/?uid=00000000-0000-4000-8000-00000000000a"


def gemini_upload_flow(file: bytes, filename: str, mime: str, prompt: str) -> list[dict[str, Any]]:
    """The Gemini web app attaching a file (spec §3.3, upload variant B, what the browser does): a resumable
    `start` whose body is the form key `File name: …`, one `upload, finalize` carrying the raw bytes under a
    lying `application/x-www-form-urlencoded` type, then StreamGenerate whose `f.req` points at the returned
    `/contrib_service/…` reference."""
    hdr = {
        "push-id": "feeds/mcudyrk2a4khkz",
        "x-tenant-id": "bard-storage",
        "origin": "https://gemini.google.com",
        "x-goog-upload-protocol": "resumable",
    }
    start = {**hdr, "x-goog-upload-command": "start", "x-goog-upload-header-content-length": str(len(file))}
    finalize = {**hdr, "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"}
    sg = {"x-same-domain": "1", "origin": "https://gemini.google.com"}
    return [
        _entry(
            "gemini-web upload start",
            "flow",
            "POST",
            GEMINI_PUSH,
            FORM,
            urlencode({f"File name: {filename}": ""}).encode(),
            start,
        ),
        _entry("gemini-web upload, finalize", "flow", "POST", UPLOAD_URL, FORM, file, finalize),
        _entry(
            "gemini-web StreamGenerate",
            "flow",
            "POST",
            GEMINI_SG,
            FORM,
            gemini_f_req(prompt, [[[REF, 1, None, mime], filename]]),
            sg,
        ),
    ]


def grok_item(text: str, file_id: str | None = None) -> str:
    """A grok.com gateway `conversation.item.create` frame (spec §4.2); a file is mentioned in the input chunks
    and listed in `file_attachment_ids` twice (item and event), as the app sends it."""
    chunks: list[dict[str, Any]] = [{"text": {"text": text}}]
    ids = []
    if file_id:
        chunks.insert(0, {"mention": {"target": {"file_mention": {"file_id": file_id}}}})
        ids = [file_id]
    return json.dumps(
        {
            "session_id": "S1",
            "event": {
                "type": "conversation.item.create",
                "event_id": "evt_msg_1",
                "item": {
                    "type": "message",
                    "role": "user",
                    "x_grok": {"client_message_id": "c1", "input_chunks": chunks},
                    "file_attachment_ids": ids,
                },
                "file_attachment_ids": ids,
            },
        }
    )


GROK_SESSION_CREATE = json.dumps(
    {"event": {"type": "session.create", "event_id": "evt_init_1", "session": {"model": "grok-4"}}}
)


def grok_upload_ws_flow(file: bytes, filename: str, mime: str, prompt: str) -> list[dict[str, Any]]:
    """grok.com attaching a file (spec §4.2, 2026-08): the multipart v2 upload, then the gateway WebSocket with the
    message that mentions the upload's `fileMetadataId`. The WebSocket entry carries its client frames in Chrome's
    HAR extension field `_webSocketMessages`."""
    body, ctype = multipart([("file", filename, mime, file)])
    ws = _entry("grok.com gateway WebSocket", "flow", "GET", GROK_WS, "", b"")
    del ws["request"]["postData"]
    ws["request"]["headers"] = [
        {"name": "upgrade", "value": "websocket"},
        {"name": "origin", "value": "https://grok.com"},
    ]
    ws["_webSocketMessages"] = [
        {"type": "send", "time": 0.0, "opcode": 1, "data": GROK_SESSION_CREATE},
        {"type": "send", "time": 0.1, "opcode": 1, "data": grok_item(prompt, FILE_ID)},
    ]
    return [
        _entry("grok.com upload v2", "flow", "POST", "https://grok.com/http/upload-file-v2/direct", ctype, body),
        ws,
    ]


def all_entries() -> list[dict[str, Any]]:
    return gemini_entries() + grok_entries() + x_entries() + claude_entries()


def write_har(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(
        json.dumps(
            {"log": {"version": "1.2", "creator": {"name": "phiwall tests", "version": "1"}, "entries": entries}},
            indent=1,
        )
    )
    return path


def read_har(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["log"]["entries"])


def entry_body(entry: dict[str, Any]) -> bytes:
    post = entry["request"].get("postData") or {}
    text = post.get("text", "")
    return base64.b64decode(text) if post.get("encoding") == "base64" else text.encode("utf-8")


if __name__ == "__main__":  # regenerate a HAR for manual replay: python -m tests.support.web_shapes out.har
    import sys

    write_har(Path(sys.argv[1]), all_entries())
