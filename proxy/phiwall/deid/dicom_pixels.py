"""Clean Pixel Data: burned-in PHI found by OCR (and this file's own header values) painted out, frame by frame.

Why render-then-paint-the-stored-values: tesseract reads 8-bit pictures, the file stores 12-16-bit values (or YBR,
or palette indices). Each frame is rendered the way a viewer would (`imaging.render`), OCR'd with the same
detector the proxy blocks with (`burned_in_text`: header deny-list, text PHI recogniser, name layouts), and the
boxes are painted into the decoded stored values, which keeps every pixel outside the boxes as it was.

Writing back: no box found -> the Pixel Data bytes are not touched (no recompression, no loss). Boxes found ->
native transfer syntaxes stay native; RLE and JPEG 2000 are re-encoded (lossless) where pydicom's encoders are
available; other compressed syntaxes (JPEG baseline, JPEG-LS, JPEG lossless) are written as Explicit VR Little
Endian with PhotometricInterpretation updated (YBR is decoded to RGB).
"""

from __future__ import annotations

from typing import Any
from typing import Final

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000
from pydicom.uid import UID
from pydicom.uid import ExplicitVRBigEndian
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.uid import JPEG2000Lossless
from pydicom.uid import RLELossless

from phiwall.deid.options import CannotDeidentify
from phiwall.deid.options import DicomDeidOptions
from phiwall.errors import DetectionError
from phiwall.errors import LimitError

Box = tuple[int, int, int, int]
MAX_FRAMES: Final = 512
MIN_CINE_FRAMES: Final = 64  # up to this many frames every frame is read (frame by frame, about 0.1 s each)
MAX_CINE_PIXELS: Final = 64_000_000  # frames x rows x cols held at once for the static-pixel shortcut
_REENCODE: Final[dict[str, str]] = {
    str(RLELossless): str(RLELossless),
    str(JPEG2000Lossless): str(JPEG2000Lossless),
    str(JPEG2000): str(JPEG2000Lossless),  # decoded lossy values kept exactly; LossyImageCompression stays 01
}

_detectors: dict[int, Any] = {}


def _detector(min_conf: int) -> Any:
    """One BurnedInTextDetector per confidence threshold and process (its text_phi model loads once)."""
    det = _detectors.get(min_conf)
    if det is None:
        from phiwall.detectors.burned_in_text import BurnedInTextDetector

        det = BurnedInTextDetector({"min_confidence": min_conf})
        _detectors[min_conf] = det
    return det


def find_boxes(img: Any, deny: list[tuple[str, str]], opts: DicomDeidOptions | Any) -> list[Box]:
    """Boxes of burned-in PHI (or, with `paint_all_text`, of every OCR line) in a rendered frame or picture."""
    from phiwall.detectors.burned_in_text import BURNED_IN_TEXT
    from phiwall.detectors.burned_in_text import PREFIX

    det = _detector(int(opts.min_ocr_confidence))
    findings = det.detect_image("pixels", img, 1.0, deny if getattr(opts, "use_header_denylist", True) else ())
    wanted = getattr(opts, "entities", None)
    out: list[Box] = []
    for f in findings:
        if f.bbox is None:
            continue
        if f.entity == BURNED_IN_TEXT:
            if opts.paint_all_text:
                out.append(f.bbox)
            continue
        if f.entity.startswith(PREFIX) and (wanted is None or f.entity[len(PREFIX) :] in wanted):
            out.append(f.bbox)
    return out


