"""The addon's multi-request upload handling, in process (mitmproxy taddons + tflow, inline inspection)."""

from __future__ import annotations

import json
from pathlib import Path

from mitmproxy import http
from mitmproxy.test import tflow
from mitmproxy.test import tutils
from phiwall.addon import PhiWall

from tests.addon.conftest import audit
from tests.factories import make_dicom

UPLOAD_URL = "https://fileserviceuploadsperm.blob.core.windows.net/files/file-AbC123xyz?se=2026&sp=cw&sig=s1g"


def flow(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None) -> http.HTTPFlow:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    req = tutils.treq(
        method=method.encode(),
        scheme=b"https",
        host=u.hostname.encode(),
        port=443,
        path=(u.path + ("?" + u.query if u.query else "")).encode(),
        content=body,
        headers=http.Headers(**{k.replace("-", "_"): v for k, v in (headers or {}).items()}),
    )
    f = tflow.tflow(req=req)
    # The connection goes where the request says (phiwall.hostcheck refuses a Host naming another host).
    f.server_conn.address = (u.hostname, 443)
    f.client_conn.sni = u.hostname
    f.request.headers.clear()
    f.request.headers["host"] = u.hostname
    for k, v in (headers or {}).items():
        f.request.headers[k] = v
    f.request.content = body
    return f


async def send(
    addon: PhiWall, f: http.HTTPFlow, reply: tuple[int, dict[str, str], bytes] | None = None
) -> http.HTTPFlow:
    addon.requestheaders(f)
    await addon.request(f)
    if f.response is None and reply is not None:
        status, headers, body = reply
        f.response = http.Response.make(status, body, headers)
        addon.responseheaders(f)
        await addon.response(f)
    return f


async def test_chatgpt_two_step_upload_blocks_put_and_reference(phiwall_ctx, tmp_path: Path) -> None:
    addon, _ = phiwall_ctx
    reg = flow(
        "POST",
        "https://chatgpt.com/backend-api/files",
        json.dumps({"file_name": "scan.dcm", "file_size": 1000, "use_case": "multimodal"}).encode(),
        {"content-type": "application/json"},
    )
    await send(
        addon,
        reg,
        (
            200,
            {"content-type": "application/json"},
            json.dumps({"status": "success", "file_id": "file-AbC123xyz", "upload_url": UPLOAD_URL}).encode(),
        ),
    )
    assert reg.response.status_code == 200
    put = await send(
        addon,
        flow("PUT", UPLOAD_URL, make_dicom(), {"content-type": "application/dicom", "x-ms-blob-type": "BlockBlob"}),
    )
    assert put.response is not None and put.response.status_code == 403
    assert b"<Error>" in put.response.content and b"DICOM" in put.response.content
    conv = {
        "action": "next",
        "messages": [
            {
                "id": "m1",
                "author": {"role": "user"},
                "content": {
                    "content_type": "multimodal_text",
                    "parts": [
                        {"content_type": "image_asset_pointer", "asset_pointer": "file-service://file-AbC123xyz"},
                        "What is this?",
                    ],
                },
            }
        ],
    }
    c = await send(
        addon,
        flow(
            "POST",
            "https://chatgpt.com/backend-api/f/conversation",
            json.dumps(conv).encode(),
            {"content-type": "application/json"},
        ),
    )
    assert c.response is not None and c.response.status_code == 403
    assert "refers to a file whose upload phiwall blocked" in c.response.json()["detail"]
    ev = audit(tmp_path)[-1]
    assert ev["entity_counts"] == {"BLOCKED_FILE_REFERENCE": 1} and "blocked-file-reference" in ev["rule_ids"]


