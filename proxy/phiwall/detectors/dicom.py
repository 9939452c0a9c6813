"""The `dicom` detector: is this part a DICOM object, and which identifying header attributes does it carry?

A DICOM file is itself medical data (policies usually block it outright), but the findings also say *why*: which
PS3.15 Annex E attributes carry a value (PatientName, PatientID, StudyDate, UIDs, ...), at any sequence depth,
whether private elements are present, and whether the header admits burned-in annotation. Only the header is
read (pydicom with `stop_before_pixels`), which takes about a millisecond for a typical file.

Findings never carry values: each `DICOM_TAG:<Keyword>` finding has the keyed digest of the value, so an auditor can
see that two uploads were the same patient without seeing who.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import ClassVar
from typing import Final

from pydicom.datadict import dictionary_VR
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import PersonName

from phiwall.detectors.dicom_tags import ProfileAttribute
from phiwall.detectors.dicom_tags import profile_attribute
from phiwall.dicom_io import DicomRead
from phiwall.dicom_io import DicomReadError
from phiwall.dicom_io import has_dicm_magic
from phiwall.dicom_io import quiet_pydicom
from phiwall.dicom_io import read_dicom
from phiwall.digest import value_digest
from phiwall.errors import DetectionError
from phiwall.errors import PolicyError
from phiwall.model import Finding
from phiwall.model import Part
from phiwall.sniff import DICOM
from phiwall.sniff import looks_like_raw_dicom

DICOM_FILE: Final = "DICOM_FILE"
DICOM_TAG_PREFIX: Final = "DICOM_TAG:"
DICOM_PRIVATE_TAGS: Final = "DICOM_PRIVATE_TAGS"
DICOM_BURNED_IN_ANNOTATION: Final = "DICOM_BURNED_IN_ANNOTATION"

MEDIA_STORAGE_DIRECTORY: Final = "1.2.840.10008.1.3.10"
_MAX_DEPTH: Final = 16  # sequences nested deeper than this are hostile, not clinical
_BINARY_VRS: Final = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_TEXT_VRS: Final = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UT"})
_EMPTY_CHARS: Final = " ^=\\\x00"  # a PN of only separators, or padding, carries nothing
_MODALITY_RE: Final = re.compile(r"[A-Z0-9_]{1,16}")
_OPTIONS: Final = frozenset({"max_values_per_tag"})


@dataclass(slots=True)
class _Walk:
    """What a walk over the header collects besides the per-attribute hits."""

    private: int = 0
    unreadable: int = 0
    too_deep: bool = False
    hits: list[tuple[ProfileAttribute, Any, tuple[str, ...], int]] = field(default_factory=list)


class DicomDetector:
    """Reports DICOM files and the identifying attributes in their headers.

    Options (policy `detectors: dicom:`):
        max_values_per_tag: how many distinct values of one attribute get their own finding (default 8).
            A segmentation or structure set can reference thousands of SOP Instance UIDs; one finding per
            distinct value up to this cap keeps audit events small while still correlating the main identifiers.
    """

    name: ClassVar[str] = "dicom"
    handles: ClassVar[frozenset[str]] = frozenset({DICOM})

    def __init__(self, options: Mapping[str, Any]) -> None:
        unknown = set(options) - _OPTIONS
        if unknown:
            raise PolicyError(f"detectors.dicom: unknown option(s) {sorted(unknown)}; allowed: {sorted(_OPTIONS)}")
        cap = options.get("max_values_per_tag", 8)
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
            raise PolicyError("detectors.dicom.max_values_per_tag must be an integer >= 1 (e.g. 8)")
        self.max_values_per_tag: int = cap

    def detect(self, part: Part) -> list[Finding]:
        """Return DICOM_FILE plus tag findings, or [] when the part is not DICOM.

        A part without the DICM prefix is only examined when its first bytes look like a raw DICOM data set,
        and only reported when pydicom then confirms it. A part *with* the prefix is always reported, even when
        nothing after the prefix parses ("unparseable"): it is a DICOM by its signature.

        Raises:
            DetectionError: an unexpected failure; the message names the part and the exception type only.
        """
        data = part.data
        if not data:
            return []
        magic = has_dicm_magic(data)
        if not magic and not looks_like_raw_dicom(data[:512]):
            return []
        try:
            try:
                read = read_dicom(data)
            except DicomReadError:
                if magic:
                    return [Finding(self.name, DICOM_FILE, part.id, 1.0, explanation="unparseable")]
                return []  # the raw-dataset hint was not confirmed: not a DICOM
            with quiet_pydicom():
                return self._findings(part, read)
        except (DetectionError, PolicyError):
            raise
        except Exception as exc:
            # `from None`: a chained pydicom exception may quote element values in its message.
            raise DetectionError(f"dicom detector failed on part {part.id}: {type(exc).__name__}") from None

    def _findings(self, part: Part, read: DicomRead) -> list[Finding]:
        ds = read.dataset
        walk = _Walk()
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            _walk(meta, (), walk, 0)
        _walk(ds, (), walk, 0)
        is_dir = _is_dicomdir(ds)
        modality = "DICOMDIR" if is_dir else _modality(ds)
        findings = [
            Finding(
                self.name,
                DICOM_FILE,
                part.id,
                1.0,
                modality=modality,
                explanation=_file_explanation(read, walk),
                attrs=_safe_attrs(ds),
            )
        ]
        per_tag: dict[str, set[str | None]] = {}
        for attr, value, path, length in walk.hits:
            digest = _digest(value)
            seen = per_tag.setdefault(attr.keyword, set())
            if digest in seen or len(seen) >= self.max_values_per_tag:
                continue
            seen.add(digest)
            where = f"in {'/'.join(path)}" if path else "top level"
            note = f"; value not loaded ({length} bytes)" if value is None else ""
            findings.append(
                Finding(
                    self.name,
                    DICOM_TAG_PREFIX + attr.keyword,
                    part.id,
                    1.0,
                    tag=attr.keyword,
                    digest=digest,
                    explanation=f"PS3.15 E.1-1 basic profile action {attr.action}; {where}{note}",
                )
            )
        if walk.private:
            findings.append(
                Finding(
                    self.name,
                    DICOM_PRIVATE_TAGS,
                    part.id,
                    1.0,
                    explanation=f"{walk.private} private data elements (PS3.15 E.1-1: remove unless known safe)",
                )
            )
        burned = _value(ds, "BurnedInAnnotation")
        if burned is not None and str(burned).strip().upper() == "YES":
            findings.append(
                Finding(
                    self.name,
                    DICOM_BURNED_IN_ANNOTATION,
                    part.id,
                    1.0,
                    tag="BurnedInAnnotation",
                    modality=modality,
                    explanation="BurnedInAnnotation is YES: the pixels carry identifying text",
                )
            )
        return findings


def build(options: Mapping[str, Any]) -> DicomDetector:
    """Factory used by the detector registry."""
    return DicomDetector(options)


def header_values(ds: Dataset) -> list[str]:
    """The identifying text values in a header (Annex E attributes, any depth), for an OCR deny-list.

    Burned-in text repeats what the header says ("DAVIDSON^DOUGLAS" appears as "DAVIDSON, DOUGLAS"), so a later
    OCR step matches these strings. Person names are also split into their components. UIDs and binary values
    are left out (never burned in); values shorter than two characters are dropped (useless for matching).
    The result is PHI: keep it in memory, never log it.
    """
    walk = _Walk()
    with quiet_pydicom():
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            _walk(meta, (), walk, 0)
        _walk(ds, (), walk, 0)
    out: dict[str, None] = {}
    for _attr, value, _path, _length in walk.hits:
        for text in _texts(value):
            text = text.strip(_EMPTY_CHARS)
            if len(text) >= 2:
                out.setdefault(text, None)
    return list(out)


def _texts(value: Any) -> Iterator[str]:
    if value is None or isinstance(value, bytes | bytearray | Dataset) or _is_sequence(value):
        return
    if isinstance(value, UID):
        return
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    for v in values:
        if isinstance(v, UID):
            continue
        yield str(v)
        if isinstance(v, PersonName):
            for comp in (v.family_name, v.given_name, v.middle_name, v.name_prefix, v.name_suffix):
                if comp:
                    yield comp


def _is_sequence(value: Any) -> bool:
    return type(value).__name__ == "Sequence"


def _walk(ds: Dataset, path: tuple[str, ...], walk: _Walk, depth: int) -> None:
    """Collect Annex E attributes with a value, recursing into every sequence; count private elements.

    Elements are converted only when they matter (listed, or a sequence to descend into), which keeps a header
    scan near a millisecond. A single element that fails to convert is counted and skipped, not fatal.
    """
    if depth > _MAX_DEPTH:
        walk.too_deep = True
        return
    for tag in list(ds.keys()):
        raw = ds.get_item(tag, keep_deferred=True)
        if raw is None:
            continue
        if tag.is_private:
            walk.private += 1
            continue
        attr = profile_attribute(int(tag))
        vr = _vr(raw, int(tag))
        if attr is None and vr != "SQ":
            continue
        if isinstance(raw, RawDataElement) and raw.value is None and raw.length:
            # Deferred (larger than defer_size): present and non-empty, value not loaded on purpose.
            if attr is not None:
                walk.hits.append((attr, None, path, int(raw.length)))
            continue
        elem = _element(ds, tag)
        if elem is None:
            walk.unreadable += 1
            continue
        value = elem.value
        if elem.VR == "SQ" or _is_sequence(value):
            items = [item for item in (value or []) if isinstance(item, Dataset)]
            if attr is not None and any(len(item) for item in items):
                walk.hits.append((attr, value, path, 0))
            for item in items:
                _walk(item, (*path, elem.keyword or "UnknownSequence"), walk, depth + 1)
            continue
        if attr is not None and not _is_empty(value):
            walk.hits.append((attr, value, path, 0))


def _element(ds: Dataset, tag: int) -> DataElement | None:
    """The converted element, or None when its bytes do not convert (damaged or cut-off files)."""
    try:
        return ds[tag]
    except Exception:  # noqa: BLE001 - one malformed element must not hide the others
        return None


def _value(ds: Dataset, keyword: str) -> Any:
    """A top-level value by keyword, or None when absent or unreadable."""
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return None
    elem = _element(ds, tag)
    return None if elem is None else elem.value


def _vr(raw: RawDataElement | DataElement, tag: int) -> str | None:
    vr = raw.VR
    if vr is None or vr == "UN":
        try:
            return str(dictionary_VR(tag))
        except KeyError:
            return None
    return str(vr)


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bytes | bytearray):
        return len(value) == 0
    if isinstance(value, MultiValue | list | tuple):
        return all(_is_empty(v) for v in value)
    return str(value).strip(_EMPTY_CHARS) == ""


def _digest(value: Any) -> str | None:
    """Keyed digest of a value: text as DICOM writes it, binary as bytes, a sequence as its leaf values."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return value_digest(bytes(value))
    if _is_sequence(value):
        leaves: list[str] = []
        _collect_leaves(value, leaves, 0)
        return value_digest("\x1f".join(leaves))
    if isinstance(value, MultiValue | list | tuple):
        return value_digest("\\".join(str(v) for v in value))
    return value_digest(str(value))


