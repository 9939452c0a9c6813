"""The policy `with:` vocabulary of action `deidentify`, as plain frozen dataclasses.

Why dataclasses and not the pydantic models of `policy/schema.py`: these cross the process boundary to the worker
pool (pickled) and are the engines' only input besides the bytes and the keys, so they must be small, immutable
and free of validation machinery. `policy/schema.py` validates the YAML and builds these with `from_mapping`-style
keyword arguments; the field names are the YAML keys.

The DICOM options are the PS3.15 Annex E profile options (Table E.1-1 columns); their names follow the standard
("Retain Longitudinal Temporal Information with Modified Dates" -> `retain_longitudinal_modified_dates`).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Final
from typing import Literal

from phiwall.errors import PhiWallError

TextOperator = Literal["pseudonym", "surrogate", "replace", "mask", "hash", "redact"]
TEXT_OPERATORS: Final = ("pseudonym", "surrogate", "replace", "mask", "hash", "redact")

DicomProfile = Literal["basic"]
PaintMethod = Literal["blackout", "blur", "pixelate"]
PAINT_METHODS: Final = ("blackout", "blur", "pixelate")

DEFAULT_UID_ROOT: Final = "2.25"
"""UUID-derived UIDs (PS3.5 B.2): `2.25.<decimal of 128 bits>` needs no registered root and is always valid."""


@dataclass(frozen=True)
class TextDeidOptions:
    """How PHI spans found in text are replaced.

    `pseudonym` gives meaning-keeping stand-ins (`[PATIENT_1]`, `[DATE_1]`) that are consistent per conversation
    and restored in the reply; `surrogate` gives realistic fakes (names, dates shifted consistently); `replace`
    uses `template`; `mask` overwrites `mask_chars` characters with `mask_char`; `hash` puts a keyed digest;
    `redact` removes the span.
    """

    operator: TextOperator = "pseudonym"
    entities: tuple[str, ...] | None = None  # None: every entity the text_phi detector reports
    template: str = "<{entity}>"  # operator replace
    mask_char: str = "*"  # operator mask
    mask_chars: int | None = None  # operator mask: None masks the whole span
    mask_from_end: bool = False
    min_score: float | None = None  # None: the rule's / detector's threshold
    restore: bool = True  # pseudonym/surrogate: put the originals back in the reply


@dataclass(frozen=True)
class DicomDeidOptions:
    """PS3.15 Annex E Basic Application Level Confidentiality Profile and its options.

    Every field defaults to the plain Basic Profile. `keep_safe_private_tags` keeps private attributes that the
    Retain Safe Private Option lists as safe (a known-safe creator/element list); otherwise all private tags go.
    `uid_root` is the root under which replaced UIDs are minted (default 2.25, the UUID root).
    """

    profile: DicomProfile = "basic"
    retain_longitudinal_full_dates: bool = False
    retain_longitudinal_modified_dates: bool = False
    retain_patient_characteristics: bool = False
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    retain_uids: bool = False
    clean_descriptors: bool = False
    clean_structured_content: bool = False
    clean_graphics: bool = False
    clean_pixel_data: bool = True
    keep_safe_private_tags: bool = False
    uid_root: str = DEFAULT_UID_ROOT
    max_date_shift_days: int = 365  # modified dates: shift in [-max, -1] days, one per patient
    patient_id_prefix: str = "PW"  # pseudonymous PatientID = prefix + keyed digest
    paint_method: PaintMethod = "blackout"
    use_header_denylist: bool = True  # paint OCR boxes whose text matches a header value (presidio DICOM idea)
    min_ocr_confidence: int = 40
    paint_all_text: bool = False  # paint every OCR'd box, not only PHI ones


@dataclass(frozen=True)
class ImageDeidOptions:
    """Raster images (PNG, JPEG, WebP, HEIC): paint PHI text boxes and faces, strip identifying metadata."""

    paint_text: bool = True  # OCR + text PHI detector; boxes with PHI are painted
    paint_all_text: bool = False  # paint every OCR'd box (ignores the PHI detector)
    paint_faces: bool = False
    strip_metadata: bool = True  # EXIF, XMP, IPTC, PNG text chunks, comments, identifying ICC descriptions
    keep_icc_profile: bool = True  # the colour profile itself is kept; its description/copyright text is not
    keep_orientation: bool = True  # apply EXIF orientation to pixels before stripping, so nothing rotates
    paint_method: PaintMethod = "blackout"
    min_ocr_confidence: int = 40
    entities: tuple[str, ...] | None = None  # text PHI entities that get a box painted; None: all
    jpeg_quality: int = 95  # re-encoding quality when pixels changed (JPEG, WebP lossy)


@dataclass(frozen=True)
class DeidOptionSet:
    """All three kinds together, as one rule's `with:` block resolves to."""

    text: TextDeidOptions = field(default_factory=TextDeidOptions)
    dicom: DicomDeidOptions = field(default_factory=DicomDeidOptions)
    image: ImageDeidOptions = field(default_factory=ImageDeidOptions)


# --- keys, results and the one error the engines raise --------------------------------------------------------------


@dataclass(frozen=True)
class DeidKeys:
    """Keys the engines derive stand-ins from; all derived from the installation secret (see `uids.derive_keys`).

    Every replica shares the secret, so every replica (and `phiwall deid` on the same installation) maps the
    same StudyInstanceUID to the same new UID and the same PatientID to the same pseudonym. Never logged.
    """

    uid: bytes  # HMAC key for UID remapping
    patient: bytes  # HMAC key for PatientID / name pseudonyms
    dates: bytes  # HMAC key for the per-patient date shift
    digest: bytes  # HMAC key for `hash` operators and summaries

    def __repr__(self) -> str:  # never print key material
        return "DeidKeys(<secret>)"


@dataclass(frozen=True)
class DeidResult:
    """New bytes plus a PHI-free summary: counts by action, tags (as keywords), regions, frames. Never a value."""

    data: bytes
    media_type: str
    summary: dict[str, int | str | list[str]]
    changed: bool = True


class CannotDeidentify(PhiWallError):
    """A part cannot be de-identified (no writer for its format, a codec missing, a registered size that cannot be
    kept, a file that does not parse). The caller falls back to block with `reason`; never a silent pass.

    `code` is a stable slug for audit and tests (`unsupported_format`, `size_registered`, `codec`, `unparseable`,
    `too_large`, `ocr_failed`, `nested`); the message says what the person can do and never holds a value.
    """

    kind = "cannot_deidentify"
    status = 403

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = message