async def test_azure_put_block_list_is_judged_whole(phiwall_ctx) -> None:
    addon, _ = phiwall_ctx
    dcm = make_dicom()
    # "DICM" (bytes 128-131) is cut in two, so neither block alone sniffs as DICOM (a block holding the whole magic
    # counts as DICOM with its preamble cut, and is stopped at once): only the assembled file shows it.
    a, b = dcm[:130], dcm[130:]
    for bid, data in (("YQ==", a), ("Yg==", b)):
        f = await send(addon, flow("PUT", UPLOAD_URL + f"&comp=block&blockid={bid}", data), (201, {}, b""))
        assert f.response.status_code == 201
    xml = b'<?xml version="1.0"?><BlockList><Latest>YQ==</Latest><Latest>Yg==</Latest></BlockList>'
    f = await send(addon, flow("PUT", UPLOAD_URL + "&comp=blocklist", xml), (201, {}, b""))
    assert f.response.status_code == 403


async def test_benign_chatgpt_put_passes_untouched(phiwall_ctx) -> None:
    addon, _ = phiwall_ctx
    f = await send(addon, flow("PUT", UPLOAD_URL, b"Shopping list: eggs, milk, bread.\n"), (201, {}, b""))
    assert f.response.status_code == 201


OPENAI = "https://api.openai.com"
JSON = {"content-type": "application/json"}


async def openai_upload(addon: PhiWall, upload_id: str, size: int) -> None:
    """`POST /v1/uploads`, answered with `upload_id` (the addon learns the id from the response)."""
    meta = {"bytes": size, "filename": "a.bin", "mime_type": "application/octet-stream", "purpose": "user_data"}
    body = json.dumps({"id": upload_id, "object": "upload"}).encode()
    await send(addon, flow("POST", OPENAI + "/v1/uploads", json.dumps(meta).encode(), JSON), (200, JSON, body))


async def openai_part(addon: PhiWall, upload_id: str, data: bytes, part_id: str) -> http.HTTPFlow:
    body = b'--b\r\nContent-Disposition: form-data; name="data"; filename="blob"\r\n\r\n' + data + b"\r\n--b--\r\n"
    f = flow(
        "POST", f"{OPENAI}/v1/uploads/{upload_id}/parts", body, {"content-type": "multipart/form-data; boundary=b"}
    )
    return await send(addon, f, (200, JSON, json.dumps({"id": part_id}).encode()))


async def openai_complete(addon: PhiWall, upload_id: str, part_ids: list[str]) -> http.HTTPFlow:
    body = json.dumps({"part_ids": part_ids}).encode()
    return await send(addon, flow("POST", f"{OPENAI}/v1/uploads/{upload_id}/complete", body, JSON))


async def test_openai_uploads_parts_any_order_judged_at_complete(phiwall_ctx) -> None:
    addon, _ = phiwall_ctx
    await openai_upload(addon, "upload_abc12345", 10)
    dcm = make_dicom(preamble=False, file_meta=False, encoding="implicit")
    pieces = [dcm[i : i + 64] for i in range(0, len(dcm), 64)]
    ids = []
    for n in reversed(range(len(pieces))):  # last part first
        f = await openai_part(addon, "upload_abc12345", pieces[n], f"part_{n:08d}")
        if f.response.status_code == 403:  # the part that begins the file may be stopped at once
            return
        ids.insert(0, f"part_{n:08d}")
    f = await openai_complete(addon, "upload_abc12345", ids)
    assert f.response is not None and f.response.status_code == 403
    assert "DICOM" in f.response.json()["error"]["message"]


async def test_openai_complete_without_seen_parts_fails_closed(phiwall_ctx) -> None:
    addon, _ = phiwall_ctx
    f = await openai_complete(addon, "upload_unknown99", ["part_1"])
    assert f.response.status_code == 422
    assert "not seen by phiwall" in f.response.json()["error"]["message"]


# -- Gemini resumable: per-upload state, caps, time-to-live, a blocked upload stays blocked -----------------------

GAPI = "https://generativelanguage.googleapis.com"


async def google_start(addon: PhiWall, upload_id: str, size: int) -> None:
    f = await send(
        addon,
        flow(
            "POST",
            GAPI + "/upload/v1beta/files",
            b'{"file": {"displayName": "study"}}',
            {
                "content-type": "application/json",
                "x-goog-upload-protocol": "resumable",
                "x-goog-upload-command": "start",
                "x-goog-upload-header-content-length": str(size),
            },
        ),
        (
            200,
            {
                "x-goog-upload-url": f"{GAPI}/upload/v1beta/files?upload_id={upload_id}",
                "x-goog-upload-status": "active",
            },
            b"",
        ),
    )
    assert f.response.status_code == 200


