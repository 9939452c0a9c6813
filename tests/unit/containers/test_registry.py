"""Containers: every contained item becomes a part with a locator; limits answer with clear LimitErrors."""

from __future__ import annotations

import time

import pytest
from phiwall.containers import registry
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.sniff import sniff

from tests import factories as F


def _part(data: bytes, name: str | None = None) -> Part:
    return Part("p0", PartKind.FILE, Locator("body"), data=data, media_type=sniff(data), filename=name)


def _expand_all(data: bytes) -> list[Part]:
    out, queue = [], [(_part(data), 0)]
    while queue:
        p, depth = queue.pop(0)
        out.append(p)
        queue.extend((c, depth + 1) for c in registry.expand(p, depth))
    return out


def test_zipped_dicom_folder_gives_dicom_children_with_paths() -> None:
    data = F.make_zip({"CD/DICOM/IM0001": F.make_dicom(), "CD/DICOM/IM0002": F.make_dicom(), "__MACOSX/._x": b"x"})
    kids = registry.expand(_part(data))
    *members, names = kids
    assert [k.locator.describe() for k in members] == ["archive:CD/DICOM/IM0001", "archive:CD/DICOM/IM0002"]
    assert {k.media_type for k in members} == {"application/dicom"}
    assert all(k.parent_id == "p0" for k in kids)
    # the member names, one text part made last (member ids unchanged), each folder and file name once
    assert (names.id, names.role, names.text, names.locator.describe()) == (
        "p0.2",
        "filename",
        "CD\nDICOM\nIM0001\nIM0002",
        "archive:names",
    )
    assert names.not_rewritable is None  # ZIP names are renamed (ZipNames); TAR names are read-only


def test_patient_named_folder_in_an_archive_is_text_as_words() -> None:
    data = F.make_tar_gz({"Okafor_Margaret/CT_2024-03-14/IM0001.dcm": F.make_dicom()})
    parts = _expand_all(data)
    (names,) = [p for p in parts if p.role == "filename"]
    assert names.kind == PartKind.TEXT and "rename the files" in (names.not_rewritable or "")
    assert names.text == "Okafor Margaret\nCT_2024 03 14\nIM0001"  # one separator per name: the most used one


