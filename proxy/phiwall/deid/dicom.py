"""DICOM de-identification to PS3.15 Annex E, Basic Application Level Confidentiality Profile, with its options.

Why our own walker and not pydicom/deid's recipes: the profile is a table (see `annex_e.py`), and the options
change single cells of it; a recipe file would be that table again, in a language the policy schema cannot check.
The walker applies, for every element at any depth:

- private (odd group) elements: removed, unless `keep_safe_private_tags` and the element is on the small
  known-safe list (value-free type/version markers);
- Table E.1-1 rows: the action after the enabled options (K beats C beats the Basic column); combined codes
  resolve to the most conformant choice: X/Z -> Z, X/D, Z/D, X/Z/D -> D, X/Z/U* -> keep the sequence and replace
  the UIDs inside;
- UI elements not in the table (references, frames of reference, anything but well-known DICOM UIDs and class
  UIDs) are remapped with the same keyed function, so references inside the set stay consistent;
- PN elements not in the table are emptied (a name is identifying whatever attribute holds it);
- a residual sweep: any remaining text value that contains an identifying value of this file's own header
  (names, IDs, dates, institution) is emptied; remaining DA/DT values equal to a removed date are shifted or
  emptied. The standard's table cannot foresee a site writing the patient's name into ImageComments.

Patient identity: PatientID becomes a keyed pseudonym (same patient -> same pseudonym on every replica), PatientName
the same pseudonym; with Retain Longitudinal Temporal Information with Modified Dates every date of the patient is
shifted by one keyed number of days. PatientIdentityRemoved, DeidentificationMethod(CodeSequence) and
LongitudinalTemporalInformationModified record what was done.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Final

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID
from pydicom.uid import UID
from pydicom.uid import DeflatedExplicitVRLittleEndian
from pydicom.uid import ExplicitVRBigEndian
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.uid import RLELossless

from phiwall import dicom_io
from phiwall.deid import uids
from phiwall.deid.annex_e import PROFILE
from phiwall.deid.options import CannotDeidentify
from phiwall.deid.options import DeidKeys
from phiwall.deid.options import DeidResult
from phiwall.deid.options import DicomDeidOptions

MEDIA_TYPE: Final = "application/dicom"
MEDIA_STORAGE_DIRECTORY: Final = "1.2.840.10008.1.3.10"
MAX_DEPTH: Final = 32
# Dummy values (action D); the first one that differs from every identifying value of the file is used, so a
# dummy never re-creates an original ("Anonymized" and "000000" are real values in real files).
DUMMY_TEXTS: Final = ("DEIDENTIFIED", "REMOVED", "XXXXXXXX")
DUMMY_DATES: Final = ("19000101", "19010101", "19020202")
DUMMY_TIMES: Final = ("000000", "120000", "235959")

# Option letters of annex_e.PROFILE, from the options that enable them.
_OPTION_FLAGS: Final[tuple[tuple[str, str], ...]] = (
    ("F", "retain_longitudinal_full_dates"),
    ("M", "retain_longitudinal_modified_dates"),
    ("P", "retain_patient_characteristics"),
    ("V", "retain_device_identity"),
    ("I", "retain_institution_identity"),
    ("U", "retain_uids"),
    ("S", "clean_descriptors"),
    ("T", "clean_structured_content"),
    ("G", "clean_graphics"),
)

# CID 7050 De-identification Method codes (PS3.16), in the order they are listed.
CID_7050: Final[dict[str, tuple[str, str]]] = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "clean_pixel_data": ("113101", "Clean Pixel Data Option"),
    "clean_graphics": ("113103", "Clean Graphics Option"),
    "clean_structured_content": ("113104", "Clean Structured Content Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
    "retain_longitudinal_full_dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "retain_longitudinal_modified_dates": (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain_device_identity": ("113109", "Retain Device Identity Option"),
    "retain_uids": ("113110", "Retain UIDs Option"),
    "keep_safe_private_tags": ("113111", "Retain Safe Private Option"),
    "retain_institution_identity": ("113112", "Retain Institution Identity Option"),
}

# UI attributes that name a class, syntax or scheme, never an instance: never remapped.
_CLASS_UID_KEYWORDS: Final = frozenset(
    {
        "SOPClassUID",
        "MediaStorageSOPClassUID",
        "ReferencedSOPClassUID",
        "ReferencedSOPClassUIDInFile",
        "AffectedSOPClassUID",
        "RequestedSOPClassUID",
        "TransferSyntaxUID",
        "ReferencedTransferSyntaxUIDInFile",
        "ImplementationClassUID",
        "PrivateInformationCreatorUID",
        "CodingSchemeUID",
        "ContextGroupExtensionCreatorUID",
        "MappingResourceUID",
        "RelatedGeneralSOPClassUID",
        "OriginalSpecializedSOPClassUID",
        "SOPClassesInStudy",
        "ConceptNameCodeSequence",
        "LongCodeValue",
        "SourceApplicationEntityTitle",
    }
)
_STANDARD_UID_PREFIX: Final = "1.2.840.10008."
_BULK: Final = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
# X/Z sequences that are Type 2 in the IODs that carry them: emptied (Z), not removed, to stay conformant.
_TYPE2_SEQUENCES: Final = frozenset({"AcquisitionContextSequence"})

# Retain Safe Private: value-free markers that say which private layout follows (no patient or site data).
SAFE_PRIVATE: Final[frozenset[tuple[str, int, int]]] = frozenset(
    {
        ("SIEMENS CSA HEADER", 0x0029, 0x08),  # CSA Image Header Type
        ("SIEMENS CSA HEADER", 0x0029, 0x09),  # CSA Image Header Version
        ("SIEMENS CSA HEADER", 0x0029, 0x18),  # CSA Series Header Type
        ("SIEMENS CSA HEADER", 0x0029, 0x19),  # CSA Series Header Version
    }
)

_FREE_TEXT_VRS: Final = frozenset({"LO", "LT", "SH", "ST", "UC", "UT"})
_TEXT_VRS: Final = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "DA", "DT", "TM", "AS"})
_SWEEP_MIN_LEN: Final = 4
# Header attributes whose values are searched for elsewhere by the residual sweep (identifying by meaning).
_SWEEP_KEYWORDS: Final = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "PatientBirthDate",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "NameOfPhysiciansReadingStudy",
    "PhysiciansOfRecord",
    "RequestingPhysician",
    "InstitutionName",
    "InstitutionAddress",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StationName",
    "DeviceSerialNumber",
    "IssuerOfPatientID",
    "MedicalRecordLocator",
)


@dataclass
class Stats:
    """PHI-free counters; `tags` holds keywords (never values) of what was changed, for the audit summary."""

    removed: int = 0
    emptied: int = 0
    dummied: int = 0
    uids_remapped: int = 0
    dates_shifted: int = 0
    private_removed: int = 0
    residual_cleaned: int = 0
    regions_painted: int = 0
    frames: int = 0
    frames_cleaned: int = 0
    tags: set[str] = field(default_factory=set)

    def summary(self, transfer_syntax: str) -> dict[str, int | str | list[str]]:
        return {
            "kind": "dicom",
            "removed": self.removed,
            "emptied": self.emptied,
            "replaced": self.dummied,
            "uids_remapped": self.uids_remapped,
            "dates_shifted": self.dates_shifted,
            "private_removed": self.private_removed,
            "residual_cleaned": self.residual_cleaned,
            "regions_painted": self.regions_painted,
            "frames": self.frames,
            "frames_cleaned": self.frames_cleaned,
            "transfer_syntax": transfer_syntax,
            "tags": sorted(self.tags),
        }


@dataclass
class _Ctx:
    opts: DicomDeidOptions
    keys: DeidKeys
    letters: frozenset[str]
    pseudonym: str
    shift_days: int | None  # None: dates are not shifted (removed/emptied/dummied, or kept with full dates)
    sweep: tuple[str, ...]  # casefolded identifying values of this file (PHI: memory only)
    sweep_dates: frozenset[str]
    avoid: frozenset[str]  # casefolded original values of Table E.1-1 attributes: a dummy must not equal one
    stats: Stats
    uid_cache: dict[str, str] = field(default_factory=dict)
    descriptors: list[DataElement] = field(default_factory=list)  # C-kept free text, for the text PHI pass

    def uid(self, old: str) -> str:
        new = self.uid_cache.get(old)
        if new is None:
            new = uids.new_uid(self.keys.uid, old, self.opts.uid_root)
            self.uid_cache[old] = new
        return new


PixelCleaner = Callable[[Dataset, list[tuple[str, str]], DicomDeidOptions, Stats], None]


def deidentify_dicom(
    data: bytes,
    opts: DicomDeidOptions,
    keys: DeidKeys,
    *,
    keep_length: int | None = None,
    pixel_cleaner: PixelCleaner | None = None,
) -> DeidResult:
    """De-identify one DICOM file (Part 10, or a bare data set) and return the new bytes and a PHI-free summary.

    Args:
        data: the file's bytes.
        opts: the profile and its options.
        keys: keyed-stand-in keys from the installation secret (`uids.derive_keys`).
        keep_length: when set, the output has exactly this many bytes (Data Set Trailing Padding fills the rest).
        pixel_cleaner: replaces the OCR-based pixel cleaning (`dicom_pixels.clean_pixels`); tests and benchmarks
            of the header path pass a no-op.

    Raises:
        CannotDeidentify: the bytes do not parse, are truncated, the pixels cannot be decoded for cleaning, or
            `keep_length` cannot be met.
    """
    if not uids.valid_uid_root(opts.uid_root):
        raise CannotDeidentify("invalid_option", "uid_root is not a valid UID root (dotted decimal, at most 42 chars)")
    try:
        read = dicom_io.read_dicom(data, with_pixels=True, defer_size=None)
    except dicom_io.DicomReadError:
        raise CannotDeidentify("unparseable", "the DICOM file could not be read; it was not forwarded") from None
    if read.truncated or read.salvaged:
        raise CannotDeidentify("unparseable", "the DICOM file is truncated or damaged; send a complete file")
    ds = read.dataset
    meta = getattr(ds, "file_meta", None)
    if meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY:
        # A DICOMDIR's records point at byte offsets: cleaning it as a plain data set would break them.
        from phiwall.deid.files import deidentify_dicomdir
        from phiwall.deid.options import DeidOptionSet

        if keep_length is not None:
            raise CannotDeidentify("size_registered", _SIZE_MESSAGE)
        out = deidentify_dicomdir(data, DeidOptionSet(dicom=opts), keys)
        return DeidResult(out, MEDIA_TYPE, {"kind": "dicomdir"})
    stats = Stats()
    with dicom_io.quiet_pydicom():
        # The pixel pass matches burned-in text against the header as it was; collected only when it will run.
        deny = _deny_list(ds) if opts.clean_pixel_data and _has_pixels(ds) else []
        ctx = _context(ds, opts, keys, stats)
        clean_dataset(ds, ctx)
        _clean_descriptors(ctx)
        _clean_meta(ds, ctx)
        _mark(ds, opts, ctx)
        if _has_pixels(ds):
            stats.frames = _frames(ds)
            if opts.clean_pixel_data:
                cleaner = pixel_cleaner
                if cleaner is None:
                    from phiwall.deid.dicom_pixels import clean_pixels

                    cleaner = clean_pixels
                cleaner(ds, deny, opts, stats)
        if _transfer_syntax(ds) == ExplicitVRBigEndian:
            _to_little_endian(ds)
        part10 = read.has_file_meta or read.has_preamble
        out = _write(ds, part10)
        if keep_length is not None:
            out = _fit_length(ds, out, keep_length, part10, stats)
    ts = str(_transfer_syntax(ds) or "")
    return DeidResult(out, MEDIA_TYPE, stats.summary(ts))


def _fit_length(ds: Dataset, out: bytes, keep_length: int, part10: bool, stats: Stats) -> bytes:
    """Meet a registered size: pad when shorter; when longer, make room without losing anything the profile keeps,
    in this order: (1) one DeidentificationMethod value (the code sequence still lists every method); (2) native
    pixels stored RLE Lossless (same values, usually half the bytes); (3) JPEG 2000 pixels re-encoded lossy at the
    compression ratio that fits (only when the input was JPEG 2000). A difference smaller than a padding element is
    absorbed by lengthening the DeidentificationMethod value. Refused when nothing fits."""
    from pydicom.uid import JPEG2000

    def attempt(data: bytes) -> bytes | None:
        diff = keep_length - len(data)
        ts = str(_transfer_syntax(ds) or "")
        if diff < 0 or diff % 2:
            return None
        header = 8 if (UID(ts).is_implicit_VR if ts else True) else 12
        if 0 < diff < header:  # too small for an element: lengthen a value instead (even steps keep the padding)
            ds.DeidentificationMethod = [*_values(ds.DeidentificationMethod)[:-1], "phiwall." + "." * diff]
            data = _write(ds, part10)
            if len(data) != keep_length:
                return None
            return data
        try:
            return pad_to_length(data, keep_length, ts)
        except CannotDeidentify:
            return None

    fitted = attempt(out)
    if fitted is not None:
        return fitted
    ds.DeidentificationMethod = ["Basic Application Confidentiality Profile", "phiwall."]
    for elem in ds.iterall():  # compact dummies: the shortest values the VRs allow (Z allows PatientName empty)
        if elem.VR in ("PN", "LO", "SH", "CS", "AE", "LT", "ST", "UT", "UC") and elem.value in DUMMY_TEXTS:
            elem.value = "X"
    if "PatientName" in ds:
        ds.PatientName = ""
    out = _write(ds, part10)
    fitted = attempt(out)
    if fitted is not None:
        return fitted
    ts = _transfer_syntax(ds)
    if "PixelData" in ds and ts is not None and not ts.is_compressed and ts != DeflatedExplicitVRLittleEndian:
        try:
            ds.compress(RLELossless, generate_instance_uid=False)
            stats.tags.add("PixelData")
        except Exception:  # no RLE for this layout: go on to the next way, or refuse
            pass
        else:
            fitted = attempt(_write(ds, part10))
            if fitted is not None:
                return fitted
    if "PixelData" in ds and ts is not None and str(ts).startswith("1.2.840.10008.1.2.4.9"):
        arr = ds.pixel_array
        raw = arr.size * arr.dtype.itemsize
        for slack in (1.15, 1.4, 2.0):
            budget = len(ds.PixelData) - (len(out) - keep_length) - 1024
            if budget <= 0:
                break
            try:
                ds.compress(JPEG2000, arr, j2k_cr=[max(1.0, raw / budget * slack)], generate_instance_uid=False)
            except Exception:
                break
            ds.LossyImageCompression = "01"
            out = _write(ds, part10)
            fitted = attempt(out)
            if fitted is not None:
                return fitted
    raise CannotDeidentify("size_registered", _SIZE_MESSAGE)


def clean_directory_records(ds: Dataset, opts: DicomDeidOptions, keys: DeidKeys) -> Stats:
    """De-identify a DICOMDIR's records in place (offsets are the caller's: pydicom's FileSet rewrites them).

    Each PATIENT record starts a new context, so its PatientID maps to the same pseudonym as in the patient's files
    and the records below it (studies, series, images) use that patient's date shift; referenced UIDs map exactly
    as the files' own UIDs do. The DICOMDIR itself gets no de-identification marks (not part of its IOD).
    """
    stats = Stats()
    ctx: _Ctx | None = None
    with dicom_io.quiet_pydicom():
        for item in ds.get("DirectoryRecordSequence", []):
            if ctx is None or str(item.get("DirectoryRecordType", "")).strip() == "PATIENT":
                ctx = _context(item, opts, keys, stats)
            clean_dataset(item, ctx)
            _record_types(item, ctx)
        if ctx is None:
            ctx = _context(ds, opts, keys, stats)
        for elem in list(ds):
            if int(elem.tag) >> 16 != 0x0004 and elem.VR != "SQ":
                _clean_other(ds, elem, ctx, 0)
        _clean_meta(ds, ctx)
    return stats


# Directory record attributes that are Type 1 (a dummy when the profile emptied them) or Type 2 (present, maybe
# empty) in PS3.3 F.5; the profile's Z/X would make the DICOMDIR invalid.
_RECORD_TYPE1: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "STUDY": (("StudyDate", "DA"), ("StudyTime", "TM"), ("StudyID", "SH")),
}
_RECORD_TYPE2: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "STUDY": (("StudyDescription", "LO"), ("AccessionNumber", "SH")),
    "PATIENT": (("PatientName", "PN"),),
}


def _record_types(item: Dataset, ctx: _Ctx) -> None:
    kind = str(item.get("DirectoryRecordType", "")).strip()
    for kw, vr in _RECORD_TYPE1.get(kind, ()):
        if item.get(kw) in (None, ""):
            setattr(item, kw, "")
            item[kw].VR = vr
            _dummy(item[kw], ctx)
    for kw, _vr in _RECORD_TYPE2.get(kind, ()):
        if kw not in item:
            setattr(item, kw, None)


# --- the walker ---------------------------------------------------------------------------------------------------


def _context(ds: Dataset, opts: DicomDeidOptions, keys: DeidKeys, stats: Stats) -> _Ctx:
    letters = frozenset(letter for letter, name in _OPTION_FLAGS if getattr(opts, name))
    pid = _text(ds.get("PatientID"))
    pname = _text(ds.get("PatientName"))
    birth = _text(ds.get("PatientBirthDate"))
    patient_key = pid or f"{pname}|{birth}" or "unknown"
    pseudonym = uids.patient_pseudonym(keys.patient, patient_key, opts.patient_id_prefix)
    shift: int | None = None
    if opts.retain_longitudinal_modified_dates and not opts.retain_longitudinal_full_dates:
        shift = uids.date_shift_days(keys.dates, patient_key, opts.max_date_shift_days)
    sweep: dict[str, None] = {}
    dates: set[str] = set()
    for kw in _SWEEP_KEYWORDS:
        for value in _values(ds.get(kw)):
            v = value.strip(" \x00")
            if kw.endswith("Date"):
                digits = v.replace(".", "").replace("-", "")
                if len(digits) == 8 and digits.isdigit():
                    dates.add(digits)
                    sweep[digits] = None
                continue
            for piece in {v, v.replace("^", " ").strip(), *v.split("^")}:
                piece = piece.strip()
                if len(piece) >= _SWEEP_MIN_LEN:
                    sweep[piece.casefold()] = None
    avoid = {v.strip(" \x00").casefold() for t in ds.keys() if int(t) in PROFILE for v in _values(ds[t].value)}
    return _Ctx(opts, keys, letters, pseudonym, shift, tuple(sweep), frozenset(dates), frozenset(avoid), stats)


def _action(tag: int, ctx: _Ctx) -> str | None:
    row = PROFILE.get(tag)
    if row is None:
        if tag & 0xFF000000 == 0x50000000:
            return "X"  # Curve Data (50xx,xxxx)
        if tag & 0xFF000000 == 0x60000000 and tag & 0x00010000 == 0:
            return "X"  # the whole Overlay Plane (60xx): Overlay Data and Comments are X, the rest is meaningless
        return None
    basic, options = row
    chosen = [options[letter] for letter in ctx.letters if letter in options]
    if "K" in chosen:
        return "K"
    if "C" in chosen:
        return "C"
    return basic


def clean_dataset(ds: Dataset, ctx: _Ctx, depth: int = 0) -> None:
    """Apply the profile to `ds` in place, recursing into sequence items."""
    if depth > MAX_DEPTH:
        raise CannotDeidentify("nested", "the DICOM file nests sequences too deeply to be de-identified")
    stats = ctx.stats
    keep_private = _kept_private(ds, ctx)
    for btag in list(ds.keys()):
        tag = int(btag)
        group = tag >> 16
        if group % 2 == 1:
            if tag not in keep_private:
                del ds[tag]
                stats.private_removed += 1
            continue
        if tag in _BULK:
            continue  # pixel data is the pixel pass's; converting 5 MB here only costs time
        elem = ds[tag]
        if group == 0x0002 or tag in (0x00280303, 0x00120062, 0x00120063, 0x00120064):
            continue  # File Meta and our own de-identification markers are set afterwards
        action = _action(tag, ctx)
        keyword = elem.keyword or f"{tag:08X}"
        if action is None:
            _clean_other(ds, elem, ctx, depth)
            continue
        _apply(ds, elem, action, keyword, ctx, depth)


def _apply(ds: Dataset, elem: DataElement, action: str, keyword: str, ctx: _Ctx, depth: int) -> None:
    stats = ctx.stats
    tag = int(elem.tag)
    if action == "K":
        if elem.VR == "SQ":
            _recurse(elem, ctx, depth)
        return
    if keyword == "PatientID" or keyword == "PatientName":
        elem.value = ctx.pseudonym
        stats.dummied += 1
        stats.tags.add(keyword)
        return
    if action == "X":
        del ds[tag]
        stats.removed += 1
        stats.tags.add(keyword)
        return
    if action == "C":
        _clean_value(ds, elem, keyword, ctx, depth)
        return
    if "U" in action:  # U, X/Z/U*: keep the attribute, replace the UIDs (inside a sequence: all of them)
        if elem.VR == "SQ":
            _recurse(elem, ctx, depth)
        elif elem.VR == "UI" and not ctx.opts.retain_uids:
            _remap(elem, ctx)
        return
    if "D" in action:
        if elem.VR == "SQ":
            _recurse(elem, ctx, depth)
            return
        _dummy(elem, ctx)
        stats.dummied += 1
        stats.tags.add(keyword)
        return
    # Z, X/Z
    if elem.VR == "SQ":
        if "X" in action and keyword not in _TYPE2_SEQUENCES:  # an empty Type 3 sequence is an error; X/Z allows X
            del ds[tag]
            stats.removed += 1
            stats.tags.add(keyword)
            return
        elem.value = Sequence()
    else:
        elem.value = None if elem.VR not in ("OB", "OW", "UN") else b""
    stats.emptied += 1
    stats.tags.add(keyword)


def _recurse(elem: DataElement, ctx: _Ctx, depth: int) -> None:
    for item in elem.value or ():
        clean_dataset(item, ctx, depth + 1)


def _clean_other(ds: Dataset, elem: DataElement, ctx: _Ctx, depth: int) -> None:
    """An element the table does not list: remap instance UIDs, empty names, sweep text for this file's PHI."""
    vr = elem.VR
    if vr == "SQ":
        _recurse(elem, ctx, depth)
        return
    if vr == "UI":
        if not ctx.opts.retain_uids and elem.keyword not in _CLASS_UID_KEYWORDS:
            _remap(elem, ctx)
        return
    if vr == "PN" and elem.value not in (None, ""):
        elem.value = None
        ctx.stats.emptied += 1
        ctx.stats.tags.add(elem.keyword or f"{int(elem.tag):08X}")
        return
    if int(elem.tag) >> 16 == 0x0004:
        return  # DICOMDIR structure: file IDs are paths that must keep matching the archive's member names
    if vr in ("UN", "OB", "OW") and isinstance(elem.value, bytes) and len(elem.value) < 1 << 20:
        # Opaque bytes (a sequence read as UN, an embedded blob) are not walked: removed if they carry PHI.
        low = elem.value.lower()
        if any(s.encode("utf-8", "replace") in low for s in (*ctx.sweep, *ctx.sweep_dates)):
            del ds[int(elem.tag)]
            ctx.stats.residual_cleaned += 1
            ctx.stats.tags.add(elem.keyword or f"{int(elem.tag):08X}")
        return
    if vr in _TEXT_VRS and elem.value not in (None, ""):
        _sweep(elem, ctx)


