"""Synthetic DICOM and images for the de-identification tests: every PHI value is known, so a test can search the
output bytes for each one."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from phiwall.deid.options import DeidKeys
from phiwall.deid.uids import derive_keys
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont
from pydicom.dataset import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage
from pydicom.uid import ExplicitVRLittleEndian

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
STUDY_UID = "1.2.826.0.1.3680043.8.498.20240315.1"
SERIES_UID = "1.2.826.0.1.3680043.8.498.20240315.1.2"
PHI = {
    "PatientName": "OKAFOR^MARGARET",
    "PatientID": "MRN4471923",
    "PatientBirthDate": "19620314",
    "StudyDate": "20240315",
    "AccessionNumber": "ACC99812",
    "InstitutionName": "Riverside Memorial Hospital",
    "ReferringPhysicianName": "BRENNAN^ALICE",
    "OperatorsName": "TECHNOLOGIST^TOM",
    "StationName": "CTSTATION7",
    "DeviceSerialNumber": "SN7731",
}


def keys(secret: bytes = b"s" * 32) -> DeidKeys:
    return derive_keys(secret)


def font(size: int) -> Any:
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:  # pragma: no cover - DejaVu ships with every Debian that has tesseract
        return ImageFont.load_default(size)


def text_frame(rows: int = 512, cols: int = 512, text: str = "OKAFOR, MARGARET", bits: int = 16) -> np.ndarray:
    """A CT-like frame: a grey disc and `text` burned in at the top left in the brightest value."""
    img = Image.new("L", (cols, rows), 0)
    d = ImageDraw.Draw(img)
    d.ellipse((cols // 5, rows // 5, cols * 4 // 5, rows * 4 // 5), fill=110)
    if text:
        d.text((12, 10), text, font=font(max(14, rows // 20)), fill=255)
    arr = np.asarray(img).astype(np.uint16 if bits > 8 else np.uint8)
    if bits > 8:
        arr = arr * 16  # 12-bit values
    return arr


def make_ds(
    *,
    sop_uid: str = "1.2.826.0.1.3680043.8.498.20240315.1.2.3",
    study_uid: str = STUDY_UID,
    series_uid: str = SERIES_UID,
    phi: dict[str, str] | None = None,
    pixels: np.ndarray | None = None,
    private: bool = True,
) -> Dataset:
    """A CT image data set with PHI at the top level, in nested sequences, in private tags, overlays and curves."""
    phi = {**PHI, **(phi or {})}
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.SourceApplicationEntityTitle = "RIVERSIDE_PACS"
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = phi["StudyDate"]
    ds.SeriesDate = phi["StudyDate"]
    ds.ContentDate = phi["StudyDate"]
    ds.StudyTime = "101530"
    ds.AccessionNumber = phi["AccessionNumber"]
    ds.Modality = "CT"
    ds.Manufacturer = "ACME"
    ds.InstitutionName = phi["InstitutionName"]
    ds.InstitutionAddress = "12 River Road, Springfield"
    ds.ReferringPhysicianName = phi["ReferringPhysicianName"]
    ds.StationName = phi["StationName"]
    ds.StudyDescription = "CT CHEST for OKAFOR"
    ds.SeriesDescription = "AXIAL 5mm"
    ds.OperatorsName = phi["OperatorsName"]
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.777"
    ds.ReferencedStudySequence = Sequence([ref])
    req = Dataset()
    req.RequestedProcedureID = "RP1234567"
    req.ScheduledProcedureStepID = "SPS7654321"
    req.RequestedProcedureDescription = "CT chest"
    ds.RequestAttributesSequence = Sequence([req])
    ds.PatientName = phi["PatientName"]
    ds.PatientID = phi["PatientID"]
    ds.PatientBirthDate = phi["PatientBirthDate"]
    ds.PatientSex = "F"
    ds.PatientAge = "062Y"
    ds.PatientWeight = "71"
    ds.OtherPatientIDs = "OTHERID5521"
    ds.PatientAddress = "7 Elm Street, Springfield"
    ds.DeviceSerialNumber = phi["DeviceSerialNumber"]
    ds.ProtocolName = "CHEST ROUTINE"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = study_uid + ".9"
    ds.StudyID = "ST4421"
    ds.SeriesNumber = 2
    ds.InstanceNumber = 1
    ds.ImageComments = "prior study of Okafor^Margaret reviewed"
    ds.ContrastBolusRoute = "IV, ordered for Okafor"  # PHI where Table E.1-1 does not look
    ds.add_new(0x00400275, "SQ", Sequence())
    if private:
        ds.add_new(0x00090010, "LO", "ACME PRIVATE")
        ds.add_new(0x00091001, "LO", "patient OKAFOR^MARGARET")
        ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
        ds.add_new(0x00291008, "CS", "IMAGE NUM 4")
        ds.add_new(0x00291010, "OB", b"MRN4471923\x00\x00")
    ds.add_new(0x60004000, "LT", "overlay by BRENNAN")
    ds.add_new(0x50000000, "US", 1)
    arr = pixels if pixels is not None else text_frame(64, 64, text="")
    ds.Rows, ds.Columns = arr.shape[:2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16 if arr.dtype == np.uint16 else 8
    ds.BitsStored = 12 if arr.dtype == np.uint16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [0.7, 0.7]
    ds.WindowCenter = 1800 if arr.dtype == np.uint16 else 128
    ds.WindowWidth = 4000 if arr.dtype == np.uint16 else 256
    ds.PixelData = arr.tobytes()
    ds["PixelData"].VR = "OW" if arr.dtype == np.uint16 else "OB"
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def make_dicom(**kw: Any) -> bytes:
    return to_bytes(make_ds(**kw))


def image_bytes(fmt: str, *, text: str | None = "Patient: Margaret Okafor", size: tuple[int, int] = (640, 400),
                **save: Any) -> bytes:  # fmt: skip
    img = Image.new("RGB", size, (40, 40, 40))
    d = ImageDraw.Draw(img)
    d.ellipse((size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 9 // 10), fill=(150, 150, 150))
    if text:
        d.text((20, 20), text, font=font(30), fill=(255, 255, 255))
    buf = io.BytesIO()
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    img.save(buf, fmt, **save)
    return buf.getvalue()
