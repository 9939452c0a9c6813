# ruff: noqa: E501  (request shapes read best as one literal each)
"""Synthetic recorded traffic for replay tests: request shapes from the spec (/work/shared/spec/request-shapes.md),
synthetic PHI only (invented names and numbers), written as a browser-style HAR and as a mitmproxy flow file."""

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


@dataclass
class Req:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    ts: float = 0.0
    client: str = "10.20.1.5"
    kind: str = field(default="")  # a PHI-free label of the shape, for debugging


def _json(method: str, url: str, obj: object, kind: str) -> Req:
    return Req(method, url, [("content-type", "application/json")], json.dumps(obj).encode(), kind=kind)


def _multipart(url: str, filename: str, data: bytes, ctype: str) -> Req:
    b = "----phiwallboundary" + uuid.uuid4().hex[:8]
    body = (
        (
            f'--{b}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{b}--\r\n".encode()
    )
    return Req("POST", url, [("content-type", f"multipart/form-data; boundary={b}")], body, kind="openai-file")


def make_requests(n: int = 1000, seed: int = 5, *, guarded_only: bool = False) -> list[Req]:
    """`n` mixed requests in a fixed pseudo-random order: chats with and without PHI across services, DICOM
    uploads (multipart and raw PUT), GETs, and (unless guarded_only) requests to hosts phiwall leaves alone."""
    rnd = random.Random(seed)
    dicoms = [(FIXTURES / n).read_bytes() for n in ("ct_identifiable.dcm", "us_burned_in.dcm", "ct_anonymous.dcm")]
    t0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC).timestamp()
    out = []
    for i in range(n):
        text = rnd.choice(PHI if rnd.random() < 0.35 else CLEAN)
        shape = rnd.randrange(9 if guarded_only else 10)
        if shape in (0, 1):
            r = _json("POST", "https://api.openai.com/v1/chat/completions",
                      {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}, "openai-chat")  # fmt: skip
        elif shape == 2:
            r = _json("POST", "https://api.openai.com/v1/responses",
                      {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "input_text", "text": text}]}]},
                      "openai-responses")  # fmt: skip
        elif shape == 3:
            r = _json("POST", "https://chatgpt.com/backend-api/conversation",
                      {"action": "next", "messages": [{"id": str(uuid.UUID(int=i)), "author": {"role": "user"},
                       "content": {"content_type": "text", "parts": [text]}}], "model": "auto"}, "chatgpt-web")  # fmt: skip
        elif shape == 4:
            r = _json("POST", "https://api.anthropic.com/v1/messages",
                      {"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": text}]},
                      "anthropic")  # fmt: skip
        elif shape == 5:
            r = _multipart("https://api.openai.com/v1/files", "scan.dcm", rnd.choice(dicoms), "application/dicom")
        elif shape == 6:
            r = Req("PUT", f"https://files.oaiusercontent.com/file-{i:05d}?se=2026&sig=SIGNATURE",
                    [("content-type", "application/dicom"), ("x-ms-blob-type", "BlockBlob")], rnd.choice(dicoms),
                    kind="chatgpt-blob")  # fmt: skip
        elif shape == 7:
            r = Req("GET", "https://api.openai.com/v1/models", [("accept", "application/json")], kind="get")
        elif shape == 8:
            r = _json("POST", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
                      {"contents": [{"role": "user", "parts": [{"text": text}]}]}, "gemini-api")  # fmt: skip
        else:
            r = _json("POST", "https://example.org/api/notes", {"note": text}, "unguarded")
        r.ts = t0 + i * 37.0
        r.client = rnd.choice(["10.20.1.5", "10.30.7.9", "192.168.1.20"])
        out.append(r)
    return out


def write_har(path: Path, reqs: list[Req]) -> None:
    """A HAR like a browser export; binary bodies are base64 with `encoding` (as several exporters write them)."""
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
            ctype = dict(r.headers).get("content-type", "")
            try:
                text = r.body.decode("utf-8")
                post = {"mimeType": ctype, "text": text}
            except UnicodeDecodeError:
                post = {"mimeType": ctype, "text": base64.b64encode(r.body).decode(), "encoding": "base64"}
            request["postData"] = post
        entries.append(
            {
                "startedDateTime": datetime.fromtimestamp(r.ts, UTC).isoformat().replace("+00:00", "Z"),
                "time": 5,
                "request": request,
                "response": {
                    "status": 200,
                    "statusText": "OK",
                    "httpVersion": "HTTP/1.1",
                    "headers": [],
                    "cookies": [],
                    "content": {"size": 0, "mimeType": "application/json"},
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": 0,
                },  # fmt: skip
                "cache": {},
                "timings": {"send": 0, "wait": 5, "receive": 0},
            }
        )
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "phiwall-test", "version": "1"},
                                        "entries": entries}}))  # fmt: skip


def write_flows(path: Path, reqs: list[Req]) -> None:
    """A mitmproxy flow file, as `mitmdump -w` writes it."""
    from mitmproxy import connection
    from mitmproxy import http
    from mitmproxy import io

    with path.open("wb") as fh:
        w = io.FlowWriter(fh)
        for r in reqs:
            client = connection.Client(peername=(r.client, 50000), sockname=("127.0.0.1", 8080), timestamp_start=r.ts)
            f = http.HTTPFlow(client, connection.Server(address=None))
            f.request = http.Request.make(r.method, r.url, r.body, dict(r.headers))
            f.request.timestamp_start = r.ts
            w.add(f)
