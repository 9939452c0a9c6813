"""Raster images (phiwall.deid.raster): same format out, metadata gone, PHI text painted, registered sizes kept."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from phiwall import ocr
from phiwall.deid.options import CannotDeidentify
from phiwall.deid.options import ImageDeidOptions
from phiwall.deid.raster import deidentify_image
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.unit.deid.helpers import image_bytes
from tests.unit.deid.helpers import keys

needs_ocr = pytest.mark.skipif(not ocr.available(), reason="tesseract is not installed (apt-get install tesseract-ocr)")
NO_OCR = ImageDeidOptions(paint_text=False)
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>Margaret Okafor</dc:creator></x:xmpmeta>'


def exif(**extra: object) -> bytes:
    e = Image.Exif()
    e[0x013B] = "Margaret Okafor"  # Artist
    e[0x010E] = "scan of Margaret Okafor"  # ImageDescription
    for k, v in extra.items():
        e[int(k[1:], 16)] = v
    return e.tobytes()


@pytest.mark.parametrize(
    "fmt,save",
    [
        ("PNG", {"exif": exif()}),
        ("JPEG", {"exif": exif(), "comment": b"Margaret Okafor", "xmp": XMP}),
        ("WEBP", {"exif": exif(), "xmp": XMP, "lossless": True}),
        ("WEBP", {"exif": exif(), "quality": 80}),
    ],
)
def test_metadata_is_removed_without_touching_pixels(fmt: str, save: dict[str, object]) -> None:
    if fmt == "PNG":
        info = PngInfo()
        info.add_text("Author", "Margaret Okafor")
        info.add_itxt("Description", "Margaret Okafor, MRN 4471923")
        save = {**save, "pnginfo": info}
    data = image_bytes(fmt, text=None, **save)
    res = deidentify_image(data, ImageDeidOptions(), keys())
    assert b"Okafor" not in res.data and b"4471923" not in res.data
    out = Image.open(io.BytesIO(res.data))
    assert out.format == fmt and len(out.getexif()) == 0
    assert res.summary["reencoded"] == 0 and "exif" in res.summary["metadata_removed"]  # type: ignore[operator]
    assert np.array_equal(np.asarray(out.convert("RGB")), np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


def test_orientation_is_kept_as_a_minimal_exif() -> None:
    data = image_bytes("JPEG", text=None, exif=exif(x0112=6))
    out = Image.open(io.BytesIO(deidentify_image(data, NO_OCR, keys()).data))
    assert dict(out.getexif()) == {0x0112: 6}


def test_heic_is_re_encoded_without_metadata() -> None:
    pytest.importorskip("pillow_heif")
    data = image_bytes("HEIF", text=None, exif=exif())
    res = deidentify_image(data, NO_OCR, keys())
    out = Image.open(io.BytesIO(res.data))
    assert out.format == "HEIF" and res.media_type == "image/heic" and b"Okafor" not in res.data


@needs_ocr
@pytest.mark.ocr
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_phi_text_is_painted(fmt: str) -> None:
    data = image_bytes(fmt, text="Patient: Margaret Okafor")
    res = deidentify_image(data, ImageDeidOptions(), keys())
    assert res.summary["regions_painted"] and res.summary["reencoded"] == 1
    out = Image.open(io.BytesIO(res.data))
    assert out.format == fmt and out.size == (640, 400)
    words = " ".join(w.text for w in ocr.ocr_words(out)).lower()
    assert "okafor" not in words and "margaret" not in words
    before, after = np.asarray(Image.open(io.BytesIO(data)).convert("L")), np.asarray(out.convert("L"))
    assert np.abs(before[200:].astype(int) - after[200:].astype(int)).max() <= (0 if fmt == "PNG" else 40)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_keep_length(fmt: str) -> None:
    data = image_bytes(fmt, text=None, exif=exif())
    res = deidentify_image(data, NO_OCR, keys(), keep_length=len(data))
    assert len(res.data) == len(data) and b"Okafor" not in res.data
    out = Image.open(io.BytesIO(res.data))
    out.load()
    assert out.format == fmt
    with pytest.raises(CannotDeidentify) as e:
        deidentify_image(data, NO_OCR, keys(), keep_length=len(data) // 2)
    assert e.value.code == "size_registered"


def test_unsupported_and_broken_images_are_refused() -> None:
    gif = io.BytesIO()
    Image.new("P", (20, 20)).save(gif, "GIF")
    for data, code in ((gif.getvalue(), "unsupported_format"), (b"\x89PNG\r\n\x1a\n broken", "unparseable")):
        with pytest.raises(CannotDeidentify) as e:
            deidentify_image(data, NO_OCR, keys())
        assert e.value.code == code


HOPPER = (
    Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "nonmedical_images" / "pillow" / "hopper.png"
)


@pytest.mark.skipif(not HOPPER.is_file(), reason=f"shared corpus not found at {HOPPER.parent}")
def test_faces_are_painted_only_when_asked() -> None:
    data = HOPPER.read_bytes()  # a portrait (evaluation only, never tuned on)
    assert deidentify_image(data, NO_OCR, keys()).summary["regions_painted"] == 0
    res = deidentify_image(data, ImageDeidOptions(paint_text=False, paint_faces=True), keys())
    assert res.summary["regions_painted"] == 1
    before = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    after = np.asarray(Image.open(io.BytesIO(res.data)).convert("L"))
    h, w = before.shape
    assert (after[h // 3 : h // 2, w // 3 : w * 2 // 3] == 0).all()  # the middle of the face is black
