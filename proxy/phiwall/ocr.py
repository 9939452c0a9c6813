"""Optical character recognition with Debian's tesseract (`apt-get install tesseract-ocr tesseract-ocr-eng`).

Two engines behind one function, `ocr_words`:

- `LibTesseract` (default when it loads): the C API of Debian's `libtesseract.so.5` through ctypes. The English
  model is loaded once per worker process; a run is bounded by tesseract's own deadline monitor. Measured here:
  the CLI spends 150-200 ms per call just loading `eng.traineddata`, which alone would eat half of the 400 ms
  budget for a 1024x1024 image. A crash inside the library kills only the worker process, which the pool
  replaces and reports as a failed (hence blocked) inspection: fail-closed.
- `CliTesseract` (fallback, or `PHIWALL_OCR_ENGINE=cli`): the `tesseract` program as a subprocess, killed at
  the timeout. Slower, fully isolated.

`OMP_THREAD_LIMIT=1` is set for both: tesseract's OpenMP threads fight each other on these 2-core machines
(measured 3x slower) and worker processes already provide the parallelism.

What comes back is words with pixel boxes in the coordinates of the image that was passed in (any scaling done
here is undone), grouped into lines whose text is the words joined by single spaces, so a text detector's
character spans map back to word boxes. Nothing here logs recognised text: it is PHI until proven otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from PIL import Image
from PIL import ImageOps

from phiwall.errors import DetectionError

Box = tuple[int, int, int, int]  # x, y, w, h in pixels

DEFAULT_TIMEOUT_S = 10.0
MAX_OCR_SIDE = 2048
"""Larger images are shrunk to this side before OCR: burned-in text of a 3000 px CR plate stays legible at 2048 and
tesseract's time grows with the area."""
MIN_OCR_SIDE = 640
"""Small images (a 256x256 MR slice with 8 px annotation text) are enlarged: tesseract reads text of ~20 px
cap height best and misses most text under 10 px."""
PAD = 12
INK_THRESHOLD = 55
DPI = 300  # stated to tesseract so it does not guess ("Estimating resolution") per image
MIN_CONFIDENCE = 30.0
"""Words tesseract is less sure of are dropped: on noisy X-ray texture it reports letters in bone edges with
confidence 0-20."""

_ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word: text, confidence (0-100) and box, plus its line key from tesseract's layout."""

    text: str
    conf: float
    box: Box
    line_key: tuple[int, int, int]  # (block, paragraph, line)


@dataclass(frozen=True, slots=True)
class Line:
    """Words of one layout line. `text` is the words joined by single spaces; `spans[i]` is the character range
    of `words[i]` in `text`, so a finding's span maps back to the boxes it covers."""

    text: str
    words: tuple[Word, ...]
    spans: tuple[tuple[int, int], ...]

    @property
    def box(self) -> Box:
        return union_box(w.box for w in self.words)

    def boxes_for_span(self, start: int, end: int) -> list[Box]:
        """Boxes of the words that overlap characters [start, end) of `text`."""
        return [w.box for w, (s, e) in zip(self.words, self.spans, strict=True) if s < end and e > start]


def available() -> bool:
    """Whether tesseract can run here (tests skip OCR cases with a reason when it cannot)."""
    if shutil.which("tesseract") is not None:
        return True
    try:
        engine()
    except DetectionError:
        return False
    return isinstance(_engine, LibTesseract)


def union_box(boxes: Iterable[Box]) -> Box:
    """Smallest box that contains all `boxes`."""
    bs = list(boxes)
    if not bs:
        return (0, 0, 0, 0)
    x0 = min(b[0] for b in bs)
    y0 = min(b[1] for b in bs)
    x1 = max(b[0] + b[2] for b in bs)
    y1 = max(b[1] + b[3] for b in bs)
    return (x0, y0, x1 - x0, y1 - y0)


def _prepare(img: Image.Image) -> tuple[Image.Image, float]:
    """Grayscale and rescale for tesseract; returns the image and the factor applied (boxes are divided by it)."""
    gray = img if img.mode == "L" else img.convert("L")
    side = max(gray.size)
    scale = 1.0
    if side > MAX_OCR_SIDE:
        scale = MAX_OCR_SIDE / side
    elif side < MIN_OCR_SIDE:
        scale = min(MIN_OCR_SIDE / side, 4.0)
    if scale != 1.0:
        size = (max(1, round(gray.size[0] * scale)), max(1, round(gray.size[1] * scale)))
        resample = Image.Resampling.BILINEAR if scale < 1.0 else Image.Resampling.LANCZOS
        gray = gray.resize(size, resample)
    return gray, scale


def _pad(gray: Image.Image) -> Image.Image:
    """Add a margin in the border's colour: tesseract drops text that touches the image edge (a cropped export
    with the patient's name in the first pixel rows is common)."""
    arr = np.asarray(gray)
    fill = int(np.median(np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])))
    return ImageOps.expand(gray, border=PAD, fill=fill)


