"""The dicom detector on DICOM files generated in the test (no corpus): encodings, damage, nesting, privacy."""

from __future__ import annotations

import time

import pytest
from phiwall.detectors import dicom as dicom_module
from phiwall.detectors.dicom import DicomDetector
from phiwall.detectors.dicom import build
from phiwall.detectors.dicom import header_values
from phiwall.detectors.dicom_tags import BASIC_PROFILE
from phiwall.detectors.dicom_tags import profile_attribute
from phiwall.dicom_io import read_dataset
from phiwall.dicom_io import read_dicom
from phiwall.digest import value_digest
from phiwall.errors import DetectionError
from phiwall.errors import PolicyError
from phiwall.model import Finding
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.sniff import DICOM
from phiwall.sniff import sniff
from pydicom.datadict import keyword_for_tag
from pydicom.uid import ImplicitVRLittleEndian

from tests.factories import make_dicom

NAME = "Testpatient^Alice"
MRN = "MRN-000123"
SECRET_VALUES = (NAME, "Testpatient", MRN, "Nestedperson^Bob", "Nestedperson", "20240102", "REQ-777", "SPS-888")


def _part(data: bytes) -> Part:
    return Part(id="p1", kind=PartKind.FILE, locator=Locator("body"), data=data, media_type=sniff(data))


def _detect(data: bytes, **options: object) -> list[Finding]:
    return DicomDetector(options).detect(_part(data))


def _entities(findings: list[Finding]) -> set[str]:
    return {f.entity for f in findings}


def _file_finding(findings: list[Finding]) -> Finding:
    (found,) = [f for f in findings if f.entity == "DICOM_FILE"]
    return found


def _assert_no_values(findings: list[Finding]) -> None:
    for finding in findings:
        text = repr(finding)
        for secret in SECRET_VALUES:
            assert secret not in text, f"{finding.entity} leaks a value"


VARIANTS = [
    pytest.param("explicit", True, True, id="explicit-le-ps310"),
    pytest.param("implicit", True, True, id="implicit-le-ps310"),
    pytest.param("big", True, True, id="explicit-be-ps310"),
    pytest.param("explicit", False, True, id="explicit-le-meta-no-preamble"),
    pytest.param("explicit", False, False, id="explicit-le-raw"),
    pytest.param("implicit", False, False, id="implicit-le-raw"),
    pytest.param("big", False, False, id="explicit-be-raw"),
]


@pytest.mark.parametrize(("encoding", "preamble", "file_meta"), VARIANTS)
def test_recognises_every_encoding(encoding: str, preamble: bool, file_meta: bool) -> None:
    data = make_dicom(
        encoding=encoding,  # type: ignore[arg-type]
        preamble=preamble,
        file_meta=file_meta,
        elements={"StudyDate": "20240102", "InstitutionName": "General Test Hospital"},
    )
    assert sniff(data) == DICOM
    findings = _detect(data)
    file_finding = _file_finding(findings)
    assert file_finding.score == 1.0
    assert file_finding.modality == "CT"
    assert "CT Image Storage" in file_finding.explanation
    assert ("no preamble" in file_finding.explanation) is (not preamble)
    assert ("no File Meta" in file_finding.explanation) is (not file_meta)
    assert "truncated" not in file_finding.explanation
    for keyword in ("PatientName", "PatientID", "StudyDate", "InstitutionName", "SOPInstanceUID", "StudyInstanceUID"):
        assert f"DICOM_TAG:{keyword}" in _entities(findings)
    _assert_no_values(findings)


def test_tag_finding_carries_keyword_and_keyed_digest_only() -> None:
    findings = _detect(make_dicom())
    (name,) = [f for f in findings if f.entity == "DICOM_TAG:PatientName"]
    assert name.tag == "PatientName"
    assert name.digest == value_digest(NAME)
    assert name.detector == "dicom"
    assert name.part_id == "p1"
    assert "top level" in name.explanation


@pytest.mark.parametrize("empty", ["", "^^", "  "])
def test_empty_patient_name_not_reported(empty: str) -> None:
    findings = _detect(make_dicom(patient_name=empty, patient_id=""))
    assert "DICOM_TAG:PatientName" not in _entities(findings)
    assert "DICOM_TAG:PatientID" not in _entities(findings)
    assert "DICOM_FILE" in _entities(findings)


