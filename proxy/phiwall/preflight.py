"""What a policy's detectors need, checked before the proxy accepts a request or `scan` reads a file.

Without this, a missing spaCy model surfaced per request (`phiwall run` answered every request, even "hello",
with a 422) and `phiwall scan` ended in a traceback. The checks are cheap (no model is loaded): the shipped PHI
tagger is complete and unchanged (a digest of its files), and tesseract runs where a policy
uses OCR. Each problem is a sentence that says what to install.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from phiwall.policy import PolicySource

TAGGER = "phi_tagger"
# sha256 over (relative path, sha256 of the file) of every file of the PHI tagger shipped in phiwall/data/phi_tagger
# (training/train_phi_tagger.py; docs/model-card-phi-tagger.md). A wheel or checkout whose tagger files differ
# (a partial copy, an edited file) is refused before it is trusted with PHI. Re-computed by
# `python -c "from phiwall import preflight; print(preflight.tree_digest(preflight.model_dir()))"` after retraining.
MODEL_TREE_SHA256 = "b66c8bf0bfb8a883bb3c5f0c7c11834c7308f11e9c24f93da666bc7b1251345c"
_INSTALL = "reinstall phiwall (pip install --force-reinstall phiwall, or scripts/setup.sh in a checkout)"


def model_dir() -> Path:
    """Where the installed package keeps the PHI tagger."""
    return Path(str(importlib.resources.files("phiwall") / "data" / TAGGER))


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root).as_posix()).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def model_problem() -> str | None:
    if importlib.util.find_spec("spacy") is None:
        return "the text_phi detector needs spaCy, which is not installed: " + _INSTALL
    root = model_dir()
    if not (root / "config.cfg").is_file():
        return f"the text_phi detector's PHI tagger is missing from the package (phiwall/data/{TAGGER}): {_INSTALL}"
    if tree_digest(root) != MODEL_TREE_SHA256:
        return (
            f"the installed PHI tagger (phiwall/data/{TAGGER}) is not the one this release ships: its files differ. "
            + _INSTALL[0].upper()
            + _INSTALL[1:]
        )
    return None


def ocr_problem() -> str | None:
    from phiwall import ocr

    if ocr.available():
        return None
    return (
        "the burned_in_text detector needs tesseract (Debian: apt-get install tesseract-ocr tesseract-ocr-eng), "
        "or disable it in the policy (detectors: {burned_in_text: {enabled: false}})"
    )


def problems(detectors: Iterable[str]) -> list[str]:
    """Why the named detectors could not run here; empty when they can."""
    names = set(detectors)
    out: list[str] = []
    if "text_phi" in names:
        p = model_problem()
        if p:
            out.append(p)
    if "burned_in_text" in names:
        p = ocr_problem()
        if p:
            out.append(p)
    return out


def refusal(source: PolicySource, what: str = "start") -> str | None:
    """The message to refuse with when a policy's detectors cannot run here; None when they can."""
    from phiwall.policy import Policy

    found = problems(Policy(source).detector_options())
    if not found:
        return None
    return f"phiwall: cannot {what}, a detector the policy uses cannot load:\n" + "\n".join(f"  - {p}" for p in found)
