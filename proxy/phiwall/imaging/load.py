"""Safe raster image loading for the detectors.

Images arrive from strangers: a 2 KB PNG can claim 50 000 x 50 000 pixels (a decompression bomb), a JPEG can be
cut off mid-upload, a phone HEIC is rotated by an EXIF tag. Everything here checks the declared size from the
header before any pixel is decoded, decodes only the first frame, and asks the JPEG decoder for a reduced-size
decode (`Image.draft`) so a 12 MP photo costs the same as a thumbnail.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image
from PIL import ImageOps

from phiwall.errors import DetectionError
from phiwall.errors import LimitError

MAX_PIXELS = 100_000_000  # 100 MP: the largest size any image may declare (a JPEG is decoded reduced)
# Pixels decoded at full resolution (before the downscale): a 9999x9999 PNG is legal but would take 400 MB as
# RGBA and 2 GB through the mode conversions. 40 MP covers phone photos (JPEGs decode reduced anyway), CR plates
# and mammograms. Detectors take `max_decode_pixels` from their policy options to change it.
MAX_DECODE_PIXELS = 40_000_000
DEFAULT_MAX_SIDE = 512

_heif_registered = False


def _register_heif() -> None:
    """Register pillow-heif lazily: the import costs ~50 ms and most images are not HEIC."""
    global _heif_registered
    if _heif_registered:
        return
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
        pass
    _heif_registered = True


def open_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open (not decode) an image and enforce the pixel limit from its header.

    Raises LimitError over `max_pixels`, DetectionError when the bytes are not a readable image.
    """
    if data[4:12].startswith(b"ftyp"):
        _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise LimitError(f"image declares more pixels than the {max_pixels} pixel limit") from None
    except Exception as exc:
        raise DetectionError(f"image could not be opened ({type(exc).__name__})") from None
    width, height = img.size
    if width <= 0 or height <= 0:
        raise DetectionError("image has an empty size")
    if width * height > max_pixels:
        raise LimitError(f"image of {width}x{height} pixels exceeds the {max_pixels} pixel limit")
    return img


def load_image(
    data: bytes,
    *,
    max_side: int | None = DEFAULT_MAX_SIDE,
    max_pixels: int = MAX_PIXELS,
    max_decode_pixels: int = MAX_DECODE_PIXELS,
) -> Image.Image:
    """Decode the first frame of `data` into an "L" or "RGB" image no larger than `max_side` (None = full size).

    Alpha is composited on white (how chat UIs display transparent images), high-bit-depth grayscale is
    stretched to 8 bits rather than clipped, EXIF orientation is applied. At most `max_decode_pixels` are decoded
    at full resolution (LimitError above that, which the policy's on_error decides), and the image is reduced to
    about `max_side` before any mode conversion copies it, so peak memory is one decoded frame.
    """
    img = open_image(data, max_pixels=max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            if max_side is not None and img.format == "JPEG":
                img.draft("RGB" if img.mode not in ("L", "1") else "L", (max_side, max_side))
            w, h = img.size
            if w * h > max_decode_pixels:
                raise LimitError(
                    f"image of {w}x{h} pixels is over the {max_decode_pixels}-pixel decode limit "
                    "(detector option max_decode_pixels)"
                )
            img.load()
            if max_side is not None:
                img = _reduce(img, max_side)
            img = ImageOps.exif_transpose(img) or img
            img = to_display_mode(img)
            if max_side is not None and max(img.size) > max_side:
                img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    except (LimitError, DetectionError):
        raise
    except Exception as exc:  # truncated data, corrupt chunks, unsupported codec options
        raise DetectionError(f"image could not be decoded ({type(exc).__name__})") from None
    return img


def _reduce(img: Image.Image, max_side: int) -> Image.Image:
    """Shrink by a whole factor to no less than `max_side` on the long side, in the image's own mode (a palette
    image by nearest neighbour, so its palette and transparency stay), before conversions multiply its size."""
    factor = max(img.size) // max_side
    if factor < 2:
        return img
    if img.mode in ("P", "PA", "1", "I;16", "I;16B", "I;16L", "I;16N"):
        size = (max(1, img.size[0] // factor), max(1, img.size[1] // factor))
        out = img.resize(size, Image.Resampling.NEAREST)
    else:
        out = img.reduce(factor)
    out.info = dict(img.info)  # EXIF orientation and transparency travel with the pixels
    return out


def to_display_mode(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to "L" or "RGB" as a viewer would display it."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I", "F", "I;16N"):
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = np.percentile(arr, (0.5, 99.5)) if arr.size else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        out = np.clip((arr - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(out, "L")
    if mode == "1":
        return img.convert("L")
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        return background.convert("RGB")
    return img.convert("RGB")