async def google_chunk(addon: PhiWall, upload_id: str, offset: int, data: bytes, final: bool = False) -> http.HTTPFlow:
    return await send(
        addon,
        flow(
            "POST",
            f"{GAPI}/upload/v1beta/files?upload_id={upload_id}",
            data,
            {"x-goog-upload-command": "upload, finalize" if final else "upload", "x-goog-upload-offset": str(offset)},
        ),
        (200, {"x-goog-upload-status": "final" if final else "active"}, b""),
    )


async def test_a_blocked_first_chunk_keeps_the_rest_of_the_upload_blocked(phiwall_ctx, tmp_path: Path) -> None:
    """The first chunk's DICOM magic blocks at once; a client that carries on (or retries) gets every later chunk
    and the finalize refused without inspection, with the first block's reason."""
    addon, _ = phiwall_ctx
    dcm = make_dicom()
    await google_start(addon, "UPBLOCKED1", len(dcm))
    first = await google_chunk(addon, "UPBLOCKED1", 0, dcm[:200])
    assert first.response.status_code == 403 and "DICOM" in first.response.json()["error"]["message"]
    later = await google_chunk(addon, "UPBLOCKED1", 200, dcm[200:400])
    assert later.response.status_code == 403 and "DICOM" in later.response.json()["error"]["message"]
    last = await google_chunk(addon, "UPBLOCKED1", 400, dcm[400:], final=True)
    assert last.response.status_code == 403
    assert audit(tmp_path)[-1]["rule_ids"] == ["upload-blocked"]


async def test_an_upload_over_the_session_cap_fails_closed_with_413(phiwall_ctx) -> None:
    """A file bigger than phiwall will hold to judge whole is not forwarded unjudged: on_error (413)."""
    from phiwall.uploads import UploadStore

    addon, _ = phiwall_ctx
    addon.uploads = UploadStore(max_session_bytes=1000)
    await google_start(addon, "UPBIG00001", 1500)
    ok = await google_chunk(addon, "UPBIG00001", 0, b"a" * 800)
    assert ok.response.status_code == 200
    over = await google_chunk(addon, "UPBIG00001", 800, b"b" * 700, final=True)
    assert over.response.status_code == 413
    assert "more than phiwall holds" in over.response.json()["error"]["message"]


async def test_an_expired_upload_session_fails_closed(phiwall_ctx) -> None:
    """Past the time-to-live the held chunks are dropped; a later chunk meets no session and is refused (422)
    rather than judged as if it were the whole file."""
    from phiwall.uploads import UploadStore

    addon, _ = phiwall_ctx
    now = [1000.0]
    addon.uploads = UploadStore(ttl=60, clock=lambda: now[0])
    await google_start(addon, "UPTTL00001", 20)
    assert (await google_chunk(addon, "UPTTL00001", 0, b"x" * 10)).response.status_code == 200
    now[0] += 61
    late = await google_chunk(addon, "UPTTL00001", 10, b"y" * 10, final=True)
    assert late.response.status_code == 422
    assert "did not see begin" in late.response.json()["error"]["message"]


async def test_openai_parts_and_complete_after_a_blocked_part_stay_blocked(phiwall_ctx) -> None:
    addon, _ = phiwall_ctx
    await openai_upload(addon, "upload_blk12345", 9)
    dcm = make_dicom()
    first = await openai_part(addon, "upload_blk12345", dcm[:300], "part_1")
    assert first.response.status_code == 403
    second = await openai_part(addon, "upload_blk12345", dcm[300:], "part_2")
    assert second.response.status_code == 403
    done = await openai_complete(addon, "upload_blk12345", ["part_1", "part_2"])
    assert done.response.status_code == 403 and "DICOM" in done.response.json()["error"]["message"]