class OcrEngine(Protocol):
    """Runs tesseract on an 8-bit grayscale image and returns its TSV text (header line first)."""

    name: str

    def tsv(self, gray: Image.Image, *, psm: int, timeout: float) -> str:
        """TSV for `gray`. Raises DetectionError when OCR is unavailable, timed out or failed."""
        ...


class CliTesseract:
    """The `tesseract` program as a subprocess: isolated, hard-killed at the timeout, ~170 ms start-up per call."""

    name = "cli"

    def tsv(self, gray: Image.Image, *, psm: int, timeout: float) -> str:
        exe = shutil.which("tesseract")
        if exe is None:
            raise DetectionError("OCR is not available: the tesseract program is not installed")
        buf = io.BytesIO()
        gray.save(buf, format="PPM")  # no compression cost; leptonica reads PNM from stdin
        cmd = [exe, "stdin", "stdout", "-l", "eng", "--psm", str(psm), "-c", f"user_defined_dpi={DPI}", "tsv"]
        try:
            proc = subprocess.run(
                cmd, input=buf.getvalue(), capture_output=True, timeout=timeout, env=_ENV, check=False
            )
        except subprocess.TimeoutExpired:
            raise DetectionError(f"OCR timed out after {timeout:g} s") from None
        except OSError as exc:
            raise DetectionError(f"OCR could not start ({type(exc).__name__})") from None
        if proc.returncode != 0:
            raise DetectionError(f"OCR failed (tesseract exit status {proc.returncode})")
        return proc.stdout.decode("utf-8", errors="replace")


class LibTesseract:
    """Debian's libtesseract.so.5 through its C API: the model stays loaded, a deadline monitor bounds each run.

    One instance per process, used under a lock (the C API handle is not re-entrant).
    """

    name = "lib"

    def __init__(self) -> None:
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # read by libgomp when the library first starts threads
        lib = ctypes.CDLL(ctypes.util.find_library("tesseract") or "libtesseract.so.5")
        vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        lib.TessBaseAPICreate.restype = vp
        lib.TessBaseAPIInit3.argtypes = [vp, cp, cp]
        lib.TessBaseAPISetVariable.argtypes = [vp, cp, cp]
        lib.TessBaseAPISetPageSegMode.argtypes = [vp, i]
        lib.TessBaseAPISetImage.argtypes = [vp, cp, i, i, i, i]
        lib.TessBaseAPISetSourceResolution.argtypes = [vp, i]
        lib.TessBaseAPIRecognize.argtypes = [vp, vp]
        lib.TessBaseAPIGetTsvText.argtypes = [vp, i]
        lib.TessBaseAPIGetTsvText.restype = vp
        lib.TessDeleteText.argtypes = [vp]
        lib.TessBaseAPIClear.argtypes = [vp]
        lib.TessMonitorCreate.restype = vp
        lib.TessMonitorSetDeadlineMSecs.argtypes = [vp, i]
        lib.TessMonitorDelete.argtypes = [vp]
        self._lib = lib
        self._api = lib.TessBaseAPICreate()
        if lib.TessBaseAPIInit3(self._api, None, b"eng") != 0:
            raise DetectionError("OCR is not available: tesseract could not load its English model")
        lib.TessBaseAPISetVariable(self._api, b"debug_file", b"/dev/null")
        self._lock = threading.Lock()

    def tsv(self, gray: Image.Image, *, psm: int, timeout: float) -> str:
        data = gray.tobytes()
        w, h = gray.size
        lib = self._lib
        with self._lock:
            lib.TessBaseAPISetPageSegMode(self._api, psm)
            lib.TessBaseAPISetImage(self._api, data, w, h, 1, w)
            lib.TessBaseAPISetSourceResolution(self._api, DPI)
            monitor = lib.TessMonitorCreate()
            try:
                lib.TessMonitorSetDeadlineMSecs(monitor, max(1, int(timeout * 1000)))
                rc = lib.TessBaseAPIRecognize(self._api, monitor)
                if rc != 0:
                    lib.TessBaseAPIClear(self._api)
                    raise DetectionError(f"OCR timed out after {timeout:g} s or failed (status {rc})")
                ptr = lib.TessBaseAPIGetTsvText(self._api, 0)
                try:
                    text = ctypes.string_at(ptr).decode("utf-8", errors="replace") if ptr else ""
                finally:
                    if ptr:
                        lib.TessDeleteText(ptr)
            finally:
                lib.TessMonitorDelete(monitor)
                lib.TessBaseAPIClear(self._api)
        return "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n" + text


_engine: OcrEngine | None = None
_engine_lock = threading.Lock()


