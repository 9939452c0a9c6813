"""Test-data factories: files generated in memory, so unit tests never depend on the shared corpus.

Each factory owns a small section; add yours below with its own docstring.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from collections.abc import Sequence as SequenceABC
from typing import Any
from typing import Literal

# --- DICOM (owner: dicom detector) -----------------------------------------------------------------------------

DicomEncoding = Literal["implicit", "explicit", "big"]

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


def make_dicom(
    *,
    encoding: DicomEncoding = "explicit",
    preamble: bool = True,
    file_meta: bool = True,
    patient_name: str | None = "Testpatient^Alice",
    patient_id: str | None = "MRN-000123",
    modality: str = "CT",
    elements: Mapping[str, Any] | None = None,
    referenced_patient_name: str | None = None,
    request_attributes: Mapping[str, Any] | None = None,
    private: bool = False,
    burned_in: str | None = None,
    pixels: bool = True,
    directory_records: SequenceABC[Mapping[str, Any]] | None = None,
) -> bytes:
    """Build a small, valid DICOM file (or raw data set) with pydicom and return its bytes.

    Args:
        encoding: implicit VR little endian, explicit VR little endian, or explicit VR big endian.
        preamble: write the 128-byte preamble and "DICM" (PS3.10 file). False with file_meta=True gives File Meta
            without a preamble; False with file_meta=False gives a bare data set.
        file_meta: write the File Meta group (0002). A bare data set requires preamble=False.
        patient_name, patient_id: top-level values (None leaves the element out, "" writes it empty).
        modality: Modality (0008,0060).
        elements: further top-level attributes by keyword (e.g. {"StudyDate": "20240102"}).
        referenced_patient_name: adds ReferencedPatientSequence with one item holding this PatientName.
        request_attributes: adds RequestAttributesSequence with one item holding these attributes.
        private: adds a private creator and one private element in group 0x0009.
        burned_in: BurnedInAnnotation value ("YES"/"NO"), None leaves it out.
        pixels: add a 4x4 8-bit monochrome Pixel Data.
        directory_records: makes a DICOMDIR: one directory record per mapping (keyword -> value, plus
            "DirectoryRecordType"), with the Media Storage Directory SOP class.
    """
    from pydicom.dataset import Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import CTImageStorage
    from pydicom.uid import ExplicitVRBigEndian
    from pydicom.uid import ExplicitVRLittleEndian
    from pydicom.uid import ImplicitVRLittleEndian
    from pydicom.uid import generate_uid

    if preamble and not file_meta:
        raise ValueError("a PS3.10 file with a preamble always has File Meta")
    ts = {"implicit": ImplicitVRLittleEndian, "explicit": ExplicitVRLittleEndian, "big": ExplicitVRBigEndian}[encoding]
    ds = Dataset()
    is_dir = directory_records is not None
    sop_class = MEDIA_STORAGE_DIRECTORY if is_dir else CTImageStorage
    if not is_dir:
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.Modality = modality
    if patient_name is not None:
        ds.PatientName = patient_name
    if patient_id is not None:
        ds.PatientID = patient_id
    for keyword, value in (elements or {}).items():
        setattr(ds, keyword, value)
    if referenced_patient_name is not None:
        item = Dataset()
        item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.1.1"
        item.ReferencedSOPInstanceUID = generate_uid()
        item.PatientName = referenced_patient_name
        ds.ReferencedPatientSequence = Sequence([item])
    if request_attributes is not None:
        item = Dataset()
        for keyword, value in request_attributes.items():
            setattr(item, keyword, value)
        ds.RequestAttributesSequence = Sequence([item])
    if private:
        ds.add_new(0x00090010, "LO", "PHIWALL TEST")
        ds.add_new(0x00091001, "LO", "private payload")
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    if is_dir:
        ds.FileSetID = "TESTSET"
        records = []
        for spec in directory_records or ():
            rec = Dataset()
            rec.OffsetOfTheNextDirectoryRecord = 0
            rec.RecordInUseFlag = 0xFFFF
            rec.OffsetOfReferencedLowerLevelDirectoryEntity = 0
            for keyword, value in spec.items():
                setattr(rec, keyword, value)
            records.append(rec)
        ds.DirectoryRecordSequence = Sequence(records)
    elif pixels:
        ds.Rows = 4
        ds.Columns = 4
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 8
        ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.PixelData = bytes(range(16))

    buf = io.BytesIO()
    if file_meta:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", generate_uid())
        meta.TransferSyntaxUID = ts
        ds.file_meta = meta
        ds.save_as(buf, enforce_file_format=True)
        data = buf.getvalue()
        return data if preamble else data[132:]
    ds.save_as(buf, implicit_vr=encoding == "implicit", little_endian=encoding != "big", enforce_file_format=False)
    return buf.getvalue()
