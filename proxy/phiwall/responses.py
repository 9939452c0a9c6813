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


def block_answer(
    style: str, message: str, *, status: int = 403, incident: str = "", rule_ids: tuple[str, ...] = ()
) -> Answer:
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
    if style == "azure_blob":
        # The blob store ChatGPT PUTs file bytes to answers in Azure Storage's XML error format; the web app then
        # shows its "upload failed" error for the attachment instead of waiting.
        headers["content-type"] = "application/xml"
        headers["x-ms-error-code"] = "AuthorizationPermissionMismatch" if status == 403 else "InvalidInput"
        xml = '<?xml version="1.0" encoding="utf-8"?><Error><Code>{}</Code><Message>{}</Message></Error>'.format(
            headers["x-ms-error-code"], _xml_escape(message)
        )
        return Answer(status, headers, xml.encode("utf-8"))
    if style == "anthropic":
        kind = (
            "permission_error" if status == 403 else ("request_too_large" if status == 413 else "invalid_request_error")
        )
        body: object = {"type": "error", "error": {"type": kind, "message": message}}
    elif style == "google":
        gstatus = {403: "PERMISSION_DENIED", 413: "FAILED_PRECONDITION"}.get(status, "INVALID_ARGUMENT")
        body = {"error": {"code": status, "message": message, "status": gstatus}}
        # Resumable-upload clients (google-genai `files.upload`) retry a chunk answer without this header, and
        # stop with an APIError carrying our message when it says the upload is over.
        headers["x-goog-upload-status"] = "final"
    elif style == "chatgpt":
        body = {"detail": message}
    elif style == "x":
        # X's web API error shape: its client shows errors[0].message.
        body = {"errors": [{"message": message, "code": status, "kind": "Permissions"}]}
    else:  # openai and generic
        body = {"error": {"message": message, "type": "phiwall_blocked", "param": None, "code": code}}
    return Answer(status, headers, json.dumps(body).encode("utf-8"))


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def websocket_notice(style: str, message: str, *, session_id: str | None = None) -> bytes | None:
    """A server→client message telling the person their message was not sent, in the protocol of the socket, or
    None when the protocol has no place for one (the message is then only dropped).

    - `openai_ws` / `openai_realtime`: the documented `error` server event ({"type": "error", "error": {...}});
      the SDKs surface it as an error event and the Responses WS client fails the pending response.
    - `grok_ws` [INF, grok.com gateway]: an `error` event in the gateway's {"event": {...}} envelope (what the
      server sends for a refused message), so the web app shows an error bubble instead of waiting forever.
    """
    import time

    if style in ("openai_ws", "openai_realtime"):
        doc: dict[str, object] = {
            "type": "error",
            "event_id": f"phiwall_{int(time.time() * 1000)}",
            "error": {"type": "invalid_request_error", "code": "phi_detected", "message": message, "param": None},
        }
        if style == "openai_ws":
            doc["status"] = 403
        return json.dumps(doc).encode("utf-8")
    if style == "grok_ws":
        event: dict[str, object] = {
            "type": "error",
            "event_id": f"evt_phiwall_{int(time.time() * 1000)}",
            "error": {"code": "phi_detected", "message": message},
        }
        doc = {"event": event}
        if session_id:
            doc["session_id"] = session_id
        return json.dumps(doc).encode("utf-8")
    return None