def _sweep(elem: DataElement, ctx: _Ctx) -> None:
    values = _values(elem.value)
    if not values:
        return
    if elem.VR in ("DA", "DT"):
        hit = any(v.strip()[:8].replace(".", "") in ctx.sweep_dates for v in values)
    else:
        folded = [v.casefold() for v in values]
        hit = any(s in f for s in ctx.sweep for f in folded)
    if not hit:
        return
    if elem.VR in ("DA", "DT") and ctx.shift_days is not None:
        _shift(elem, ctx)
        return
    elem.value = None
    ctx.stats.residual_cleaned += 1
    ctx.stats.tags.add(elem.keyword or f"{int(elem.tag):08X}")


def _clean_value(ds: Dataset, elem: DataElement, keyword: str, ctx: _Ctx, depth: int) -> None:
    """Action C: dates shifted (modified dates); descriptors and structured content kept when they hold none of
    this file's identifying values, emptied otherwise; sequences cleaned item by item."""
    if elem.VR == "SQ":
        _recurse(elem, ctx, depth)
        return
    if elem.VR in ("DA", "DT"):
        if ctx.shift_days is None:
            return
        _shift(elem, ctx)
        return
    if elem.VR == "TM":
        return  # whole-day shifts keep the time of day
    if elem.VR in _TEXT_VRS:
        before = ctx.stats.residual_cleaned
        _sweep(elem, ctx)
        if ctx.stats.residual_cleaned != before:
            ctx.stats.tags.add(keyword)
        elif elem.VR in _FREE_TEXT_VRS and elem.value not in (None, ""):
            ctx.descriptors.append(elem)  # kept only if the text PHI recogniser finds nothing either


