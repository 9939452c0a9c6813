# ruff: noqa: E501  (request shapes read best as one literal each)
"""Synthetic recorded traffic for replay tests: request shapes from the spec (/work/shared/spec/request-shapes.md),
synthetic PHI only (invented names and numbers), written as a browser-style HAR and as a mitmproxy flow file.

Every request carries the answer the service gave (a recording made before phiwall was switched on has one for
every request), and the mix includes uploads that span several requests: Gemini's resumable File API (start →
chunks → finalize; the upload URL comes from the start's response) and ChatGPT web's register → blob PUT →
uploaded → conversation (the file id comes from the register's response). Those only get the proxy's verdicts if
replay runs the addon's upload state as the proxy does. Each request carries `x-replay-test-seq`, so a fake
upstream can give the live proxy exactly the recorded answer.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path

FIXTURES = Path(__file__).parents[2] / "policies" / "tests" / "fixtures"
SEQ_HEADER = "x-replay-test-seq"

CLEAN = [
    "What is the usual adult dose of amoxicillin for otitis media?",
    "Explain the difference between type 1 and type 2 diabetes in simple words.",
    "Which imaging is preferred for suspected appendicitis in pregnancy?",
    "Summarise the current guidance on statin therapy for primary prevention.",
]
PHI = [
    "Patient John Smith, SSN 078-05-1120, phone 617-555-0199: what is the next step?",
    "Write a discharge letter for Maria Gonzalez, born 03/14/1961, MRN 4455667.",
    "My patient Robert Chen at 12 Elm Street, Springfield has chest pain. Advice?",
]
# A note whose only identifier (an SSN) is split across two upload chunks: neither chunk alone carries it.
SPLIT_NOTE = ("Clinic note for the billing office. Patient SSN 078-05", "-1120. Please file with the March invoices.\n")
BENIGN_FILE = b"Clinic opening hours: Mon-Fri 8-17. Closed on public holidays.\n"
SIGNATURE = "ZmFrZXNpZ25hdHVyZQ"  # the signed-URL `sig` of the ChatGPT blob uploads: must never reach a report

Response = tuple[int, list[tuple[str, str]], bytes]
JSON_HEADERS = [("content-type", "application/json")]


@dataclass
class Req:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    ts: float = 0.0
    client: str = "10.20.1.5"
    kind: str = field(default="")  # a PHI-free label of the shape, for debugging and expectations
    response: Response = (200, JSON_HEADERS, b'{"ok": true}')
    expect: tuple[str, str | None] | None = None  # (verdict, a rule id it must include) under the default policy


def _answer(obj: object, status: int = 200) -> Response:
    return status, JSON_HEADERS, json.dumps(obj).encode()


CHAT_ANSWER = _answer({"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "gpt-4o",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": "Fake answer."}, "finish_reason": "stop"}]})  # fmt: skip
RESPONSES_ANSWER = _answer({"id": "resp_fake", "object": "response", "status": "completed",
                            "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Fake answer."}]}]})  # fmt: skip
ANTHROPIC_ANSWER = _answer({"id": "msg_fake", "type": "message", "role": "assistant", "model": "claude",
                            "content": [{"type": "text", "text": "Fake answer."}], "stop_reason": "end_turn"})  # fmt: skip
GEMINI_ANSWER = _answer({"candidates": [{"content": {"role": "model", "parts": [{"text": "Fake answer."}]}}]})
SSE_ANSWER: Response = (200, [("content-type", "text/event-stream")],
                        b'data: {"p": "/message/content/parts/0", "o": "append", "v": "Fake answer."}\n\ndata: [DONE]\n\n')  # fmt: skip


def _json(
    method: str, url: str, obj: object, kind: str, response: Response, headers: list[tuple[str, str]] | None = None
) -> Req:
    return Req(method, url, [("content-type", "application/json"), *(headers or [])], json.dumps(obj).encode(), kind=kind, response=response)  # fmt: skip


def _multipart(url: str, filename: str, data: bytes, ctype: str, n: int) -> Req:
    b = "----phiwallboundary" + uuid.UUID(int=n).hex[:8]
    body = (
        (
            f'--{b}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{b}--\r\n".encode()
    )
    answer = _answer({"id": f"file-{n:06d}", "object": "file", "bytes": len(data), "filename": filename, "purpose": "user_data"})  # fmt: skip
    return Req("POST", url, [("content-type", f"multipart/form-data; boundary={b}")], body, kind="openai-file", response=answer)  # fmt: skip


GEMINI_UPLOAD = "https://generativelanguage.googleapis.com/upload/v1beta/files"


def gemini_resumable(n: int, chunks: tuple[bytes, ...], kind: str, expect: list[tuple[str, str | None]]) -> list[Req]:
    """Gemini File API resumable upload (spec §3): start (metadata only; the answer names the upload URL), then
    the chunks, the last one `upload, finalize`."""
    total = sum(len(c) for c in chunks)
    upload_url = f"{GEMINI_UPLOAD}?upload_id=replay-{n:06d}&upload_protocol=resumable"
    start = _json("POST", GEMINI_UPLOAD, {"file": {"displayName": "notes.bin"}}, f"{kind}-start",
                  (200, [("x-goog-upload-url", upload_url), ("x-goog-upload-status", "active")], b""),
                  [("x-goog-upload-protocol", "resumable"), ("x-goog-upload-command", "start"),
                   ("x-goog-upload-header-content-length", str(total)), ("x-goog-api-key", "test-key")])  # fmt: skip
    out = [start]
    offset = 0
    for i, c in enumerate(chunks):
        last = i == len(chunks) - 1
        answer: Response = (200, [("x-goog-upload-status", "active")], b"")
        if last:
            answer = (200, [("x-goog-upload-status", "final"), *JSON_HEADERS],
                      json.dumps({"file": {"name": f"files/replay{n:06d}", "state": "ACTIVE", "sizeBytes": str(total)}}).encode())  # fmt: skip
        out.append(Req("POST", upload_url, [("x-goog-upload-command", "upload, finalize" if last else "upload"),
                                            ("x-goog-upload-offset", str(offset)),
                                            ("content-type", "application/x-www-form-urlencoded")],  # the web app's lying type
                       c, kind=f"{kind}-chunk", response=answer))  # fmt: skip
        offset += len(c)
    for r, e in zip(out, expect, strict=True):
        r.expect = e
    return out


def chatgpt_upload(n: int, data: bytes, kind: str, expect: list[tuple[str, str | None]]) -> list[Req]:
    """ChatGPT web's two-step upload (spec §2.2-2.3, the shapes of tests/e2e/fixtures/chatgpt_upload.har):
    register (the answer gives file id and signed blob URL), PUT the bytes, mark uploaded, then the message."""
    fid = f"file-Replay{n:06d}x"
    blob = f"https://fileserviceuploadsperm.blob.core.windows.net/files/{fid}?se=2026-11-22T07%3A00%3A00Z&sp=cw&sv=2020-04-08&sr=b&sig={SIGNATURE}%3D%3D"
    register = _json("POST", "https://chatgpt.com/backend-api/files",
                     {"file_name": "scan.dcm", "file_size": len(data), "mime_type": "application/octet-stream", "use_case": "multimodal"},
                     f"{kind}-register", _answer({"status": "success", "file_id": fid, "upload_url": blob}),
                     [("oai-device-id", "00000000-0000-4000-8000-000000000000")])  # fmt: skip
    put = Req("PUT", blob, [("content-type", "application/octet-stream"), ("x-ms-blob-type", "BlockBlob"),
                            ("x-ms-version", "2020-04-08")], data, kind=f"{kind}-put", response=(201, [], b""))  # fmt: skip
    uploaded = _json(
        "POST",
        f"https://chatgpt.com/backend-api/files/{fid}/uploaded",
        {},
        f"{kind}-uploaded",
        _answer({"status": "success"}),
    )
    message = {"action": "next", "messages": [{"id": str(uuid.UUID(int=n)), "author": {"role": "user"},
               "content": {"content_type": "multimodal_text", "parts": [
                   {"content_type": "image_asset_pointer", "asset_pointer": f"file-service://{fid}", "size_bytes": len(data)},
                   CLEAN[n % len(CLEAN)]]},
               "metadata": {"attachments": [{"id": fid, "name": "scan.dcm", "size": len(data)}]}}],
               "parent_message_id": "client-created-root", "model": "auto"}  # fmt: skip
    conversation = _json("POST", "https://chatgpt.com/backend-api/f/conversation", message, f"{kind}-conversation",
                         SSE_ANSWER, [("accept", "text/event-stream")])  # fmt: skip
    out = [register, put, uploaded, conversation]
    for r, e in zip(out, expect, strict=True):
        r.expect = e
    return out


def make_requests(n: int = 1000, seed: int = 5, *, guarded_only: bool = False) -> list[Req]:
    """`n` mixed requests in a fixed pseudo-random order: chats with and without PHI across services, DICOM
    uploads (multipart and raw PUT), GETs, multi-request uploads (Gemini resumable, ChatGPT two-step) and (unless
    guarded_only) requests to hosts phiwall leaves alone."""
    rnd = random.Random(seed)
    dicoms = [(FIXTURES / n).read_bytes() for n in ("ct_identifiable.dcm", "us_burned_in.dcm", "ct_anonymous.dcm")]
    t0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC).timestamp()
    out: list[Req] = []
    i = 0
    while len(out) < n:
        text = rnd.choice(PHI if rnd.random() < 0.35 else CLEAN)
        shape = rnd.randrange(13)
        if guarded_only and shape == 9:
            continue
        batch: list[Req]
        if shape in (0, 1):
            batch = [_json("POST", "https://api.openai.com/v1/chat/completions",
                           {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}, "openai-chat", CHAT_ANSWER)]  # fmt: skip
        elif shape == 2:
            batch = [_json("POST", "https://api.openai.com/v1/responses",
                           {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "input_text", "text": text}]}]},
                           "openai-responses", RESPONSES_ANSWER)]  # fmt: skip
        elif shape == 3:
            batch = [_json("POST", "https://chatgpt.com/backend-api/conversation",
                           {"action": "next", "messages": [{"id": str(uuid.UUID(int=i)), "author": {"role": "user"},
                            "content": {"content_type": "text", "parts": [text]}}], "model": "auto"}, "chatgpt-web", SSE_ANSWER)]  # fmt: skip
        elif shape == 4:
            batch = [_json("POST", "https://api.anthropic.com/v1/messages",
                           {"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": text}]},
                           "anthropic", ANTHROPIC_ANSWER)]  # fmt: skip
        elif shape == 5:
            batch = [
                _multipart("https://api.openai.com/v1/files", "scan.dcm", rnd.choice(dicoms), "application/dicom", i)
            ]
        elif shape == 6:
            batch = [Req("PUT", f"https://files.oaiusercontent.com/file-{i:05d}?se=2026&sig={SIGNATURE}",
                         [("content-type", "application/dicom"), ("x-ms-blob-type", "BlockBlob")], rnd.choice(dicoms),
                         kind="chatgpt-blob", response=(201, [], b""))]  # fmt: skip
        elif shape == 7:
            batch = [Req("GET", "https://api.openai.com/v1/models", [("accept", "application/json")], kind="get",
                         response=_answer({"object": "list", "data": []}))]  # fmt: skip
        elif shape == 8:
            batch = [_json("POST", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
                           {"contents": [{"role": "user", "parts": [{"text": text}]}]}, "gemini-api", GEMINI_ANSWER)]  # fmt: skip
        elif shape == 9:
            batch = [_json("POST", "https://example.org/api/notes", {"note": text}, "unguarded", _answer({"ok": True}))]
        elif shape == 10:
            variant = rnd.randrange(3)
            if variant == 0:
                half = len(BENIGN_FILE) // 2
                batch = gemini_resumable(i, (BENIGN_FILE[:half], BENIGN_FILE[half:]), "gemini-benign",
                                         [("allow", None)] * 3)  # fmt: skip
            elif variant == 1:
                batch = gemini_resumable(i, tuple(p.encode() for p in SPLIT_NOTE), "gemini-split-ssn",
                                         [("allow", None), ("allow", None), ("block", "phi-identifiers")])  # fmt: skip
            else:
                d = rnd.choice(dicoms)
                batch = gemini_resumable(i, (d[:400], d[400:]), "gemini-dicom",
                                         [("allow", None), ("block", "dicom-file"), ("block", None)])  # fmt: skip
        elif shape == 11:
            batch = chatgpt_upload(i, rnd.choice(dicoms), "chatgpt-dicom",
                                   [("allow", None), ("block", "dicom-file"), ("block", "blocked-file-reference"),
                                    ("block", "blocked-file-reference")])  # fmt: skip
        else:
            batch = chatgpt_upload(i, BENIGN_FILE, "chatgpt-benign", [("allow", None)] * 4)
        client = rnd.choice(["10.20.1.5", "10.30.7.9", "192.168.1.20"])
        for r in batch:
            r.ts = t0 + len(out) * 37.0
            r.client = client
            r.headers.append((SEQ_HEADER, str(len(out))))
            out.append(r)
        i += 1
    return out[:n]


def _har_content(body: bytes, ctype: str) -> dict[str, object]:
    try:
        return {"mimeType": ctype, "text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"mimeType": ctype, "text": base64.b64encode(body).decode(), "encoding": "base64"}


def write_har(path: Path, reqs: list[Req]) -> None:
    """A HAR like a browser export; binary bodies are base64 with `encoding` (as several exporters write them).
    The client address goes in phiwall's `_clientAddress` extension, so the HAR and the flow file agree."""
    entries = []
    for r in reqs:
        request: dict[str, object] = {
            "method": r.method,
            "url": r.url,
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": k, "value": v} for k, v in r.headers],
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": len(r.body),
        }
        if r.body:
            request["postData"] = _har_content(r.body, dict(r.headers).get("content-type", ""))
        status, headers, body = r.response
        entries.append(
            {
                "startedDateTime": datetime.fromtimestamp(r.ts, UTC).isoformat().replace("+00:00", "Z"),
                "time": 5,
                "_clientAddress": r.client,
                "request": request,
                "response": {
                    "status": status,
                    "statusText": "OK",
                    "httpVersion": "HTTP/1.1",
                    "headers": [{"name": k, "value": v} for k, v in headers],
                    "cookies": [],
                    "content": {"size": len(body), **_har_content(body, dict(headers).get("content-type", ""))},
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": len(body),
                },  # fmt: skip
                "cache": {},
                "timings": {"send": 0, "wait": 5, "receive": 0},
            }
        )
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "phiwall-test", "version": "1"},
                                        "entries": entries}}))  # fmt: skip


def write_flows(path: Path, reqs: list[Req]) -> None:
    """A mitmproxy flow file, as `mitmdump -w` writes it (request, response, client address)."""
    from mitmproxy import connection
    from mitmproxy import http
    from mitmproxy import io

    with path.open("wb") as fh:
        w = io.FlowWriter(fh)
        for r in reqs:
            client = connection.Client(peername=(r.client, 50000), sockname=("127.0.0.1", 8080), timestamp_start=r.ts)
            f = http.HTTPFlow(client, connection.Server(address=None))
            f.request = http.Request.make(r.method, r.url, r.body, [(k.encode(), v.encode()) for k, v in r.headers])
            f.request.timestamp_start = r.ts
            status, headers, body = r.response
            f.response = http.Response.make(status, body, [(k.encode(), v.encode()) for k, v in headers])
            w.add(f)
