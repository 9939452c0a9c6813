"""DICOM (and burned-in image) de-identification quality on the shared corpus, written to docs/quality.md.

Run: .venv/bin/python bench/quality_deid.py [--write]

What is scored, per DICOM in ../shared/corpus/dicom, after `phiwall deid` (the real CLI, default options):

- removal: every value listed for the file in dicom/dicom_header_summary.json (names, IDs, dates, times,
  institution, station, serial numbers...) is searched case-insensitively in the whole output file. Values of 4+
  characters are searched as bytes anywhere; shorter ones (a sex "M", an age "045Y" is 4) are searched as whole
  element values of the output data set, because 1-3 bytes occur by chance in any pixel data. Score: values not
  found / values listed.
- validity: the output reads with pydicom, its pixels decode, and dciodvfy (dicom3tools) reports no error the
  input did not already have (messages compared with values and UIDs masked).
- retention, as MIDI-B scores it: Modality, Rows, Columns, PixelSpacing, BitsStored and PhotometricInterpretation
  survive (a YBR photometric may become RGB/YBR_RCT when painted pixels were re-encoded: counted as kept), the
  study/series structure survives (files that shared a Study/Series UID still share one, files that did not still
  do not), and pixels outside painted regions are unchanged (every changed pixel holds the paint value).
- burned-in text: OCR of each ground-truth box of the presidio items (0_ORIGINAL_j2k.dcm and the PNG renderings
  of items 0-3, boxes offset by presidio's 25 px padding) finds none of the box's text after de-identification.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "proxy"))
CORPUS = ROOT.parent / "shared" / "corpus"
SUMMARY = CORPUS / "dicom" / "dicom_header_summary.json"
GT = CORPUS / "dicom" / "presidio" / "ground_truth_burned_in.json"
PADDING = 25
GT_ITEMS = {
    "sample_data/0_ORIGINAL.dcm": ["dicom/presidio/0_ORIGINAL_j2k.dcm", "medical_images/presidio/0_ORIGINAL.png"],
    "sample_data/1_ORIGINAL.dcm": ["medical_images/presidio/1_ORIGINAL.png"],
    "sample_data/2_ORIGINAL.dcm": ["medical_images/presidio/2_ORIGINAL.png"],
    "sample_data/3_ORIGINAL.dcm": ["medical_images/presidio/3_ORIGINAL.png"],
}
RETAINED = ("Modality", "Rows", "Columns", "PixelSpacing", "BitsStored", "PhotometricInterpretation")
_TEXT_VRS = {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UT", "IS", "DS"}
_FREE_TEXT = {"LO", "LT", "PN", "SH", "ST", "UC", "UT"}
_YBR_LIKE = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"}


def run_deid(inputs: list[Path], out: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """The real `phiwall deid` (a subprocess), with its own PHIWALL_HOME (installation secret)."""
    env = dict(os.environ, PHIWALL_HOME=str(home))
    cmd = [sys.executable, "-m", "phiwall.cli", "deid", "--json", "--no-progress", *map(str, inputs), "-o", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)


def output_path(out: Path, rel: str) -> Path:
    """Where `phiwall deid CORPUS/dicom -o out` writes corpus file `rel` ("dicom/x/y.dcm")."""
    return out / rel


def _made_here(data: bytes, original: bytes) -> list[bytes]:
    """The values phiwall made (new UIDs, the pseudonymous PatientID): keyed digests of a per-installation secret,
    so a listed value that happens to be a substring of one ("67060" inside a 39-digit UID, about once in a few
    hundred runs) is a coincidence, not a leak. Values kept from the original are never excused."""
    import pydicom

    def values(ds: Any) -> set[str]:
        out = set()
        for e in ds.iterall():
            if e.VR == "UI" or e.keyword == "PatientID":
                out.update(str(v).strip() for v in (e.value if e.VM > 1 else [e.value]) if v)
        meta = getattr(ds, "file_meta", None)
        for e in meta or ():
            if e.VR == "UI" and e.value:
                out.add(str(e.value).strip())
        return out

    before = values(pydicom.dcmread(io.BytesIO(original), force=True))
    after = values(pydicom.dcmread(io.BytesIO(data), force=True))
    return sorted((v.lower().encode("ascii", "replace") for v in after - before), key=len, reverse=True)


def leftover_values(rel: str, data: bytes, summary: dict[str, Any], original: bytes | None = None) -> list[str]:
    """Keywords (never values) of header values of `rel` still present in the de-identified bytes. With the
    `original` file, the values phiwall made itself are masked first (see `_made_here`)."""
    import pydicom

    low = data.lower()
    if original is not None:
        for made in _made_here(data, original):
            low = low.replace(made, b"#" * len(made))
    short: dict[str, str] = {}
    left: list[str] = []
    for kw, value in summary[rel]["phi_header_values"].items():
        v = str(value).strip()
        if not v:
            continue
        if len(v) >= 4:
            if v.lower().encode("utf-8", "replace") in low:
                left.append(kw)
        else:
            short[kw] = v.lower()
    if short:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        elems = [e for e in ds.iterall() if e.VR in _TEXT_VRS]
        for kw, v in short.items():  # the same attribute, or any free-text element, still holding the value
            if any(str(e.value).strip().lower() == v and (e.keyword == kw or e.VR in _FREE_TEXT) for e in elems):
                left.append(kw)
    return left


def dciodvfy_errors(path: Path) -> set[str] | None:
    """dciodvfy's error lines with values and UIDs masked; None when dicom3tools is not installed."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        return None
    r = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=120)
    out: set[str] = set()
    for line in (r.stdout + r.stderr).splitlines():
        if line.startswith("Error"):
            line = re.sub(r"\s*\[\d+\] = <.*", "", line)
            line = re.sub(r"<[^>]*>", "<>", line)
            out.add(re.sub(r"\b\d+(\.\d+)*\b", "N", line).strip())
    return out