def _clean_descriptors(ctx: _Ctx) -> None:
    """Clean Descriptors / Structured Content, second pass: the text PHI recogniser (the one the proxy blocks
    with) reads every kept descriptor; one with a finding is emptied. Loaded only when the option is on."""
    if not ctx.descriptors:
        return
    from phiwall.detectors import text_phi
    from phiwall.model import Locator
    from phiwall.model import Part
    from phiwall.model import PartKind

    global _text_detector
    if _text_detector is None:
        _text_detector = text_phi.build({})
    texts = ["\\".join(_values(e.value)) for e in ctx.descriptors]
    joined = "\n".join(texts)
    part = Part("descriptors", PartKind.TEXT, Locator("body"), text=joined)
    starts, pos = [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t) + 1
    hit: set[int] = set()
    for f in _text_detector.detect(part):
        if f.start is None:
            continue
        hit.update(i for i, s0 in enumerate(starts) if s0 <= f.start < s0 + len(texts[i]) + 1)
    for i in sorted(hit):
        elem = ctx.descriptors[i]
        elem.value = None
        ctx.stats.residual_cleaned += 1
        ctx.stats.tags.add(elem.keyword or f"{int(elem.tag):08X}")


_text_detector: Any = None


def _shift(elem: DataElement, ctx: _Ctx) -> None:
    assert ctx.shift_days is not None
    out: list[str] = []
    for v in _values(elem.value):
        new = uids.shift_da(v, ctx.shift_days) if elem.VR == "DA" else uids.shift_dt(v, ctx.shift_days)
        out.append(new if new is not None else "")
    elem.value = out[0] if len(out) == 1 else out
    ctx.stats.dates_shifted += 1
    ctx.stats.tags.add(elem.keyword or f"{int(elem.tag):08X}")


