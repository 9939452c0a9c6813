"""DICOM header de-identification to PS3.15 Annex E (phiwall.deid.dicom), on synthetic files whose PHI is known."""

from __future__ import annotations

import io
import re
import struct

import numpy as np
import pydicom
import pytest
from phiwall.deid import dicom as deid_dicom
from phiwall.deid.annex_e import PROFILE
from phiwall.deid.dicom import deidentify_dicom
from phiwall.deid.options import CannotDeidentify
from phiwall.deid.options import DicomDeidOptions
from phiwall.detectors.dicom_tags import BASIC_PROFILE
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.unit.deid.helpers import PHI
from tests.unit.deid.helpers import STUDY_UID
from tests.unit.deid.helpers import keys
from tests.unit.deid.helpers import make_dicom
from tests.unit.deid.helpers import make_ds
from tests.unit.deid.helpers import to_bytes

UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")


def no_pixels(*_args: object) -> None:
    """Header-only tests: the OCR pixel pass is tested in test_dicom_pixels."""


def run(data: bytes, opts: DicomDeidOptions | None = None, secret: bytes = b"s" * 32, **kw: object) -> Dataset:
    res = deidentify_dicom(data, opts or DicomDeidOptions(), keys(secret), pixel_cleaner=no_pixels, **kw)  # type: ignore[arg-type]
    return pydicom.dcmread(io.BytesIO(res.data))


def test_no_phi_value_survives_anywhere_in_the_bytes() -> None:
    res = deidentify_dicom(make_dicom(), DicomDeidOptions(), keys(), pixel_cleaner=no_pixels)
    low = res.data.lower()
    for name, value in {**PHI, "other": "OTHERID5521", "addr": "Elm Street", "ae": "RIVERSIDE_PACS"}.items():
        for piece in {value, *value.split("^")}:
            assert piece.lower().encode() not in low, name
    assert b"okafor" not in low and b"brennan" not in low and b"20240315" not in low and STUDY_UID.encode() not in low


def test_actions_of_the_basic_profile() -> None:
    out = run(make_dicom())
    assert out.PatientIdentityRemoved == "YES"
    assert out.PatientID.startswith("PW") and out.PatientName == out.PatientID  # pseudonym, consistent (Z/D)
    assert out.StudyDate == "" and out.AccessionNumber == "" and out.ReferringPhysicianName == ""  # Z
    assert "InstitutionAddress" not in out and "OtherPatientIDs" not in out and "PatientAddress" not in out  # X
    assert "StudyDescription" not in out and "PatientAge" not in out and "PatientWeight" not in out  # X
    assert out.ContentDate not in ("", PHI["StudyDate"])  # Z/D -> dummy
    assert out.InstitutionName not in ("", PHI["InstitutionName"])  # X/Z/D -> dummy
    assert "RequestAttributesSequence" not in out  # X
    assert out.Modality == "CT" and out.Rows == 64 and out.BitsStored == 12 and out.SeriesNumber == 2  # kept
    assert [float(v) for v in out.PixelSpacing] == [0.7, 0.7]
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        assert UID_RE.match(out[kw].value) and len(out[kw].value) <= 64 and out[kw].value.startswith("2.25.")
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert "SourceApplicationEntityTitle" not in out.file_meta
    assert out.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"  # class UIDs are not remapped
    assert "ImageComments" not in out and out.ContrastBolusRoute == ""  # residual sweep outside the table
    assert not any(e.tag.group in (0x5000, 0x6000) for e in out)  # curves and overlays
    assert not any(e.tag.is_private for e in out)
    assert out.LongitudinalTemporalInformationModified == "REMOVED"
    codes = [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113101"] and all(
        i.CodingSchemeDesignator == "DCM" for i in out.DeidentificationMethodCodeSequence
    )
    assert "Basic Application Confidentiality Profile" in list(out.DeidentificationMethod)