def retention(orig: Any, new: Any) -> dict[str, bool]:
    """Per retained attribute: whether it survived (equal, or an equivalent colour space after re-encoding)."""
    out: dict[str, bool] = {}
    for kw in RETAINED:
        a, b = orig.get(kw), new.get(kw)
        if a is None:
            continue
        if kw == "PhotometricInterpretation" and str(a) in _YBR_LIKE and str(b) in _YBR_LIKE:
            out[kw] = True
        elif kw == "PixelSpacing":
            out[kw] = b is not None and [float(x) for x in a] == [float(x) for x in b]
        else:
            out[kw] = a == b
    return out


def pixels_outside_kept(orig: Any, new: Any) -> bool | None:
    """Every pixel that changed holds a paint value (frame min/max, or 0 in colour); None without pixels."""
    import numpy as np

    if "PixelData" not in orig:
        return None
    a, b = np.asarray(orig.pixel_array), np.asarray(new.pixel_array)
    if a.shape != b.shape:
        return False
    diff = a != b
    if not diff.any():
        return True
    if a.ndim >= 3 and a.shape[-1] == 3:
        changed = diff.any(axis=-1)
        return bool((b[changed] == 0).all())
    frames = [(a, b, diff)] if a.ndim == 2 else list(zip(a, b, diff, strict=True))
    return all(np.isin(fb[fd], [fa.min(), fa.max(), 0]).all() for fa, fb, fd in frames)  # paint is per frame


def structure_kept(pairs: list[tuple[Any, Any]]) -> tuple[int, int]:
    """(pairs of files whose shared/not-shared Study and Series UID relation is kept, pairs compared)."""
    ok = n = 0
    for i in range(len(pairs)):
        for j in range(i + 1, len(pairs)):
            (oa, na), (ob, nb) = pairs[i], pairs[j]
            for kw in ("StudyInstanceUID", "SeriesInstanceUID"):
                if kw not in oa or kw not in ob:
                    continue
                n += 1
                ok += (oa.get(kw) == ob.get(kw)) == (na.get(kw) == nb.get(kw))
    return ok, n


def gt_boxes() -> dict[str, list[tuple[str, tuple[int, int, int, int]]]]:
    gt = json.loads(GT.read_text())["boxes"]
    out: dict[str, list[tuple[str, tuple[int, int, int, int]]]] = {}
    for key, files in GT_ITEMS.items():
        boxes = [
            (b["label"], (b["left"] - PADDING, b["top"] - PADDING, b["width"], b["height"])) for b in gt.get(key, [])
        ]
        for f in files:
            if (CORPUS / f).is_file():
                out[f] = boxes
    return out


def text_left_in_boxes(image: Any, boxes: list[tuple[str, tuple[int, int, int, int]]]) -> list[str]:
    """Ground-truth labels whose text OCR still reads inside their (slightly enlarged) box. Labels are the
    corpus' pseudo-PHI, used only to compare, never printed by the tests."""
    from phiwall import ocr

    left: list[str] = []
    for label, (x, y, w, h) in boxes:
        crop = image.crop((max(0, x - 6), max(0, y - 6), x + w + 6, y + h + 6))
        words = " ".join(wd.text for wd in ocr.ocr_words(crop, psm=7)).lower()
        tokens = [t for t in re.split(r"[^0-9a-z]+", label.lower()) if len(t) >= 2]
        if tokens and all(t in words for t in tokens):
            left.append(label)
    return left


def render(path: Path) -> Any:
    from PIL import Image

    if path.suffix.lower() == ".png":
        return Image.open(path).convert("L")
    import pydicom
    from phiwall.imaging.render import render_dataset

    return render_dataset(pydicom.dcmread(path))


