"""Canned OpenAI answers beyond the defaults in fake_upstream: images edits and assistants thread messages."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import Recorded

Reply = tuple[int, dict[str, str], bytes]
TINY_PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def _json(obj: Any) -> Reply:
    return 200, {"content-type": "application/json"}, json.dumps(obj).encode()


def images_edit(req: Recorded) -> Reply:
    return _json({"created": 0, "data": [{"b64_json": TINY_PNG}]})


def thread_message(req: Recorded) -> Reply:
    thread = req.path.split("/")[3]
    return _json(
        {
            "id": "msg_fake",
            "object": "thread.message",
            "created_at": 0,
            "thread_id": thread,
            "role": "user",
            "status": "completed",
            "attachments": [],
            "metadata": {},
            "assistant_id": None,
            "run_id": None,
            "completed_at": None,
            "incomplete_at": None,
            "incomplete_details": None,
            "content": [{"type": "text", "text": {"value": "stored", "annotations": []}}],
        }
    )


def install(up: FakeUpstream) -> None:
    up.route("POST", r"^/v1/images/edits$", images_edit)
    up.route("POST", r"^/v1/threads/[^/]+/messages$", thread_message)
