"""image_metadata: EXIF GPS/owner, PNG text chunks, and no findings on clean photos."""

from __future__ import annotations

import pytest
from phiwall.detectors.image_metadata import ImageMetadataDetector
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.sniff import sniff

from tests import factories as F


def _part(data: bytes) -> Part:
    return Part("p1", PartKind.FILE, Locator("body"), data=data, media_type=sniff(data))


@pytest.fixture(scope="module")
def det() -> ImageMetadataDetector:
    return ImageMetadataDetector({})


def test_exif_gps_and_owner(det: ImageMetadataDetector) -> None:
    ents = {f.entity for f in det.detect(_part(F.make_exif_jpeg(gps=True, owner="Jane Q Example")))}
    assert ents == {"IMAGE_METADATA:GPS", "IMAGE_METADATA:PERSON"}


def test_clean_photo_has_no_findings(det: ImageMetadataDetector) -> None:
    assert det.detect(_part(F.make_exif_jpeg(gps=False, owner=None))) == []


@pytest.mark.parametrize(("compressed", "itxt"), [(False, False), (True, False), (True, True)])
def test_png_text_chunks(det: ImageMetadataDetector, compressed: bool, itxt: bool) -> None:
    data = F.make_png_with_text({"Comment": "Patient MRN: 4417302, DOB 03/14/1961"}, compressed=compressed, itxt=itxt)
    found = det.detect(_part(data))
    assert {"IMAGE_METADATA:MRN", "IMAGE_METADATA:DATE_OF_BIRTH"} <= {f.entity for f in found}
    assert all("4417302" not in f.explanation for f in found)


def test_software_chunks_are_ignored(det: ImageMetadataDetector) -> None:
    data = F.make_png_with_text({"Software": "Adobe Photoshop 2024", "date:create": "2024-01-02T03:04:05"})
    assert det.detect(_part(data)) == []
