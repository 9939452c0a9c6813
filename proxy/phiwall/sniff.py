"""Magic-byte typing. The declared Content-Type, JSON mime field and filename are never trusted: clients lie
(Gemini web sends raw PNG bytes as x-www-form-urlencoded) and users rename files."""

from __future__ import annotations

import struct

DICOM = "application/dicom"
OCTET = "application/octet-stream"

_SIMPLE: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),  # empty archive
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\x28\xb5\x2f\xfd", "application/zstd"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
)

_FTYP_BRANDS = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"hevc": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"avif": "image/avif",
    b"avis": "image/avif",
}

# Group 0x0002/0x0008/0x0010 tags a preamble-less DICOM dataset typically begins with (little endian).
_DICOM_START_GROUPS = (0x0002, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028)


def sniff(data: bytes) -> str:
    """Return the media type the bytes really are, or application/octet-stream."""
    head = data[:512]
    if len(head) >= 132 and head[128:132] == b"DICM":
        return DICOM
    for magic, media in _SIMPLE:
        if head.startswith(magic):
            if media == "image/bmp" and not _looks_like_bmp(head):
                continue
            if media == "image/x-icon":
                continue
            return media
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _FTYP_BRANDS:
            return _FTYP_BRANDS[brand]
        # compatible brands list
        for i in range(16, min(len(head), 64), 4):
            if head[i : i + 4] in _FTYP_BRANDS:
                return _FTYP_BRANDS[head[i : i + 4]]
    if head.startswith(b"ustar", 257) or data[257:262] == b"ustar":
        return "application/x-tar"
    if _looks_like_nifti(head):
        return "application/x-nifti"
    if looks_like_raw_dicom(head):
        return DICOM
    return OCTET


def _looks_like_bmp(head: bytes) -> bool:
    if len(head) < 26:
        return False
    size = struct.unpack_from("<I", head, 2)[0]
    dib = struct.unpack_from("<I", head, 14)[0]
    return dib in (12, 40, 52, 56, 64, 108, 124) and size >= 26


def _looks_like_nifti(head: bytes) -> bool:
    if len(head) < 348:
        return False
    return head[344:348] in (b"n+1\x00", b"ni1\x00", b"n+2\x00") or (
        struct.unpack_from("<i", head, 0)[0] in (348, 540) and head[344:347] in (b"n+1", b"ni1", b"n+2")
    )


def looks_like_raw_dicom(head: bytes) -> bool:
    """Heuristic for a DICOM dataset without the 128-byte preamble and 'DICM' (PS3.10 files stored raw).

    Checks that the first two data elements parse as ascending tags of plausible groups, with either an
    explicit VR or a plausible implicit length. The DICOM detector confirms with a real parse.
    """
    if len(head) < 16:
        return False
    for little in (True, False):
        fmt = "<HH" if little else ">HH"
        group, elem = struct.unpack_from(fmt, head, 0)
        if group not in _DICOM_START_GROUPS:
            continue
        vr = head[4:6]
        if vr.isalpha() and vr.isupper():
            return True
        length = struct.unpack_from("<I" if little else ">I", head, 4)[0]
        if length < 1024 and 8 + length + 4 <= len(head):
            g2, e2 = struct.unpack_from(fmt, head, 8 + length)
            if (g2, e2) > (group, elem) and g2 in _DICOM_START_GROUPS + (group,):
                return True
    return False


def is_image(media_type: str | None) -> bool:
    return bool(media_type) and media_type.startswith("image/")  # type: ignore[union-attr]


def is_binary_file(media_type: str | None) -> bool:
    """Whether a sniffed type names a real file format (not the octet-stream fallback)."""
    return bool(media_type) and media_type != OCTET