def test_nested_sequences_are_cleaned_and_references_remapped() -> None:
    ds = make_ds()
    inner = Dataset()
    inner.PersonName = "OKAFOR^MARGARET"  # (0040,A123) D
    inner.TextValue = "follow-up for MRN4471923"
    inner.UID = "1.2.826.0.1.3680043.8.498.555"
    ds.ContentSequence = Sequence([inner])
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.20240315.1.2.3"
    ds.SourceImageSequence = Sequence([item])  # X/Z/U*: kept, UIDs replaced
    out = run(to_bytes(ds))
    c = out.ContentSequence[0]
    assert c.PersonName != "OKAFOR^MARGARET" and c.TextValue == "" and c.UID.startswith("2.25.")
    ref = out.SourceImageSequence[0]
    assert ref.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert ref.ReferencedSOPInstanceUID == out.SOPInstanceUID  # the same UID maps to the same UID everywhere
    assert "ReferencedStudySequence" not in out  # X/Z on a Type 3 sequence: removed, not left empty


def test_same_study_same_uids_across_files_and_secrets_differ() -> None:
    a = run(make_dicom(sop_uid="1.2.3.4.1"))
    b = run(make_dicom(sop_uid="1.2.3.4.2"))
    assert a.StudyInstanceUID == b.StudyInstanceUID and a.SeriesInstanceUID == b.SeriesInstanceUID
    assert a.SOPInstanceUID != b.SOPInstanceUID and a.PatientID == b.PatientID
    c = run(make_dicom(sop_uid="1.2.3.4.1", phi={"PatientID": "OTHER1"}))
    assert c.PatientID != a.PatientID
    other = run(make_dicom(sop_uid="1.2.3.4.1"), secret=b"t" * 32)
    assert other.StudyInstanceUID != a.StudyInstanceUID and other.PatientID != a.PatientID


def test_uid_root_is_configurable() -> None:
    out = run(make_dicom(), DicomDeidOptions(uid_root="1.2.826.0.1.3680043.10.1234"))
    assert out.StudyInstanceUID.startswith("1.2.826.0.1.3680043.10.1234.") and len(out.StudyInstanceUID) <= 64
    with pytest.raises(CannotDeidentify) as e:
        run(make_dicom(), DicomDeidOptions(uid_root="1.02.x"))
    assert e.value.code == "invalid_option"


def test_retain_longitudinal_modified_dates_shifts_per_patient() -> None:
    opts = DicomDeidOptions(retain_longitudinal_modified_dates=True)
    a = run(make_dicom(sop_uid="1.2.3.4.1"), opts)
    b = run(make_dicom(sop_uid="1.2.3.4.2", phi={"StudyDate": "20240401"}), opts)
    import datetime as dt

    def days(s: str) -> int:
        return (dt.date(int(s[:4]), int(s[4:6]), int(s[6:])) - dt.date(2024, 3, 15)).days

    shift = days(a.StudyDate)
    assert -365 <= shift <= -1 and days(a.SeriesDate) == shift and days(a.ContentDate) == shift
    assert days(b.StudyDate) - 17 == shift  # same patient, same shift, intervals kept
    assert a.PatientBirthDate == ""  # birth date is Z in the profile (no option retains it)
    assert a.LongitudinalTemporalInformationModified == "MODIFIED"
    assert "113107" in [i.CodeValue for i in a.DeidentificationMethodCodeSequence]


@pytest.mark.parametrize(
    "option,keyword,expected",
    [
        ("retain_patient_characteristics", "PatientSex", "F"),
        ("retain_patient_characteristics", "PatientAge", "062Y"),
        ("retain_device_identity", "DeviceSerialNumber", PHI["DeviceSerialNumber"]),
        ("retain_device_identity", "StationName", PHI["StationName"]),
        ("retain_institution_identity", "InstitutionName", PHI["InstitutionName"]),
        ("retain_longitudinal_full_dates", "StudyDate", PHI["StudyDate"]),
        ("retain_uids", "StudyInstanceUID", STUDY_UID),
    ],
)
def test_retain_options_keep_their_attributes(option: str, keyword: str, expected: str) -> None:
    base = run(make_dicom())
    assert base.get(keyword) != expected
    out = run(make_dicom(), DicomDeidOptions(**{option: True}))  # type: ignore[arg-type]
    assert out.get(keyword) == expected


def test_clean_descriptors_keeps_clean_text_and_empties_identifying_text() -> None:
    out = run(make_dicom(), DicomDeidOptions(clean_descriptors=True))
    assert out.SeriesDescription == "AXIAL 5mm"  # C: kept, it names no one
    assert out.StudyDescription == ""  # C: it held the patient's surname
    assert "113105" in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]


