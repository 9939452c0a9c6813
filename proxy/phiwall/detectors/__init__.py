"""Detector registry, keyed by each detector's stable name. Modules are imported lazily so a process that
never inspects images never loads OpenCV."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from phiwall.detectors.base import Detector

# name -> "module:factory". Order is the run order: cheap, decisive detectors first.
REGISTRY: dict[str, str] = {
    "dicom": "phiwall.detectors.dicom:build",
    "medical_image": "phiwall.detectors.medical_image:build",
    "text_phi": "phiwall.detectors.text_phi:build",
    "image_metadata": "phiwall.detectors.image_metadata:build",
    "face": "phiwall.detectors.face:build",
    "burned_in_text": "phiwall.detectors.burned_in_text:build",  # OCR: the costliest, so last
}

DETECTOR_NAMES = frozenset(REGISTRY)


def build_detector(name: str, options: Mapping[str, Any]) -> Detector:
    module, factory = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), factory)(options)  # type: ignore[no-any-return]