def engine() -> OcrEngine:
    """The process's OCR engine, built on first use: the library when it loads, else the CLI."""
    global _engine
    with _engine_lock:
        if _engine is None:
            choice = os.environ.get("PHIWALL_OCR_ENGINE", "lib")
            if choice == "lib":
                try:
                    _engine = LibTesseract()
                except (OSError, AttributeError, DetectionError):
                    _engine = CliTesseract()
            else:
                _engine = CliTesseract()
        return _engine


def run_tesseract(img: Image.Image, *, psm: int = 11, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Run tesseract on an 8-bit grayscale `img` and return its TSV output.

    Raises:
        DetectionError: tesseract is missing, timed out or failed. The message carries no recognised text.
    """
    gray = img if img.mode == "L" else img.convert("L")
    return engine().tsv(gray, psm=psm, timeout=timeout)


def parse_tsv(tsv: str, scale: float = 1.0, min_conf: float = MIN_CONFIDENCE, offset: int = 0) -> list[Word]:
    """Words from tesseract's TSV (level 5 rows), low-confidence and blank words dropped; boxes are moved back by
    the `offset` margin and divided by `scale`, clipped at 0."""
    words: list[Word] = []
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        text = cols[11].strip()
        if not text:
            continue
        try:
            conf = float(cols[10])
            left, top, width, height = (int(c) for c in cols[6:10])
            key = (int(cols[2]), int(cols[3]), int(cols[4]))
        except ValueError:
            continue
        if conf < min_conf:
            continue
        left, top = left - offset, top - offset
        if left < 0:
            width, left = width + left, 0
        if top < 0:
            height, top = height + top, 0
        if scale != 1.0:
            left, top = int(left / scale), int(top / scale)
            width, height = max(1, round(width / scale)), max(1, round(height / scale))
        words.append(Word(text, conf, (left, top, width, height), key))
    return words


def ink_map(gray: Image.Image, threshold: int = INK_THRESHOLD) -> Image.Image:
    """Black "ink" on white wherever a pixel differs strongly from its local background, whatever its polarity.

    Burned-in annotations are white on a dark film in one corner and black on a bright field in another, over
    anatomy that tesseract reads as letters. The local background is a median over a window about twice the height
    of annotation text (computed at half resolution: a quarter of the cost, same result on the corpus), so thin
    strokes and the gaps between letters both read as background and only the strokes become ink. Measured on the
    presidio Pseudo-PHI images: names that plain or inverted grayscale OCR missed are read in full.
    """
    a = np.asarray(gray if gray.mode == "L" else gray.convert("L"))
    h, w = a.shape
    small = np.ascontiguousarray(a[::2, ::2])
    bg = cv2.medianBlur(small, 25 if min(small.shape) > 25 else 3)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_NEAREST)
    diff = cv2.absdiff(a, bg)
    return Image.fromarray(np.where(diff > threshold, 0, 255).astype(np.uint8), "L")


def ocr_words(
    img: Image.Image,
    *,
    psm: int = 11,
    timeout: float = DEFAULT_TIMEOUT_S,
    min_conf: float = MIN_CONFIDENCE,
    binarize: bool = True,
) -> list[Word]:
    """Recognise words in `img`; boxes are in `img`'s own pixel coordinates.

    Args:
        img: any Pillow image (converted to grayscale, shrunk or enlarged for tesseract, padded).
        psm: tesseract page segmentation mode; 11 ("sparse text") finds scattered annotations in the corners of a
            scan, which the default page layout analysis (3) often drops.
        timeout: hard limit in seconds for the OCR run.
        min_conf: words with a lower confidence (0-100) are dropped.
        binarize: OCR the polarity-free `ink_map` instead of the grayscale image (see there why).

    Raises:
        DetectionError: OCR unavailable, timed out or failed.
    """
    gray, scale = _prepare(img)
    if binarize:
        gray = ink_map(gray)
    tsv = run_tesseract(_pad(gray), psm=psm, timeout=timeout)
    return parse_tsv(tsv, scale, min_conf, offset=PAD)


def group_lines(words: Sequence[Word]) -> list[Line]:
    """Group words into lines by tesseract's (block, paragraph, line) key, in reading order."""
    by_key: dict[tuple[int, int, int], list[Word]] = {}
    for w in words:
        by_key.setdefault(w.line_key, []).append(w)
    lines: list[Line] = []
    for ws in by_key.values():
        ws.sort(key=lambda w: w.box[0])
        parts: list[str] = []
        spans: list[tuple[int, int]] = []
        pos = 0
        for w in ws:
            spans.append((pos, pos + len(w.text)))
            parts.append(w.text)
            pos += len(w.text) + 1
        lines.append(Line(" ".join(parts), tuple(ws), tuple(spans)))
    lines.sort(key=lambda ln: (ln.box[1], ln.box[0]))
    return lines
