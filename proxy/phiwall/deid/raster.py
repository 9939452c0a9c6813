"""De-identification of raster images (PNG, JPEG, WebP, HEIC/HEIF): PHI text boxes and faces painted, identifying
metadata removed, same format out as in.

Why two paths: when nothing has to be painted, the metadata is removed from the container without decoding the
pixels (JPEG APPn/COM segments, PNG ancillary chunks, WebP RIFF chunks), so a photo is not recompressed and not one
pixel changes. When boxes are painted, the image is re-encoded in its own format (JPEG at `jpeg_quality`, lowered
step by step when a registered size has to be kept; PNG lossless; WebP lossless when the input was). HEIC is always
re-encoded (pillow-heif), without its EXIF/XMP.

What is kept: the pixels outside painted boxes, the orientation (a minimal EXIF with only the Orientation tag, or
the pixels rotated when re-encoding), standard colour profiles (sRGB, Display P3, Adobe RGB...; a profile whose
description is free text is dropped), PNG's colour and physical-size chunks, JFIF/Adobe markers.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any
from typing import Final

import numpy as np
from PIL import Image
from PIL import ImageOps

from phiwall.deid.options import CannotDeidentify
from phiwall.deid.options import DeidKeys
from phiwall.deid.options import DeidResult
from phiwall.deid.options import ImageDeidOptions
from phiwall.errors import DetectionError
from phiwall.errors import LimitError

FORMATS: Final = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "HEIF": "image/heic"}
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
# PNG ancillary chunks that carry no identity (colour, transparency, physical size, significant bits).
PNG_KEEP: Final = frozenset({b"PLTE", b"IDAT", b"IHDR", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT",
                             b"pHYs", b"bKGD", b"acTL", b"fcTL", b"fdAT", b"cICP", b"mDCv", b"cLLi"})  # fmt: skip
PNG_PAD_TYPE: Final = b"pwPd"  # ancillary, private, safe-to-copy: decoders skip it
JPEG_KEEP_APP: Final = frozenset({0xE0, 0xEE})  # APP0 JFIF, APP14 Adobe (colour transform)
ORIENTATION: Final = 0x0112
_JPEG_QUALITIES: Final = (95, 90, 85, 80, 75, 70, 60, 50)

Box = tuple[int, int, int, int]


def deidentify_image(
    data: bytes, opts: ImageDeidOptions, keys: DeidKeys, *, keep_length: int | None = None
) -> DeidResult:
    """Paint PHI text boxes (and faces, if asked) and strip identifying metadata; same format out as in.

    Raises:
        CannotDeidentify: not a supported format, animated, unreadable, too large, OCR unavailable, or the
            registered size (`keep_length`) cannot be kept.
    """
    del keys  # images have no identifiers to remap; the argument keeps one signature for every engine
    from phiwall.imaging.load import open_image

    try:
        img = open_image(data)
    except LimitError as exc:
        raise CannotDeidentify("too_large", str(exc)) from None
    except DetectionError:
        raise CannotDeidentify("unparseable", "the image could not be read; it was not forwarded") from None
    fmt = str(img.format or "")
    if fmt not in FORMATS:
        raise CannotDeidentify(
            "unsupported_format", f"{fmt or 'this'} images cannot be de-identified; convert to PNG or JPEG"
        )
    if getattr(img, "n_frames", 1) > 1:
        raise CannotDeidentify("unsupported_format", "animated images cannot be de-identified; send a still image")
    if opts.paint_text or opts.paint_faces or fmt == "HEIF" or not opts.strip_metadata:
        try:
            img.load()  # pixels are needed (OCR, faces, re-encoding); metadata-only removal does not decode them
        except Exception:
            raise CannotDeidentify("unparseable", "the image could not be decoded; it was not forwarded") from None
    if fmt == "WEBP":
        img.info["phiwall_webp_lossless"] = b"VP8L" in data[12:64]
    exif = img.getexif()
    orientation = int(exif.get(ORIENTATION, 1) or 1)
    icc = img.info.get("icc_profile")
    keep_icc = icc if (opts.keep_icc_profile and icc and _standard_icc(icc)) else None
    summary: dict[str, int | str | list[str]] = {"kind": "image", "format": fmt.lower()}
    removed = _metadata_kinds(img, icc is not None and keep_icc is None)
    summary["metadata_removed"] = removed

    needs_pixels = opts.paint_text or opts.paint_faces
    upright = ImageOps.exif_transpose(img) if orientation != 1 and (needs_pixels or fmt == "HEIF") else img
    boxes = _boxes(upright, opts) if needs_pixels else []
    summary["regions_painted"] = len(boxes)
    if not boxes and fmt != "HEIF" and opts.strip_metadata:
        out = strip_metadata(data, fmt, orientation, keep_icc)
        summary["reencoded"] = 0
    elif not boxes and not opts.strip_metadata:
        out = data
        summary["reencoded"] = 0
    else:
        painted = _paint(upright, boxes, opts) if boxes else upright
        out = _encode(painted, img, fmt, keep_icc, opts, keep_length)
        summary["reencoded"] = 1
    if keep_length is not None:
        out = pad_to_length(out, fmt, keep_length)
    return DeidResult(out, FORMATS[fmt], summary, changed=out != data)


# --- finding and painting ------------------------------------------------------------------------------------------


def _boxes(img: Image.Image, opts: ImageDeidOptions) -> list[Box]:
    from phiwall import ocr
    from phiwall.imaging.load import to_display_mode

    boxes: list[Box] = []
    view = to_display_mode(img)
    if opts.paint_text:
        if not ocr.available():
            raise CannotDeidentify("ocr_failed", "text in the image cannot be checked here (OCR is not installed)")
        from phiwall.deid.dicom_pixels import find_boxes

        try:
            boxes += find_boxes(view, [], opts)
        except (DetectionError, LimitError) as exc:
            raise CannotDeidentify("ocr_failed", f"text in the image could not be checked ({exc})") from None
    if opts.paint_faces:
        boxes += _faces(view)
    return boxes


def _faces(view: Image.Image) -> list[Box]:
    from phiwall.detectors.face import DETECT_SIDE
    from phiwall.detectors.face import FaceDetector

    scale = max(view.size) / DETECT_SIDE if max(view.size) > DETECT_SIDE else 1.0
    small = view.convert("L")
    if scale != 1.0:
        small = small.resize((max(1, round(view.width / scale)), max(1, round(view.height / scale))))
    out: list[Box] = []
    for (x, y, w, h), _score, _why in FaceDetector({}).faces(np.asarray(small)):
        m = 0.15  # hair line, chin and ears are identifying too
        out.append(
            (
                round((x - w * m) * scale),
                round((y - h * m) * scale),
                round(w * (1 + 2 * m) * scale),
                round(h * (1 + 2 * m) * scale),
            )
        )
    return out


def _paint(img: Image.Image, boxes: list[Box], opts: ImageDeidOptions) -> Image.Image:
    from phiwall.deid.dicom_pixels import paint

    mode = img.mode
    work = img.convert("RGBA" if ("A" in mode or "transparency" in img.info) else "RGB") if mode == "P" else img
    if work.mode not in ("L", "LA", "RGB", "RGBA", "I;16", "I"):
        work = work.convert("RGB")
    arr = np.array(work)
    fill: Any = 0
    if arr.ndim == 3 and arr.shape[2] == 4:
        fill = np.array([0, 0, 0, 255], dtype=arr.dtype)
    elif arr.ndim == 3 and arr.shape[2] == 2:
        fill = np.array([0, 255], dtype=arr.dtype)
    paint(arr, boxes, fill, opts.paint_method)
    out = Image.fromarray(arr, work.mode)
    return out


def _encode(
    img: Image.Image,
    original: Image.Image,
    fmt: str,
    icc: bytes | None,
    opts: ImageDeidOptions,
    keep_length: int | None,
) -> bytes:
    img = img.copy()
    img.info = {}  # writers (pillow-heif, WebP) copy EXIF/XMP from `info` when it is there
    params: dict[str, Any] = {}
    if icc:
        params["icc_profile"] = icc
    if fmt == "JPEG":
        if img.mode not in ("L", "RGB", "CMYK"):
            img = img.convert("RGB")
        sub = original.info.get("jfif_density")
        if sub:
            params["dpi"] = original.info.get("dpi", (72, 72))
        qualities = [q for q in _JPEG_QUALITIES if q <= opts.jpeg_quality] or [opts.jpeg_quality]
        out = b""
        for q in qualities:
            out = _save(img, "JPEG", quality=q, optimize=True, **params)
            if keep_length is None or len(out) <= keep_length - 4:
                break
        return out
    if fmt == "PNG":
        if "dpi" in original.info:
            params["dpi"] = original.info["dpi"]
        out = _save(img, "PNG", optimize=False, compress_level=6, **params)
        if keep_length is not None and len(out) > keep_length - 12:  # a registered size: squeeze before refusing
            out = _save(img, "PNG", optimize=True, compress_level=9, **params)
        return out
    if fmt == "WEBP":
        lossless = bool(original.info.get("phiwall_webp_lossless"))
        return _save(img, "WEBP", lossless=lossless, quality=100 if lossless else opts.jpeg_quality, **params)
    from phiwall.imaging.load import _register_heif

    _register_heif()
    if img.mode not in ("RGB", "RGBA", "L"):
        img = img.convert("RGB")
    return _save(img, "HEIF", quality=opts.jpeg_quality, **params)


def _save(img: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    try:
        img.save(buf, fmt, **params)
    except Exception as exc:
        why = type(exc).__name__
        raise CannotDeidentify("unwritable", f"the de-identified image could not be written ({why})") from None
    return buf.getvalue()


# --- metadata ------------------------------------------------------------------------------------------------------


def _standard_icc(icc: bytes) -> bool:
    from phiwall.detectors.image_metadata import _icc_description

    return _icc_description(icc) == ""


def _metadata_kinds(img: Image.Image, icc_dropped: bool) -> list[str]:
    """Kinds of metadata present that are removed (never their values)."""
    kinds: list[str] = []
    if len(img.getexif()):
        kinds.append("exif")
    if "xmp" in img.info or "XML:com.adobe.xmp" in img.info:
        kinds.append("xmp")
    if "comment" in img.info:
        kinds.append("comment")
    if any(isinstance(v, str) for k, v in img.info.items() if k not in ("xmp", "comment", "XML:com.adobe.xmp")):
        kinds.append("text")
    if "photoshop" in img.info or "iptc" in img.info:
        kinds.append("iptc")
    if icc_dropped:
        kinds.append("icc")
    return kinds


def _minimal_exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return bytes(exif.tobytes())


def strip_metadata(data: bytes, fmt: str, orientation: int, icc: bytes | None) -> bytes:
    """Remove identifying metadata without touching the coded pixels (see module docstring)."""
    if fmt == "JPEG":
        return _strip_jpeg(data, orientation, icc is not None)
    if fmt == "PNG":
        return _strip_png(data, orientation, icc is not None)
    if fmt == "WEBP":
        return _strip_webp(data, icc is not None)
    raise CannotDeidentify("unsupported_format", f"{fmt} metadata cannot be removed without re-encoding")


def _strip_jpeg(data: bytes, orientation: int, keep_icc: bool) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise CannotDeidentify("unparseable", "the JPEG file is damaged")
    first: list[bytes] = []  # APP0 JFIF must stay the first segment
    rest: list[bytes] = []
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise CannotDeidentify("unparseable", "the JPEG file is damaged")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan: the rest is coded data
            exif = [] if orientation == 1 else [_jpeg_segment(0xE1, b"Exif\x00\x00" + _minimal_exif(orientation))]
            return b"\xff\xd8" + b"".join(first + exif + rest) + data[pos:]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        seg = data[pos : pos + 2 + length]
        if marker == 0xE0:
            first.append(seg)
        elif marker in JPEG_KEEP_APP or not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            rest.append(seg)
        elif marker == 0xE2 and keep_icc and seg[4:16] == b"ICC_PROFILE\x00":
            rest.append(seg)
        pos += 2 + length
    raise CannotDeidentify("unparseable", "the JPEG file is truncated")


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(PNG_SIGNATURE):
        raise CannotDeidentify("unparseable", "the PNG file is damaged")
    pos = len(PNG_SIGNATURE)
    chunks: list[tuple[bytes, bytes]] = []
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        chunks.append((ctype, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
        if ctype == b"IEND":
            return chunks
    raise CannotDeidentify("unparseable", "the PNG file is truncated")


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def _strip_png(data: bytes, orientation: int, keep_icc: bool) -> bytes:
    out = bytearray(PNG_SIGNATURE)
    exif_written = False
    for ctype, body in _png_chunks(data):
        keep = ctype in PNG_KEEP or (ctype == b"iCCP" and keep_icc)
        if ctype == b"IDAT" and orientation != 1 and not exif_written:
            out += _png_chunk(b"eXIf", _minimal_exif(orientation))
            exif_written = True
        if keep:
            out += _png_chunk(ctype, body)
    return bytes(out)


def _strip_webp(data: bytes, keep_icc: bool) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise CannotDeidentify("unparseable", "the WebP file is damaged")
    pos = 12
    chunks: list[tuple[bytes, bytes]] = []
    while pos + 8 <= len(data):
        ctype = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        chunks.append((ctype, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    body = bytearray(b"WEBP")
    for ctype, payload in chunks:
        if ctype in (b"EXIF", b"XMP ") or (ctype == b"ICCP" and not keep_icc):
            continue
        if ctype == b"VP8X":
            flags = payload[0] & ~0x08 & ~0x04  # clear EXIF and XMP flags
            if not keep_icc:
                flags &= ~0x20
            payload = bytes([flags]) + payload[1:]
        body += ctype + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + bytes(body)


# --- registered sizes ----------------------------------------------------------------------------------------------


def pad_to_length(out: bytes, fmt: str, keep_length: int) -> bytes:
    """Make `out` exactly `keep_length` bytes with a chunk/segment every decoder skips.

    PNG: a private ancillary chunk before IEND (12 bytes of overhead); JPEG: COM segments after SOI (4 bytes each,
    up to 65533 bytes of filler per segment) — the filler is zeros, never data; WebP: an unknown RIFF chunk.

    Raises:
        CannotDeidentify: the de-identified image is already larger, or the difference is too small to hold the
            smallest filler, or the format has no filler (HEIC).
    """
    diff = keep_length - len(out)
    if diff == 0:
        return out
    if diff < 0:
        raise CannotDeidentify("size_registered", _SIZE_MESSAGE)
    if fmt == "PNG" and diff >= 12:
        iend = out.rindex(b"IEND") - 4
        return out[:iend] + _png_chunk(PNG_PAD_TYPE, b"\x00" * (diff - 12)) + out[iend:]
    if fmt == "JPEG" and diff >= 4:
        segs = bytearray()
        left = diff
        while left:
            take = min(left, 65537)
            if left - take and left - take < 4:  # do not leave a remainder too small for a segment
                take = left - 4
            segs += _jpeg_segment(0xFE, b"\x00" * (take - 4))
            left -= take
        return out[:2] + bytes(segs) + out[2:]
    if fmt == "WEBP" and diff >= 8 and diff % 2 == 0:
        chunk = b"PWPD" + struct.pack("<I", diff - 8) + b"\x00" * (diff - 8)
        body = out[8:] + chunk
        return b"RIFF" + struct.pack("<I", len(body)) + body
    raise CannotDeidentify("size_registered", _SIZE_MESSAGE)


_SIZE_MESSAGE: Final = (
    "this upload's size was registered with the service before its bytes, and the de-identified image cannot keep "
    "that size; upload a de-identified copy instead (phiwall deid)"
)