def test_nested_sequences_are_searched() -> None:
    data = make_dicom(
        referenced_patient_name="Nestedperson^Bob",
        request_attributes={"RequestedProcedureID": "REQ-777", "ScheduledProcedureStepID": "SPS-888"},
    )
    findings = _detect(data)
    entities = _entities(findings)
    assert {"DICOM_TAG:ReferencedPatientSequence", "DICOM_TAG:RequestAttributesSequence"} <= entities
    assert {"DICOM_TAG:RequestedProcedureID", "DICOM_TAG:ScheduledProcedureStepID"} <= entities
    names = [f for f in findings if f.entity == "DICOM_TAG:PatientName"]
    assert {f.digest for f in names} == {value_digest(NAME), value_digest("Nestedperson^Bob")}
    assert any("in ReferencedPatientSequence" in f.explanation for f in names)
    _assert_no_values(findings)


def test_private_tags_reported_once_with_count() -> None:
    findings = _detect(make_dicom(private=True))
    (private,) = [f for f in findings if f.entity == "DICOM_PRIVATE_TAGS"]
    assert private.explanation.startswith("2 private data elements")
    assert "private payload" not in repr(findings)
    assert "DICOM_PRIVATE_TAGS" not in _entities(_detect(make_dicom()))


@pytest.mark.parametrize(("value", "expected"), [("YES", True), ("NO", False), (None, False)])
def test_burned_in_annotation(value: str | None, expected: bool) -> None:
    findings = _detect(make_dicom(burned_in=value))
    assert ("DICOM_BURNED_IN_ANNOTATION" in _entities(findings)) is expected


@pytest.mark.parametrize("encoding", ["explicit", "implicit", "big"])
def test_truncated_mid_element_still_reported(encoding: str) -> None:
    data = make_dicom(encoding=encoding, elements={"StudyDate": "20240102"})  # type: ignore[arg-type]
    cut = data.index(MRN.encode()) + 4  # inside the PatientID value
    findings = _detect(data[:cut])
    file_finding = _file_finding(findings)
    assert "truncated" in file_finding.explanation
    entities = _entities(findings)
    assert "DICOM_TAG:PatientName" in entities  # PatientName (0010,0010) precedes PatientID (0010,0020)
    assert "DICOM_TAG:StudyDate" in entities
    _assert_no_values(findings)


def test_truncated_pixel_data_is_noticed() -> None:
    data = make_dicom()
    assert "truncated" in _file_finding(_detect(data[:-5])).explanation


def test_truncated_inside_nested_sequence() -> None:
    data = make_dicom(referenced_patient_name="Nestedperson^Bob")
    cut = data.index(b"Nestedperson") + 3
    findings = _detect(data[:cut])
    assert "truncated" in _file_finding(findings).explanation
    assert "DICOM_TAG:PatientName" in _entities(findings)


def test_dicm_magic_but_unparseable() -> None:
    data = bytes(128) + b"DICM" + b"\xff" * 64
    findings = _detect(data)
    assert [(f.entity, f.explanation) for f in findings] == [("DICOM_FILE", "unparseable")]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n" + bytes(64),
        bytes(600),
        b"\x08\x00\x05\x00CS\x0a\x00" + b"\xff" * 8,  # starts like a raw data set, then garbage
    ],
    ids=["empty", "png", "zeros", "raw-hint-garbage"],
)
def test_not_dicom_or_unconfirmed_raw_is_not_reported_as_file(data: bytes) -> None:
    findings = _detect(data)
    assert all(f.entity != "DICOM_FILE" or "unparseable" not in f.explanation for f in findings)
    if data[:4] != b"\x08\x00\x05\x00":
        assert findings == []


def test_dicomdir_patient_records() -> None:
    data = make_dicom(
        patient_name=None,
        patient_id=None,
        directory_records=[
            {"DirectoryRecordType": "PATIENT", "PatientName": NAME, "PatientID": MRN},
            {"DirectoryRecordType": "STUDY", "StudyDate": "20240102", "StudyInstanceUID": "1.2.3.4"},
        ],
    )
    findings = _detect(data)
    assert _file_finding(findings).modality == "DICOMDIR"
    entities = _entities(findings)
    assert {"DICOM_TAG:PatientName", "DICOM_TAG:PatientID", "DICOM_TAG:StudyDate"} <= entities
    assert any("in DirectoryRecordSequence" in f.explanation for f in findings if f.tag == "PatientName")
    _assert_no_values(findings)


def test_max_values_per_tag_caps_distinct_values() -> None:
    items = [{"ReferencedSOPInstanceUID": f"1.2.3.{i}"} for i in range(30)]
    data = make_dicom(elements={"ReferencedImageSequence": _sequence(items)})
    findings = _detect(data, max_values_per_tag=3)
    assert sum(f.entity == "DICOM_TAG:ReferencedSOPInstanceUID" for f in findings) == 3


