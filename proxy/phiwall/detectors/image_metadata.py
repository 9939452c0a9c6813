"""IMAGE_METADATA:<entity> and IMAGE_METADATA:GPS: identifiers hidden in an image file's metadata.

A phone photo of a wound carries where it was taken (EXIF GPS) and often the owner's name (CameraOwnerName,
Artist, Windows XP* tags); exports from viewers write the patient's name into PNG text chunks, XMP or the ICC
profile description. None of it is visible, all of it reaches the chatbot. This detector reads these fields with
Pillow (header only: no pixel decode, so a pixel bomb costs nothing here), writes them as "Field: value" lines and
runs the PHI text detector over them, so that the field name gives the detector its context.

Camera make, model and serial number are not examined: they identify a camera, not a patient, and the text
detector reads "Canon EOS" as a name. Capture dates (DateTimeOriginal...) are not reported by default: every phone
photo has them, and reporting them would block every holiday picture. `report_dates: true` turns them on.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Mapping
from typing import Any
from typing import ClassVar

from PIL import Image

from phiwall.errors import DetectionError
from phiwall.errors import LimitError
from phiwall.errors import PolicyError
from phiwall.model import Finding
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind

IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff", "image/bmp", "image/heic", "image/heif",
     "image/avif"}
)  # fmt: skip
PREFIX = "IMAGE_METADATA:"
GPS = "IMAGE_METADATA:GPS"
MAX_TEXT = 256 * 1024  # metadata text examined per image; more is truncated (a 10 MB XMP is not a use case)

# EXIF tags that hold free text or people's names (IFD0 and Exif IFD).
TEXT_TAGS: dict[int, str] = {
    0x010E: "Image description",
    0x013B: "Artist",
    0x8298: "Copyright",
    0x9286: "User comment",
    0xA430: "Camera owner name",
    0x9C9B: "Title",
    0x9C9C: "Comment",
    0x9C9D: "Author",
    0x9C9E: "Keywords",
    0x9C9F: "Subject",
}
NAME_TAGS = frozenset({0x013B, 0xA430, 0x9C9D})  # an owner/author field is a person by its meaning
DATE_TAGS: dict[int, str] = {0x0132: "Date", 0x9003: "Date taken", 0x9004: "Date digitized"}
# XMP properties that hold people, free text or contact details (Dublin Core, IPTC Core/Ext, EXIF, aux, rights).
# Everything else in XMP is tool history, UUIDs, dates and URLs: reporting it would flag every edited photo.
XMP_FIELDS = (
    "creator", "description", "title", "subject", "rights", "Owner", "OwnerName", "Artist", "UserComment",
    "Credit", "PersonInImage", "CiEmailWork", "CiTelWork", "CiAdrExtadr", "CiAdrCity", "Headline",
    "CaptionWriter", "AuthorsPosition", "ImageDescription", "Instructions",
)  # fmt: skip
_XMP_ELEM = re.compile(r"<(?:\w+:)?(" + "|".join(XMP_FIELDS) + r")\b[^>]*>(.*?)</(?:\w+:)?\1>", re.S)
_XMP_ATTR = re.compile(r"\b\w+:(" + "|".join(XMP_FIELDS) + r")=\"([^\"]{2,})\"")
_TAGS = re.compile(r"<[^>]+>")
# ICC descriptions of standard profiles (a spaCy model reads "Adobe RGB (1998)" as a person).
_STANDARD_ICC = re.compile(
    r"^(?:s?RGB|Adobe|Display P3|Generic|Apple|ProPhoto|Dot Gain|Gray|Grey|c2|Color LCD|HP |U\.?S\.? Web|Coated|"
    r"Uncoated|ECI|ISO|Japan|Rec\.? ?(?:709|2020)|DCI|Linear|Camera RGB|ColorMatch|Wide Gamut|PhotoGamut|"
    r"Compact|Built-in|IEC)",
    re.I,
)
# PNG text keys written by software, not people.
TECHNICAL_KEYS = frozenset(
    {"software", "creation time", "date:create", "date:modify", "date:timestamp", "signature", "source",
     "xml:com.adobe.xmp", "raw profile type exif", "raw profile type xmp", "raw profile type iptc",
     "raw profile type icc", "icc", "exif", "dpi", "gamma", "srgb", "transparency", "thumb::uri", "thumb::mtime",
     "thumb::size", "thumb::mimetype", "thumb::image::width", "thumb::image::height"}
)  # fmt: skip
# Entities that identify a person. DATE_TIME, URL, IP_ADDRESS and LOCATION are left out by default: metadata is
# full of edit dates, namespace URLs and city names of software vendors.
DEFAULT_ENTITIES = frozenset(
    {"PERSON", "DATE_OF_BIRTH", "MRN", "ACCESSION_NUMBER", "AGE_OVER_89", "STREET_ADDRESS", "NPI", "DEA",
     "HEALTH_PLAN_ID", "ACCOUNT_NUMBER", "US_SSN", "PHONE_NUMBER", "EMAIL_ADDRESS", "US_DRIVER_LICENSE",
     "US_PASSPORT", "IBAN_CODE", "CREDIT_CARD"}
)  # fmt: skip
_OPTION_KEYS = frozenset({"report_dates", "text_phi", "min_score", "entities"})


class ImageMetadataDetector:
    """EXIF/GPS, PNG text chunks, XMP and ICC description → text detector; see the module docstring."""

    name: ClassVar[str] = "image_metadata"
    handles: ClassVar[frozenset[str]] = IMAGE_TYPES

    def __init__(self, options: Mapping[str, Any]) -> None:
        unknown = set(options) - _OPTION_KEYS
        if unknown:
            known = ", ".join(sorted(_OPTION_KEYS))
            raise PolicyError(f"image_metadata: unknown option(s) {', '.join(sorted(unknown))}; known: {known}")
        self.report_dates = bool(options.get("report_dates", False))
        self.min_score = float(options.get("min_score", 0.5))
        self.entities = frozenset(options.get("entities", DEFAULT_ENTITIES))
        self.text_options = dict(options.get("text_phi", {}) or {})
        self._text_detector: Any = None

    def detect(self, part: Part) -> list[Finding]:
        if part.data is None:
            return []
        img = _open(part.data)
        findings: list[Finding] = []
        lines: list[str] = []
        exif = img.getexif()
        if _has_gps(exif):
            findings.append(Finding(self.name, GPS, part.id, 1.0, explanation="EXIF GPS position present"))
        names: list[tuple[int, int]] = []  # spans of owner/author values in the joined text
        pos = 0

        def add(label: str, value: str, is_name: bool = False) -> None:
            nonlocal pos
            value = " ".join(value.replace("\x00", " ").split())
            if len(value) < 2:
                return
            line = f"{label}: {value}"
            if is_name and any(c.isalpha() for c in value):
                names.append((pos + len(label) + 2, pos + len(line)))
            lines.append(line)
            pos += len(line) + 1

        ifds: list[Mapping[int, Any]] = [exif]  # the main IFD (Image.Exif) and the Exif sub-IFD (a dict)
        try:
            ifds.append(exif.get_ifd(0x8769))  # Exif IFD
        except Exception:  # a broken sub-IFD is skipped, the rest still counts
            pass
        for ifd in ifds:
            for tag, label in TEXT_TAGS.items():
                if tag in ifd:
                    add(label, _as_text(ifd[tag]), tag in NAME_TAGS)
            if self.report_dates:
                for tag, label in DATE_TAGS.items():
                    if tag in ifd:
                        add(label, _as_text(ifd[tag]))
        for key, val in _text_chunks(img).items():
            add(str(key)[:40], val)
        xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
        if xmp:
            add("XMP", _xmp_text(xmp))
        icc = img.info.get("icc_profile")
        if icc:
            add("ICC profile", _icc_description(icc))
        if not lines:
            return findings
        text = "\n".join(lines)[:MAX_TEXT]
        found = self._text().detect(Part("meta", PartKind.TEXT, Locator("body"), text=text))
        person_hit = False
        for f in found:
            if f.score < self.min_score or f.entity not in self.entities:
                continue
            person_hit |= f.entity == "PERSON"
            findings.append(
                Finding(
                    self.name,
                    PREFIX + f.entity,
                    part.id,
                    f.score,
                    digest=f.digest,
                    explanation=f"metadata text; text_phi: {f.explanation}",
                )  # fmt: skip
            )
        if names and not person_hit:
            from phiwall.digest import value_digest

            s, e = names[0]
            findings.append(
                Finding(
                    self.name,
                    PREFIX + "PERSON",
                    part.id,
                    0.7,
                    digest=value_digest(text[s:e]),
                    explanation="owner/author metadata field holds a name",
                )  # fmt: skip
            )
        return findings

    def _text(self) -> Any:
        if self._text_detector is None:
            from phiwall.detectors import text_phi

            self._text_detector = text_phi.build(self.text_options)
        return self._text_detector


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise LimitError("image declares more pixels than the decompression-bomb limit") from None
    except Exception as exc:
        raise DetectionError(f"image metadata could not be read ({type(exc).__name__})") from None


def _has_gps(exif: Image.Exif) -> bool:
    try:
        gps = exif.get_ifd(0x8825)
    except Exception:
        return False
    return any(k in gps for k in (1, 2, 3, 4))  # latitude ref/value, longitude ref/value


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        if value[:8] in (b"ASCII\x00\x00\x00", b"UNICODE\x00", b"\x00" * 8):  # EXIF UserComment header
            enc = "utf-16" if value[:8] == b"UNICODE\x00" else "latin-1"
            return value[8:].decode(enc, errors="ignore")
        try:
            return value.decode("utf-16-le")  # Windows XP* tags
        except UnicodeDecodeError:
            return value.decode("latin-1", errors="ignore")
    if isinstance(value, tuple):
        return " ".join(_as_text(v) for v in value)
    return str(value)


def _text_chunks(img: Image.Image) -> dict[str, str]:
    """PNG tEXt/zTXt/iTXt (Pillow decodes them into `text`), GIF/WebP comments."""
    out: dict[str, str] = {}
    try:
        text = getattr(img, "text", None) or {}
    except Exception:  # Pillow raises on a corrupt or oversized zTXt
        text = {}
    for k, v in dict(text).items():
        key = str(k).strip().casefold()
        # "dc:format", "exif:PixelXDimension", "icc:description"...: properties ImageMagick copies from the file.
        if key not in TECHNICAL_KEYS and ":" not in key:
            out[str(k)] = str(v)
    comment = img.info.get("comment")
    if isinstance(comment, bytes):
        out["Comment"] = comment.decode("utf-8", errors="ignore")
    elif isinstance(comment, str):
        out["Comment"] = comment
    return out


def _xmp_text(xmp: Any) -> str:
    raw = xmp.decode("utf-8", errors="ignore") if isinstance(xmp, bytes) else str(xmp)
    raw = raw[:MAX_TEXT]
    vals = [_TAGS.sub(" ", v) for _k, v in _XMP_ELEM.findall(raw)] + [v for _k, v in _XMP_ATTR.findall(raw)]
    return " ; ".join(" ".join(v.split()) for v in vals if v.strip())


def _icc_description(icc: bytes) -> str:
    """The profile description tag ('desc'/'mluc'), which some tools fill with free text."""
    try:
        from PIL import ImageCms

        prof = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        desc = str(ImageCms.getProfileDescription(prof) or "").strip()
        return "" if _STANDARD_ICC.match(desc) else desc
    except Exception:
        return ""


def build(options: Mapping[str, Any]) -> ImageMetadataDetector:
    """Factory used by the detector registry."""
    return ImageMetadataDetector(options)
