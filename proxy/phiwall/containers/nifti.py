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
from dataclasses import dataclass

import numpy as np

from phiwall.containers.registry import Context
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
from phiwall.locators import NotRewritable
from phiwall.locators import RewriteError
from phiwall.locators import Step
from phiwall.locators import Value
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
    header_step: Step = NiftiHeader(tuple(ln.split(":", 1)[0] for ln in lines))
    if NiftiHeader.text_of(data, header_step.keys) != "\n".join(lines):  # type: ignore[attr-defined]
        header_step = NotRewritable(NO_HEADER_WRITE)  # nibabel read something the byte layout does not explain
    if (p := ctx.text("\n".join(lines), "header", steps=(header_step,))) is not None:
        out.append(p)
    png = _middle_slice(img)
    if png is not None:
        out.append(ctx.file(png, "slice", "middle", filename="middle-slice.png", steps=(NotRewritable(SLICE),)))
    return out


# Where the free-text fields sit in the header (byte offset, length): NIfTI-1 (348-byte header) and NIfTI-2.
_FIELDS_1 = {"db_name": (14, 18), "descrip": (148, 80), "aux_file": (228, 24), "intent_name": (328, 16)}
_FIELDS_2 = {"descrip": (240, 80), "aux_file": (320, 24), "intent_name": (508, 16)}
SLICE = (
    "the slice phiwall renders from a NIfTI volume is a picture of the volume, not part of the file; "
    "phiwall cannot paint it back into the volume: remove the identifying content and send it again"
)
NO_HEADER_WRITE = "phiwall cannot rewrite this NIfTI header; clear its description fields and send it again"


@dataclass(frozen=True, slots=True)
class NiftiHeader(Step):
    """The header's free-text fields as "key: value" lines (what the text detectors read); written back field by
    field in place, NUL-padded, every other byte of the file unchanged. A value longer than its field, a line
    removed or renamed, or a character outside Latin-1 cannot be written (`not_rewritable`)."""

    keys: tuple[str, ...]

    @staticmethod
    def _layout(data: bytes) -> dict[str, tuple[int, int]]:
        return _FIELDS_2 if data[:4] in (b"\x1c\x02\x00\x00", b"\x00\x00\x02\x1c") else _FIELDS_1

    @staticmethod
    def text_of(data: bytes, keys: tuple[str, ...]) -> str:
        layout = NiftiHeader._layout(data)
        lines = []
        for key in keys:
            if key not in layout:
                return ""
            off, n = layout[key]
            raw = data[off : off + n]
            lines.append(f"{key}: {raw.split(b'\x00', 1)[0].decode('latin-1').strip()}")
        return "\n".join(lines)

    def read(self, outer: Value) -> Value:
        if not isinstance(outer, bytes):
            raise RewriteError("stale", "a NIfTI file is bytes")
        return NiftiHeader.text_of(outer, self.keys)

    def write(self, outer: Value, inner: Value) -> Value:
        if not isinstance(outer, bytes) or not isinstance(inner, str):
            raise RewriteError("bad_edit", "a NIfTI header takes text")
        lines = inner.split("\n")
        if [ln.split(":", 1)[0] for ln in lines] != list(self.keys) or any(": " not in ln for ln in lines):
            raise RewriteError("not_rewritable", NO_HEADER_WRITE)
        layout = NiftiHeader._layout(outer)
        buf = bytearray(outer)
        for key, ln in zip(self.keys, lines, strict=True):
            off, n = layout[key]
            try:
                value = ln.split(": ", 1)[1].encode("latin-1")
            except UnicodeEncodeError:
                raise RewriteError("not_rewritable", NO_HEADER_WRITE) from None
            if len(value) > n:
                raise RewriteError(
                    "not_rewritable", f"the new NIfTI {key} is longer than its {n}-character header field"
                )
            buf[off : off + n] = value + b"\x00" * (n - len(value))
        return bytes(buf)


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
