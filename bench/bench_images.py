"""Image and document speed: OCR of a 1024x1024 image, a 20-page text PDF, and what skipping OCR saves.

Run: .venv/bin/python bench/bench_images.py [--runs 30]

Prints a table (median and p99 in ms, this machine). Rows:
- ocr_1024_annotated: OCR (ocr.ocr_words) of a 1024x1024 synthetic scan with three annotation lines.
- ocr_1024_document: OCR of a 1024x1024 page of dense text (20 lines), the worst case for tesseract.
- burned_in_1024: the whole burned_in_text detector on the annotated scan (decode + gate + OCR + text_phi).
- gate_photo: the detector on a photo without text: the ink-blob gate says no, OCR is skipped.
- pdf_20_pages_expand: containers.expand of a 20-page text PDF (text layer, no OCR).
- pdf_20_pages_pipeline: the full pipeline (expand + every detector) on that PDF.
- pipeline_dicom_scan_ocr_last / _ocr_skipped: a DICOM with burned-in text through the default policy, with OCR
  registered last (the dicom detector's DICOM_FILE block makes the pipeline stop before OCR) versus OCR forced
  to run first: the difference is what "skip OCR when the block is certain" saves.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "proxy"))
sys.path.insert(0, str(ROOT))


def _time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()  # warm (model loads, caches)
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    p99 = ts[min(len(ts) - 1, int(round(0.99 * (len(ts) - 1))))]
    return statistics.median(ts), p99


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()

    from phiwall import containers
    from phiwall import ocr
    from phiwall.detectors import REGISTRY
    from phiwall.detectors import build_detector
    from phiwall.detectors.burned_in_text import BurnedInTextDetector
    from phiwall.model import Locator
    from phiwall.model import Part
    from phiwall.model import PartKind
    from phiwall.pipeline import Pipeline
    from phiwall.policy import Policy
    from phiwall.policy import load_policy
    from phiwall.sniff import sniff

    from tests import factories as F

    def part(data: bytes) -> Part:
        return Part("p0", PartKind.FILE, Locator("body"), data=data, media_type=sniff(data))

    annotated = F.make_scan(
        [(24, 20, "DOE, JOHN  MRN 4417302"), (24, 60, "DOB: 03/14/1961"), (700, 980, "PORTABLE AP")],
        size=(1024, 1024),
    )
    document = F.make_scan(
        [(30, 30 + 48 * i, f"Line {i}: the quick brown fox jumps over the lazy dog {i * 7}") for i in range(20)],
        size=(1024, 1024), text_size=24, dark=False,
    )  # fmt: skip
    annotated_png = F.image_bytes(annotated)
    photo_jpg = F.image_bytes(F.make_photo((1024, 768)), "JPEG")
    pdf = F.make_text_pdf(
        [[f"Page {p} line {i}: follow-up visit, vitals stable, medication unchanged" for i in range(40)]
         for p in range(20)]
    )  # fmt: skip
    dicom_scan = F.make_dicom_scan([(10, 10, "TESTPATIENT ALICE"), (10, 40, "MRN-000123")])

    det = BurnedInTextDetector({})
    policy = Policy(load_policy(None))
    opts = policy.detector_options()
    ordered = {n: build_detector(n, opts[n]) for n in REGISTRY if n in opts}  # registry order: OCR last
    ocr_first = {"burned_in_text": ordered["burned_in_text"], **ordered}
    pipe = Pipeline(policy, ordered)
    pipe_ocr_first = Pipeline(policy, ocr_first)

    rows = [
        ("ocr_1024_annotated", lambda: ocr.ocr_words(annotated)),
        ("ocr_1024_document", lambda: ocr.ocr_words(document)),
        ("burned_in_1024", lambda: det.detect(part(annotated_png))),
        ("gate_photo (OCR skipped)", lambda: det.detect(part(photo_jpg))),
        ("pdf_20_pages_expand", lambda: containers.expand(part(pdf))),
        ("pdf_20_pages_pipeline", lambda: pipe.inspect_bytes(pdf, "r.pdf")),
        ("dicom_scan pipeline, OCR last (skipped)", lambda: pipe.inspect_bytes(dicom_scan, "x.dcm")),
        ("dicom_scan pipeline, OCR first (runs)", lambda: pipe_ocr_first.inspect_bytes(dicom_scan, "x.dcm")),
    ]
    print(f"OCR engine: {ocr.engine().name}; runs per row: {args.runs}")
    print(f"| {'case':42s} | median ms | p99 ms |")
    print(f"|{'-' * 44}|----------:|-------:|")
    results = {}
    for name, fn in rows:
        med, p99 = _time(fn, args.runs)
        results[name] = med
        print(f"| {name:42s} | {med:9.1f} | {p99:6.1f} |")
    saved = results["dicom_scan pipeline, OCR first (runs)"] - results["dicom_scan pipeline, OCR last (skipped)"]
    print(f"\nOCR skipped once the DICOM block is certain saves {saved:.0f} ms per DICOM (median).")
    gate = results["burned_in_1024"] - results["gate_photo (OCR skipped)"]
    print(f"The ink-blob gate saves about {gate:.0f} ms per text-free photo.")


if __name__ == "__main__":
    main()
