"""phiwall.uploads: upload sessions, remembered URLs and file-id verdicts (caps, TTL, ordering)."""

from __future__ import annotations

import json

import pytest
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
from phiwall.model import Verdict
from phiwall.uploads import UploadStore
from phiwall.uploads import ids_from_response
from phiwall.uploads import normalise_url


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_offset_chunks_assemble_in_offset_order() -> None:
    s = UploadStore()
    sess = await s.open("google", "u1")
    await s.add_chunk(sess, 4, b"5678")
    await s.add_chunk(sess, 0, b"1234")
    assert await s.assemble(sess) == b"12345678"


async def test_gap_is_an_extraction_error() -> None:
    s = UploadStore()
    sess = await s.open("google", "u1")
    await s.add_chunk(sess, 0, b"1234")
    await s.add_chunk(sess, 8, b"9")
    with pytest.raises(ExtractionError, match="not contiguous"):
        await s.assemble(sess)


async def test_named_parts_assemble_in_the_given_order_and_missing_ones_fail() -> None:
    s = UploadStore()
    sess = await s.open("openai", "upload_1")
    await s.add_chunk(sess, "part_b", b"B")
    await s.add_chunk(sess, "part_a", b"A")
    assert await s.assemble(sess, ["part_a", "part_b"]) == b"AB"
    with pytest.raises(ExtractionError, match="never saw"):
        await s.assemble(sess, ["part_a", "part_c"])


async def test_session_and_total_caps() -> None:
    s = UploadStore(max_session_bytes=10, max_total_bytes=15)
    a = await s.open("g", "a")
    a = await s.add_chunk(a, 0, b"x" * 10)
    with pytest.raises(LimitError):
        await s.add_chunk(a, 10, b"y")
    b = await s.open("g", "b")
    with pytest.raises(LimitError, match="too many unfinished"):
        await s.add_chunk(b, 0, b"z" * 6)


async def test_sessions_expire_and_are_capped_in_number() -> None:
    clock = Clock()
    s = UploadStore(ttl=60, max_sessions=2, clock=clock)
    await s.open("g", "a")
    clock.t += 1
    await s.open("g", "b")
    clock.t += 1
    await s.open("g", "c")
    assert await s.get("g", "a") is None and await s.get("g", "c") is not None
    assert await s.sessions_open() == 2
    clock.t += 61
    assert await s.get("g", "c") is None


async def test_remembered_url_matches_azure_block_requests() -> None:
    s = UploadStore()
    url = "https://fileserviceuploadsperm.blob.core.windows.net/files/file-ABC123456?sp=cw&sig=abc%3D&se=x"
    await s.remember_url(url, "chatgpt", "file-ABC123456")
    assert await s.url_owner(url) == ("chatgpt", "file-ABC123456")
    assert await s.url_owner(url + "&comp=block&blockid=AAAA") == ("chatgpt", "file-ABC123456")
    # The same URL with its query in another order is the same URL; another signature is not.
    assert await s.url_owner(
        "https://FILESERVICEUPLOADSPERM.blob.core.windows.net:443/files/file-ABC123456?se=x&sig=abc%3D&sp=cw"
    )
    assert await s.url_owner(url.replace("sig=abc", "sig=abd")) is None


async def test_verdicts_only_kept_for_warn_and_block_and_found_by_exact_id() -> None:
    s = UploadStore()
    await s.remember_verdict(["file-allowed0001"], Verdict.ALLOW, "", ())
    await s.remember_verdict(["file-blocked0001", "short"], Verdict.BLOCK, "DICOM", ("dicom-file",))
    assert await s.referenced(b'{"asset_pointer": "file-service://file-allowed0001"}') == []
    hits = await s.referenced("/backend-api/files/file-blocked0001/uploaded", b"")
    assert [h[0] for h in hits] == ["file-blocked0001"] and hits[0][1].rule_ids == ("dicom-file",)
    hits = await s.referenced(b'{"asset_pointer": "file-service:\\/\\/file-blocked0001"}')
    assert [h[0] for h in hits] == ["file-blocked0001"]
    assert await s.referenced(b"short") == []  # ids shorter than MIN_ID_LEN are never kept
    # an id inside a longer token is not a reference to it (the old substring scan said it was)
    assert await s.referenced(b'{"text": "xfile-blocked0001x"}') == []


async def test_a_later_weaker_verdict_does_not_downgrade() -> None:
    s = UploadStore()
    await s.remember_verdict(["file-x00000001"], Verdict.BLOCK, "b", ())
    await s.remember_verdict(["file-x00000001"], Verdict.WARN, "w", ())
    fv = await s.verdict("file-x00000001")
    assert fv is not None and fv.verdict == Verdict.BLOCK


async def test_no_file_id_or_url_appears_in_a_state_key() -> None:
    from phiwall.state import MemoryStore

    mem = MemoryStore()
    s = UploadStore(store=mem)
    await s.remember_verdict(["file-secret00001"], Verdict.BLOCK, "b", ())
    await s.remember_url("https://blob.example/files/file-secret00001?sig=SIGNATURE", "chatgpt", "file-secret00001")
    sess = await s.open("google", "UPLOADID-secret")
    await s.add_chunk(sess, 0, b"x")
    keys = " ".join(mem._d)
    assert keys and "secret" not in keys and "SIGNATURE" not in keys and "UPLOADID" not in keys


@pytest.mark.parametrize(
    "body,expected",
    [
        ({"status": "success", "file_id": "file-Q7pWn2XcV9", "upload_url": "https://x"}, {"file-Q7pWn2XcV9"}),
        ({"id": "file-abc123456", "object": "file"}, {"file-abc123456"}),
        (
            {
                "file": {
                    "name": "files/abc123def",
                    "uri": "https://generativelanguage.googleapis.com/v1beta/files/abc123def",
                }
            },
            {"files/abc123def", "https://generativelanguage.googleapis.com/v1beta/files/abc123def"},
        ),
        (
            {"fileMetadata": {"fileMetadataId": "7f3c2a10-aaaa", "fileUri": "users/u/7f3c"}},
            {"7f3c2a10-aaaa", "users/u/7f3c"},
        ),
        ({"success": True, "file_uuid": "0b1e2f3a-4c5d"}, {"0b1e2f3a-4c5d"}),
    ],
)
def test_ids_from_upload_responses(body: dict, expected: set[str]) -> None:
    assert ids_from_response(json.dumps(body).encode()) >= expected


def test_gemini_web_text_reference() -> None:
    assert ids_from_response(b"/contrib_service/ttl_1d/1709764705i7wdlyx3md") == {
        "/contrib_service/ttl_1d/1709764705i7wdlyx3md"
    }


def test_normalise_url() -> None:
    assert normalise_url("https://H.example:443/p?b=2&a=1") == "https://h.example/p?a=1&b=2"
