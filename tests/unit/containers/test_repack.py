"""Containers, the way back: every child that has a place in its container's bytes is written back there by
`repack` (ZIP and TAR members, gzip, text files, NIfTI header fields, Office media), every derived child (PDF
content, Word/Excel text, DICOMDIR records, NIfTI renderings) refuses with RewriteError("not_rewritable"),
and expansion fails closed when a container module cannot be imported."""

from __future__ import annotations

import builtins
import gzip
import io
import tarfile
import zipfile

import pytest
from phiwall import containers
from phiwall.errors import ExtractionError
from phiwall.extractors import adapter_for
from phiwall.extractors import route
from phiwall.locators import RewriteError
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.sniff import sniff

from tests import factories as F
from tests.support.samples import multipart
from tests.support.samples import request


def _part(data: bytes, name: str | None = None) -> Part:
    return Part("p0", PartKind.FILE, Locator("body"), data=data, media_type=sniff(data), filename=name)


def _tree(root: Part) -> list[Part]:
    """Every descendant of `root`, as the pipeline expands them."""
    out, queue = [], [(root, 0)]
    while queue:
        p, depth = queue.pop(0)
        kids = containers.expand(p, depth)
        out.extend(kids)
        queue.extend((c, depth + 1) for c in kids)
    return out


def _at(parts: list[Part], *path: str | int) -> Part:
    return next(p for p in parts if p.locator.path == path)


def test_no_edits_returns_the_same_bytes() -> None:
    data = F.make_zip({"a.dcm": F.make_dicom()})
    parent = _part(data)
    assert containers.repack(parent, _tree(parent), {}) is data


def test_zip_member_is_replaced_and_the_rest_is_kept() -> None:
    dcm, other = F.make_dicom(), F.make_dicom()
    data = F.make_zip({"CD/DICOM/IM0001": dcm, "CD/DICOM/IM0002": other, "CD/README": b"\x00\x01binary"})
    parent = _part(data)
    kids = _tree(parent)
    im1 = _at(kids, "CD/DICOM/IM0001")
    new = dcm + b"\x00de-identified"
    out = containers.repack(parent, kids, {im1.id: new})
    zin, zout = zipfile.ZipFile(io.BytesIO(data)), zipfile.ZipFile(io.BytesIO(out))
    assert zout.namelist() == zin.namelist()
    assert zout.read("CD/DICOM/IM0001") == new
    for name in ("CD/DICOM/IM0002", "CD/README"):
        assert zout.read(name) == zin.read(name)
    for a, b in zip(zin.infolist(), zout.infolist(), strict=True):
        assert (a.date_time, a.compress_type, a.external_attr) == (b.date_time, b.compress_type, b.external_attr)
    again = _tree(_part(out))
    assert [p.locator.describe() for p in again] == [p.locator.describe() for p in kids]


def test_text_inside_a_zip_member_and_a_zip_inside_a_zip() -> None:
    inner = F.make_zip({"notes.txt": "Patient John Smith, née Müller\n".encode(), "scan.dcm": F.make_dicom()})
    data = F.make_zip({"outer/inner.zip": inner})
    parent = _part(data)
    kids = _tree(parent)
    text = _at(kids, "outer/inner.zip", "notes.txt", "text")
    dcm = _at(kids, "outer/inner.zip", "scan.dcm")
    out = containers.repack(parent, kids, {text.id: "Patient [PATIENT_1], née [NAME_2]\n", dcm.id: b"DCM2"})
    again = _tree(_part(out))
    assert _at(again, "outer/inner.zip", "notes.txt", "text").text == "Patient [PATIENT_1], née [NAME_2]\n"
    assert _at(again, "outer/inner.zip", "scan.dcm").data == b"DCM2"


def test_tar_gz_member_and_lone_gzip() -> None:
    data = F.make_tar_gz({"a/one.dcm": F.make_dicom(), "a/two.txt": b"John Smith 4417302\n"})
    parent = _part(data)
    kids = _tree(parent)
    one = _at(kids, "a/one.dcm")
    out = containers.repack(parent, kids, {one.id: b"NEW"})
    assert out[:2] == b"\x1f\x8b"  # gzip stays gzip
    with tarfile.open(fileobj=io.BytesIO(out)) as tf:
        assert [m.name for m in tf.getmembers()] == ["a/one.dcm", "a/two.txt"]
        assert tf.extractfile("a/one.dcm").read() == b"NEW"  # type: ignore[union-attr]
        assert tf.extractfile("a/two.txt").read() == b"John Smith 4417302\n"  # type: ignore[union-attr]

    lone = gzip.compress(F.make_dicom(), mtime=1234567)
    gz = _part(lone, "scan.dcm.gz")
    kid = _tree(gz)[0]
    out = containers.repack(gz, [kid], {kid.id: b"X" * 300})
    assert gzip.decompress(out) == b"X" * 300 and out[4:8] == lone[4:8]  # same mtime in the header