def _dummy(elem: DataElement, ctx: _Ctx) -> None:
    vr = elem.VR

    def pick(options: tuple[str, ...]) -> str:
        return next((o for o in options if o.casefold() not in ctx.avoid), options[-1])

    if vr in ("DA", "DT") and ctx.shift_days is not None:
        _shift(elem, ctx)
        ctx.stats.dates_shifted -= 1
    elif vr == "DA":
        elem.value = pick(DUMMY_DATES)
    elif vr == "DT":
        elem.value = pick(DUMMY_DATES) + pick(DUMMY_TIMES)
    elif vr == "TM":
        elem.value = pick(DUMMY_TIMES)
    elif vr in ("IS", "DS"):
        elem.value = "0"
    elif vr == "AS":
        elem.value = "000Y"
    elif vr in ("PN", "LO", "SH", "CS", "AE", "LT", "ST", "UT", "UC"):
        elem.value = pick(DUMMY_TEXTS)
    elif vr == "UI":
        _remap(elem, ctx)
    elif vr in ("US", "SS", "UL", "SL", "FL", "FD"):
        elem.value = 0
    else:
        elem.value = b""


def _remap(elem: DataElement, ctx: _Ctx) -> None:
    values = _values(elem.value)
    if not values:
        return
    out = [v if not v or v.startswith(_STANDARD_UID_PREFIX) else ctx.uid(v) for v in values]
    if out != values:
        elem.value = out[0] if len(out) == 1 else out
        ctx.stats.uids_remapped += 1


