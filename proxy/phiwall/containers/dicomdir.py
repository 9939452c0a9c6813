"""DICOMDIR: the index file of a DICOM CD or folder. Its directory records repeat every patient's name, ID and
birth date, and the study dates and descriptions, for every study on the medium.

The DICOM detector already reports the file itself (DICOM_FILE and the identifying tags at any depth); this
container adds the records as text, one line per record, so the text PHI detector and any text rule see them too.
"""

from __future__ import annotations

from phiwall.containers.registry import Context
from phiwall.locators import NotRewritable
from phiwall.model import Part

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
MAX_RECORDS = 10_000
# The records text is a summary; the DICOMDIR itself is rewritten as the DICOM file it is (its parent part).
RECORDS_TEXT = (
    "phiwall cannot rewrite the patient records of a DICOMDIR index on their own; de-identify the DICOMDIR file "
    "itself, or leave it out of the folder, and send it again"
)
SKIP_VR = frozenset({"SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN", "UI", "UL", "US", "SL", "SS", "FL", "FD", "AT"})


def is_dicomdir(data: bytes) -> bool:
    """Whether the bytes are a DICOMDIR (Media Storage Directory SOP class), from the File Meta only."""
    return MEDIA_STORAGE_DIRECTORY.encode("ascii") in data[:1024]


def children(part: Part, ctx: Context) -> list[Part]:
    """One text part with a line per directory record ("PATIENT: PatientName=..; PatientID=..")."""
    from phiwall import dicom_io

    try:
        ds = dicom_io.read_dataset(part.data or b"", with_pixels=False)
    except dicom_io.DicomReadError:
        return []  # the DICOM detector reports the unreadable file; nothing to add here
    lines = []
    with dicom_io.quiet_pydicom():
        for n, rec in enumerate(ds.get("DirectoryRecordSequence", None) or []):
            if n >= MAX_RECORDS:
                break
            kind = str(rec.get("DirectoryRecordType", "RECORD"))
            fields = []
            for elem in rec:
                if elem.VR in SKIP_VR or elem.tag.group in (0x0004,) or not elem.keyword:
                    continue
                val = str(elem.value).strip()
                if val:
                    fields.append(f"{elem.keyword}: {val}")
            if fields:
                lines.append(f"{kind}: " + "; ".join(fields))
    p = ctx.text("\n".join(lines), "records", steps=(NotRewritable(RECORDS_TEXT),))
    return [p] if p is not None else []