@pytest.mark.parametrize(
    ("raw", "bom"),
    [
        (b"name,dob\nJohn Smith,1961-03-14\n", b""),
        ("\ufeffname\nJohn Smith\n".encode(), b"\xef\xbb\xbf"),
        (b"\xfe\xff" + "name\nJohn Smith\n".encode("utf-16-be"), b"\xfe\xff"),
        (b"\xff\xfe" + "name\nJohn Smith\n".encode("utf-16-le"), b"\xff\xfe"),
    ],
)
def test_text_file_keeps_its_encoding_and_bom(raw: bytes, bom: bytes) -> None:
    parent = _part(raw)
    (kid,) = _tree(parent)
    assert kid.not_rewritable is None
    new = (kid.text or "").replace("John Smith", "[PATIENT_1]")
    out = containers.repack(parent, [kid], {kid.id: new})
    assert out.startswith(bom) and b"John" not in out
    assert _tree(_part(out))[0].text == new


def test_text_file_with_invalid_bytes_is_not_rewritable() -> None:
    raw = b"John Smith\n" * 10 + b"caf\xe9\n"  # Latin-1 at the end: read with U+FFFD, cannot be written back
    parent = _part(raw)
    kids = _tree(parent)
    if not kids:
        pytest.skip("not read as text")
    assert kids[0].not_rewritable
    with pytest.raises(RewriteError) as e:
        containers.repack(parent, kids, {kids[0].id: "x"})
    assert e.value.code == "not_rewritable" and e.value.status == 403


def test_nifti_header_fields_are_written_in_place() -> None:
    data = F.make_nifti("subject Jane Doe")
    parent = _part(data)
    kids = _tree(parent)
    header = next(k for k in kids if k.kind == PartKind.TEXT)
    assert header.not_rewritable is None
    new = (header.text or "").replace("Jane Doe", "[PATIENT_1]")
    out = containers.repack(parent, kids, {header.id: new})
    assert len(out) == len(data) and b"Jane" not in out
    assert next(k for k in _tree(_part(out)) if k.kind == PartKind.TEXT).text == new
    with pytest.raises(RewriteError, match="longer than its 80-character"):
        containers.repack(parent, kids, {header.id: (header.text or "").replace("Jane Doe", "x" * 100)})
    slice_png = next(k for k in kids if k.media_type == "image/png")
    with pytest.raises(RewriteError) as e:
        containers.repack(parent, kids, {slice_png.id: b"png"})
    assert e.value.code == "not_rewritable"


def test_derived_children_are_not_rewritable() -> None:
    import docx
    import openpyxl

    d = docx.Document()
    d.add_paragraph("Referral for John Smith, MRN 4417302")
    d.add_picture(io.BytesIO(_png()))
    buf = io.BytesIO()
    d.save(buf)
    parent = _part(buf.getvalue())
    kids = _tree(parent)
    text = next(k for k in kids if k.kind == PartKind.TEXT)
    media = next(k for k in kids if k.kind == PartKind.FILE)
    assert text.not_rewritable and "Word document" in text.not_rewritable
    with pytest.raises(RewriteError):
        containers.repack(parent, kids, {text.id: "x"})
    # Embedded media are ZIP members: written back, the document's XML untouched.
    out = containers.repack(parent, kids, {media.id: _png(7)})
    assert docx.Document(io.BytesIO(out)).paragraphs[0].text == "Referral for John Smith, MRN 4417302"
    assert _at(_tree(_part(out)), *media.locator.path).data == _png(7)

    wb = openpyxl.Workbook()
    wb.active.append(["John Smith", "4417302"])  # type: ignore[union-attr]
    buf = io.BytesIO()
    wb.save(buf)
    sheet = _tree(_part(buf.getvalue()))[0]
    assert sheet.not_rewritable and "spreadsheet" in sheet.not_rewritable

    pdf = _part(F.make_text_pdf([["Patient John Smith"]]))
    for kid in _tree(pdf):
        assert kid.not_rewritable and "PDF" in kid.not_rewritable
        with pytest.raises(RewriteError) as e:
            containers.repack(pdf, [kid], {kid.id: "x" if kid.kind == PartKind.TEXT else b"x"})
        assert e.value.code == "not_rewritable"

    dicomdir = _part(F.make_dicom(directory_records=[{"DirectoryRecordType": "PATIENT", "PatientName": "Doe^Jane"}]))
    (records,) = _tree(dicomdir)
    assert records.not_rewritable and "DICOMDIR" in records.not_rewritable