def _kept_private(ds: Dataset, ctx: _Ctx) -> set[int]:
    """Private tags kept under Retain Safe Private: the safe-listed elements and the creators that own them."""
    if not ctx.opts.keep_safe_private_tags:
        return set()
    creators: dict[tuple[int, int], str] = {}
    for elem in ds:
        tag = int(elem.tag)
        if (tag >> 16) % 2 == 1 and 0x0010 <= (tag & 0xFFFF) <= 0x00FF:
            creators[(tag >> 16, tag & 0xFF)] = _text(elem.value)
    kept: set[int] = set()
    for elem in ds:
        tag = int(elem.tag)
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2 == 0 or element < 0x1000:
            continue
        creator = creators.get((group, element >> 8), "")
        if (creator, group, element & 0xFF) in SAFE_PRIVATE:
            kept.add(tag)
            kept.add((group << 16) | (element >> 8))
    return kept


def _clean_meta(ds: Dataset, ctx: _Ctx) -> None:
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return
    for kw in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle", "ReceivingApplicationEntityTitle"):
        if kw in meta:
            del meta[kw]
            ctx.stats.removed += 1
            ctx.stats.tags.add(kw)
    if "PrivateInformation" in meta:
        del meta["PrivateInformation"]
        if "PrivateInformationCreatorUID" in meta:
            del meta["PrivateInformationCreatorUID"]
        ctx.stats.removed += 1
    # We are the implementation that writes this file now (and a site's class UID can embed dates).
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "PHIWALL"
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    elif "MediaStorageSOPInstanceUID" in meta and not ctx.opts.retain_uids:
        _remap(meta["MediaStorageSOPInstanceUID"], ctx)


