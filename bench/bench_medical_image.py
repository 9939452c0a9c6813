"""Latency of the medical_image detector: decode + resize + backbone (onnxruntime) + head, per 1024x1024 JPEG.

    .venv/bin/python bench/bench_medical_image.py [--runs 200]

Prints median and p99 wall time and median CPU time (ms) per stage and input, one process, the detector's own
single-threaded onnxruntime session (as in a worker). Goal (issue 11): the whole detector <= 30 ms median for a
1024x1024 JPEG.
Rows:
- decode (JPEG draft to <= 256 px): `load_image`, what every upload pays before any model runs;
- backbone: the 224x224 ONNX forward pass alone, for one view and for the two views the detector scores since
  mi-5 (the whole picture and its centre, one batch);
- detector, score only: `score_bytes(with_modality=False)`, the path of a picture that is let through;
- detector, score + modality: `detect()`, the path of a picture that is stopped.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "proxy"))

from phiwall.detectors.medical_image import THUMB_SIDE  # noqa: E402
from phiwall.detectors.medical_image import MedicalImageDetector  # noqa: E402
from phiwall.imaging import backbone  # noqa: E402
from phiwall.imaging.load import load_image  # noqa: E402
from phiwall.model import Locator  # noqa: E402
from phiwall.model import Part  # noqa: E402
from phiwall.model import PartKind  # noqa: E402


def _jpeg(img: Image.Image, q: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=q)
    return buf.getvalue()


def samples() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:1024, 0:1024]
    body = np.clip(200 - np.hypot(xx - 512, yy - 512) / 3 + rng.normal(0, 20, (1024, 1024)), 0, 255)
    photo = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    return {
        "grayscale x-ray-like 1024x1024": _jpeg(Image.fromarray(body.astype(np.uint8)).convert("RGB")),
        "colour photo-like 1024x1024": _jpeg(Image.fromarray(photo).resize((1024, 1024), Image.Resampling.BICUBIC)),
        "colour noise 1024x1024": _jpeg(Image.fromarray(rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8))),
    }


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """Wall-clock median and p99, and the median CPU time of this process (what the work costs when the machine
    is busy with other processes: wall time then includes waiting for a core)."""
    for _ in range(5):
        fn()
    ts, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    ts.sort()
    return statistics.median(ts), ts[min(len(ts) - 1, round(0.99 * (len(ts) - 1)))], statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    det = MedicalImageDetector()
    t = time.perf_counter()
    det.score_bytes(next(iter(samples().values())))
    first = (time.perf_counter() - t) * 1000
    print(f"model {det.model.version}; first call (session + head load) {first:.0f} ms; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.runs} runs per row\n")  # fmt: skip
    print("| input | stage | median ms | p99 ms | CPU median ms |")
    print("|---|---|---:|---:|---:|")
    px = backbone.prepare(Image.new("RGB", (224, 224)))
    px2 = backbone.views(Image.new("RGB", (256, 256)))
    for name, data in samples().items():
        part = Part(id="p", kind=PartKind.FILE, locator=Locator("body"), data=data, media_type="image/jpeg")
        stages: dict[str, Callable[[], object]] = {
            "decode (<= 256 px)": lambda d=data: load_image(d, max_side=THUMB_SIDE),
            "backbone 224x224, one view": lambda: backbone.embed_pixels(px),
            "backbone 224x224, two views (mi-5)": lambda: backbone.embed_pixels(px2),
            "detector, score only": lambda d=data: det.score_bytes(d, with_modality=False),
            "detector, detect() (score + modality)": lambda p=part: MedicalImageDetector(threshold=0.0).detect(p),
        }
        for stage, fn in stages.items():
            med, p99, cpu = timed(fn, args.runs)
            print(f"| {name} | {stage} | {med:.1f} | {p99:.1f} | {cpu:.1f} |")
    print(f"\nonnxruntime sessions created in this process: {backbone.sessions_created()}")


if __name__ == "__main__":
    main()
