"""face: OpenCV cascades must find a portrait and stay quiet on synthetic medical-looking images."""

from __future__ import annotations

from pathlib import Path

import pytest
from phiwall.detectors.face import FaceDetector
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.sniff import sniff

from tests import factories as F

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus"


def _part(data: bytes) -> Part:
    return Part("p1", PartKind.FILE, Locator("body"), data=data, media_type=sniff(data))


@pytest.fixture(scope="module")
def det() -> FaceDetector:
    return FaceDetector({})


@pytest.mark.parametrize("make", [lambda: F.make_scan(), F.make_photo, lambda: F.make_scan(dark=False)])
def test_no_face_in_scans_and_landscapes(det: FaceDetector, make: object) -> None:
    assert det.detect(_part(F.image_bytes(make()))) == []  # type: ignore[operator]


@pytest.mark.corpus
@pytest.mark.skipif(not (CORPUS / "nonmedical_images/pillow/hopper.png").exists(), reason="shared corpus absent")
def test_portrait_has_a_face_with_box(det: FaceDetector) -> None:
    found = det.detect(_part((CORPUS / "nonmedical_images/pillow/hopper.png").read_bytes()))
    assert [f.entity for f in found] == ["FACE"]
    x, y, w, h = found[0].bbox  # type: ignore[misc]
    assert 20 < x < 60 and 10 < y < 40 and 40 < w < 80


@pytest.mark.corpus
@pytest.mark.skipif(not (CORPUS / "MANIFEST.csv").exists(), reason="shared corpus absent")
def test_no_face_on_corpus_xrays(det: FaceDetector) -> None:
    paths = (
        sorted((CORPUS / "medical_images").rglob("*x*ray*.png"))[:6]
        + sorted((CORPUS / "medical_images" / "nih_cxr14").glob("*.png"))[:4]
    )
    assert paths
    assert all(det.detect(_part(p.read_bytes())) == [] for p in paths)