def _mark(ds: Dataset, opts: DicomDeidOptions, ctx: _Ctx) -> None:
    """PatientIdentityRemoved, DeidentificationMethod and its CID 7050 code sequence, temporal information flag."""
    ds.PatientIdentityRemoved = "YES"
    used = ["basic"] + [name for name in CID_7050 if name != "basic" and getattr(opts, name, False)]
    if opts.retain_longitudinal_full_dates and "retain_longitudinal_modified_dates" in used:
        used.remove("retain_longitudinal_modified_dates")
    methods = [CID_7050[name][1] for name in used] + ["phiwall."]
    ds.DeidentificationMethod = methods  # LO, VM 1-n: one value per method (each fits 64 characters)
    seq = Sequence()
    for name in used:
        code, meaning = CID_7050[name]
        item = Dataset()
        item.CodeValue = code
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        seq.append(item)
    ds.DeidentificationMethodCodeSequence = seq
    if opts.retain_longitudinal_full_dates:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif ctx.shift_days is not None:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"


# --- pixels and writing --------------------------------------------------------------------------------------------


def _has_pixels(ds: Dataset) -> bool:
    return "PixelData" in ds or "FloatPixelData" in ds or "DoubleFloatPixelData" in ds


def _frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _transfer_syntax(ds: Dataset) -> UID | None:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(ts)) if ts else None


