"""Canned Claude API answers for FakeUpstream: messages, count_tokens and the beta Files API."""

from __future__ import annotations

import json
from typing import Any

from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import Recorded

Reply = tuple[int, dict[str, str], bytes]
ANSWER = "Fake answer."


def _json(obj: Any) -> Reply:
    return 200, {"content-type": "application/json"}, json.dumps(obj).encode()


def messages(req: Recorded) -> Reply:
    return _json(
        {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": "claude-fake",
            "content": [{"type": "text", "text": ANSWER}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 2},
        }
    )


def count_tokens(req: Recorded) -> Reply:
    return _json({"input_tokens": 7})


def files(req: Recorded) -> Reply:
    return _json(
        {
            "id": "file_fake01",
            "type": "file",
            "filename": "upload",
            "mime_type": "text/plain",
            "size_bytes": len(req.body),
            "created_at": "2026-01-01T00:00:00Z",
            "downloadable": False,
        }
    )


def install(up: FakeUpstream) -> None:
    up.route("POST", r"^/v1/messages$", messages)
    up.route("POST", r"^/v1/messages/count_tokens$", count_tokens)
    up.route("POST", r"^/v1/files$", files)
