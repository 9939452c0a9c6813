"""FACE: a full-face photograph (HIPAA Safe Harbor identifier (Q)), with the face's pixel box.

Uses the Haar cascades bundled in opencv-python-headless (`cv2.data.haarcascades`): no download, ~10-30 ms on a
640 px image. Two cascades must agree, because X-rays, CT slices and ultrasound speckle produce face-like
Haar responses (on the corpus: chest X-rays, axial MR slices through the orbits, an endoscopy frame), so a face
counts only when

1. the default frontal-face cascade (strict neighbour count, face at least 10 % of the picture's short side: a
   "full-face photograph" shows a face, not a 20-pixel blob in a crowd) and the alt2 cascade agree (IoU > 0.5), and
2. an eye (option `min_eyes`) is found by the eye cascade in the upper part of that face box (enlarged to 100 px).

Measured on the corpus (195 images): both portrait photos found, 0 of 112 medical images flagged.
Boxes are (x, y, w, h) in the displayed image's pixels.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from typing import ClassVar

import cv2
import numpy as np

from phiwall.errors import PolicyError
from phiwall.model import Finding
from phiwall.model import Part

IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff", "image/bmp", "image/heic", "image/heif",
     "image/avif"}
)  # fmt: skip
FACE = "FACE"
DETECT_SIDE = 320  # a full-face photograph shows a large face; detection cost grows with the area
_OPTION_KEYS = frozenset({"min_face_fraction", "min_neighbors", "min_eyes"})


@functools.cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + name  # type: ignore[attr-defined]
    c = cv2.CascadeClassifier(path)
    if c.empty():  # pragma: no cover - the wheel ships these files
        raise PolicyError(f"face: OpenCV cascade {name} is missing from this opencv installation")
    return c


class FaceDetector:
    """Frontal faces confirmed by eyes; see the module docstring for the why."""

    name: ClassVar[str] = "face"
    handles: ClassVar[frozenset[str]] = IMAGE_TYPES

    def __init__(self, options: Mapping[str, Any]) -> None:
        unknown = set(options) - _OPTION_KEYS
        if unknown:
            raise PolicyError(
                f"face: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_OPTION_KEYS))}"
            )
        self.min_face_fraction = float(options.get("min_face_fraction", 0.1))
        self.min_neighbors = int(options.get("min_neighbors", 5))
        self.min_eyes = int(options.get("min_eyes", 1))
        self._face = _cascade("haarcascade_frontalface_default.xml")
        self._face_alt = _cascade("haarcascade_frontalface_alt2.xml")
        self._eyes = _cascade("haarcascade_eye.xml")

    def detect(self, part: Part) -> list[Finding]:
        if part.data is None:
            return []
        from phiwall.imaging.load import load_image
        from phiwall.imaging.load import open_image

        full = open_image(part.data).size
        img = load_image(part.data, max_side=DETECT_SIDE)
        gray = np.asarray(img.convert("L"))
        scale = max(full) / max(img.size)
        return [
            Finding(self.name, FACE, part.id, score, bbox=tuple(round(v * scale) for v in box), explanation=expl)  # type: ignore[arg-type]
            for box, score, expl in self.faces(gray)
        ]

    def faces(self, gray: np.ndarray) -> list[tuple[tuple[int, int, int, int], float, str]]:
        """Faces in an 8-bit grayscale array: (box, score, explanation) each."""
        h, w = gray.shape[:2]
        side = max(20, int(min(h, w) * self.min_face_fraction))
        eq = cv2.equalizeHist(gray)
        first = self._face.detectMultiScale(eq, scaleFactor=1.15, minNeighbors=self.min_neighbors, minSize=(side, side))
        if not len(first):
            return []
        second = self._face_alt.detectMultiScale(eq, scaleFactor=1.15, minNeighbors=3, minSize=(side, side))
        out = []
        for x, y, fw, fh in first:
            box = (int(x), int(y), int(fw), int(fh))
            if not any(_iou(box, tuple(int(v) for v in b)) > 0.5 for b in second):  # type: ignore[arg-type]
                continue
            # Eyes are searched in the upper 60 % of the face, enlarged to a fixed width so small faces still work.
            roi = eq[y : y + int(fh * 0.65), x : x + fw]
            roi = cv2.resize(roi, (100, max(1, int(100 * roi.shape[0] / max(roi.shape[1], 1)))))
            eyes = self._eyes.detectMultiScale(roi, scaleFactor=1.1, minNeighbors=2, minSize=(10, 10), maxSize=(50, 50))
            n_eyes = min(len(eyes), 2)
            if n_eyes < self.min_eyes:
                continue
            score = 0.9 if n_eyes == 2 else 0.8
            out.append((box, score, f"two frontal-face cascades agree; {n_eyes} eye(s) found in the face"))
        return out


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter or 1)


def build(options: Mapping[str, Any]) -> FaceDetector:
    """Factory used by the detector registry."""
    return FaceDetector(options)