def _to_little_endian(ds: Dataset) -> None:
    """Big endian is retired (PS3.5 A.3); writing it as Explicit VR Little Endian needs the OW pixels swapped."""
    if "PixelData" in ds and not ds["PixelData"].is_undefined_length:
        arr = ds.pixel_array
        ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        ds["PixelData"].VR = "OW" if int(ds.get("BitsAllocated", 8)) > 8 else "OB"
        if int(ds.get("SamplesPerPixel", 1)) > 1:
            ds.PlanarConfiguration = 0
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian


def _write(ds: Dataset, part10: bool) -> bytes:
    buf = io.BytesIO()
    ts = _transfer_syntax(ds) or ExplicitVRLittleEndian
    try:
        if part10:
            if not isinstance(ds.file_meta, FileMetaDataset):
                ds.file_meta = FileMetaDataset(ds.file_meta)
            if "SOPClassUID" in ds:
                ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
            dcmwrite(buf, ds, enforce_file_format=True)
        else:
            meta = ds.file_meta
            del ds.file_meta
            try:
                dcmwrite(buf, ds, implicit_vr=ts.is_implicit_VR, little_endian=ts.is_little_endian)
            finally:
                ds.file_meta = meta
    except Exception as exc:
        raise CannotDeidentify(
            "unwritable", f"the de-identified DICOM could not be written ({type(exc).__name__})"
        ) from None
    return buf.getvalue()


