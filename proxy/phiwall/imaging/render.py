"""Render DICOM pixel data to an 8-bit Pillow image, the way a viewer would show the first frame.

Used to make training data for the medical-image recognizer (a PNG exported from a PACS looks like a windowed
rendering, not like raw 12/16-bit values) and later for OCR of burned-in text. Display order follows PS3.4:
Modality LUT (rescale slope/intercept) -> VOI LUT or window -> Presentation (MONOCHROME1 is inverted).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from phiwall.errors import DetectionError
from phiwall.errors import LimitError

MAX_RENDER_PIXELS = 100_000_000  # per frame; same order as the raster loader's limit


def read_dataset(data: bytes) -> Any:
    """Parse DICOM bytes, tolerating files without a preamble or File Meta.

    Files without File Meta carry no transfer syntax, so pydicom cannot decode their pixels; PS3.5 says the
    default is Implicit VR Little Endian, which is what such files use in practice.
    """
    import pydicom
    from pydicom.uid import ImplicitVRLittleEndian

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:  # pydicom raises many types on broken input
        raise DetectionError(f"DICOM could not be parsed ({type(exc).__name__})") from None
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        if meta is None:
            ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


def render_dataset(
    ds: Any,
    *,
    frame: int = 0,
    window: tuple[float, float] | None = None,
    percentile: tuple[float, float] | None = None,
) -> Image.Image:
    """Return frame `frame` of `ds` as an 8-bit "L" or "RGB" image.

    `window` = (center, width) overrides the file's VOI; `percentile` = (lo, hi) scales between those
    percentiles of the modality-LUT values instead (what a "auto window" button does). With neither, the file's
    own VOI LUT / window is used, falling back to a 0.5-99.5 percentile stretch when the file has none.
    """
    from pydicom.pixels import apply_modality_lut
    from pydicom.pixels import apply_voi_lut

    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise DetectionError("DICOM has no pixel data")
    rows = int(ds.get("Rows", 0) or 0)
    cols = int(ds.get("Columns", 0) or 0)
    if rows * cols > MAX_RENDER_PIXELS:
        raise LimitError(f"DICOM frame of {rows}x{cols} pixels exceeds the {MAX_RENDER_PIXELS} pixel limit")
    try:
        nframes = int(ds.get("NumberOfFrames", 1) or 1)
        if nframes > 1:
            from pydicom.pixels import pixel_array

            arr = pixel_array(ds, index=min(frame, nframes - 1))
        else:
            arr = ds.pixel_array
    except Exception as exc:
        raise DetectionError(f"DICOM pixel data could not be decoded ({type(exc).__name__})") from None

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and photometric not in ("MONOCHROME1", "MONOCHROME2"):
        # pydicom already converts YBR to RGB for the common transfer syntaxes.
        rgb = arr[..., :3]
        if rgb.dtype != np.uint8:
            rgb = _stretch(rgb.astype(np.float32), (0.5, 99.5))
        return Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        try:
            rgb = apply_color_lut(arr, ds)
        except Exception as exc:
            raise DetectionError(f"DICOM palette could not be applied ({type(exc).__name__})") from None
        if rgb.dtype != np.uint8:
            rgb = (rgb.astype(np.float32) / max(float(rgb.max()), 1.0) * 255.0).astype(np.uint8)
        return Image.fromarray(np.ascontiguousarray(rgb[..., :3]), "RGB")
    if arr.ndim == 3:  # a multi-sample monochrome oddity: keep the first plane
        arr = arr[..., 0]

    values = apply_modality_lut(arr, ds).astype(np.float32)
    if window is not None:
        out = _window(values, *window)
    elif percentile is not None:
        out = _stretch(values, percentile)
    else:
        voi_out: np.ndarray | None = None
        has_voi = "WindowCenter" in ds or "VOILUTSequence" in ds
        if has_voi:
            try:
                voi = apply_voi_lut(values, ds).astype(np.float32)
                voi_out = _stretch(voi, (0.0, 100.0))
            except Exception:
                voi_out = None
        out = voi_out if voi_out is not None else _stretch(values, (0.5, 99.5))
    if photometric == "MONOCHROME1":
        out = 255 - out
    return Image.fromarray(out, "L")


def render_dicom(data: bytes, **kwargs: Any) -> Image.Image:
    """Parse and render DICOM bytes (see `render_dataset` for the options)."""
    return render_dataset(read_dataset(data), **kwargs)


def _window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    width = max(float(width), 1.0)
    lo = center - width / 2.0
    scaled = (values - lo) / width * 255.0
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _stretch(values: np.ndarray, pct: tuple[float, float]) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, np.uint8)
    lo, hi = np.percentile(finite, pct)
    if hi <= lo:
        hi = lo + 1.0
    scaled = (np.nan_to_num(values, nan=lo) - lo) / (hi - lo) * 255.0
    stretched: np.ndarray = np.clip(scaled, 0, 255).astype(np.uint8)
    return stretched
