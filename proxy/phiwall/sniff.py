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

# Groups a preamble-less DICOM dataset typically begins with: File Meta, DICOMDIR, identification, patient...
_DICOM_START_GROUPS = (0x0002, 0x0004, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028)
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ UC UN UR UT SV UV".split())


_CONTAINER_MAGICS = (b"PK\x03\x04", b"\x1f\x8b", b"%PDF-")


def sniff(data: bytes) -> str:
    """Return the media type the bytes really are, or application/octet-stream."""
    head = data[:512]
    if len(head) >= 132 and head[128:132] == b"DICM":
        return DICOM
    # A cut or shifted preamble, unless the bytes open with a container's own magic: a stored ZIP whose first
    # member is a DICOM has that member's DICM near byte 128, and read as one DICOM its other members went unseen.
    if not data.startswith(_CONTAINER_MAGICS) and dicm_offset(data) is not None:
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


# Where a PS3.10 file's 'DICM' may sit once its preamble was cut (0), shortened, or pushed by bytes in front (256).
_MAX_DICM_OFFSET = 256


def dicm_offset(data: bytes) -> int | None:
    """The offset of a 'DICM' prefix that a File Meta element follows, when the 128-byte preamble was cut,
    shortened or shifted (the magic kept). 'DICM' alone could be text: the File Meta group (0002,xxxx) in Explicit
    VR Little Endian, which PS3.10 requires, must follow it. None when there is none in the first bytes."""
    at = data.find(b"DICM", 0, _MAX_DICM_OFFSET + 4)
    while at != -1:
        meta = data[at + 4 : at + 12]
        if len(meta) >= 6 and meta[:2] == b"\x02\x00" and meta[4:6] in _VRS:
            return at
        if len(meta) < 6 and at + 4 == len(data) and at > 0 and not data[:at].strip(b"\0"):
            return at  # cut right after the magic, behind a zero preamble
        at = data.find(b"DICM", at + 1, _MAX_DICM_OFFSET + 4)
    return None


def with_standard_preamble(data: bytes) -> bytes:
    """The bytes as a PS3.10 file again (128-byte preamble, then 'DICM') when the preamble was cut, shortened or
    shifted, so pydicom reads them; other bytes unchanged."""
    at = dicm_offset(data)
    if at is None or at == 128:
        return data
    return b"\0" * 128 + data[at:]


def _looks_like_bmp(head: bytes) -> bool:
    if len(head) < 26:
        return False
    size = struct.unpack_from("<I", head, 2)[0]
    dib = struct.unpack_from("<I", head, 14)[0]
    return dib in (12, 40, 52, 56, 64, 108, 124) and size >= 26


def _looks_like_nifti(head: bytes) -> bool:
    if len(head) < 348:
        return False
    # NIfTI-2 (540-byte header, either byte order) has its magic right after sizeof_hdr, at byte 4, not 344.
    if head[:4] in (b"\x1c\x02\x00\x00", b"\x00\x00\x02\x1c") and head[4:8] in (b"n+2\x00", b"ni2\x00"):
        return True
    return head[344:348] in (b"n+1\x00", b"ni1\x00", b"n+2\x00") or (
        struct.unpack_from("<i", head, 0)[0] in (348, 540) and head[344:347] in (b"n+1", b"ni1", b"n+2")
    )


def looks_like_raw_dicom(head: bytes) -> bool:
    """Heuristic for a DICOM dataset without the 128-byte preamble and 'DICM' (PS3.10 files stored raw).

    Walks the first three data elements in each encoding (explicit/implicit VR, little/big endian) and accepts
    when they parse as ascending tags of even groups with real VRs and sane lengths. The DICOM detector confirms
    with a real parse.
    """
    if len(head) < 16:
        return False
    for little in (True, False):
        e = "<" if little else ">"
        group = struct.unpack_from(f"{e}H", head, 0)[0]
        if group not in _DICOM_START_GROUPS:
            continue
        for explicit in (True, False):
            if _walk_elements(head, e, explicit):
                return True
    return False


def _walk_elements(head: bytes, e: str, explicit: bool, count: int = 3) -> bool:
    pos = 0
    last = (-1, -1)
    for n in range(count):
        if pos + 8 > len(head):
            return n >= 1  # ran out of sniffed bytes after at least one good element
        group, elem = struct.unpack_from(f"{e}HH", head, pos)
        if (group, elem) <= last or group % 2 or group > 0x7FE0:
            return False
        last = (group, elem)
        if explicit:
            vr = head[pos + 4 : pos + 6]
            if vr not in _VRS:
                return False
            if vr in _LONG_VRS:
                if pos + 12 > len(head):
                    return n >= 1
                length = struct.unpack_from(f"{e}I", head, pos + 8)[0]
                pos += 12
            else:
                length = struct.unpack_from(f"{e}H", head, pos + 6)[0]
                pos += 8
        else:
            length = struct.unpack_from(f"{e}I", head, pos + 4)[0]
            pos += 8
        if length == 0xFFFFFFFF:
            return n >= 1  # undefined length (a sequence): enough evidence
        if length > 1 << 20:
            return False
        pos += length
    return True


def is_image(media_type: str | None) -> bool:
    return bool(media_type) and media_type.startswith("image/")  # type: ignore[union-attr]


def is_binary_file(media_type: str | None) -> bool:
    """Whether a sniffed type names a real file format (not the octet-stream fallback)."""
    return bool(media_type) and media_type != OCTET