def test_safe_private_tags_are_kept_only_when_asked() -> None:
    assert not any(e.tag.is_private for e in run(make_dicom()))
    out = run(make_dicom(), DicomDeidOptions(keep_safe_private_tags=True))
    kept = {int(e.tag) for e in out if e.tag.is_private}
    assert kept == {0x00290010, 0x00291008}  # the CSA type marker and its creator; the rest goes


# Table E.1-1, every row: a data set with one element per attribute, then the action checked per row.
_VALUES = {
    "PN": "TABLE^PERSON",
    "DA": "20240315",
    "TM": "101530",
    "DT": "20240315101530",
    "UI": "1.2.826.0.1.3680043.8.498.4242",
    "AS": "042Y",
    "IS": "42",
    "DS": "4.2",
    "CS": "TABLEVALUE",
    "US": 7,
    "UL": 7,
    "SS": 7,
    "SL": 7,
    "FL": 1.5,
    "FD": 1.5,
    "OB": b"TABLEVALUE",
    "OW": b"TABLEVALUE",
    "UN": b"TABLEVALUE",
}


def _table_dataset() -> tuple[bytes, dict[int, str]]:
    ds = make_ds(private=False)
    rows: dict[int, str] = {}
    for tag, (basic, _opts) in PROFILE.items():
        if tag >> 16 in (0x0000, 0x0002, 0xFFFA, 0xFFFC) or tag in ds:
            continue
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            continue
        vr = vr.split(" or ")[0]
        if vr == "SQ":
            item = Dataset()
            item.PersonName = "TABLE^PERSON"
            item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.4243"
            ds.add_new(tag, "SQ", Sequence([item]))
        elif vr in _VALUES:
            ds.add_new(tag, vr, _VALUES[vr])
        elif vr in ("SH", "LO", "ST", "LT", "UT", "UC", "AE", "UR"):
            ds.add_new(tag, vr, "TABLEVALUE")
        else:
            continue
        rows[tag] = basic
    return to_bytes(ds), rows


def test_every_table_e1_1_attribute_gets_its_action() -> None:
    data, rows = _table_dataset()
    assert len(rows) > 500  # nearly all of the table (retired VR-less rows aside)
    assert set(BASIC_PROFILE) <= set(PROFILE)  # every row the detector reports is handled (the standard has more)
    out = run(data)
    assert b"TABLEVALUE" not in deidentify_dicom(data, DicomDeidOptions(), keys(), pixel_cleaner=no_pixels).data
    for tag, action in rows.items():
        elem = out.get(tag)
        kw = pydicom.datadict.keyword_for_tag(tag)
        if action == "X":
            assert elem is None, kw
        elif action in ("Z", "X/Z") and kw not in ("PatientName", "PatientID"):
            assert elem is None or elem.VR == "SQ" or elem.value in (None, "", b""), kw
        elif "U" in action and elem is not None and elem.VR == "UI":
            assert elem.value.startswith("2.25."), kw
        elif elem is not None and elem.VR == "SQ":
            for item in elem.value:
                assert item.get("PersonName") in (None, "") or item.PersonName != "TABLE^PERSON", kw
        elif elem is not None and elem.VR not in ("US", "UL", "SS", "SL", "FL", "FD"):
            assert elem.value != _VALUES.get(elem.VR, "TABLEVALUE"), kw


def test_keep_length_pads_with_trailing_padding_or_refuses() -> None:
    data = make_dicom()
    res = deidentify_dicom(data, DicomDeidOptions(), keys(), pixel_cleaner=no_pixels, keep_length=len(data))
    assert len(res.data) == len(data)
    out = pydicom.dcmread(io.BytesIO(res.data))
    assert out.PatientIdentityRemoved == "YES" and 0xFFFCFFFC in out and out.pixel_array.shape == (64, 64)
    with pytest.raises(CannotDeidentify) as e:
        deidentify_dicom(data, DicomDeidOptions(), keys(), pixel_cleaner=no_pixels, keep_length=100)
    assert e.value.code == "size_registered" and e.value.status == 403 and e.value.kind == "cannot_deidentify"
    # an odd difference cannot be an element: refused, never a broken file
    with pytest.raises(CannotDeidentify):
        deidentify_dicom(data, DicomDeidOptions(), keys(), pixel_cleaner=no_pixels, keep_length=len(res.data) + 13)


