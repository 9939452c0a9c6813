"""De-identification speed: DICOM header of a 5 MB file, pixel cleaning of a 512x512 frame with burned-in text.

Run: .venv/bin/python bench/bench_deid.py [--runs 50]

Prints median and p99 in ms (this machine). Rows:
- dicom_header_5mb: `deidentify_dicom` on a 5 MB CT-like file (2560x1024 16-bit pixels, header with PHI in nested
  sequences and private tags), Clean Pixel Data off: parse + Annex E walk + UID remap + write. Goal <= 15 ms.
- dicom_header_5mb_parse_write: pydicom read + write of the same file alone (the floor the walk adds to).
- pixel_clean_512: `dicom_pixels.clean_pixels` on a 512x512 16-bit frame with a burned-in name and date that match
  the header (render + OCR + burned_in_text's deny-list and text_phi + paint + store). Goal <= 300 ms. The text
  model is loaded before timing (a worker loads it once).
- image_png_640_paint: `deidentify_image` on a 640x400 PNG with a burned-in name (OCR + paint + re-encode).
- image_jpeg_strip: metadata removal from a 12 MP JPEG without re-encoding (no text painted: paint_text off).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "proxy"))
sys.path.insert(0, str(ROOT))


def bench(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]


def main() -> int:
    import numpy as np
    import pydicom
    from phiwall.deid import dicom_pixels
    from phiwall.deid.dicom import Stats
    from phiwall.deid.dicom import deidentify_dicom
    from phiwall.deid.options import DicomDeidOptions
    from phiwall.deid.options import ImageDeidOptions
    from phiwall.deid.raster import deidentify_image
    from phiwall.detectors.burned_in_text import dicom_deny_list
    from PIL import Image

    from tests.unit.deid.helpers import image_bytes
    from tests.unit.deid.helpers import keys
    from tests.unit.deid.helpers import make_ds
    from tests.unit.deid.helpers import text_frame
    from tests.unit.deid.helpers import to_bytes

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    k = keys()
    big = to_bytes(
        make_ds(pixels=(np.arange(2560 * 1024, dtype=np.uint32) % 4096).astype(np.uint16).reshape(2560, 1024))
    )
    header_opts = DicomDeidOptions(clean_pixel_data=False)
    rows: list[tuple[str, float, float, str]] = []
    med, p99 = bench(lambda: deidentify_dicom(big, header_opts, k), args.runs)
    rows.append((f"dicom_header_5mb ({len(big) / 1e6:.1f} MB)", med, p99, "<= 15"))

    def parse_write() -> None:
        ds = pydicom.dcmread(io.BytesIO(big))
        ds.save_as(io.BytesIO(), enforce_file_format=True)

    med, p99 = bench(parse_write, args.runs)
    rows.append(("dicom_header_5mb_parse_write", med, p99, ""))

    frame = text_frame(512, 512, text="OKAFOR, MARGARET 03/14/1962")
    template = make_ds(pixels=frame)
    deny = dicom_deny_list(template)
    opts = DicomDeidOptions()

    def clean() -> None:
        ds = pydicom.dcmread(io.BytesIO(to_bytes(template)))
        st = Stats()
        dicom_pixels.clean_pixels(ds, deny, opts, st)
        assert st.regions_painted, "nothing painted: OCR did not find the burned-in text"

    pruns = max(5, args.runs // 5)
    med, p99 = bench(clean, pruns)
    rows.append(("pixel_clean_512", med, p99, "<= 300"))

    png = image_bytes("PNG", text="Patient: Margaret Okafor")
    med, p99 = bench(lambda: deidentify_image(png, ImageDeidOptions(), k), pruns)
    rows.append(("image_png_640_paint", med, p99, ""))

    photo = io.BytesIO()
    Image.new("RGB", (4000, 3000), (90, 120, 60)).save(photo, "JPEG", quality=90, exif=b"Exif\x00\x00")
    jpeg = photo.getvalue()
    med, p99 = bench(lambda: deidentify_image(jpeg, ImageDeidOptions(paint_text=False), k), pruns)
    rows.append(("image_jpeg_strip_12mp", med, p99, ""))

    print(f"{'case':40s} {'median ms':>10s} {'p99 ms':>10s} {'goal ms':>8s}")
    for name, m, p, goal in rows:
        print(f"{name:40s} {m:10.1f} {p:10.1f} {goal:>8s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
