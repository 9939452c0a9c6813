"""Whole files (phiwall.deid.files): sniffing, ZIP member by member with a DICOMDIR, JSON Lines, refusals."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pydicom
import pytest
from phiwall.deid.files import deidentify_bytes
from phiwall.deid.files import deidentify_jsonl
from phiwall.deid.files import kind_of
from phiwall.deid.options import CannotDeidentify
from phiwall.deid.options import DeidOptionSet
from phiwall.deid.options import DicomDeidOptions
from phiwall.deid.options import ImageDeidOptions
from pydicom.fileset import FileSet

from tests.unit.deid.helpers import PHI
from tests.unit.deid.helpers import image_bytes
from tests.unit.deid.helpers import keys
from tests.unit.deid.helpers import make_dicom
from tests.unit.deid.helpers import make_ds

OPTS = DeidOptionSet(dicom=DicomDeidOptions(clean_pixel_data=False), image=ImageDeidOptions(paint_text=False))


def test_kinds() -> None:
    assert kind_of(make_dicom(), "x") == "dicom"
    assert kind_of(image_bytes("PNG", text=None), "x.bin") == "image"
    assert kind_of(b"hello", "notes.txt") == "text" and kind_of(b'{"a": 1}\n', "r.jsonl") == "jsonl"
    assert kind_of(b"%PDF-1.7\n", "a.pdf") == "application/pdf"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in members.items():
            z.writestr(name, body)
    return buf.getvalue()


def test_zip_members_are_de_identified_consistently() -> None:
    data = _zip(
        {
            "study/a.dcm": make_dicom(sop_uid="1.2.3.4.1"),
            "study/b.dcm": make_dicom(sop_uid="1.2.3.4.2"),
            "study/photo.png": image_bytes("PNG", text=None, exif=b"Exif\x00\x00"),
            "study/readme.txt": b"no phi",
        }
    )
    res = deidentify_bytes(data, "set.zip", OPTS, keys(), text_fn=lambda s: s.upper())
    z = zipfile.ZipFile(io.BytesIO(res.data))
    assert z.namelist() == ["study/a.dcm", "study/b.dcm", "study/photo.png", "study/readme.txt"]
    a, b = (pydicom.dcmread(io.BytesIO(z.read(f"study/{n}.dcm"))) for n in "ab")
    assert a.StudyInstanceUID == b.StudyInstanceUID and a.SOPInstanceUID != b.SOPInstanceUID
    assert a.PatientID == b.PatientID and a.PatientIdentityRemoved == "YES"
    assert z.read("study/readme.txt") == b"NO PHI"
    assert PHI["PatientName"].encode() not in res.data and res.summary["members_dicom"] == 2


def test_zip_with_a_member_that_cannot_be_de_identified_is_refused_whole() -> None:
    data = _zip({"a.dcm": make_dicom(), "report.pdf": b"%PDF-1.7\n%%EOF"})
    with pytest.raises(CannotDeidentify) as e:
        deidentify_bytes(data, "set.zip", OPTS, keys())
    assert e.value.code == "unsupported_format" and "member" in e.value.reason


def test_dicomdir_records_follow_the_files(tmp_path: Path) -> None:
    fs = FileSet()
    for i, pid in enumerate(["MRN4471923", "MRN4471923", "OTHER77"]):
        ds = make_ds(sop_uid=f"1.2.3.4.{i + 1}", phi={"PatientID": pid}, study_uid=f"1.2.3.{pid[-1]}")
        fs.add(ds)
    fs.write(tmp_path / "set")
    members = {
        str(p.relative_to(tmp_path)): p.read_bytes() for p in sorted((tmp_path / "set").rglob("*")) if p.is_file()
    }
    res = deidentify_bytes(_zip(members), "set.zip", OPTS, keys())
    assert b"MRN4471923" not in res.data and b"OTHER77" not in res.data and res.summary["members_dicomdir"] == 1
    out = tmp_path / "out"
    zipfile.ZipFile(io.BytesIO(res.data)).extractall(out)
    again = FileSet(pydicom.dcmread(out / "set" / "DICOMDIR"))
    assert len(again) == 3
    for inst in again:
        ds = inst.load()
        assert ds.SOPInstanceUID == inst.ReferencedSOPInstanceUIDInFile and ds.PatientID == inst.PatientID
        assert ds.StudyInstanceUID == inst.StudyInstanceUID and inst.StudyDate  # Type 1 in a STUDY record
    assert len({inst.PatientID for inst in again}) == 2


def test_jsonl_every_string_value_and_bad_lines() -> None:
    text = '{"id": "a", "text": "Okafor", "meta": {"who": ["Okafor", 3]}}\n\n{"id": "b", "text": "x"}\n'
    out = deidentify_jsonl(text, lambda s: s.replace("Okafor", "[PATIENT_1]"))
    rows = [json.loads(line) for line in out.splitlines() if line]
    assert rows[0] == {"id": "a", "text": "[PATIENT_1]", "meta": {"who": ["[PATIENT_1]", 3]}} and out.count("\n") == 3
    with pytest.raises(CannotDeidentify):
        deidentify_jsonl("not json\n", lambda s: s)


def test_no_writer_is_refused_with_a_reason() -> None:
    with pytest.raises(CannotDeidentify) as e:
        deidentify_bytes(b"%PDF-1.7\n", "a.pdf", OPTS, keys())
    assert e.value.code == "unsupported_format" and "application/pdf" in e.value.reason


def test_a_dicomdir_on_its_own_is_relinked_not_broken(tmp_path: Path) -> None:
    fs = FileSet()
    for i, pid in enumerate(["MRN4471923", "OTHER77"]):
        fs.add(make_ds(sop_uid=f"1.2.3.4.{i + 1}", phi={"PatientID": pid}))
    fs.write(tmp_path / "set")
    raw = (tmp_path / "set" / "DICOMDIR").read_bytes()
    res = deidentify_bytes(raw, "DICOMDIR", OPTS, keys())
    assert res.summary == {"kind": "dicomdir"} and b"MRN4471923" not in res.data and b"OKAFOR" not in res.data
    (tmp_path / "set" / "DICOMDIR").write_bytes(res.data)
    again = FileSet(pydicom.dcmread(tmp_path / "set" / "DICOMDIR"))
    assert len(again) == 2 and len({inst.PatientID for inst in again}) == 2
    from phiwall.deid.dicom import deidentify_dicom

    assert deidentify_dicom(raw, OPTS.dicom, keys()).data == res.data  # the DICOM engine routes it the same way
    file_pid = deidentify_bytes(make_dicom(phi={"PatientID": "OTHER77"}), "x.dcm", OPTS, keys()).data
    assert pydicom.dcmread(io.BytesIO(file_pid)).PatientID in {inst.PatientID for inst in again}
