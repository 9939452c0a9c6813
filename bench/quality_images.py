"""Quality and latency of the medical-image recognizer (mi-5: EfficientNet-Lite0 backbone on two views + trained head).

    .venv/bin/python bench/quality_images.py [--reuse]     # grouped CV report (training/train_backbone_head.py)
    .venv/bin/python bench/quality_images.py --no-cv       # latency only (bench/bench_medical_image.py)

The cross-validation lives with the training code, because the held-out scores and the shipped operating point
come from the same run: `training/train_backbone_head.py` extracts the backbone features once (cached outside the
repository), runs grouped K-fold CV over corpus groups, Debian volumes/files and generated items with the
operating point chosen by an inner CV on the training folds only, prints the tables that docs/quality.md quotes
and writes the head. This script runs it (into a scratch head file unless --write-model) and then the latency
bench.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-cv", action="store_true")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="reuse cached items and features")
    ap.add_argument("--write-model", action="store_true", help="also overwrite the shipped head")
    args = ap.parse_args()
    if not args.no_cv:
        cmd = [sys.executable, str(REPO / "training" / "train_backbone_head.py")]
        if args.reuse:
            cmd.append("--reuse")
        if not args.write_model:
            cmd += ["--out", "/tmp/phiwall_medical_image_head_cv.npz"]
        subprocess.run(cmd, check=True)
    if not args.no_latency:
        subprocess.run([sys.executable, str(REPO / "bench" / "bench_medical_image.py")], check=True)


if __name__ == "__main__":
    main()
