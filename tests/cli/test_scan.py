"""`phiwall scan` as a person runs it: a real subprocess, real files, exit codes as documented."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import make_dicom

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")


def scan(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PHIWALL_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "phiwall.cli", "scan", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=REPO,
    )


def test_exit_codes_and_json(tmp_path: Path) -> None:
    (tmp_path / "scan.dcm").write_bytes(make_dicom())
    (tmp_path / "question.txt").write_text("What does a TSH of 6.2 mIU/L usually mean?")
    r = scan("--json", str(tmp_path / "question.txt"), home=tmp_path / "h")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verdict"] == "allow" and out["findings"] == []
    r = scan("--json", str(tmp_path), home=tmp_path / "h")
    assert r.returncode == 1
    rows = {Path(o["path"]).name: o for o in map(json.loads, r.stdout.splitlines())}
    assert rows["scan.dcm"]["media_type"] == "application/dicom"
    assert rows["scan.dcm"]["verdict"] == "block" and "dicom-file" in rows["scan.dcm"]["rule_ids"]
    assert {"DICOM_FILE", "DICOM_TAG:PatientName"} <= {f["entity"] for f in rows["scan.dcm"]["findings"]}
    assert "Testpatient" not in r.stdout  # never the value
    assert scan("--json", str(tmp_path / "missing.png"), home=tmp_path / "h").returncode == 2
    assert scan("--policy", str(tmp_path / "question.txt"), str(tmp_path), home=tmp_path / "h").returncode == 2


def test_jsonl_records_get_spans(tmp_path: Path) -> None:
    f = tmp_path / "notes.jsonl"
    recs = [
        {"id": "a", "text": "Seen by Dr. Alice Brennan on 03/02/2019, MRN 12345678."},
        {"id": "b", "text": "No complaints."},
    ]
    f.write_text("\n".join(json.dumps(r) for r in recs))
    r = scan("--json", str(f), home=tmp_path / "h")
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "b"]
    spans = {(x["entity"], recs[0]["text"][x["start"] : x["end"]]) for x in out[0]["findings"]}
    assert ("MRN", "12345678") in spans or any(e == "MRN" for e, _ in spans)
    assert any(e == "PERSON" and "Brennan" in v for e, v in spans)
    assert out[1]["findings"] == []


@needs_corpus
@pytest.mark.corpus
def test_scan_recognises_every_corpus_dicom(tmp_path: Path) -> None:
    """Issue 2 acceptance: `phiwall scan --json ../shared/corpus/dicom` recognises every DICOM file there,
    preamble-less ones (and files without a .dcm name) included."""
    rows = list(csv.DictReader((CORPUS / "MANIFEST.csv").open()))
    expected = {r["path"] for r in rows if r["category"] == "dicom"}
    summary = json.loads((CORPUS / "dicom" / "dicom_header_summary.json").read_text())
    no_preamble = {p for p in expected if summary.get(p, {}).get("has_preamble") is False}
    assert no_preamble, "the corpus should hold at least one DICOM data set without the 128-byte preamble"
    r = scan("--json", str(CORPUS / "dicom"), home=tmp_path / "h")
    assert r.returncode == 1, r.stderr  # something would be blocked
    seen = {}
    for line in r.stdout.splitlines():
        o = json.loads(line)
        seen[str(Path(o["path"]).relative_to(CORPUS))] = o
    assert expected <= set(seen), f"not scanned: {sorted(expected - set(seen))}"
    missing = sorted(p for p in expected if "DICOM_FILE" not in {f["entity"] for f in seen[p]["findings"]})
    assert not missing, f"not recognised as DICOM: {missing}"
    assert all(seen[p]["media_type"] == "application/dicom" for p in expected)
    assert all(seen[p]["verdict"] == "block" and "dicom-file" in seen[p]["rule_ids"] for p in expected)
    not_dicom = set(seen) - expected  # the corpus's JSON annotation files
    assert all("DICOM_FILE" not in {f["entity"] for f in seen[p]["findings"]} for p in not_dicom)


@needs_corpus
@pytest.mark.corpus
@pytest.mark.nlp
def test_scan_reports_spans_on_physionet_notes(tmp_path: Path) -> None:
    """Issue 2 acceptance: `phiwall scan --json` on physionet_deid/notes.jsonl gives one object per record with
    character spans; measured against the corpus's gold spans, the span recall and precision recorded in
    docs/quality.md ("PHI in text") hold within a small margin."""
    notes = CORPUS / "phi_text" / "physionet_deid" / "notes.jsonl"
    gold = [json.loads(line) for line in notes.read_text(encoding="utf-8").splitlines() if line.strip()]
    r = scan("--json", str(notes), home=tmp_path / "h")
    assert r.returncode == 1, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["id"] for o in out] == [g["id"] for g in gold]
    total = found = predicted = correct = 0
    for g, o in zip(gold, out, strict=True):
        spans = [(f["start"], f["end"]) for f in o["findings"]]
        assert all(isinstance(a, int) and 0 <= a < b <= len(g["text"]) for a, b in spans), o["id"]
        assert all(f["detector"] == "text_phi" and "text" not in f for f in o["findings"])  # never the value
        for s in g["spans"]:
            total += 1
            found += any(a < s["end"] and s["start"] < b for a, b in spans)
        for a, b in spans:
            predicted += 1
            correct += any(a < s["end"] and s["start"] < b for s in g["spans"])
    recall, precision = found / total, correct / predicted
    # docs/quality.md: recall 86.8 %, precision 88.3 % on this set (same overlap rule; before the PHI tagger
    # 73.4 % / 68.0 %). Half of this set (the tune half) trained the tagger: the held-out number is in quality.md.
    assert recall >= 0.85 and precision >= 0.86, f"recall {recall:.3f}, precision {precision:.3f}"