def _png(seed: int = 3) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (64, 64), seed).save(buf, "PNG")
    return buf.getvalue()


def test_wrong_value_type_and_foreign_ids_are_refused() -> None:
    parent = _part(F.make_zip({"a.dcm": F.make_dicom()}))
    kids = _tree(parent)
    with pytest.raises(RewriteError) as e:
        containers.repack(parent, kids, {kids[0].id: "text for a file"})
    assert e.value.code == "bad_edit"
    with pytest.raises(RewriteError) as e:
        containers.repack(parent, kids, {"p9.0": b"x"})
    assert e.value.code == "unknown_part"


def test_zip_member_inside_a_multipart_upload_through_the_adapter() -> None:
    """The whole chain: Multipart(1) → ZipMember(...). Editing the member's id rewrites the request body."""
    dcm = F.make_dicom()
    zipped = F.make_zip({"study/IM1.dcm": dcm, "study/IM2.dcm": dcm})
    body, ctype = multipart([("purpose", None, None, b"assistants"), ("file", "cd.zip", "application/zip", zipped)])
    req = request("POST", "api.openai.com", "/v1/files", body, ctype)
    adapter = adapter_for(route("api.openai.com"))  # type: ignore[arg-type]
    env = adapter.extract(req, body)
    (top,) = [p for p in env.parts if p.media_type == "application/zip"]
    kids = _tree(top)
    im1 = _at(kids, "study/IM1.dcm")
    out = adapter.rewrite(req, body, {im1.id: b"clean"}, [*env.parts, *kids])
    env2 = adapter.extract(req, out)
    (top2,) = [p for p in env2.parts if p.media_type == "application/zip"]
    kids2 = _tree(top2)
    assert _at(kids2, "study/IM1.dcm").data == b"clean" and _at(kids2, "study/IM2.dcm").data == dcm
    # The same through repack, bottom-up: the parent's new bytes as the edit of the top-level part.
    assert adapter.rewrite(req, body, {top.id: containers.repack(top, kids, {im1.id: b"clean"})}) == out
    # Editing a container and one of its members at once is a conflict, not a silent choice.
    with pytest.raises(RewriteError) as e:
        adapter.rewrite(req, body, {top.id: zipped, im1.id: b"clean"}, [*env.parts, *kids])
    assert e.value.code == "conflict"


def test_expansion_fails_closed_when_a_container_module_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13 item 11: an ImportError used to turn container expansion silently off (children: [])."""
    import sys

    real_import = builtins.__import__

    def broken(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("phiwall.containers.registry") or (
            name == "phiwall.containers" and args and "registry" in (args[2] or ())  # type: ignore[operator]
        ):
            raise ImportError("simulated", name="phiwall.containers.registry")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delitem(sys.modules, "phiwall.containers.registry", raising=False)
    monkeypatch.delattr(containers, "registry", raising=False)
    monkeypatch.setattr(builtins, "__import__", broken)
    with pytest.raises(ExtractionError, match="container inspection is unavailable"):
        containers.expand(_part(F.make_zip({"a.dcm": F.make_dicom()})))


@pytest.mark.parametrize("version", [1, 2])
def test_nifti_header_offsets_for_both_versions(version: int) -> None:
    import nibabel as nib
    import numpy as np

    klass = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    img = klass(np.ones((8, 8, 3), dtype=np.int16), np.eye(4))
    img.header["descrip"] = b"subject Jane Doe"
    img.header["aux_file"] = b"JD-4417302"
    data = img.to_bytes()
    parent = _part(data)
    assert parent.media_type == "application/x-nifti"  # NIfTI-2 too: its magic is at byte 4, not 344
    kids = _tree(parent)
    header = next(k for k in kids if k.kind == PartKind.TEXT)
    assert header.not_rewritable is None and "aux_file: JD-4417302" in (header.text or "")
    new = (header.text or "").replace("Jane Doe", "[P1]").replace("JD-4417302", "[MRN_1]")
    out = containers.repack(parent, kids, {header.id: new})
    back = klass.from_bytes(out)
    assert back.header["descrip"].tobytes().rstrip(b"\x00") == b"subject [P1]"
    assert back.header["aux_file"].tobytes().rstrip(b"\x00") == b"[MRN_1]"
    assert np.array_equal(np.asarray(back.dataobj), np.asarray(img.dataobj))
