"""BURNED_IN_TEXT and BURNED_IN:<entity>: text drawn into the pixels of an image or a DICOM file.

Ultrasound machines, CR plates and PACS screenshots write the patient's name, ID and birth date into the image
itself, where no header scrub reaches them. This detector OCRs the pixels (phiwall.ocr: tesseract, bounded in
time), groups the words into lines and

* runs the lines through the PHI text detector (`text_phi`), each finding becoming `BURNED_IN:<entity>` with the
  pixel box of the words it covers;
* for DICOM, also matches the words against the file's own header values (a deny-list: name, IDs, dates,
  institution), because OCR of "DAVIDSON DOUGLAS" rarely reads as a name to an NER model but equals PatientName;
* reports each line of legible text as `BURNED_IN_TEXT` with its box, so a de-identifier can paint it out.

OCR is the costliest step of the whole pipeline (150-400 ms), so it is only run where it can matter: DICOM pixel
data always, raster images only when a cheap ink-blob count on a thumbnail says text is likely (`ocr_images:
texty`). The pipeline already skips this detector when an earlier, cheaper one made the verdict BLOCK (it is
registered last). Boxes are (x, y, w, h) in the pixel coordinates of the displayed image (EXIF orientation
applied; DICOM: Columns x Rows of the first frame).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import ClassVar

import cv2
import numpy as np
from PIL import Image

from phiwall import ocr
from phiwall.digest import value_digest
from phiwall.errors import DetectionError
from phiwall.errors import PolicyError
from phiwall.model import Finding
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.sniff import DICOM

IMAGE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/tiff",
        "image/bmp",
        "image/heic",
        "image/heif",
        "image/avif",
    }
)
BURNED_IN_TEXT = "BURNED_IN_TEXT"
PREFIX = "BURNED_IN:"
HEADER_VALUE = "DICOM_HEADER_VALUE"

# Header attributes whose values are matched against OCR words, and the entity a match is reported as.
# Values of any other identifying attribute (dicom.header_values) are reported as DICOM_HEADER_VALUE.
KEYWORD_ENTITIES: dict[str, str] = {
    "PatientName": "PERSON",
    "OtherPatientNames": "PERSON",
    "PatientBirthName": "PERSON",
    "PatientMotherBirthName": "PERSON",
    "ReferringPhysicianName": "PERSON",
    "PerformingPhysicianName": "PERSON",
    "NameOfPhysiciansReadingStudy": "PERSON",
    "OperatorsName": "PERSON",
    "RequestingPhysician": "PERSON",
    "PatientID": "MRN",
    "OtherPatientIDs": "MRN",
    "AccessionNumber": "ACCESSION_NUMBER",
    "PatientBirthDate": "DATE_OF_BIRTH",
    "StudyDate": "DATE_TIME",
    "SeriesDate": "DATE_TIME",
    "AcquisitionDate": "DATE_TIME",
    "ContentDate": "DATE_TIME",
    "InstitutionName": "LOCATION",
    "InstitutionAddress": "STREET_ADDRESS",
    "InstitutionalDepartmentName": "LOCATION",
    "PatientAddress": "STREET_ADDRESS",
    "PatientTelephoneNumbers": "PHONE_NUMBER",
}

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# "CARTER, STEPHANIE" / "DOE^JOHN": how modalities and PACS print the patient's name (DICOM PN order, upper case).
# An NER model trained on prose does not see a name in it; this layout rule does.
_PN_LAYOUT = re.compile(r"\b(?P<value>[A-Z][A-Z'\-]{2,}\s*[,^]\s*[A-Z][A-Z'\-]{2,})\b")
# "DAVIDSON DOUGLAS [M]": upper-case words followed by a bracketed sex marker, a common overlay header line.
_PN_SEX = re.compile(r"(?P<value>\b[A-Z][A-Z'\-]{1,}(?: [A-Z][A-Z'\-]{1,}){1,3} ?[\[(][MFUO][\])])")
_PN_STOP = frozenset(
    {
        "DOB",
        "AGE",
        "SEX",
        "MRN",
        "STUDY",
        "SERIES",
        "IMAGE",
        "SLICE",
        "AXIAL",
        "CORONAL",
        "SAGITTAL",
        "PORTABLE",
        "UPRIGHT",
        "SUPINE",
        "CHEST",
        "HEAD",
        "LEFT",
        "RIGHT",
        "ANT",
        "POST",
        "LAT",
        "THE",
        "AND",
        "FOR",
        "WITH",
        "CONTRAST",
        "PHANTOM",
        "TEST",
        "DOSE",
        "GAIN",
        "DEPTH",
        "FREQ",
        "USA",
    }
)
_HAS_ALNUM3 = re.compile(r"[0-9A-Za-z]{3}")


def normalize(text: str) -> list[str]:
    """Casefolded alphanumeric tokens: OCR and header values meet here ("DAVIDSON^DOUGLAS" ~ "Davidson, Douglas")."""
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").casefold()
    return [tok for tok in _NON_ALNUM.split(t) if tok]


@dataclass(frozen=True, slots=True)
class _Options:
    ocr_images: str  # "texty" (gate on an ink-blob count), "always", "never"
    ocr_dicom: bool
    timeout_s: float
    min_confidence: float
    min_text_score: float
    text_options: Mapping[str, Any]
    min_blobs: int
    deny_list_min_len: int


_OPTION_KEYS = frozenset(
    {
        "ocr_images",
        "ocr_dicom",
        "timeout_seconds",
        "min_confidence",
        "min_text_score",
        "text_phi",
        "min_text_blobs",
        "deny_list_min_length",
    }
)


def _parse_options(options: Mapping[str, Any]) -> _Options:
    unknown = set(options) - _OPTION_KEYS
    if unknown:
        raise PolicyError(
            f"burned_in_text: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_OPTION_KEYS))}"
        )
    mode = str(options.get("ocr_images", "texty"))
    if mode not in ("texty", "always", "never"):
        raise PolicyError("burned_in_text: ocr_images must be one of texty, always, never")
    return _Options(
        ocr_images=mode,
        ocr_dicom=bool(options.get("ocr_dicom", True)),
        timeout_s=float(options.get("timeout_seconds", ocr.DEFAULT_TIMEOUT_S)),
        min_confidence=float(options.get("min_confidence", ocr.MIN_CONFIDENCE)),
        min_text_score=float(options.get("min_text_score", 0.5)),
        text_options=dict(options.get("text_phi", {}) or {}),
        min_blobs=int(options.get("min_text_blobs", 6)),
        deny_list_min_len=int(options.get("deny_list_min_length", 3)),
    )


def text_blob_count(img: Image.Image, side: int = 768) -> int:
    """How many letter-sized ink blobs sit next to another one on a line, on a <=`side` px thumbnail.

    The OCR gate. Letters are small compact blobs of a similar height in a row; photos, anatomy and charts give
    few such rows. Cost: about 5-15 ms, against 150-400 ms for OCR.
    """
    thumb = img if img.mode == "L" else img.convert("L")
    if max(thumb.size) > side:
        thumb = thumb.copy()
        thumb.thumbnail((side, side), Image.Resampling.BILINEAR)
    ink = 255 - np.asarray(ocr.ink_map(thumb))
    n, _labels, stats, _centroids = cv2.connectedComponentsWithStats((ink > 0).astype(np.uint8), connectivity=8)
    if n <= 1:
        return 0
    st = stats[1:]
    w, h, area = st[:, cv2.CC_STAT_WIDTH], st[:, cv2.CC_STAT_HEIGHT], st[:, cv2.CC_STAT_AREA]
    fill = area / np.maximum(w * h, 1)
    letter = (h >= 4) & (h <= 48) & (w >= 1) & (w <= 1.6 * h + 4) & (fill > 0.12) & (fill < 0.95)
    idx = np.flatnonzero(letter)
    if idx.size < 2:
        return 0
    x = st[idx, cv2.CC_STAT_LEFT].astype(np.float32)
    y = st[idx, cv2.CC_STAT_TOP].astype(np.float32)
    hh = h[idx].astype(np.float32)
    cy = y + hh / 2
    order = np.argsort(cy)
    count = 0
    # A letter counts when another letter of similar height sits beside it (same baseline band, close in x).
    for i_pos, i in enumerate(order):
        for j in order[i_pos + 1 :]:
            if cy[j] - cy[i] > hh[i] * 0.5:
                break
            if abs(hh[j] - hh[i]) <= 0.4 * max(hh[i], hh[j]) and abs(x[j] - x[i]) <= 2.5 * max(hh[i], hh[j]):
                count += 1
                break
    return count


class BurnedInTextDetector:
    """OCR of image and DICOM pixels; see the module docstring for what is reported and why."""

    name: ClassVar[str] = "burned_in_text"
    handles: ClassVar[frozenset[str]] = IMAGE_TYPES | {DICOM}

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.opts = _parse_options(options)
        self._text_detector: Any = None

    # -- public ---------------------------------------------------------------------------------------------------

    def detect(self, part: Part) -> list[Finding]:
        if part.data is None:
            return []
        if part.media_type == DICOM:
            if not self.opts.ocr_dicom:
                return []
            img, deny = self._dicom_image(part.data)
            if img is None:
                return []
            return self.detect_image(part.id, img, 1.0, deny)
        if self.opts.ocr_images == "never":
            return []
        from phiwall.imaging.load import load_image
        from phiwall.imaging.load import open_image

        full = open_image(part.data).size
        img = load_image(part.data, max_side=ocr.MAX_OCR_SIDE)
        if self.opts.ocr_images == "texty" and text_blob_count(img) < self.opts.min_blobs:
            return []
        scale = max(full) / max(img.size)
        return self.detect_image(part.id, img, scale, ())

    def detect_image(
        self, part_id: str, img: Image.Image, scale: float = 1.0, deny: Sequence[tuple[str, str]] = ()
    ) -> list[Finding]:
        """OCR `img` and report lines, text-detector hits and deny-list hits; boxes are multiplied by `scale`.

        Args:
            part_id: the part the findings belong to.
            img: the decoded picture.
            scale: factor from `img` pixels to the original's pixels (the image may have been shrunk to load).
            deny: (entity, value) pairs from the file's own header; never logged.
        """
        words = ocr.ocr_words(img, timeout=self.opts.timeout_s, min_conf=self.opts.min_confidence)
        lines = [ln for ln in ocr.group_lines(words) if _HAS_ALNUM3.search(ln.text)]
        if not lines:
            return []
        findings: list[Finding] = []

        def box(b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
            if scale == 1.0:
                return b
            return (round(b[0] * scale), round(b[1] * scale), max(1, round(b[2] * scale)), max(1, round(b[3] * scale)))

        for ln in lines:
            conf = sum(w.conf for w in ln.words) / len(ln.words)
            findings.append(
                Finding(
                    self.name,
                    BURNED_IN_TEXT,
                    part_id,
                    round(conf / 100.0, 3),
                    bbox=box(ln.box),
                    explanation=f"OCR line of {len(ln.words)} word(s)",
                )
            )
        covered: set[tuple[str, tuple[int, int, int, int]]] = set()
        for entity, b, digest in self._deny_list_hits(lines, deny):
            covered.add((entity, b))
            findings.append(
                Finding(
                    self.name,
                    PREFIX + entity,
                    part_id,
                    0.95,
                    bbox=box(b),
                    digest=digest,
                    explanation="OCR words equal a value of this file's DICOM header",
                )
            )
        for entity, b, score, hit_digest, expl in self._text_hits(lines) + _name_layout_hits(lines):
            if (entity, b) in covered or score < self.opts.min_text_score:
                continue
            findings.append(
                Finding(self.name, PREFIX + entity, part_id, score, bbox=box(b), digest=hit_digest, explanation=expl)
            )
        return findings

    # -- internals ------------------------------------------------------------------------------------------------

    def _dicom_image(self, data: bytes) -> tuple[Image.Image | None, list[tuple[str, str]]]:
        from phiwall import dicom_io
        from phiwall.imaging.render import render_dataset

        try:
            ds = dicom_io.read_dataset(data, with_pixels=True)
        except dicom_io.DicomReadError:
            raise DetectionError("DICOM could not be read for OCR") from None
        if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            return None, []
        with dicom_io.quiet_pydicom():
            img = render_dataset(ds)
        return img, dicom_deny_list(ds)

    def _text(self) -> Any:
        if self._text_detector is None:
            from phiwall.detectors import text_phi

            self._text_detector = text_phi.build(self.opts.text_options)
        return self._text_detector

    def _text_hits(
        self, lines: Sequence[ocr.Line]
    ) -> list[tuple[str, tuple[int, int, int, int], float, str | None, str]]:
        joined = "\n".join(ln.text for ln in lines)
        starts = []
        pos = 0
        for ln in lines:
            starts.append(pos)
            pos += len(ln.text) + 1
        part = Part("ocr", PartKind.TEXT, Locator("body"), text=joined)
        out = []
        for f in self._text().detect(part):
            if f.start is None or f.end is None:
                continue
            boxes = []
            for ln, s0 in zip(lines, starts, strict=True):
                if f.start < s0 + len(ln.text) and f.end > s0:
                    boxes.extend(ln.boxes_for_span(f.start - s0, f.end - s0))
            if boxes:
                out.append((f.entity, ocr.union_box(boxes), f.score, f.digest, f"text_phi: {f.explanation}"))
        return out

    def _deny_list_hits(
        self, lines: Sequence[ocr.Line], deny: Sequence[tuple[str, str]]
    ) -> list[tuple[str, tuple[int, int, int, int], str]]:
        if not deny:
            return []
        variants: list[tuple[str, list[str], str]] = []
        for entity, value in deny:
            digest = value_digest(value)
            for variant in value_variants(entity, value, self.opts.deny_list_min_len):
                variants.append((entity, variant, digest))
        out: dict[tuple[str, tuple[int, int, int, int]], str] = {}
        for ln in lines:
            toks: list[str] = []
            owner: list[int] = []
            for i, w in enumerate(ln.words):
                for t in normalize(w.text):
                    toks.append(t)
                    owner.append(i)
            for entity, vt, digest in variants:
                n = len(vt)
                for k in range(len(toks) - n + 1):
                    if all(_close(toks[k + m], vt[m]) for m in range(n)):
                        b = ocr.union_box(ln.words[owner[k + m]].box for m in range(n))
                        out.setdefault((entity, b), digest)
        return [(e, b, d) for (e, b), d in out.items()]


def _name_layout_hits(
    lines: Sequence[ocr.Line],
) -> list[tuple[str, tuple[int, int, int, int], float, str | None, str]]:
    out: list[tuple[str, tuple[int, int, int, int], float, str | None, str]] = []
    for ln in lines:
        for m in [*_PN_LAYOUT.finditer(ln.text), *_PN_SEX.finditer(ln.text)]:
            parts = re.split(r"\s*[,^\s]\s*", m.group("value").split("[")[0].split("(")[0].strip())
            if any(p in _PN_STOP for p in parts):
                continue
            boxes = ln.boxes_for_span(*m.span("value"))
            if boxes:
                expl = "upper-case name annotation layout (SURNAME, GIVEN or NAME [sex])"
                out.append(("PERSON", ocr.union_box(boxes), 0.75, value_digest(m.group("value")), expl))
    return out


def _close(ocr_tok: str, value_tok: str) -> bool:
    """Equal, or one OCR slip (substitution/insertion/deletion) in a token of 5+ characters."""
    if ocr_tok == value_tok:
        return True
    if len(value_tok) < 5 or abs(len(ocr_tok) - len(value_tok)) > 1 or value_tok.isdigit():
        return False
    a, b = ocr_tok, value_tok
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    if len(a) > len(b):
        a, b = b, a
    for i in range(len(b)):
        if b[:i] + b[i + 1 :] == a:
            return True
    return False


def value_variants(entity: str, value: str, min_len: int = 3) -> list[list[str]]:
    """Token sequences under which a header value may be burned in: dates in the common orders, person-name
    components alone and in both orders, other values whole. Tokens shorter than `min_len` are never matched
    alone (an "M" or "CT" would match everywhere)."""
    out: list[list[str]] = []
    digits = re.sub(r"\D", "", value)
    if entity in ("DATE_OF_BIRTH", "DATE_TIME") and len(digits) == 8:
        y, m, d = digits[:4], digits[4:6], digits[6:]
        out += [[m, d, y], [d, m, y], [y, m, d], [digits], [m + d + y], [d + m + y]]
        return out
    toks = normalize(value)
    if not toks:
        return out
    if entity == "PERSON":
        comps = [t for t in toks if len(t) >= min_len]
        out += [[c] for c in comps]
        if len(comps) >= 2:
            out += [comps, comps[::-1]]
        return out
    if len(toks) == 1 and len(toks[0]) < min_len:
        return out
    out.append(toks)
    joined = "".join(toks)
    if len(toks) > 1 and len(joined) >= min_len:
        out.append([joined])
    return out


def dicom_deny_list(ds: Any) -> list[tuple[str, str]]:
    """(entity, value) pairs from a dataset's identifying attributes. PHI: keep in memory, never log."""
    from phiwall.detectors.dicom import header_values

    out: dict[tuple[str, str], None] = {}
    known: set[str] = set()
    for kw, entity in KEYWORD_ENTITIES.items():
        if kw not in ds:
            continue
        try:
            val = ds.get(kw)
        except Exception:  # a malformed value is simply not matched
            continue
        vals = list(val) if isinstance(val, list | tuple) or type(val).__name__ == "MultiValue" else [val]
        for v in vals:
            s = str(v).strip()
            if len(s) >= 2:
                out[(entity, s)] = None
                known.add(s)
    try:
        rest = header_values(ds)
    except Exception:
        rest = []
    for s in rest:
        if s not in known and not any(s in k for k in known):
            out[(HEADER_VALUE, s)] = None
    return list(out)


def build(options: Mapping[str, Any]) -> BurnedInTextDetector:
    """Factory used by the detector registry."""
    return BurnedInTextDetector(options)
