"""Rule 4: no PHI at rest. Canary PHI goes through real proxies (enforce and warn), at debug log verbosity, in every
place a value could end up in a record: text, a DICOM header with invalid values, a file name, a query string, an
archive member name, a multipart field name, a free-form JSON key, a broken body, an unknown Content-Encoding,
a client that hangs up mid-body, a URL path segment, a bad request line and headers cut off (both of which
mitmproxy itself logs with the bytes it received). Afterwards the canary must appear nowhere on disk: the audit
file, the proxy log (mitmproxy's and the workers' output), mitmproxy's confdir (CA, any state), anything under
PHIWALL_HOME, HOME or TMPDIR, no flow file anywhere, and no file that changed in the repository or the system
temp folders meanwhile.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.factories import make_dicom
from tests.factories import make_zip
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.proxy import start_proxy
from tests.support.tls import SERVICE_HOSTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CANARY_NAME = "Zebulon Quibbleworth"
CANARY_MRN = "88337711"
CANARY_DICOM = "Quibbleworth^Zebulon"
NEEDLES = [CANARY_NAME, CANARY_MRN, "Quibbleworth", "Zebulon"]
TEXT = f"Patient {CANARY_NAME}, MRN {CANARY_MRN}, DOB 02/29/1952: chest pain."


def _variants() -> set[bytes]:
    out: set[bytes] = set()
    for n in NEEDLES:
        out |= {
            n.encode(),
            n.lower().encode(),
            n.upper().encode(),
            n.encode("utf-16-le"),
            base64.b64encode(n.encode()).rstrip(b"="),
            json.dumps(n).encode().strip(b'"'),
        }
    return out


def _send_everything(p: ProxyProcess) -> None:
    """Every request shape the canary can hide in. Status codes do not matter here, only what is left on disk."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warnings here would print the canary into the test log
        logging.getLogger("pydicom").disabled = True
        try:
            dcm = make_dicom(
                patient_name=CANARY_DICOM,
                patient_id=CANARY_MRN,
                # Invalid DA/TM values: pydicom warns *with the value* when it validates them.
                elements={"PatientBirthDate": "Quibbleworth", "StudyTime": "Zebulon", "InstitutionName": CANARY_NAME},
            )
        finally:
            logging.getLogger("pydicom").disabled = False
    with httpx.Client(proxy=p.url, verify=str(p.ca), timeout=60) as c:
        c.post(
            "https://api.openai.com/v1/chat/completions?patient=" + CANARY_MRN,
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": TEXT}]},
        )
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
        # An archive whose member names are the patient's name (a zipped study folder as people export them).
        zipped = make_zip({f"Quibbleworth_Zebulon/{CANARY_MRN}.dcm": dcm, f"{CANARY_NAME} notes.txt": TEXT.encode()})
        c.post("https://api.openai.com/v1/files", files={"file": ("study.zip", zipped)}, data={"purpose": "user_data"})
        # A multipart field named by the canary, and a free-form JSON object keyed by it.
        c.post("https://api.openai.com/v1/files", files={"Zebulon": ("notes.txt", TEXT.encode())})
        c.post(
            "https://api.openai.com/v1/responses",
            json={"model": "gpt-4o", "input": "Summarise.", "metadata": {"Quibbleworth": TEXT}},
        )
        # Broken bodies whose error messages could quote what they choke on.
        c.post("https://api.openai.com/v1/chat/completions", content=b'{"broken": "' + CANARY_NAME.encode())
        c.post(
            "https://api.openai.com/v1/chat/completions",
            content=TEXT.encode(),
            headers={"content-type": "application/json", "content-encoding": "quibbleworth"},
        )
        # The patient's name as a URL path segment (audited as a keyed digest, never verbatim).
        c.post(
            "https://api.openai.com/v1/chat/completions/" + quote(CANARY_NAME),
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]},
        )
        c.post("https://api.openai.com/v1/files/quibbleworth", files={"file": ("a.txt", b"hello")})
    _hang_up_mid_body(p)
    _hostile_bytes(p)


