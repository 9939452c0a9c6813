"""Quality and latency of the medical-image recognizer on the (dev) corpus.

    .venv/bin/python bench/quality_images.py [--folds 5] [--threshold T] [--no-latency]

Method: group-aware K-fold cross-validation over MANIFEST `group`s. For each fold the model is retrained (same
code and augmentation as training/train_medical_image.py) on every corpus group outside the fold plus the
generated images, then scores the fold's ORIGINAL files through the runtime
path (bytes -> phiwall.imaging.load -> features -> exported numpy trees). No image is ever scored by a model
that saw it, or a near-duplicate of it, in training. DICOM files are scored as their default rendering saved as
PNG (what a CD export looks like). Ambiguous items are reported separately and never trained on.
Robustness conditions re-encode the held-out file: JPEG q60 + resize to 512 px, resize to 256 px, a colour tint,
a border/letterbox.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))
sys.path.insert(0, str(REPO / "proxy"))

import train_medical_image as tm  # noqa: E402
from phiwall.detectors.medical_image import MedicalImageDetector  # noqa: E402
from phiwall.imaging.features import N_FEATURES  # noqa: E402
from phiwall.imaging.load import load_image  # noqa: E402


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _jpeg(img: Image.Image, q: int) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=q)
    return buf.getvalue()


CONDITIONS = ("original", "jpeg60_512", "resize256", "tint", "border")


def conditions(raw: bytes) -> dict[str, bytes]:
    """The held-out file as uploaded, and re-encoded the ways people re-encode images."""
    full = load_image(raw, max_side=None)
    rng = random.Random(len(raw))
    return {
        "original": raw,
        "jpeg60_512": _jpeg(tm.resize_max(full, 512), 60),
        "resize256": _png(tm.resize_max(full, 256)),
        "tint": _jpeg(tm.aug_tint(tm.resize_max(full, 768), rng), 85),
        "border": _png(tm.aug_border(tm.resize_max(full, 768), rng)),
    }


def group_folds(groups: list[str], k: int, seed: int) -> list[int]:
    """Assign each group to a fold, largest groups first, to the currently smallest fold (deterministic)."""
    rng = random.Random(seed)
    uniq = sorted(set(groups))
    rng.shuffle(uniq)
    sizes = defaultdict(int)
    for g in groups:
        sizes[g] += 1
    uniq.sort(key=lambda g: -sizes[g])
    load = [0] * k
    fold_of: dict[str, int] = {}
    for g in uniq:
        f = min(range(k), key=lambda i: (load[i], i))
        fold_of[g] = f
        load[f] += sizes[g]
    return [fold_of[g] for g in groups]


def condition_features(ds: tm.Dataset, corpus_idx: list[int], cache: Path | None) -> dict[str, np.ndarray]:
    """Runtime-path features of every held-out file under every condition (they do not depend on the model).

    A file the detector does not score at all (too small to show a scan) gets a row of NaN: it scores 0.
    """
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if z["keys"].tolist() == [ds.bases[i].key for i in corpus_idx] and z["original"].shape[1] == N_FEATURES:
                return {c: z[c] for c in CONDITIONS}
    out: dict[str, list[np.ndarray]] = {c: [] for c in CONDITIONS}
    runtime = MedicalImageDetector()
    for i in corpus_idx:
        base = ds.bases[i]
        raw = base.raw if base.raw is not None else _png(base.views[0])
        for cond, data in conditions(raw).items():
            x = runtime.features_of(data)
            out[cond].append(np.full(N_FEATURES, np.nan, np.float32) if x is None else x)
    arrays = {c: np.stack(v) for c, v in out.items()}
    if cache is not None:
        np.savez(cache, keys=np.array([ds.bases[i].key for i in corpus_idx]), **arrays)
    return arrays


def cross_validate(ds: tm.Dataset, k: int, cond_cache: Path | None = None) -> list[dict]:
    corpus_idx = [i for i, b in enumerate(ds.bases) if b.source in ("image", "dicom")]
    folds = group_folds([ds.bases[i].group for i in corpus_idx], k, tm.SEED)
    fold_of_base = dict(zip(corpus_idx, folds, strict=True))
    feats = condition_features(ds, corpus_idx, cond_cache)
    results: list[dict] = []
    for f in range(k):
        t0 = time.time()
        test = [j for j, i in enumerate(corpus_idx) if fold_of_base[i] == f]
        train_rows = np.flatnonzero([fold_of_base.get(int(b), -1) != f for b in ds.base_index])
        model = tm.to_runtime(*tm.fit(ds, train_rows), tm.DEFAULT_THRESHOLD)
        for j in test:
            base = ds.bases[corpus_idx[j]]
            rec = {
                "key": base.key,
                "group": base.group,
                "label": base.label,
                "modality": base.modality,
                "source": base.source,
                "fold": f,
            }
            for cond in CONDITIONS:
                x = feats[cond][j]
                unscored = bool(np.isnan(x).any())
                rec[cond] = 0.0 if unscored else model.score(x)
                rec[f"{cond}_modality"] = "none" if unscored else model.modality_of(x)
            results.append(rec)
        print(f"fold {f}: {len(test)} held-out items, {time.time() - t0:.0f}s", file=sys.stderr)
    return results


def rates(results: list[dict], cond: str, thr: float, source: str | None = None) -> tuple[float, int, float, int]:
    rs = [r for r in results if source is None or r["source"] == source]
    pos = [r[cond] for r in rs if r["label"] == 1]
    neg = [r[cond] for r in rs if r["label"] == 0]
    rec = sum(s >= thr for s in pos) / max(len(pos), 1)
    spec = sum(s < thr for s in neg) / max(len(neg), 1)
    return rec, len(pos), spec, len(neg)


def report(results: list[dict], thr: float) -> None:
    conds = ["original", "jpeg60_512", "resize256", "tint", "border"]
    print(f"\n### Cross-validated, threshold {thr:.2f}\n")
    print("| condition | items | recall (medical) | specificity (non-medical) |")
    print("|---|---|---:|---:|")
    for cond in conds:
        for source, label in (("image", "raster images"), ("dicom", "DICOM renderings"), (None, "all")):
            r, npos, s, nneg = rates(results, cond, thr, source)
            print(f"| {cond} | {label} | {r:.3f} ({round(r * npos)}/{npos}) | {s:.3f} ({round(s * nneg)}/{nneg}) |")
    print("\n### Threshold sweep (original files, all non-ambiguous items)\n")
    print("| threshold | recall | specificity | recall jpeg60_512 | specificity jpeg60_512 |")
    print("|---:|---:|---:|---:|---:|")
    for t in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7):
        r, _, s, _ = rates(results, "original", t)
        r2, _, s2, _ = rates(results, "jpeg60_512", t)
        print(f"| {t:.2f} | {r:.3f} | {s:.3f} | {r2:.3f} | {s2:.3f} |")
    print("\n### Per-modality recall (original / jpeg60_512) and modality-guess accuracy\n")
    print("| modality | n | recall | recall jpeg60_512 | modality correct |")
    print("|---|---:|---:|---:|---:|")
    by: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        if r["label"] == 1:
            by[r["modality"]].append(r)
    for mod in sorted(by):
        rs = by[mod]
        rec = sum(r["original"] >= thr for r in rs) / len(rs)
        rec2 = sum(r["jpeg60_512"] >= thr for r in rs) / len(rs)
        acc = sum(r["original_modality"] == mod for r in rs) / len(rs)
        print(f"| {mod} | {len(rs)} | {rec:.2f} | {rec2:.2f} | {acc:.2f} |")
    print("\n### Ambiguous items (not counted above)\n")
    print("| item | score | score jpeg60_512 |")
    print("|---|---:|---:|")
    for r in results:
        if r["label"] is None:
            print(f"| {r['key']} | {r['original']:.2f} | {r['jpeg60_512']:.2f} |")
    print("\n### Errors at this threshold (original files)\n")
    for r in results:
        if r["label"] is not None and (r["original"] >= thr) != bool(r["label"]):
            kind = "missed medical" if r["label"] else "false positive"
            print(f"- {kind}: {r['key']} (score {r['original']:.2f}, jpeg60_512 {r['jpeg60_512']:.2f})")


def latency(n: int = 200) -> None:
    """Median and p99 of MedicalImageDetector.score_bytes on 1024x1024 JPEGs (decode + features + model)."""
    det = MedicalImageDetector()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:1024, 0:1024]
    body = np.clip(200 - np.hypot(xx - 512, yy - 512) / 3 + rng.normal(0, 20, (1024, 1024)), 0, 255)
    samples = {
        "grayscale x-ray-like": _jpeg(Image.fromarray(body.astype(np.uint8)), 90),
        "colour photo-like": _jpeg(Image.fromarray(rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8)), 90),
    }
    print("\n### Latency (1024x1024 JPEG, one core, `MedicalImageDetector.score_bytes`)\n")
    print("| input | stage | median ms | p99 ms |")
    print("|---|---|---:|---:|")
    stages = {
        "decode + features": lambda d: det.features_of(d),
        "score only (non-medical path)": lambda d: det.score_bytes(d, with_modality=False),
        "score + modality (finding path)": lambda d: det.score_bytes(d),
    }
    for name, data in samples.items():
        for stage, fn in stages.items():
            fn(data)
            ts = []
            for _ in range(n):
                t = time.perf_counter()
                fn(data)
                ts.append((time.perf_counter() - t) * 1000)
            ts.sort()
            print(f"| {name} | {stage} | {statistics.median(ts):.1f} | {ts[int(0.99 * (len(ts) - 1))]:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--threshold", type=float, default=tm.DEFAULT_THRESHOLD)
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--no-cv", action="store_true")
    ap.add_argument("--cache", type=Path, help="feature cache (.npz) to reuse between runs while iterating")
    ap.add_argument("--cond-cache", type=Path, help="cache (.npz) of the held-out files' features per condition")
    args = ap.parse_args()
    if not args.no_cv:
        if not (tm.CORPUS / "MANIFEST.csv").exists():
            sys.exit(f"corpus not found at {tm.CORPUS}")
        ds = tm.build_dataset(cache=args.cache)
        results = cross_validate(ds, args.folds, args.cond_cache)
        report(results, args.threshold)
    if not args.no_latency:
        latency()


if __name__ == "__main__":
    main()