def padded(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of `box` grown by a margin that covers antialiased glyph edges, clipped to the image."""
    x, y, w, h = box
    m = max(2, h // 5)
    return max(0, x - m), max(0, y - m), min(width, x + w + m), min(height, y + h + m)


def paint(arr: np.ndarray, boxes: list[Box], fill: Any, method: str = "blackout") -> int:
    """Paint `boxes` into one frame (rows, cols[, samples]) in place; returns how many were painted."""
    h, w = arr.shape[0], arr.shape[1]
    n = 0
    for b in boxes:
        x0, y0, x1, y1 = padded(b, w, h)
        if x1 <= x0 or y1 <= y0:
            continue
        region = arr[y0:y1, x0:x1]
        if method == "pixelate":
            block = max(4, (y1 - y0) // 2)
            for yy in range(0, region.shape[0], block):
                for xx in range(0, region.shape[1], block):
                    cell = region[yy : yy + block, xx : xx + block]
                    cell[...] = cell.mean(axis=(0, 1)).astype(arr.dtype)
        else:  # blackout (blur of text is reversible enough to be refused here too)
            region[...] = fill
        n += 1
    return n


def clean_pixels(ds: Dataset, deny: list[tuple[str, str]], opts: DicomDeidOptions, stats: Any) -> None:
    """OCR every frame, paint the PHI boxes into the stored values, write the pixels back (see module docstring).

    Raises:
        CannotDeidentify: OCR is unavailable or failed, or the pixels cannot be decoded or re-encoded.
    """
    from phiwall import ocr
    from phiwall.imaging.render import render_dataset

    if "PixelData" not in ds:
        return  # float pixel data (parametric maps) carries no burned-in annotation
    nframes = max(1, int(ds.get("NumberOfFrames", 1) or 1))
    if nframes > MAX_FRAMES:
        raise CannotDeidentify("too_large", f"DICOM with {nframes} frames exceeds the {MAX_FRAMES}-frame limit")
    if not ocr.available():
        raise CannotDeidentify("ocr_failed", "burned-in text cannot be checked here (OCR is not installed)")
    per_frame: list[list[Box]] = []
    seen: dict[bytes, list[Box]] = {}
    try:
        imgs = [render_dataset(ds, frame=i) for i in range(nframes)] if nframes > 1 else []
        static = _static_boxes(imgs, deny, opts) if nframes >= MIN_CINE_FRAMES else None
        if static is not None:
            per_frame = static
        else:
            for i in range(nframes):
                img = imgs[i] if imgs else render_dataset(ds, frame=i)
                key = img.tobytes()[:: max(1, img.width // 7)]  # identical frames are OCR'd once
                boxes = seen.get(key)
                if boxes is None:
                    boxes = find_boxes(img, deny, opts)
                    seen[key] = boxes
                per_frame.append(boxes)
    except (DetectionError, LimitError) as exc:
        raise CannotDeidentify("codec", f"the DICOM pixels could not be checked for burned-in text ({exc})") from None
    if not any(per_frame):
        return
    _write_painted(ds, per_frame, opts, stats)


def _static_boxes(imgs: list[Any], deny: list[tuple[str, str]], opts: DicomDeidOptions) -> list[list[Box]] | None:
    """Long cine loops (64+ frames, where reading every frame would run past the inspection time limit): burned-in
    annotations do not move, the anatomy does. The pixels that are the same in every
    frame are OCR'd once (everything else blanked), plus the first, middle and last frames in full; when every box
    those frames show is covered by a static box, the static boxes (and the sampled frames' own) are painted in
    every frame. Otherwise (text that changes from frame to frame) None: the caller reads every frame."""
    from PIL import Image

    if len({im.size for im in imgs}) != 1 or len(imgs) * imgs[0].width * imgs[0].height > MAX_CINE_PIXELS:
        return None
    stack = np.stack([np.asarray(im.convert("L")) for im in imgs])
    still = (stack.max(axis=0).astype(np.int16) - stack.min(axis=0)) <= 2
    composite = Image.fromarray(np.where(still, stack[0], 0).astype(np.uint8), "L")
    fixed = find_boxes(composite, deny, opts)
    sampled = {i: find_boxes(imgs[i], deny, opts) for i in sorted({0, len(imgs) // 2, len(imgs) - 1})}
    for boxes in sampled.values():
        if not all(any(_covers(f, b) for f in fixed) for b in boxes):
            return None
    return [fixed + sampled.get(i, []) for i in range(len(imgs))]


def _covers(outer: Box, inner: Box) -> bool:
    """Whether `outer` covers at least half of `inner`'s area."""
    x0, y0 = max(outer[0], inner[0]), max(outer[1], inner[1])
    x1 = min(outer[0] + outer[2], inner[0] + inner[2])
    y1 = min(outer[1] + outer[3], inner[1] + inner[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter * 2 >= inner[2] * inner[3]


def _write_painted(ds: Dataset, per_frame: list[list[Box]], opts: DicomDeidOptions, stats: Any) -> None:
    ts = UID(str(ds.file_meta.TransferSyntaxUID))
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    try:
        arr = np.array(ds.pixel_array)  # YBR is returned as RGB
    except Exception as exc:
        raise CannotDeidentify("codec", f"the DICOM pixels could not be decoded ({type(exc).__name__})") from None
    frames = arr if len(per_frame) > 1 else arr[np.newaxis, ...]
    if photometric.startswith("YBR"):
        photometric = "RGB"
    for i, boxes in enumerate(per_frame):
        if not boxes:
            continue
        frame = frames[i]
        if frame.ndim == 3:
            fill: Any = 0
        elif photometric == "MONOCHROME1":
            fill = frame.max()
        else:
            fill = frame.min()
        stats.regions_painted += paint(frame, boxes, fill, opts.paint_method)
        stats.frames_cleaned += 1
    if ts == ExplicitVRBigEndian or ts.is_compressed:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    bits_stored = int(ds.get("BitsStored", 8 * arr.dtype.itemsize))
    try:
        if photometric == "PALETTE COLOR":
            _set_native(ds, arr)
        else:
            ds.set_pixel_data(arr, photometric, bits_stored, generate_instance_uid=False)
    except Exception as exc:
        raise CannotDeidentify(
            "codec", f"the cleaned DICOM pixels could not be stored ({type(exc).__name__})"
        ) from None
    target = _REENCODE.get(str(ts))
    if target is not None:
        try:
            ds.compress(target, generate_instance_uid=False)
            if int(ds.get("SamplesPerPixel", 1)) == 3 and photometric == "RGB":
                # the encoder applies the reversible colour transform to RGB; PS3.5 8.2.4 names it YBR_RCT
                ds.PhotometricInterpretation = "YBR_RCT"
        except Exception:  # no encoder for this layout: Explicit VR Little Endian is always readable
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if opts.paint_all_text:  # every text line is gone; with PHI-only painting the claim would not hold
        ds.BurnedInAnnotation = "NO"


def _set_native(ds: Dataset, arr: np.ndarray) -> None:
    """Palette-colour indices go back as they came (set_pixel_data does not take PALETTE COLOR)."""
    bits = int(ds.BitsAllocated)
    dtype = np.dtype(f"<{'i' if int(ds.get('PixelRepresentation', 0)) else 'u'}{max(1, bits // 8)}")
    ds.PixelData = arr.astype(dtype).tobytes()
    ds["PixelData"].VR = "OW" if bits > 8 else "OB"
    ds["PixelData"].is_undefined_length = False
