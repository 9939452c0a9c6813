"""NIfTI (.nii; .nii.gz arrives here after the gzip layer): a research MR/CT volume.

A NIfTI file has no patient header like DICOM, but converters copy identifiers into its free-text fields
(`descrip`, `aux_file`, `intent_name`, and the Analyze-era `db_name`), and the volume itself is a medical image
(a head volume can even be rendered into a face). So the container yields
* the free-text fields as a text part, for the text PHI detector, and
* the middle axial slice rendered to an 8-bit PNG, for the medical-image and face detectors: a NIfTI is then
  reported as MEDICAL_IMAGE the same way a PNG export of a slice would be, with no NIfTI-specific rule.
The volume is never loaded whole: only the middle slice is read through nibabel's array proxy.
"""

from __future__ import annotations

import io

import numpy as np

from phiwall.containers.registry import Context
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
from phiwall.model import Part

MAX_SLICE_PIXELS = 50_000_000
TEXT_FIELDS = ("descrip", "aux_file", "intent_name", "db_name")


def children(part: Part, ctx: Context) -> list[Part]:
    """Header text and a rendered middle slice."""
    import nibabel as nib

    data = part.data or b""
    try:
        fh = nib.FileHolder(fileobj=io.BytesIO(data))
        klass = nib.Nifti2Image if data[:4] in (b"\x1c\x02\x00\x00", b"\x00\x00\x02\x1c") else nib.Nifti1Image
        img = klass.from_file_map({"header": fh, "image": fh})
    except Exception as exc:
        raise ExtractionError(f"NIfTI file could not be read ({type(exc).__name__}; truncated?)") from None
    hdr = img.header
    lines = []
    for key in TEXT_FIELDS:
        try:
            raw = hdr[key] if key in hdr else None
        except Exception:
            raw = None
        if raw is None:
            continue
        val = raw.tobytes() if hasattr(raw, "tobytes") else bytes(raw)
        text = val.split(b"\x00", 1)[0].decode("latin-1", errors="ignore").strip()
        if text:
            lines.append(f"{key}: {text}")
    out = []
    if (p := ctx.text("\n".join(lines), "header")) is not None:
        out.append(p)
    png = _middle_slice(img)
    if png is not None:
        out.append(ctx.file(png, "slice", "middle", filename="middle-slice.png"))
    return out


def _middle_slice(img: object) -> bytes | None:
    from PIL import Image

    shape = img.shape  # type: ignore[attr-defined]
    if len(shape) < 2:
        return None
    if shape[0] * shape[1] > MAX_SLICE_PIXELS:
        raise LimitError(f"NIfTI slice of {shape[0]}x{shape[1]} voxels exceeds the {MAX_SLICE_PIXELS} limit")
    index: tuple[int | slice, ...] = (slice(None), slice(None))
    if len(shape) >= 3:
        index += (shape[2] // 2,)
    index += tuple(0 for _ in shape[3:])
    try:
        arr = np.asarray(img.dataobj[index], dtype=np.float32)  # type: ignore[attr-defined]
    except Exception as exc:
        raise ExtractionError(f"NIfTI voxel data could not be read ({type(exc).__name__}; truncated?)") from None
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return None
    lo, hi = np.percentile(finite, (0.5, 99.5))
    if hi <= lo:
        hi = lo + 1.0
    u8 = np.clip((np.nan_to_num(arr, nan=lo) - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    u8 = np.rot90(u8)  # radiological display: first axis left-right, second anterior-posterior
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(u8), "L").save(buf, format="PNG")
    return buf.getvalue()
