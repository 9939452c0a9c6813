"""Rule 4: no PHI at rest. Canary PHI goes through a real proxy (blocked, warned, in text and in a DICOM header);
afterwards it must appear nowhere on disk: audit file, proxy log, mitmproxy state, anything under PHIWALL_HOME."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from tests.factories import make_dicom
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import start_proxy
from tests.support.tls import SERVICE_HOSTS

pytestmark = pytest.mark.e2e

CANARY_NAME = "Zebulon Quibbleworth"
CANARY_MRN = "88337711"
CANARY_DICOM = "Quibbleworth^Zebulon"


def test_canary_phi_never_written(tmp_path: Path, pki: tuple[Path, Path, Path], upstream: FakeUpstream) -> None:
    home = tmp_path / "home"
    warn_policy = Path(__file__).with_name("policies") / "warn.yaml"
    procs = [
        start_proxy(home / "enforce", {h: upstream.port for h in SERVICE_HOSTS}, pki[0]),
        start_proxy(home / "warn", {h: upstream.port for h in SERVICE_HOSTS}, pki[0], policy=warn_policy),
    ]
    try:
        for p in procs:
            with httpx.Client(proxy=p.url, verify=str(p.ca), timeout=60) as c:
                text = f"Patient {CANARY_NAME}, MRN {CANARY_MRN}, DOB 02/29/1952: chest pain."
                c.post(
                    "https://api.openai.com/v1/chat/completions?patient=" + CANARY_MRN,
                    json={"model": "gpt-4o", "messages": [{"role": "user", "content": text}]},
                )
                dcm = make_dicom(patient_name=CANARY_DICOM, patient_id=CANARY_MRN)
                c.post(
                    "https://api.openai.com/v1/files",
                    files={"file": (f"{CANARY_NAME}.dcm", dcm)},
                    data={"purpose": "user_data"},
                )
                url = "data:application/dicom;base64," + base64.b64encode(dcm).decode()
                c.post(
                    "https://api.openai.com/v1/chat/completions",
                    json={
                        "model": "gpt-4o",
                        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}],
                    },
                )
                c.post("https://api.openai.com/v1/chat/completions", content=b'{"broken": "' + CANARY_NAME.encode())
            assert len(p.audit_events()) >= 4
    finally:
        for p in procs:
            p.stop()
    needles = [CANARY_NAME, CANARY_MRN, "Quibbleworth", "Zebulon"]
    variants = set()
    for n in needles:
        variants |= {
            n.encode(),
            n.lower().encode(),
            n.upper().encode(),
            n.encode("utf-16-le"),
            base64.b64encode(n.encode()).rstrip(b"="),
        }
    files = [f for f in home.rglob("*") if f.is_file()]
    assert any(f.name == "audit.jsonl" for f in files) and any(f.name == "proxy.log" for f in files)
    leaks = [(str(f.relative_to(home)), v) for f in files for v in variants if v in f.read_bytes()]
    assert not leaks, f"canary PHI found on disk: {leaks}"
