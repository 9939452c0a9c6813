"""MEDICAL_IMAGE: is this raster image a medical image (an X-ray photo, a PACS screenshot, a CD export...)?

People rarely upload DICOM; they upload a phone photo of a film or a PNG from a viewer. This detector decodes the
image safely (phiwall.imaging.load), computes engineered features on a 256 px thumbnail
(phiwall.imaging.features) and evaluates two small tree ensembles stored as plain arrays in
`phiwall/data/medical_image_model.npz`: one for "medical or not", one for the modality guess. Inference is pure
numpy (no scikit-learn at run time). See docs/model-card-medical-image.md for data, method and failure modes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any
from typing import ClassVar

import numpy as np
from PIL import Image

from phiwall.errors import DetectionError
from phiwall.errors import PolicyError
from phiwall.imaging import features as feat
from phiwall.imaging.load import MAX_PIXELS
from phiwall.imaging.load import load_image
from phiwall.imaging.load import open_image
from phiwall.model import Finding
from phiwall.model import Part

MODEL_FILE = "medical_image_model.npz"
MIN_SIDE = 32  # below this a picture shows no readable anatomy: icons, emoji, avatars, spacer GIFs
DEFAULT_THRESHOLD = 0.5  # overwritten by the model file's `default_threshold` when present
MODALITIES = (
    "xray",
    "ct",
    "mr",
    "ultrasound",
    "nuclear_medicine",
    "endoscopy",
    "clinical_photo",
    "pathology",
    "fundus_oct",
    "viewer_screenshot",
    "other",
)


@dataclass(frozen=True, slots=True)
class Forest:
    """A tree ensemble flattened to padded arrays, evaluated for all trees at once.

    Leaves have feature -1. `value` holds the leaf output: a probability vector per leaf (averaged over trees).
    """

    feature: np.ndarray  # (T, N) int32
    threshold: np.ndarray  # (T, N) float32
    left: np.ndarray  # (T, N) int32
    right: np.ndarray  # (T, N) int32
    value: np.ndarray  # (T, N, C) float32
    depth: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (C,) for one feature vector, or (n, C) for a batch (n, F)."""
        x = np.asarray(x, dtype=np.float32)
        single = x.ndim == 1
        xb = x[None, :] if single else x
        n_trees = self.feature.shape[0]
        trees = np.arange(n_trees)[None, :]
        node = np.zeros((xb.shape[0], n_trees), dtype=np.int64)
        rows = np.arange(xb.shape[0])[:, None]
        for _ in range(self.depth):
            f = self.feature[trees, node]
            leaf = f < 0
            xv = xb[rows, np.maximum(f, 0)]
            go_left = xv <= self.threshold[trees, node]
            nxt = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(leaf, node, nxt)
        out = self.value[trees, node].mean(axis=1)
        return out[0] if single else out

    @classmethod
    def from_npz(cls, z: Mapping[str, np.ndarray], prefix: str) -> Forest:
        return cls(
            feature=z[f"{prefix}_feature"].astype(np.int32),
            threshold=z[f"{prefix}_threshold"].astype(np.float32),
            left=z[f"{prefix}_left"].astype(np.int32),
            right=z[f"{prefix}_right"].astype(np.int32),
            value=z[f"{prefix}_value"].astype(np.float32),
            depth=int(z[f"{prefix}_depth"]),
        )


@dataclass(frozen=True, slots=True)
class MedicalImageModel:
    """The binary ensemble, the modality forest and the metadata they were trained with.

    The binary score is the gradient-boosted trees' probability (sigmoid of bias + sum of leaf values) mixed with
    the random forest's probability by `boosted_weight` (1.0 in mi-2: boosted trees only); a file without boosted
    trees (mi-1) uses the forest alone.
    """

    binary: Forest
    modality: Forest
    modality_classes: tuple[str, ...]
    default_threshold: float
    version: str
    boosted: Forest | None = None
    boosted_bias: float = 0.0
    boosted_weight: float = 0.5

    def score(self, x: np.ndarray) -> float:
        if self.boosted is None:
            return float(self.binary.predict(x)[1])
        raw = self.boosted_bias + float(self.boosted.predict(x)[0]) * self.boosted.feature.shape[0]
        q = 1.0 / (1.0 + float(np.exp(-np.clip(raw, -40.0, 40.0))))
        if self.boosted_weight >= 1.0:  # the forest is stored but does not vote: skip its cost
            return q
        return (1.0 - self.boosted_weight) * float(self.binary.predict(x)[1]) + self.boosted_weight * q

    def modality_of(self, x: np.ndarray) -> str:
        probs = self.modality.predict(x)
        return self.modality_classes[int(np.argmax(probs))]


