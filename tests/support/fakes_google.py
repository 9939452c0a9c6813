"""Canned Gemini API answers for FakeUpstream: generateContent / streamGenerateContent and the File API
resumable upload (start → X-Goog-Upload-URL, then `upload, finalize` → the File resource)."""

from __future__ import annotations

import json
from typing import Any

from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import Recorded

Reply = tuple[int, dict[str, str], bytes]
ANSWER = "Fake answer."


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return status, {"content-type": "application/json", **(headers or {})}, json.dumps(obj).encode()


def _candidate() -> dict[str, Any]:
    return {"content": {"role": "model", "parts": [{"text": ANSWER}]}, "finishReason": "STOP", "index": 0}


def generate_content(req: Recorded) -> Reply:
    return _json(
        {
            "candidates": [_candidate()],
            "modelVersion": "gemini-fake",
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3},
        }
    )


def stream_generate_content(req: Recorded) -> Reply:
    chunk = {"candidates": [_candidate()], "modelVersion": "gemini-fake"}
    return 200, {"content-type": "text/event-stream"}, b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n"


def files_upload(req: Recorded) -> Reply:
    command = req.headers.get("x-goog-upload-command", "")
    if "start" in command:
        url = f"https://{req.host.split(':')[0]}/upload/v1/files?upload_id=FAKE-UP-1&upload_protocol=resumable"
        return 200, {"x-goog-upload-url": url, "x-goog-upload-status": "active", "content-type": "text/plain"}, b""
    status = "final" if "finalize" in command else "active"
    body = {
        "file": {
            "name": "files/fake123",
            "uri": "https://generativelanguage.googleapis.com/v1beta/files/fake123",
            "mimeType": "text/plain",
            "sizeBytes": str(len(req.body)),
            "state": "ACTIVE",
        }
    }
    return _json(body if status == "final" else {}, headers={"x-goog-upload-status": status})


def install(up: FakeUpstream) -> None:
    up.route("POST", r":generateContent$", generate_content)
    up.route("POST", r":streamGenerateContent$", stream_generate_content)
    up.route("POST", r"^/upload/v1\w*/files$", files_upload)