def test_stored_zip_whose_first_member_is_a_dicom_is_a_zip() -> None:
    """Stored (not deflated), the member's DICM sits near byte 128 of the ZIP: it was sniffed as one DICOM, and
    every other member went uninspected."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("a.dcm", F.make_dicom())
        z.writestr("note.txt", b"Patient John Smith MRN 4417302")
    data = buf.getvalue()
    assert 0 < data.find(b"DICM") < 260
    assert sniff(data) == "application/zip"
    parts = _expand_all(data)
    assert any("4417302" in (p.text or "") for p in parts)


def test_nested_archive_keeps_the_outer_path() -> None:
    inner = F.make_tar_gz({"notes/a.txt": b"Patient John Smith MRN 4417302"})
    parts = _expand_all(F.make_zip({"outer/inner.tgz": inner}))
    text = [p for p in parts if p.kind == PartKind.TEXT and p.role == "content"]
    assert len(text) == 1 and text[0].locator.path == ("outer/inner.tgz", "notes/a.txt", "text")
    names = [p.locator.path for p in parts if p.role == "filename"]
    assert names == [("names",), ("outer/inner.tgz", "names")]
    assert "4417302" in (text[0].text or "")


def test_zip_bomb_is_refused_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    from phiwall.containers import archive

    monkeypatch.setattr(archive, "MAX_EXPANDED_BYTES", 20_000_000)  # same code path as 500 MB, 30x cheaper to build
    bomb = F.make_zip_bomb(25)
    t0 = time.perf_counter()
    with pytest.raises(LimitError, match="expanded bytes|zip bomb|expands"):
        registry.expand(_part(bomb))
    assert time.perf_counter() - t0 < 2.0


def test_ratio_bomb_under_the_size_limit_is_refused() -> None:
    with pytest.raises(LimitError, match="200:1"):
        registry.expand(_part(F.make_zip_bomb(10)))


def test_too_deep_nesting_is_a_limit_error() -> None:
    with pytest.raises(LimitError, match="nested"):
        registry.expand(_part(F.make_zip({"a.txt": b"hello"})), registry.MAX_DEPTH)


def test_truncated_zip_is_an_extraction_error() -> None:
    data = F.make_zip({"a.txt": b"hello world" * 100})
    with pytest.raises(ExtractionError):
        registry.expand(_part(data[: len(data) // 2]))


def test_pdf_text_layer_per_page_and_info() -> None:
    pdf = F.make_text_pdf([["Patient: John Smith"], ["MRN: 4417302"]], info={"Author": "Dr Alice Jones"})
    kids = registry.expand(_part(pdf))
    by_path = {k.locator.path: k.text for k in kids}
    assert "John Smith" in (by_path[("page", 1, "text")] or "")
    assert "4417302" in (by_path[("page", 2, "text")] or "")
    assert "Alice Jones" in (by_path[("info",)] or "")


def test_scanned_pdf_page_is_rendered_for_ocr() -> None:
    kids = registry.expand(_part(F.make_scanned_pdf([F.make_scan(dark=False), F.make_photo()])))
    assert [k.locator.path for k in kids] == [("page", 1, "scan"), ("page", 2, "scan")]
    assert all(k.media_type == "image/png" for k in kids)


@pytest.mark.parametrize("make", [F.make_loop_pdf, lambda: F.make_text_pdf([["x"]])[:150]])
def test_hostile_pdfs_get_a_clear_error(make: object) -> None:
    t0 = time.perf_counter()
    with pytest.raises((ExtractionError, LimitError)):
        registry.expand(_part(make()))  # type: ignore[operator]
    assert time.perf_counter() - t0 < 2.0


def test_twenty_page_pdf_is_fast() -> None:
    pdf = F.make_text_pdf([[f"Line {i} of page {p}: lorem ipsum dolor sit amet" for i in range(40)] for p in range(20)])
    registry.expand(_part(pdf))
    t0 = time.perf_counter()
    kids = registry.expand(_part(pdf))
    assert len(kids) == 20
    assert time.perf_counter() - t0 < 0.3


def test_docx_and_xlsx_text() -> None:
    import io

    import docx
    import openpyxl

    d = docx.Document()
    d.add_paragraph("Referral for John Smith, MRN 4417302")
    buf = io.BytesIO()
    d.save(buf)
    kids = registry.expand(_part(buf.getvalue()))
    assert any("4417302" in (k.text or "") for k in kids)

    wb = openpyxl.Workbook()
    wb.active.append(["name", "mrn"])  # type: ignore[union-attr]
    wb.active.append(["John Smith", "4417302"])  # type: ignore[union-attr]
    buf = io.BytesIO()
    wb.save(buf)
    kids = registry.expand(_part(buf.getvalue()))
    assert any("John Smith\t4417302" in (k.text or "") for k in kids)


def test_csv_file_becomes_text_and_binary_does_not() -> None:
    kids = registry.expand(_part(b"name,dob\nJohn Smith,1961-03-14\n"))
    assert kids and kids[0].kind == PartKind.TEXT
    assert registry.expand(_part(bytes(range(256)) * 4)) == []


@pytest.mark.parametrize("gz", [False, True])
def test_nifti_header_text_and_middle_slice(gz: bool) -> None:
    parts = _expand_all(F.make_nifti("subject Jane Doe", gz=gz))
    texts = [p.text for p in parts if p.kind == PartKind.TEXT]
    images = [p for p in parts if p.media_type == "image/png"]
    assert any("Jane Doe" in (t or "") for t in texts)
    assert len(images) == 1 and images[0].locator.path[-2:] == ("slice", "middle")


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("gz", [False, True])
def test_nifti2_is_sniffed_and_expanded(gz: bool, big_endian: bool) -> None:
    """NIfTI-2 (540-byte header, magic at byte 4) was sniffed as octet-stream, so it was never expanded."""
    import gzip

    import nibabel as nib
    import numpy as np

    vol = np.zeros((32, 32, 5), dtype=">i2" if big_endian else "<i2")
    vol[8:24, 8:24, :] = 700
    img = nib.Nifti2Image(vol, np.eye(4), header=nib.Nifti2Header(endianness=">" if big_endian else "<"))
    img.header["descrip"] = b"subject Jane Doe"
    data = img.to_bytes()
    assert data[4:7] == b"n+2" and (data[:4] == b"\x00\x00\x02\x1c") == big_endian
    assert sniff(data) == "application/x-nifti"
    parts = _expand_all(gzip.compress(data) if gz else data)
    assert any("Jane Doe" in (p.text or "") for p in parts if p.kind == PartKind.TEXT)
    assert [p.locator.path[-2:] for p in parts if p.media_type == "image/png"] == [("slice", "middle")]


def test_dicomdir_records_as_text() -> None:
    data = F.make_dicom(directory_records=[{"DirectoryRecordType": "PATIENT", "PatientName": "Doe^Jane",
                                            "PatientID": "ZX-99812"}])  # fmt: skip
    kids = registry.expand(_part(data))
    assert len(kids) == 1 and "ZX-99812" in (kids[0].text or "")


def test_plain_dicom_is_not_a_container() -> None:
    assert registry.expand(_part(F.make_dicom())) == []