def test_pad_to_length_element_layout() -> None:
    out = deid_dicom.pad_to_length(b"x" * 100, 140, "1.2.840.10008.1.2.1")
    assert len(out) == 140 and out[100:112] == struct.pack("<HH2sHI", 0xFFFC, 0xFFFC, b"OB", 0, 28)
    out = deid_dicom.pad_to_length(b"x" * 100, 140, "1.2.840.10008.1.2")
    assert out[100:108] == struct.pack("<HHI", 0xFFFC, 0xFFFC, 32)


@pytest.mark.parametrize("data", [b"not dicom at all", make_dicom()[:700]])
def test_unreadable_or_truncated_input_is_refused(data: bytes) -> None:
    with pytest.raises(CannotDeidentify) as e:
        deidentify_dicom(data, DicomDeidOptions(), keys(), pixel_cleaner=no_pixels)
    assert e.value.code == "unparseable"


def test_summary_and_errors_hold_no_phi() -> None:
    res = deidentify_dicom(make_dicom(), DicomDeidOptions(), keys(), pixel_cleaner=no_pixels)
    text = repr(res.summary).lower()
    for value in PHI.values():
        assert value.lower() not in text
    assert res.summary["kind"] == "dicom" and int(res.summary["removed"]) > 5  # type: ignore[call-overload]
    assert "PatientName" in res.summary["tags"]  # keywords, not values
    assert repr(keys()) == "DeidKeys(<secret>)"


def test_big_endian_and_bare_data_sets_are_written_readably() -> None:
    ds = make_ds()
    bare = io.BytesIO()
    meta = ds.file_meta
    del ds.file_meta
    pydicom.dcmwrite(bare, ds, implicit_vr=True, little_endian=True)
    ds.file_meta = meta
    out = deidentify_dicom(bare.getvalue(), DicomDeidOptions(), keys(), pixel_cleaner=no_pixels).data
    assert out[128:132] != b"DICM"  # no File Meta in, none invented
    back = pydicom.dcmread(io.BytesIO(out), force=True)
    assert back.PatientIdentityRemoved == "YES" and b"OKAFOR" not in out


def test_opaque_bytes_with_phi_outside_the_table_are_removed() -> None:
    ds = make_ds()
    ds.add_new(0x00189998, "UN", b"\xfe\xff\x00\xe0....OKAFOR^MARGARET....")  # e.g. a sequence read as UN
    ds.add_new(0x00189999, "UN", b"\x01\x02 harmless")
    out = run(to_bytes(ds))
    assert 0x00189998 not in out and 0x00189999 in out


@pytest.mark.nlp
def test_clean_descriptors_also_reads_them_with_the_text_phi_recogniser() -> None:
    ds = make_ds()
    ds.SeriesDescription = "AXIAL 5mm"
    ds.ImageComments = "Reviewed with Dr. John Whitfield on 03/02/2019"  # not this file's own values
    out = run(to_bytes(ds), DicomDeidOptions(clean_descriptors=True))
    assert out.SeriesDescription == "AXIAL 5mm" and out.ImageComments == ""


def test_keep_length_below_the_plain_output_makes_room_losslessly() -> None:
    data = make_dicom(pixels=(np.arange(128 * 128, dtype=np.uint16) % 64).reshape(128, 128) * 16)
    plain = deidentify_dicom(data, DicomDeidOptions(), keys(), pixel_cleaner=no_pixels).data
    target = len(plain) - 200  # the marks and dummies alone no longer fit: compact them, then RLE the pixels
    res = deidentify_dicom(data, DicomDeidOptions(), keys(), pixel_cleaner=no_pixels, keep_length=target)
    out = pydicom.dcmread(io.BytesIO(res.data))
    assert len(res.data) == target and out.PatientIdentityRemoved == "YES"
    assert [i.CodeValue for i in out.DeidentificationMethodCodeSequence][0] == "113100"
    assert (out.pixel_array == pydicom.dcmread(io.BytesIO(data)).pixel_array).all()  # same values