def _sequence(items: list[dict[str, str]]) -> object:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    out = []
    for spec in items:
        item = Dataset()
        for keyword, value in spec.items():
            setattr(item, keyword, value)
        out.append(item)
    return Sequence(out)


@pytest.mark.parametrize(
    "options", [{"unknown": 1}, {"max_values_per_tag": 0}, {"max_values_per_tag": "8"}, {"max_values_per_tag": True}]
)
def test_bad_options_are_policy_errors(options: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        DicomDetector(options)


def test_build_factory_and_contract() -> None:
    detector = build({})
    assert detector.name == "dicom"
    assert detector.handles == frozenset({"application/dicom"})


def test_unexpected_failure_is_phi_free_detection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(data: bytes) -> None:
        raise RuntimeError(f"cannot convert {NAME}")

    monkeypatch.setattr(dicom_module, "read_dicom", boom)
    with pytest.raises(DetectionError) as info:
        _detect(make_dicom())
    assert NAME not in str(info.value)
    assert "RuntimeError" in str(info.value)
    assert info.value.__suppress_context__


def test_header_values_for_ocr_deny_list() -> None:
    ds = read_dataset(make_dicom(elements={"StudyDate": "20240102"}), with_pixels=False)
    values = header_values(ds)
    assert {NAME, "Testpatient", "Alice", MRN, "20240102"} <= set(values)
    assert not any(v.startswith("1.2.") for v in values)  # UIDs are never burned in
    assert len(values) == len(set(values))


def test_read_dataset_sets_transfer_syntax_for_raw_dataset() -> None:
    data = make_dicom(encoding="implicit", preamble=False, file_meta=False)
    ds = read_dataset(data, with_pixels=True)
    assert ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert ds.pixel_array.shape == (4, 4)
    assert int(ds.pixel_array[3, 3]) == 15


def test_read_dicom_reports_structure() -> None:
    read = read_dicom(make_dicom(preamble=False, file_meta=False))
    assert (read.has_preamble, read.has_file_meta, read.truncated, read.salvaged) == (False, False, False, False)


def test_pydicom_warnings_with_values_are_silenced(caplog: pytest.LogCaptureFixture, recwarn: object) -> None:
    data = make_dicom()
    cut = data.index(MRN.encode()) + 3
    with caplog.at_level("DEBUG"):
        _detect(data[:cut])
    assert "MRN" not in caplog.text
    for warning in recwarn:  # type: ignore[attr-defined]
        assert NAME not in str(warning.message)


def test_deep_nesting_is_bounded() -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    inner = Dataset()
    inner.PatientName = NAME
    for _ in range(40):
        outer = Dataset()
        outer.ReferencedStudySequence = Sequence([inner])
        inner = outer
    data = make_dicom(elements={"ReferencedStudySequence": inner.ReferencedStudySequence})
    findings = _detect(data)
    assert "nested deeper" in _file_finding(findings).explanation


def test_profile_table_matches_pydicom_dictionary() -> None:
    assert len(BASIC_PROFILE) > 400
    for tag, attr in BASIC_PROFILE.items():
        assert keyword_for_tag(tag) == attr.keyword
        assert set(attr.action.replace("*", "").split("/")) <= {"X", "Z", "D", "U"}
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "OtherPatientIDs",
        "PatientAddress",
        "AccessionNumber",
        "InstitutionName",
        "ReferringPhysicianName",
        "PerformingPhysicianName",
        "OperatorsName",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "DeviceSerialNumber",
        "StationName",
        "ReferencedPatientSequence",
        "RequestAttributesSequence",
    ):
        assert any(a.keyword == keyword for a in BASIC_PROFILE.values()), keyword
    assert profile_attribute(0x60023000) is not None and profile_attribute(0x60023000).keyword == "OverlayData"
    assert profile_attribute(0x50000005) is not None
    assert profile_attribute(0x00280010) is None  # Rows


def test_header_scan_is_fast() -> None:
    data = make_dicom(referenced_patient_name="Nestedperson^Bob", private=True)
    detector = DicomDetector({})
    part = _part(data)
    detector.detect(part)
    start = time.perf_counter()
    for _ in range(50):
        detector.detect(part)
    per_call = (time.perf_counter() - start) / 50
    assert per_call < 0.02, f"{per_call * 1000:.1f} ms per header scan"
