"""Clean Pixel Data (phiwall.deid.dicom_pixels): burned-in PHI painted frame by frame, every codec written back
readably, and every pixel outside the painted boxes kept. Real tesseract; skipped where it is not installed."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from phiwall import ocr
from phiwall.deid.dicom import deidentify_dicom
from phiwall.deid.options import DicomDeidOptions
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.uid import JPEG2000Lossless
from pydicom.uid import JPEGBaseline8Bit
from pydicom.uid import RLELossless

from tests.unit.deid.helpers import keys
from tests.unit.deid.helpers import make_ds
from tests.unit.deid.helpers import text_frame
from tests.unit.deid.helpers import to_bytes

pytestmark = [
    pytest.mark.ocr,
    pytest.mark.skipif(not ocr.available(), reason="tesseract is not installed (apt-get install tesseract-ocr)"),
]


def deid(ds: pydicom.Dataset) -> tuple[pydicom.Dataset, dict[str, object]]:
    res = deidentify_dicom(to_bytes(ds), DicomDeidOptions(), keys())
    return pydicom.dcmread(io.BytesIO(res.data)), res.summary


def test_burned_in_name_is_painted_and_the_rest_kept() -> None:
    frame = text_frame(512, 512)
    out, summary = deid(make_ds(pixels=frame))
    after = out.pixel_array
    assert summary["regions_painted"] and summary["frames_cleaned"] == 1
    text = frame == 255 * 16
    assert (after[text] == 0).all()  # every glyph pixel painted
    changed = after != frame
    assert (after[changed] == 0).all()  # blackout only, nothing else touched
    assert changed.sum() < 0.1 * frame.size
    assert changed[:100].sum() == changed.sum()  # only at the top, where the text was
    words = " ".join(w.text for w in ocr.ocr_words(Image.fromarray((after // 16).astype(np.uint8))))
    assert "OKAFOR" not in words.upper() and "MARGARET" not in words.upper()


def test_no_text_means_pixel_data_bytes_untouched() -> None:
    ds = make_ds(pixels=text_frame(256, 256, text=""))
    out, summary = deid(ds)
    assert summary["regions_painted"] == 0 and out.PixelData == ds.PixelData


def test_multi_frame_is_cleaned_frame_by_frame() -> None:
    frames = np.stack([text_frame(256, 256, text=""), text_frame(256, 256), text_frame(256, 256, text="")])
    ds = make_ds(pixels=frames[0])
    ds.NumberOfFrames = 3
    ds.PixelData = frames.tobytes()
    out, summary = deid(ds)
    after = out.pixel_array
    assert summary["frames"] == 3 and summary["frames_cleaned"] == 1
    assert (after[0] == frames[0]).all() and (after[2] == frames[2]).all() and (after[1] != frames[1]).any()


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_lossless_codecs_are_re_encoded(syntax: str) -> None:
    frame = text_frame(256, 256)
    ds = make_ds(pixels=frame)
    ds.compress(syntax, generate_instance_uid=False)
    out, summary = deid(ds)
    assert summary["regions_painted"] and out.file_meta.TransferSyntaxUID == syntax
    after = out.pixel_array
    changed = after != frame
    assert changed.any() and (after[changed] == 0).all()


def test_jpeg_baseline_without_encoder_becomes_explicit_little_endian() -> None:
    frame = (text_frame(256, 256) // 16).astype(np.uint8)
    ds = make_ds(pixels=frame)
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "JPEG", quality=95)
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.LossyImageCompression = "01"
    out, summary = deid(ds)
    assert summary["regions_painted"] and out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert out.pixel_array.shape == (256, 256) and out.LossyImageCompression == "01"


def test_rgb_frame() -> None:
    gray = (text_frame(256, 320) // 16).astype(np.uint8)
    rgb = np.stack([gray, gray, gray], axis=-1)
    ds = make_ds(pixels=gray)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.PixelData = rgb.tobytes()
    out, summary = deid(ds)
    after = out.pixel_array
    assert summary["regions_painted"] and after.shape == (256, 320, 3)
    changed = (after != rgb).any(axis=-1)
    assert changed.any() and (after[changed] == 0).all()


def test_long_cine_static_annotation_is_painted_in_every_frame() -> None:
    n = 70  # above MIN_CINE_FRAMES: the static-pixel shortcut, not 70 OCR runs
    base = text_frame(192, 320)
    frames = np.repeat(base[np.newaxis], n, axis=0)
    for i in range(n):  # moving "anatomy" below the annotation
        frames[i, 120:170, (i * 3) % 250 : (i * 3) % 250 + 60] = 1600
    ds = make_ds(pixels=frames[0])
    ds.NumberOfFrames = n
    ds.PixelData = frames.tobytes()
    out, summary = deid(ds)
    after = out.pixel_array
    text = base == 255 * 16
    assert summary["frames_cleaned"] == n and all((after[i][text] == 0).all() for i in range(n))
    assert (after[:, 100:] == frames[:, 100:]).all()  # the moving part is untouched
