from __future__ import annotations

import pytest
from phiwall import sniff


@pytest.mark.parametrize(
    "data,media",
    [
        (b"\x00" * 128 + b"DICM" + b"\x02\x00", "application/dicom"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, "image/jpeg"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
        (b"GIF89a" + b"\0" * 10, "image/gif"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"PK\x03\x04" + b"\0" * 30, "application/zip"),
        (b"\0\0\0\x18ftypheic\0\0\0\0", "image/heic"),
        (b"II*\x00" + b"\0" * 10, "image/tiff"),
        (b"hello world", "application/octet-stream"),
    ],
)
def test_sniff(data: bytes, media: str) -> None:
    assert sniff.sniff(data) == media