def score(out: Path, img_out: Path | None = None) -> dict[str, Any]:
    """All scores for a finished `phiwall deid` run over CORPUS/dicom into `out` (and the GT PNGs into img_out)."""
    import pydicom

    summary = json.loads(SUMMARY.read_text())
    listed = removed = files = readable = decodes = valid = valid_n = 0
    kept = kept_n = px_ok = px_n = 0
    pairs: list[tuple[Any, Any]] = []
    worst: dict[str, list[str]] = {}
    for rel in sorted(summary):
        src, dst = CORPUS / rel, output_path(out, rel)
        files += 1
        if not dst.is_file():
            worst[rel] = ["<refused>"]
            continue
        data = dst.read_bytes()
        values = [v for v in summary[rel]["phi_header_values"].values() if str(v).strip()]
        left = leftover_values(rel, data, summary, src.read_bytes())
        listed += len(values)
        removed += len(values) - len(left)
        if left:
            worst[rel] = left
        try:
            new = pydicom.dcmread(io.BytesIO(data), force=True)
            readable += 1
            orig = pydicom.dcmread(src, force=True)
            if "PixelData" in new:
                new.pixel_array  # noqa: B018 - decoding is the check
            decodes += 1
        except Exception:
            continue
        before, after = dciodvfy_errors(src), dciodvfy_errors(dst)
        if before is not None and after is not None:
            valid_n += 1
            valid += not (after - before)
        r = retention(orig, new)
        kept += sum(r.values())
        kept_n += len(r)
        px = pixels_outside_kept(orig, new)
        if px is not None:
            px_n += 1
            px_ok += px
        pairs.append((orig, new))
    s_ok, s_n = structure_kept(pairs)
    gt_left = gt_n = 0
    for f, boxes in gt_boxes().items():
        path = output_path(out, f) if f.endswith(".dcm") else (img_out / Path(f).name if img_out else None)
        if path is None or not path.is_file():
            continue
        gt_n += len(boxes)
        gt_left += len(text_left_in_boxes(render(path), boxes))
    return {
        "files": files,
        "values_listed": listed,
        "values_removed": removed,
        "readable": readable,
        "decodes": decodes,
        "dciodvfy_checked": valid_n,
        "dciodvfy_no_new_error": valid,
        "attributes_compared": kept_n,
        "attributes_kept": kept,
        "files_with_pixels": px_n,
        "pixels_outside_kept": px_ok,
        "structure_pairs": s_n,
        "structure_kept": s_ok,
        "gt_boxes": gt_n,
        "gt_text_left": gt_left,
        "leftover_keywords": worst,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="replace the section in docs/quality.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        r = run_deid([CORPUS / "dicom"], t / "out", t / "home")
        pngs = [
            CORPUS / f for files in GT_ITEMS.values() for f in files if f.endswith(".png") and (CORPUS / f).is_file()
        ]
        run_deid(pngs, t / "img", t / "home")
        s = score(t / "out", t / "img")
    s["exit_status"] = r.returncode
    print(json.dumps(s, indent=1))
    if args.write:
        write_doc(s)
    return 0


def write_doc(s: dict[str, Any]) -> None:
    doc = ROOT / "docs" / "quality.md"
    text = doc.read_text() if doc.exists() else "# Quality\n"
    head = "## DICOM de-identification"
    pct = lambda a, b: f"{100.0 * a / b:.1f} %" if b else "n/a"  # noqa: E731
    rows = [
        ("removal: header values of dicom_header_summary.json gone from the output bytes",
         f"{s['values_removed']}/{s['values_listed']} ({pct(s['values_removed'], s['values_listed'])})"),
        ("output reads with pydicom / pixels decode", f"{s['readable']}/{s['files']} / {s['decodes']}/{s['files']}"),
        ("dciodvfy: no error the input did not have", f"{s['dciodvfy_no_new_error']}/{s['dciodvfy_checked']}"),
        ("retention: Modality, Rows, Columns, PixelSpacing, BitsStored, PhotometricInterpretation",
         f"{s['attributes_kept']}/{s['attributes_compared']} ({pct(s['attributes_kept'], s['attributes_compared'])})"),
        ("retention: study/series structure (file pairs sharing or not sharing a UID)",
         f"{s['structure_kept']}/{s['structure_pairs']}"),
        ("retention: pixels outside painted regions unchanged", f"{s['pixels_outside_kept']}/{s['files_with_pixels']}"),
        ("burned-in ground truth (presidio item 0 as DICOM and PNG, item 3 as PNG): boxes OCR still reads",
         f"{s['gt_text_left']}/{s['gt_boxes']}"),
    ]  # fmt: skip
    table = "\n".join(["| score | result |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])
    body = f"""{head}

Measured by `bench/quality_deid.py --write` (the real `phiwall deid`, default options: Basic Profile + Clean Pixel
Data) on the {s["files"]} DICOM files of `../shared/corpus/dicom`; method in the script's docstring.

{table}

Exit status of the run: {s["exit_status"]} (0 means nothing refused). Files with a leftover value (keywords only):
{", ".join(f"{k} ({', '.join(v)})" for k, v in s["leftover_keywords"].items()) or "none"}.
"""
    if head in text:
        start = text.index(head)
        nxt = text.find("\n## ", start + len(head))
        text = text[:start] + body + (text[nxt + 1 :] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    doc.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
