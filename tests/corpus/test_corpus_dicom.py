"""The dicom detector on the shared DICOM corpus (../shared/corpus/dicom): every file recognised, and the header
attributes the corpus annotates as PHI-bearing all reported.

Nothing from the corpus is copied into the repository: paths come from MANIFEST.csv at run time, and assertion
messages name files and attribute keywords only, never values.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from phiwall.detectors.dicom import DicomDetector
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.sniff import DICOM
from phiwall.sniff import sniff

pytestmark = pytest.mark.corpus

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
SUMMARY = "dicom/dicom_header_summary.json"
_EMPTY_CHARS = " ^=\\\x00"  # the detector treats a value of only these as empty (e.g. a PN of "^^^^")


def _manifest_rows() -> list[dict[str, str]]:
    manifest = CORPUS / "MANIFEST.csv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["path"].startswith("dicom/") and r["category"] == "dicom"]


ROWS = _manifest_rows()
skip_without_corpus = pytest.mark.skipif(
    not ROWS, reason=f"shared corpus not found at {CORPUS} (expected <repo>/../shared/corpus with MANIFEST.csv)"
)


def _carries_value(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(_carries_value(v) for v in value)
    return str(value).strip(_EMPTY_CHARS) != ""


@pytest.fixture(scope="module")
def detector() -> DicomDetector:
    return DicomDetector({})


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    path = CORPUS / SUMMARY
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)  # type: ignore[no-any-return]


def _findings(detector: DicomDetector, rel: str) -> tuple[str, list[Any]]:
    data = (CORPUS / rel).read_bytes()
    media = sniff(data)
    part = Part(id="c1", kind=PartKind.FILE, locator=Locator("body"), data=data, media_type=media)
    return media, detector.detect(part)


@skip_without_corpus
@pytest.mark.parametrize("rel", [r["path"] for r in ROWS] or ["<no corpus>"])
def test_corpus_dicom_recognised(detector: DicomDetector, rel: str) -> None:
    media, findings = _findings(detector, rel)
    assert media == DICOM, f"{rel}: sniffed as {media}"
    files = [f for f in findings if f.entity == "DICOM_FILE"]
    assert len(files) == 1, f"{rel}: no DICOM_FILE finding"
    assert "unparseable" not in files[0].explanation, f"{rel}: header could not be parsed"


@skip_without_corpus
def test_corpus_header_phi_reported(detector: DicomDetector, summary: dict[str, Any]) -> None:
    """Every PHI-bearing element the corpus summary lists with a non-empty value has a DICOM_TAG finding."""
    if not summary:
        pytest.skip(f"{SUMMARY} not found in the corpus")
    mismatches: list[str] = []
    checked = 0
    for row in ROWS:
        rel = row["path"]
        entry = summary.get(rel)
        if entry is None:
            continue
        expected = {k for k, v in (entry.get("phi_header_values") or {}).items() if _carries_value(v)}
        _media, findings = _findings(detector, rel)
        reported = {f.tag for f in findings if f.entity.startswith("DICOM_TAG:")}
        missing = sorted(expected - reported)
        if missing:
            mismatches.append(f"{rel}: not reported {missing}")
        if entry.get("has_private_tags") and not any(f.entity == "DICOM_PRIVATE_TAGS" for f in findings):
            mismatches.append(f"{rel}: private tags not reported")
        burned = str(entry.get("burned_in_annotation_tag") or "").upper() == "YES"
        if burned != any(f.entity == "DICOM_BURNED_IN_ANNOTATION" for f in findings):
            mismatches.append(f"{rel}: BurnedInAnnotation finding does not match the header")
        checked += 1
    assert checked, "no corpus file has a header summary entry"
    assert not mismatches, "\n".join(mismatches)