def load_model_file(path: Any) -> MedicalImageModel:
    """Load a model from an .npz path or file object (no pickle: the file is data only)."""
    with np.load(path, allow_pickle=False) as z:
        names = tuple(str(n) for n in z["feature_names"])
        if names != feat.FEATURE_NAMES:
            raise DetectionError("medical image model was trained with different features: retrain it")
        has_gbt = "gbt_feature" in z
        return MedicalImageModel(
            binary=Forest.from_npz(z, "bin"),
            modality=Forest.from_npz(z, "mod"),
            modality_classes=tuple(str(c) for c in z["modality_classes"]),
            default_threshold=float(z["default_threshold"]),
            version=str(z["version"]),
            boosted=Forest.from_npz(z, "gbt") if has_gbt else None,
            boosted_bias=float(z["gbt_bias"]) if has_gbt else 0.0,
            boosted_weight=float(z["gbt_weight"]) if has_gbt else 0.0,
        )


@functools.lru_cache(maxsize=1)
def default_model() -> MedicalImageModel:
    """The shipped model, loaded once per worker process."""
    ref = resources.files("phiwall") / "data" / MODEL_FILE
    with ref.open("rb") as fh:
        return load_model_file(fh)


def analyse(img: Image.Image, model: MedicalImageModel | None = None) -> tuple[float, str, np.ndarray]:
    """Score, modality guess and feature vector for an already decoded image (used by training and bench)."""
    model = model or default_model()
    x = feat.extract(img)
    return model.score(x), model.modality_of(x), x


class MedicalImageDetector:
    """Finds medical images among raster uploads; emits one MEDICAL_IMAGE finding per image at most."""

    name: ClassVar[str] = "medical_image"
    handles: ClassVar[frozenset[str]] = frozenset(
        {
            "image/png",
            "image/jpeg",
            "image/webp",
            "image/gif",
            "image/tiff",
            "image/bmp",
            "image/heic",
            "image/heif",
        }
    )

    def __init__(
        self,
        threshold: float | None = None,
        *,
        max_pixels: int = MAX_PIXELS,
        model: MedicalImageModel | None = None,
    ) -> None:
        self._model = model
        self._threshold = threshold
        self._max_pixels = max_pixels

    @property
    def model(self) -> MedicalImageModel:
        if self._model is None:
            self._model = default_model()
        return self._model

    @property
    def threshold(self) -> float:
        return self.model.default_threshold if self._threshold is None else self._threshold

    def features_of(self, data: bytes) -> np.ndarray | None:
        """Feature vector for image bytes, or None for an image too small to show a scan.

        Raises DetectionError / LimitError.
        """
        img = load_image(data, max_side=feat.THUMB_SIDE, max_pixels=self._max_pixels)
        if min(img.size) < MIN_SIDE and min(open_image(data, max_pixels=self._max_pixels).size) < MIN_SIDE:
            return None
        try:
            return feat.extract(img)
        except Exception as exc:  # a feature bug must not become a silent pass
            raise DetectionError(f"medical image analysis failed ({type(exc).__name__})") from None

    def _scored(self, data: bytes) -> tuple[float, np.ndarray | None]:
        x = self.features_of(data)
        if x is None:
            return 0.0, None
        return min(max(self.model.score(x), 0.0), 1.0), x

    def score_bytes(self, data: bytes, *, with_modality: bool = True) -> tuple[float, str | None]:
        """(score in [0, 1], modality guess or None) for image bytes; raises DetectionError / LimitError.

        The modality forest costs about as much as the binary one, so callers that only need the score skip it.
        An image too small to show a scan scores 0 with no modality.
        """
        score, x = self._scored(data)
        return score, (self.model.modality_of(x) if with_modality and x is not None else None)

    def detect(self, part: Part) -> list[Finding]:
        if part.data is None:
            return []
        score, x = self._scored(part.data)
        if x is None or score < self.threshold:
            return []
        modality = self.model.modality_of(x)
        return [
            Finding(
                detector=self.name,
                entity="MEDICAL_IMAGE",
                part_id=part.id,
                score=round(score, 4),
                modality=modality,
                explanation=f"image classifier {self.model.version} score {score:.2f} >= {self.threshold:.2f}",
            )
        ]


def build(options: Mapping[str, Any]) -> MedicalImageDetector:
    """Factory used by the detector registry. Options: `threshold` (0..1), `max_pixels` (int)."""
    unknown = set(options) - {"threshold", "max_pixels"}
    if unknown:
        raise PolicyError(f"medical_image: unknown option(s) {sorted(unknown)}; allowed: threshold, max_pixels")
    threshold = options.get("threshold")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise PolicyError("medical_image: threshold must be a number between 0 and 1")
        threshold = float(threshold)
    max_pixels = options.get("max_pixels", MAX_PIXELS)
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
        raise PolicyError("medical_image: max_pixels must be a positive integer")
    return MedicalImageDetector(threshold=threshold, max_pixels=max_pixels)
