"""Answers phiwall gives in a service's place, shaped so each client shows them as a normal error.

A block is answered without contacting the service. The body follows the service's own error format so its
SDK raises its usual API error carrying our message, and its web app shows an error instead of hanging.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def block_answer(style: str, message: str, *, status: int = 403, incident: str = "", rule_ids: tuple[str, ...] = ()) -> Answer:
    """The block response for a service's error style (see extractors.SERVICES[].error_style)."""
    if incident:
        message = f"{message} (phiwall incident {incident})"
    headers = {
        "content-type": "application/json",
        "x-phiwall-verdict": "block",
        "x-phiwall-rules": ",".join(rule_ids),
        "x-phiwall-incident": incident,
        "cache-control": "no-store",
    }
    code = "phi_detected" if status == 403 else ("request_too_large" if status == 413 else "phiwall_error")
    if style == "grpc":
        # gRPC clients read status from headers; a trailers-only response with PERMISSION_DENIED (7).
        headers = {
            "content-type": "application/grpc",
            "grpc-status": "7",
            "grpc-message": quote(message, safe=" !#$&'()*+,/:;=?@[]~"),
            "x-phiwall-verdict": "block",
            "x-phiwall-incident": incident,
        }
        return Answer(200, headers, b"")
    if style == "anthropic":
        kind = "permission_error" if status == 403 else ("request_too_large" if status == 413 else "invalid_request_error")
        body: object = {"type": "error", "error": {"type": kind, "message": message}}
    elif style == "google":
        gstatus = {403: "PERMISSION_DENIED", 413: "FAILED_PRECONDITION"}.get(status, "INVALID_ARGUMENT")
        body = {"error": {"code": status, "message": message, "status": gstatus}}
    elif style == "chatgpt":
        body = {"detail": message}
    else:  # openai and generic
        body = {"error": {"message": message, "type": "phiwall_blocked", "param": None, "code": code}}
    return Answer(status, headers, json.dumps(body).encode("utf-8"))
