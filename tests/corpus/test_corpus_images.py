"""Training-set-level sanity of the shipped medical-image model on the (dev) corpus.

These are not the quality numbers (those are cross-validated in bench/quality_images.py and docs/quality.md):
the shipped model was trained on these files, so this only catches a broken export, a feature change without a
retrain, or a loader regression. The bar for the negatives is not 1.0 on purpose: the head is strongly
regularised and its operating point keeps every medical item in CV, so a borderline corpus picture may stay above
it even in-sample (mi-4: see docs/model-card-medical-image.md).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from phiwall.detectors.medical_image import MedicalImageDetector

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not (CORPUS / "MANIFEST.csv").exists(), reason=f"corpus not found at {CORPUS}"),
]


def _rows() -> list[dict[str, str]]:
    with open(CORPUS / "MANIFEST.csv", newline="", encoding="utf-8") as fh:
        return [
            r
            for r in csv.DictReader(fh)
            if r["category"] in ("medical_image", "nonmedical_image")
            and not r["ambiguous"].lower().startswith("yes")
            and (CORPUS / r["path"]).exists()
        ]


def test_shipped_model_fits_training_corpus() -> None:
    det = MedicalImageDetector()
    pos = neg = tp = tn = 0
    for row in _rows():
        score, _ = det.score_bytes((CORPUS / row["path"]).read_bytes())
        if row["category"] == "medical_image":
            pos += 1
            tp += score >= det.threshold
        else:
            neg += 1
            tn += score < det.threshold
    assert pos > 0 and neg > 0
    assert tp / pos >= 0.95, f"recall {tp}/{pos}"
    assert tn / neg >= 0.85, f"specificity {tn}/{neg}"
