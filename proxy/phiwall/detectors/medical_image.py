"""MEDICAL_IMAGE: is this raster image a medical image (an X-ray photo, a PACS screenshot, a CD export...)?

People rarely upload DICOM; they upload a phone photo of a film or a PNG from a viewer. This detector decodes the
image safely (phiwall.imaging.load) to at most 256 px, squashes it to 224x224, runs the pretrained
EfficientNet-Lite0 backbone with onnxruntime (phiwall.imaging.backbone: 1280 pooled ImageNet features) and a
small trained head stored as plain arrays in `phiwall/data/medical_image_head.npz`: standardisation, a logistic
regression (or a small MLP: dense layers with ReLU) for "medical or not", and a multinomial logistic regression
for the modality guess. No torch and no scikit-learn at run time. See docs/model-card-medical-image.md for data,
method, the meaning of the score and failure modes.
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
from phiwall.errors import LimitError
from phiwall.errors import PolicyError
from phiwall.imaging import backbone
from phiwall.imaging.load import MAX_PIXELS
from phiwall.imaging.load import load_image
from phiwall.imaging.load import open_image
from phiwall.model import Finding
from phiwall.model import Part

MODEL_FILE = "medical_image_head.npz"
THUMB_SIDE = 256  # decode size (JPEG draft); the network then sees 224 x 224
MIN_SIDE = 32  # below this a picture shows no readable anatomy: icons, emoji, avatars, spacer GIFs
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
class MedicalImageModel:
    """The trained head over backbone features, and what it was trained with.

    `score` is the sigmoid of the head's logit. Training shifted the last bias so that the operating point chosen
    by grouped cross-validation (recall >= 0.98 on held-out medical images) scores exactly 0.5: 0.5 is "as likely
    as the least typical medical images we must catch", not a calibrated probability of 50 %.
    """

    mean: np.ndarray  # (1280,) float32
    scale: np.ndarray  # (1280,)
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (W (in, out), b (out,)); ReLU between layers
    modality_w: np.ndarray  # (C, 1280)
    modality_b: np.ndarray  # (C,)
    modality_classes: tuple[str, ...]
    default_threshold: float
    version: str
    backbone_sha256: str
    n_views: int = 1  # 2: features are the mean over the whole picture and its centre (backbone.views), mi-5 on

    def features(self, img: Image.Image) -> np.ndarray:
        """The backbone features this head was trained to score, for a decoded picture."""
        return backbone.embed_views(img) if self.n_views == 2 else backbone.embed(img)

    def _z(self, x: np.ndarray) -> np.ndarray:
        z: np.ndarray = (np.asarray(x, dtype=np.float32) - self.mean) / self.scale
        return z

    def score(self, x: np.ndarray) -> float:
        h = self._z(x)
        for k, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if k < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        logit = float(np.ravel(h)[0])
        return 1.0 / (1.0 + float(np.exp(-np.clip(logit, -40.0, 40.0))))

    def modality_of(self, x: np.ndarray) -> str:
        logits = self.modality_w @ self._z(x) + self.modality_b
        return self.modality_classes[int(np.argmax(logits))]


def load_model_file(path: Any, *, check_backbone: bool = True) -> MedicalImageModel:
    """Load a head from an .npz path or file object (no pickle: the file is data only).

    Raises DetectionError when the head was trained on another backbone file than the shipped one.
    """
    with np.load(path, allow_pickle=False) as z:
        n = int(z["n_layers"])
        model = MedicalImageModel(
            mean=z["mean"].astype(np.float32),
            scale=z["scale"].astype(np.float32),
            layers=tuple((z[f"w{k}"].astype(np.float32), z[f"b{k}"].astype(np.float32)) for k in range(n)),
            modality_w=z["mod_w"].astype(np.float32),
            modality_b=z["mod_b"].astype(np.float32),
            modality_classes=tuple(str(c) for c in z["modality_classes"]),
            default_threshold=float(z["default_threshold"]),
            version=str(z["version"]),
            backbone_sha256=str(z["backbone_sha256"]),
            n_views=int(z["n_views"]) if "n_views" in z.files else 1,
        )
    if model.mean.shape != (backbone.N_FEATURES,) or model.layers[0][0].shape[0] != backbone.N_FEATURES:
        raise DetectionError("medical image head does not fit the backbone's 1280 features: retrain it")
    if model.n_views not in (1, 2):
        raise DetectionError(f"medical image head wants {model.n_views} views; this phiwall knows 1 or 2: upgrade it")
    if check_backbone and model.backbone_sha256 != backbone.backbone_sha256():
        raise DetectionError("medical image head was trained on another backbone file: retrain it")
    return model


@functools.lru_cache(maxsize=1)
def default_model() -> MedicalImageModel:
    """The shipped head, loaded once per worker process."""
    ref = resources.files("phiwall") / "data" / MODEL_FILE
    with ref.open("rb") as fh:
        return load_model_file(fh)


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
        """Backbone features for image bytes, or None for an image too small to show a scan.

        Raises DetectionError / LimitError.
        """
        img = load_image(data, max_side=THUMB_SIDE, max_pixels=self._max_pixels)
        if min(img.size) < MIN_SIDE and min(open_image(data, max_pixels=self._max_pixels).size) < MIN_SIDE:
            return None
        try:
            return self.model.features(img)
        except (DetectionError, LimitError):
            raise
        except Exception as exc:  # an inference failure must not become a silent pass
            raise DetectionError(f"medical image analysis failed ({type(exc).__name__})") from None

    def _scored(self, data: bytes) -> tuple[float, np.ndarray | None]:
        x = self.features_of(data)
        if x is None:
            return 0.0, None
        return min(max(self.model.score(x), 0.0), 1.0), x

    def score_bytes(self, data: bytes, *, with_modality: bool = True) -> tuple[float, str | None]:
        """(score in [0, 1], modality guess or None) for image bytes; raises DetectionError / LimitError.

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
