"""One command to rebuild the PHI tagger from scratch: name lists, training data, `spacy train`, package.

    .venv/bin/pip install --no-deps -r training/requirements.txt   # faker, philter-lite, zipcodes; apt hunspell-en-med
    .venv/bin/python training/train_phi_tagger.py

Steps:
1. training/build_name_lists.py -> proxy/phiwall/data/name_lists.json.gz (philter-lite's lists, BSD-3).
2. training/phi_tagger_data.py -> training/out/{train,dev}.spacy (surrogate PHI in the corpus's tune half, minus
   the tune-dev fifth; see its docstring).
3. `python -m spacy train training/phi_tagger.cfg` on CPU (seed 1234; ~25-35 min on a shared 2-core machine).
4. model-best -> proxy/phiwall/data/phi_tagger with meta.json naming version, labels and training data.
Then measure with bench/quality_text.py (--half tune-dev to choose, --half check to report).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "training" / "out"
TARGET = ROOT / "proxy" / "phiwall" / "data" / "phi_tagger"
VERSION = "1.0.0"


def run(*cmd: str) -> None:
    print("+", " ".join(cmd), flush=True)
    # A fixed hash seed: a few Faker locales pick from set-ordered elements, so without it two data runs differ in
    # a handful of characters (same label counts; 12 of 3.0 M characters between the shipped run and a rerun).
    subprocess.run(cmd, check=True, cwd=ROOT, env=dict(os.environ, PYTHONHASHSEED="0"))


def package(model: Path) -> None:
    """Copy the trained pipeline into the package and record what it is in its meta.json."""
    if TARGET.exists():
        shutil.rmtree(TARGET)
    shutil.copytree(model, TARGET)
    meta_path = TARGET / "meta.json"
    meta = json.loads(meta_path.read_text())
    stats = json.loads((OUT / "stats.json").read_text())
    meta.update(
        {
            "name": "phi_tagger",
            "version": VERSION,
            "description": "phiwall PHI tagger: spaCy NER (tok2vec width 64, depth 4, no static vectors) trained on "
            "surrogate PHI in clinical text. Labels PERSON, DATE, LOC, ADDRESS, PHONE, ID, AGE. See "
            "docs/model-card-phi-tagger.md.",
            "license": "Apache-2.0 (weights); training data: see docs/model-card-phi-tagger.md",
            "author": "phiwall",
            "sources": [
                "../shared/corpus/phi_text (tune half minus tune-dev): physionet_deid (GPL-2.0), presidio_synth "
                "(MIT), medquad_negatives (CC BY 4.0)",
                "philter-lite 0.6.0 filters/set.toml name lists (BSD-3-Clause)",
                "Faker, zipcodes (surrogate values); hunspell-en-med (GPL-3+, eponym negatives only)",
            ],
            "training_stats": stats["train"],
        }
    )
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def main() -> int:
    py = sys.executable
    run(py, "training/build_name_lists.py")
    run(py, "training/phi_tagger_data.py")
    if (OUT / "model").exists():
        shutil.rmtree(OUT / "model")
    run(py, "-m", "spacy", "train", "training/phi_tagger.cfg", "--output", "training/out/model",
        "--paths.train", "training/out/train.spacy", "--paths.dev", "training/out/dev.spacy")  # fmt: skip
    package(OUT / "model" / "model-best")
    print(f"packaged {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