def pad_to_length(out: bytes, keep_length: int, transfer_syntax: str) -> bytes:
    """Append Data Set Trailing Padding (FFFC,FFFC) so the file is exactly `keep_length` bytes.

    Raises:
        CannotDeidentify: the output is already longer, the difference cannot be expressed as an element (odd or
            smaller than an element header), or the data set is deflated (its length is not under our control).
    """
    if len(out) == keep_length:
        return out
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        raise CannotDeidentify("size_registered", _SIZE_MESSAGE)
    implicit = UID(transfer_syntax).is_implicit_VR if transfer_syntax else True
    header = 8 if implicit else 12
    need = keep_length - len(out) - header
    if need < 0 or need % 2:
        raise CannotDeidentify("size_registered", _SIZE_MESSAGE)
    if implicit:
        elem = struct.pack("<HHI", 0xFFFC, 0xFFFC, need)
    else:
        elem = struct.pack("<HH2sHI", 0xFFFC, 0xFFFC, b"OB", 0, need)
    return out + elem + b"\x00" * need


_SIZE_MESSAGE: Final = (
    "this upload's size was registered with the service before its bytes, and the de-identified file cannot keep "
    "that size; upload a de-identified copy instead (phiwall deid)"
)


# --- helpers -------------------------------------------------------------------------------------------------------


def _values(value: Any) -> list[str]:
    if value is None or isinstance(value, bytes | bytearray | Dataset | Sequence):
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value if v is not None and not isinstance(v, bytes | bytearray)]
    return [str(value)]


def _text(value: Any) -> str:
    return "\\".join(_values(value)).strip(" \x00")


def _deny_list(ds: Dataset) -> list[tuple[str, str]]:
    from phiwall.detectors.burned_in_text import dicom_deny_list

    try:
        return dicom_deny_list(ds)
    except Exception:  # an unreadable value cannot be matched; the header path still removes it
        return []
