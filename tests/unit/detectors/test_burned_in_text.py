"""burned_in_text: real tesseract on synthetic scans and DICOMs with text drawn into the pixels."""

from __future__ import annotations

import pytest
from phiwall import ocr
from phiwall.detectors.burned_in_text import BurnedInTextDetector
from phiwall.detectors.burned_in_text import text_blob_count
from phiwall.detectors.burned_in_text import value_variants
from phiwall.errors import LimitError
from phiwall.errors import PolicyError
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.sniff import sniff

from tests import factories as F

pytestmark = pytest.mark.skipif(not ocr.available(), reason="tesseract missing: apt-get install tesseract-ocr")


def _part(data: bytes) -> Part:
    return Part("p1", PartKind.FILE, Locator("body"), data=data, media_type=sniff(data))


@pytest.fixture(scope="module")
def det() -> BurnedInTextDetector:
    return BurnedInTextDetector({})


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int], slack: int = 12) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[0] + inner[2] <= outer[0] + outer[2] + slack
        and inner[1] + inner[3] <= outer[1] + outer[3] + slack
    )


@pytest.mark.ocr
def test_ocr_reads_light_and_dark_text_with_boxes() -> None:
    img = F.make_scan([(40, 30, "PORTABLE CHEST"), (600, 970, "SEMI UPRIGHT")])
    words = {w.text: w.box for w in ocr.ocr_words(img)}
    assert "PORTABLE" in words and "UPRIGHT" in words
    assert words["PORTABLE"][1] < 80 and words["UPRIGHT"][1] > 940  # boxes in the image's own coordinates


@pytest.mark.ocr
def test_scan_with_name_mrn_dob_gives_entities_with_boxes(det: BurnedInTextDetector) -> None:
    data = F.image_bytes(F.make_scan([(24, 20, "DOE, JOHN  MRN 4417302"), (24, 60, "DOB: 03/14/1961")]))
    found = det.detect(_part(data))
    ents = {f.entity: f for f in found}
    assert {"BURNED_IN:PERSON", "BURNED_IN:MRN", "BURNED_IN:DATE_OF_BIRTH", "BURNED_IN_TEXT"} <= set(ents)
    assert all(f.bbox is not None for f in found)
    assert _inside(ents["BURNED_IN:DATE_OF_BIRTH"].bbox, (24, 60, 330, 40))  # type: ignore[arg-type]
    assert all("4417302" not in f.explanation and "JOHN" not in f.explanation for f in found)


@pytest.mark.ocr
def test_boxes_scale_back_to_original_pixels(det: BurnedInTextDetector) -> None:
    big = F.make_scan([(100, 3200, "DOB: 03/14/1961  SEX: F")], size=(3000, 3400), text_size=70)
    f = next(f for f in det.detect(_part(F.image_bytes(big))) if f.entity == "BURNED_IN_TEXT")
    assert f.bbox is not None and f.bbox[1] > 3100 and f.bbox[0] < 200


@pytest.mark.ocr
def test_dicom_header_deny_list_matches_burned_in_name(det: BurnedInTextDetector) -> None:
    data = F.make_dicom_scan(
        [(10, 10, "QUIXWELL ZANDER"), (10, 44, "ID ZX-99812")], patient_name="Quixwell^Zander", patient_id="ZX-99812"
    )
    found = det.detect(_part(data))
    hits = [f for f in found if f.explanation.startswith("OCR words equal")]
    assert {f.entity for f in hits} >= {"BURNED_IN:PERSON", "BURNED_IN:MRN"}
    assert all(f.digest for f in hits)


@pytest.mark.ocr
def test_photo_without_text_is_not_ocred(det: BurnedInTextDetector) -> None:
    img = F.make_photo()
    assert text_blob_count(img) < 12
    assert det.detect(_part(F.image_bytes(img, "JPEG"))) == []


@pytest.mark.ocr
def test_invoice_has_text_but_no_phi(det: BurnedInTextDetector) -> None:
    img = F.make_scan([(40, 40, "INVOICE"), (40, 100, "Office chairs x4  $480.00"), (40, 150, "Total  $540.00")],
                      dark=False, size=(1000, 700))  # fmt: skip
    ents = {f.entity for f in det.detect(_part(F.image_bytes(img)))}
    assert ents == {"BURNED_IN_TEXT"}


def test_pixel_bomb_is_a_limit_error(det: BurnedInTextDetector) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")
    with pytest.raises(LimitError, match="pixel"):
        det.detect(_part(png))


@pytest.mark.parametrize(
    ("entity", "value", "expected"),
    [
        ("DATE_OF_BIRTH", "19610314", ["03", "14", "1961"]),
        ("PERSON", "Doe^John", ["doe", "john"]),
        ("MRN", "AB", None),
    ],
)
def test_value_variants(entity: str, value: str, expected: list[str] | None) -> None:
    variants = value_variants(entity, value)
    if expected is None:
        assert variants == []
    else:
        assert expected in variants


def test_unknown_option_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="unknown option"):
        BurnedInTextDetector({"ocr_imgs": "always"})
