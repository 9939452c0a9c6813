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
    rows = list(csv.DictReader((CORPUS / "MANIFEST.csv").open()))
    expected = {r["path"] for r in rows if r["category"] == "dicom"}
    r = scan("--json", str(CORPUS / "dicom"), home=tmp_path / "h")
    seen = {}
    for line in r.stdout.splitlines():
        o = json.loads(line)
        seen[str(Path(o["path"]).relative_to(CORPUS))] = o
    missing = [p for p in expected if "DICOM_FILE" not in {f["entity"] for f in seen[p]["findings"]}]
    assert not missing, f"not recognised as DICOM: {missing}"
    assert all(seen[p]["verdict"] == "block" for p in expected)
