"""`phiwall deid` as a person runs it (a real subprocess, real files, documented exit codes), and the issue 9
DICOM acceptance on every file of ../shared/corpus/dicom (skipped with a reason where the corpus is absent)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pydicom
import pytest
from phiwall import ocr
from pydicom.fileset import FileSet

from tests.unit.deid.helpers import PHI
from tests.unit.deid.helpers import image_bytes
from tests.unit.deid.helpers import make_dicom
from tests.unit.deid.helpers import make_ds

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import quality_deid as q  # noqa: E402 - the scoring code docs/quality.md is written with

CORPUS = REPO.parent / "shared" / "corpus"
needs_corpus = pytest.mark.skipif(not q.SUMMARY.is_file(), reason=f"shared corpus not found at {CORPUS}")
needs_ocr = pytest.mark.skipif(not ocr.available(), reason="tesseract is not installed (apt-get install tesseract-ocr)")


def deid_inprocess(*args: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """The same `main` in this process: for checks that need no separate interpreter (exit codes, options)."""
    from phiwall.cli import main

    monkeypatch.setenv("PHIWALL_HOME", str(home))
    return main(["deid", *args])


def deid(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PHIWALL_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "phiwall.cli", "deid", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=REPO,
    )


def test_folder_with_everything_exit_status_and_outputs(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "scans").mkdir(parents=True)
    (src / "scans" / "a.dcm").write_bytes(make_dicom(sop_uid="1.2.3.4.1"))
    (src / "scans" / "b.dcm").write_bytes(make_dicom(sop_uid="1.2.3.4.2"))
    (src / "photo.png").write_bytes(image_bytes("PNG", text=None))
    (src / "note.txt").write_text("Seen by Dr. Alice Brennan on 03/02/2019 about Margaret Okafor.\n")
    (src / "recs.jsonl").write_text(json.dumps({"id": 1, "text": "Margaret Okafor called 555-867-5309"}) + "\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("s/1.dcm", make_dicom(sop_uid="1.2.3.4.1"))
        z.writestr("s/2.dcm", make_dicom(sop_uid="1.2.3.4.3"))
    (src / "set.zip").write_bytes(buf.getvalue())
    fs = FileSet()
    fs.add(make_ds(sop_uid="1.2.3.4.7"))
    fs.write(src / "media")  # a DICOMDIR set as a folder
    r = deid("--json", str(src), "-o", str(tmp_path / "out"), home=tmp_path / "h")
    assert r.returncode == 0, r.stderr
    rows = {Path(o["path"]).name: o for o in map(json.loads, r.stdout.splitlines())}
    assert {o["status"] for o in rows.values()} == {"deidentified"} and len(rows) == 8
    out = tmp_path / "out" / "in"
    a = pydicom.dcmread(out / "scans" / "a.dcm")
    b = pydicom.dcmread(out / "scans" / "b.dcm")
    assert a.StudyInstanceUID == b.StudyInstanceUID and a.PatientIdentityRemoved == "YES"
    z = zipfile.ZipFile(out / "set.zip")  # re-packed member by member, same keys: same study UID as the loose files
    assert [pydicom.dcmread(io.BytesIO(z.read(n))).StudyInstanceUID for n in z.namelist()] == [a.StudyInstanceUID] * 2
    media = FileSet(pydicom.dcmread(out / "media" / "DICOMDIR"))
    assert [i.ReferencedSOPInstanceUIDInFile for i in media] == [i.load().SOPInstanceUID for i in media]
    before, after = q.dciodvfy_errors(src / "scans" / "a.dcm"), q.dciodvfy_errors(out / "scans" / "a.dcm")
    assert before is None or after is None or after - before == set()
    note = (out / "note.txt").read_text()
    assert "Okafor" not in note and "Brennan" not in note and "[" in note
    rec = json.loads((out / "recs.jsonl").read_text())
    assert rec["id"] == 1 and "Okafor" not in rec["text"] and "867-5309" not in rec["text"]
    for body in (p.read_bytes() for p in out.rglob("*") if p.is_file()):
        assert PHI["PatientID"].encode() not in body
    assert PHI["PatientName"] not in r.stdout and "Okafor" not in r.stdout + r.stderr  # summaries are PHI-free
    # the same installation secret gives the same UIDs on a second run
    r2 = deid(str(src / "scans" / "a.dcm"), "-o", str(tmp_path / "again.dcm"), home=tmp_path / "h")
    assert r2.returncode == 0 and pydicom.dcmread(tmp_path / "again.dcm").SOPInstanceUID == a.SOPInstanceUID


def test_refusals_exit_1_and_usage_errors_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.7\n%%EOF\n")
    (tmp_path / "ok.dcm").write_bytes(make_dicom())
    r = deid(str(tmp_path / "report.pdf"), str(tmp_path / "ok.dcm"), "-o", str(tmp_path / "out"), home=tmp_path / "h")
    assert r.returncode == 1 and "refused" in r.stderr and "report.pdf" in r.stderr
    assert (tmp_path / "out" / "ok.dcm").is_file() and not (tmp_path / "out" / "report.pdf").exists()
    h, mp = tmp_path / "h", monkeypatch
    assert deid_inprocess(str(tmp_path / "missing.dcm"), "-o", str(tmp_path / "o2"), home=h, monkeypatch=mp) == 2
    assert deid_inprocess(str(tmp_path), "-o", str(tmp_path / "inside"), home=h, monkeypatch=mp) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nid: x\nrules: [{id: a, action: deidentify, with: {dicom: {retain_uidz: true}}}]\n")
    capsys.readouterr()
    args = ("--policy", str(bad), str(tmp_path / "ok.dcm"), "-o", str(tmp_path / "o3.dcm"))
    assert deid_inprocess(*args, home=h, monkeypatch=mp) == 2 and "retain_uidz" in capsys.readouterr().err


def test_policy_options_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pol = tmp_path / "p.yaml"
    pol.write_text(
        "version: 1\nid: research\nrules:\n"
        "  - id: dicom-research\n    action: deidentify\n"
        "    with: {dicom: {retain_longitudinal_modified_dates: true, retain_patient_characteristics: true,"
        " uid_root: '1.2.826.0.1.3680043.10.7'}}\n"
    )
    (tmp_path / "a.dcm").write_bytes(make_dicom())
    args = ("--policy", str(pol), str(tmp_path / "a.dcm"), "-o", str(tmp_path / "o.dcm"))
    assert deid_inprocess(*args, home=tmp_path / "h", monkeypatch=monkeypatch) == 0
    out = pydicom.dcmread(tmp_path / "o.dcm")
    assert out.PatientSex == "F" and out.StudyDate not in ("", PHI["StudyDate"]) and len(out.StudyDate) == 8
    assert out.StudyInstanceUID.startswith("1.2.826.0.1.3680043.10.7.")
    assert "113107" in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]


def test_the_leftover_check_excuses_only_values_phiwall_made() -> None:
    """A listed value inside a UID phiwall generated (a keyed digest) is a coincidence; the same value kept in
    any original element is a leak, with or without the original file at hand."""
    from tests.unit.deid.helpers import to_bytes

    orig = make_ds(sop_uid="1.2.3.4")
    orig.DeviceSerialNumber = "67060"
    summary = {"x.dcm": {"phi_header_values": {"DeviceSerialNumber": "67060"}}}
    out = make_ds(sop_uid="2.25.1234567060999")
    out.file_meta.MediaStorageSOPInstanceUID = "2.25.1234567060999"
    assert q.leftover_values("x.dcm", to_bytes(out), summary, to_bytes(orig)) == []
    assert q.leftover_values("x.dcm", to_bytes(out), summary) == ["DeviceSerialNumber"]
    out.DeviceSerialNumber = "67060"
    assert q.leftover_values("x.dcm", to_bytes(out), summary, to_bytes(orig)) == ["DeviceSerialNumber"]


# --- acceptance on the shared corpus ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not q.SUMMARY.is_file():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    if not ocr.available():
        pytest.skip("tesseract is not installed (apt-get install tesseract-ocr)")
    t = tmp_path_factory.mktemp("deid-corpus")
    r = q.run_deid([CORPUS / "dicom"], t / "out", t / "home")
    rows = {str(Path(o["path"]).relative_to(CORPUS)): o for o in map(json.loads, r.stdout.splitlines())}
    return {"out": t / "out", "rc": r.returncode, "stderr": r.stderr, "rows": rows}


CORPUS_FILES = sorted(json.loads(q.SUMMARY.read_text())) if q.SUMMARY.is_file() else []


@needs_corpus
def test_corpus_run_refuses_nothing(corpus_run: dict[str, Any]) -> None:
    assert corpus_run["rc"] == 0, corpus_run["stderr"]
    assert set(corpus_run["rows"]) >= set(CORPUS_FILES)


@needs_corpus
@pytest.mark.parametrize("rel", CORPUS_FILES)
def test_corpus_file_acceptance(corpus_run: dict[str, Any], rel: str) -> None:
    summary = json.loads(q.SUMMARY.read_text())
    dst = q.output_path(corpus_run["out"], rel)
    data = dst.read_bytes()
    # No listed value anywhere in the output (a coincidence inside a UID phiwall made is not one; see _made_here).
    assert q.leftover_values(rel, data, summary, (CORPUS / rel).read_bytes()) == []
    new = pydicom.dcmread(io.BytesIO(data), force=True)
    orig = pydicom.dcmread(CORPUS / rel, force=True)
    assert new.PatientIdentityRemoved == "YES"
    if "PixelData" in orig:
        assert new.pixel_array.shape == orig.pixel_array.shape  # decodes, same geometry
        assert q.pixels_outside_kept(orig, new), "pixels changed outside painted regions"
    assert all(q.retention(orig, new).values()), q.retention(orig, new)
    before, after = q.dciodvfy_errors(CORPUS / rel), q.dciodvfy_errors(dst)
    if before is not None and after is not None:
        assert after - before == set()


@needs_corpus
@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # a corpus original holds hex "UIDs"
def test_corpus_study_structure_and_uid_consistency(corpus_run: dict[str, Any]) -> None:
    pairs = [
        (pydicom.dcmread(CORPUS / rel, force=True), pydicom.dcmread(q.output_path(corpus_run["out"], rel), force=True))
        for rel in CORPUS_FILES
    ]
    ok, n = q.structure_kept(pairs)
    assert n > 100 and ok == n
    shared = [
        (o, d) for o, d in pairs if sum(o.get("StudyInstanceUID") == p.get("StudyInstanceUID") for p, _ in pairs) > 1
    ]
    assert shared  # the corpus has files of one study (e.g. an uncompressed and a J2K copy)


@needs_corpus
@needs_ocr
def test_corpus_burned_in_ground_truth_is_unreadable(corpus_run: dict[str, Any]) -> None:
    boxes = q.gt_boxes()
    dcm = [f for f in boxes if f.endswith(".dcm")]
    assert dcm, "no ground-truth DICOM in the corpus"
    for f in dcm:
        before = q.text_left_in_boxes(q.render(CORPUS / f), boxes[f])
        assert len(before) >= 3  # the check can see the text when it is there
        assert q.text_left_in_boxes(q.render(q.output_path(corpus_run["out"], f)), boxes[f]) == []
