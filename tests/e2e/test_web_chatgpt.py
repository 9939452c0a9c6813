"""Issue 3 acceptance, ChatGPT web: the two-step upload (register → PUT bytes to the signed blob URL → uploaded →
conversation) replayed from a HAR fixture built from the spec's shapes, through a real `phiwall run` process. A DICOM
is stopped at the byte-carrying PUT, and the conversation that points at it is stopped too; a benign file and
question reach the fake servers unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import Recorded
from tests.support.proxy import ProxyProcess
from tests.support.samples import BENIGN
from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes

pytestmark = pytest.mark.e2e

RAW_FIXTURE = (Path(__file__).with_name("fixtures") / "chatgpt_upload.har").read_text()
FIXTURE_FILE_ID = "Q7pWn2XcV9sTfB3kLm8R4d"


def load_fixture() -> list[dict[str, Any]]:
    """The HAR fixture with a fresh file id (ids are unique in real traffic, and the proxy remembers blocked ones),
    as request/response dicts: JSON bodies parsed (`json`), others as text (`body`), headers as dicts."""
    import uuid

    har = json.loads(RAW_FIXTURE.replace(FIXTURE_FILE_ID, uuid.uuid4().hex[:22]))
    return [_entry(e) for e in har["log"]["entries"]]


def _entry(e: dict[str, Any]) -> dict[str, Any]:
    def side(headers: list[dict[str, str]], mime: str, text: str) -> dict[str, Any]:
        out: dict[str, Any] = {"headers": {h["name"]: h["value"] for h in headers}}
        if mime.startswith("application/json"):
            out["json"] = json.loads(text)
        else:
            out["body"] = text
        return out

    rq, rs = e["request"], e["response"]
    request = {
        "method": rq["method"],
        "url": rq["url"],
        **side(rq["headers"], rq["postData"]["mimeType"], rq["postData"]["text"]),
    }
    response = {"status": rs["status"], **side(rs["headers"], rs["content"]["mimeType"], rs["content"]["text"])}
    return {"request": request, "response": response}


def _fill(v: Any, subs: dict[str, Any]) -> Any:
    if isinstance(v, dict):
        return {k: _fill(x, subs) for k, x in v.items()}
    if isinstance(v, list):
        return [_fill(x, subs) for x in v]
    if isinstance(v, str) and v in subs:
        return subs[v]
    return v


@pytest.fixture
def fixture() -> list[dict[str, Any]]:
    return load_fixture()


@pytest.fixture
def up(fresh_upstream: FakeUpstream, fixture: list[dict[str, Any]]) -> FakeUpstream:
    for e in fixture:
        resp = e["response"]
        body = json.dumps(resp["json"]).encode() if "json" in resp else resp.get("body", "").encode()
        path = (
            "^" + httpx.URL(e["request"]["url"]).path + "$" if e["request"]["url"].startswith("https") else "^/files/"
        )

        def handler(
            _: Recorded, s: int = resp["status"], h: dict[str, str] = resp["headers"], b: bytes = body
        ) -> tuple[int, dict[str, str], bytes]:
            return s, h, b

        fresh_upstream.route(e["request"]["method"], path, handler)
    return fresh_upstream


def replay(proxy: ProxyProcess, fixture: list[dict[str, Any]], file: bytes, prompt: str) -> list[httpx.Response]:
    """Send the fixture's requests in order, as the web app does, taking the upload URL from the live response."""
    out: list[httpx.Response] = []
    subs: dict[str, Any] = {"{SIZE}": len(file), "{PROMPT}": prompt}
    with httpx.Client(proxy=proxy.url, verify=str(proxy.ca), timeout=60) as c:
        for e in fixture:
            rq = e["request"]
            url = subs.get(rq["url"], rq["url"])
            kw: dict[str, Any] = {"headers": rq["headers"]}
            if "json" in rq:
                kw["content"] = json.dumps(_fill(rq["json"], subs)).encode()
            else:
                kw["content"] = file if rq["body"] == "{FILE}" else rq["body"].encode()
            r = c.request(rq["method"], url, **kw)
            out.append(r)
            if r.headers.get("content-type", "").startswith("application/json") and "upload_url" in r.text:
                subs["{UPLOAD_URL}"] = r.json()["upload_url"]
    return out


def test_dicom_is_stopped_at_the_blob_put(proxy: ProxyProcess, up: FakeUpstream, fixture: list[dict[str, Any]]) -> None:
    replies = replay(proxy, fixture, dicom_bytes(), BENIGN)
    register, put, uploaded, conversation = replies
    assert register.status_code == 200
    assert put.status_code == 403 and b"<Error>" in put.content and b"DICOM" in put.content
    assert b"Smith" not in put.content
    # The id the registration handed out stays blocked: `uploaded` and the conversation naming it never leave.
    assert uploaded.status_code == 403 and "refers to a file whose upload phiwall blocked" in uploaded.json()["detail"]
    assert conversation.status_code == 403
    assert [r.method for r in up.requests] == ["POST"]  # only the metadata-only registration reached ChatGPT
    blocked = [e for e in proxy.audit_events()[-3:] if e["verdict"] == "block"]
    assert (
        blocked[0]["host"] == "fileserviceuploadsperm.blob.core.windows.net"
        and "DICOM_FILE" in blocked[0]["entity_counts"]
    )
    assert blocked[-1]["entity_counts"] == {"BLOCKED_FILE_REFERENCE": 1}


def test_benign_upload_and_question_pass_unchanged(
    proxy: ProxyProcess, up: FakeUpstream, fixture: list[dict[str, Any]]
) -> None:
    data = b"Clinic opening hours: Mon-Fri 8-17.\n"
    replies = replay(proxy, fixture, data, BENIGN)
    assert [r.status_code for r in replies] == [200, 201, 200, 200]
    put = next(r for r in up.requests if r.method == "PUT")
    assert put.body == data and put.host.startswith("fileserviceuploadsperm.blob.core.windows.net")
    assert "Fake answer." in replies[-1].text


def test_phi_in_the_conversation_text_is_blocked(
    proxy: ProxyProcess, up: FakeUpstream, fixture: list[dict[str, Any]]
) -> None:
    replies = replay(proxy, fixture, b"Clinic opening hours: Mon-Fri 8-17.\n", PHI_PROMPT)
    assert replies[-1].status_code == 403
    detail = replies[-1].json()["detail"]
    assert "phiwall blocked" in detail and "John" not in detail


def test_prepare_request_with_phi_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    body = {
        "partial_query": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": [PHI_PROMPT]}},
        "model": "auto",
        "conversation_mode": {"kind": "primary_assistant"},
    }
    with httpx.Client(proxy=proxy.url, verify=str(proxy.ca), timeout=60) as c:
        r = c.post("https://chatgpt.com/backend-anon/f/conversation/prepare", json=body)
    assert r.status_code == 403 and "detail" in r.json()
    assert up.requests == []