def _hostile_bytes(p: ProxyProcess) -> None:
    """Bytes mitmproxy itself logs: a bad request line (plain to the proxy, and inside an intercepted tunnel)
    and headers cut off by a client that goes away ("Client closed connection before completing request
    headers: b'...'")."""
    bad_line = f"POST /v1/chat/{CANARY_NAME} HTTP/1.1 junk\r\nHost: api.openai.com\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(bad_line)
        s.recv(4096)
    p.raw_https("api.openai.com", bad_line)
    p.raw_https(
        "api.openai.com",
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nX-Note: {CANARY_NAME}".encode(),
        then=0.5,
    )


def _hang_up_mid_body(p: ProxyProcess) -> None:
    """Headers promise 100 000 bytes; the client sends the canary and goes away (mitmproxy's error hook)."""
    p.raw_https(
        "api.openai.com",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n" + json.dumps({"messages": TEXT}).encode(),
        then=0.3,
    )


def _files_changed_since(t0: float, roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            for name in filenames:
                f = Path(dirpath) / name
                try:
                    st = f.lstat()
                except OSError:
                    continue
                if st.st_mtime >= t0 and f.is_file() and st.st_size < 200 * 1024 * 1024:
                    yield f


def test_canary_phi_never_written(tmp_path: Path, pki: tuple[Path, Path, Path], upstream: FakeUpstream) -> None:
    t0 = time.time() - 1
    home = tmp_path / "home"
    env = {"HOME": str(tmp_path / "user-home"), "TMPDIR": str(tmp_path / "tmp")}
    for d in ("user-home", "tmp"):
        (tmp_path / d).mkdir()
    warn_policy = Path(__file__).with_name("policies") / "warn.yaml"
    upstreams = {h: upstream.port for h in SERVICE_HOSTS}
    debug = ["--set", "termlog_verbosity=debug"]
    procs = [
        start_proxy(home / "enforce", upstreams, pki[0], extra=debug, env=env),
        start_proxy(home / "warn", upstreams, pki[0], policy=warn_policy, extra=debug, env=env),
    ]
    try:
        for p in procs:
            _send_everything(p)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(len(p.audit_events()) < 9 for p in procs):
            time.sleep(0.2)
        for p in procs:
            events = p.audit_events()
            assert len(events) >= 9, [e.get("error") or e.get("verdict") for e in events]
            assert {"block"} <= {e["verdict"] for e in events}
    finally:
        for p in procs:
            p.stop()

    files = [f for f in tmp_path.rglob("*") if f.is_file()]
    names = {f.name for f in files}
    assert {"audit.jsonl", "proxy.log", "mitmproxy-ca.pem", "secret"} <= names, names
    logs = [(home / m / "proxy.log").read_text(errors="replace") for m in ("enforce", "warn")]
    assert all("client connect" in log for log in logs), "the proxy log holds nothing: the check would be empty"
    for log in logs:  # mitmproxy's records about the hostile bytes are there, reworded
        assert "Bad HTTP request line: <" in log and "bytes withheld>" in log, log[-3000:]
        assert "before completing request headers: <" in log, log[-3000:]
    paths = [e["path"] for p in procs for e in p.audit_events()]
    assert any(x.startswith("/v1/chat/completions/~") for x in paths), paths  # digested, still auditable
    flow_files = [f for f in files if f.suffix in (".mitm", ".flow", ".har")]
    assert not flow_files, f"phiwall wrote flow files: {flow_files}"
    # Anything else the processes may have written: the repo (cwd), the system temp folders.
    others = list(_files_changed_since(t0, [REPO, Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")]))
    variants = _variants()
    leaks = []
    for f in set(files) | set(others):
        try:
            data = f.read_bytes()
        except OSError:
            continue
        leaks += [(str(f), v) for v in variants if v in data]
    assert not leaks, f"canary PHI found on disk: {leaks}"