def _collect_leaves(seq: Any, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    for item in seq:
        if not isinstance(item, Dataset):
            continue
        for tag in list(item.keys()):
            elem = _element(item, tag)
            if elem is None:
                continue
            if elem.VR == "SQ":
                _collect_leaves(elem.value or [], out, depth + 1)
            elif elem.VR not in _BINARY_VRS:
                out.append(f"{int(elem.tag):08X}={elem.value}")


def _is_dicomdir(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    sop = _value(meta, "MediaStorageSOPClassUID") if meta is not None else None
    return str(sop or "").strip("\x00 ") == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds


def _modality(ds: Dataset) -> str | None:
    """The Modality code, only when it looks like one (a free-text value must not leak into a finding)."""
    text = str(_value(ds, "Modality") or "").strip().upper()
    return text if _MODALITY_RE.fullmatch(text) else None


def _sop_class_name(ds: Dataset) -> str | None:
    uid = _value(ds, "SOPClassUID")
    if not uid:
        meta = getattr(ds, "file_meta", None)
        uid = _value(meta, "MediaStorageSOPClassUID") if meta is not None else None
    if not uid or not isinstance(uid, str):
        return None
    uid = UID(str(uid).strip("\x00 "))
    name = uid.name
    return name if name != str(uid) else "non-standard SOP class"


def _file_explanation(read: DicomRead, walk: _Walk) -> str:
    """PHI-free notes: SOP class name and how the file was encoded or damaged."""
    notes: list[str] = []
    sop = _sop_class_name(read.dataset)
    if sop:
        notes.append(sop)
    if not read.has_preamble:
        notes.append("no preamble")
    if not read.has_file_meta:
        notes.append("no File Meta")
    if read.truncated:
        notes.append("truncated")
    if read.salvaged:
        notes.append("partly unreadable")
    if walk.unreadable:
        notes.append(f"{walk.unreadable} unreadable elements")
    if walk.too_deep:
        notes.append(f"sequences nested deeper than {_MAX_DEPTH} not examined")
    return "; ".join(notes)


# Attributes that identify nobody, exposed to policies (`when: dicom: [{field: Modality, equals: US}]`).
SAFE_ATTRIBUTES: Final = ("Modality", "BurnedInAnnotation", "SOPClassUID", "BodyPartExamined", "ImageType")


def _safe_attrs(ds: Any) -> tuple[tuple[str, str], ...]:
    """(keyword, value) pairs of the non-identifying attributes; multi-values joined with a backslash."""
    out = []
    for keyword in SAFE_ATTRIBUTES:
        try:
            value = ds.get(keyword)
        except Exception:  # noqa: BLE001 - a damaged element is treated as absent
            continue
        if value is None or value == "":
            continue
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            text = str(value).strip()
        else:
            text = "\\".join(str(v).strip() for v in value)
        if text:
            out.append((keyword, text[:64]))
    return tuple(out)
