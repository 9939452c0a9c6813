"""`phiwall gateway --replicas 2` as a real process tree (HAProxy, redis-server, two `phiwall run` replicas):
multi-request uploads whose requests go over fresh connections, so over both replicas, are judged as whole
files; killing a replica loses no request a client was told succeeded, and later requests succeed; Ctrl-C stops
everything."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import clean_env
from tests.gateway.conftest import need
from tests.gateway.conftest import phiwall_cmd
from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import Recorded
from tests.support.proxy import REDIRECT
from tests.support.proxy import REPO
from tests.support.proxy import free_port
from tests.support.samples import PHI_NOTE

API = "https://generativelanguage.googleapis.com"


@dataclass
class GW:
    proc: subprocess.Popen[bytes]
    port: int
    home: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.home / "mitmproxy" / "mitmproxy-ca-cert.pem"

    def state(self) -> dict:
        return json.loads((self.home / "gateway" / "gateway.json").read_text())

    def audit(self, i: int) -> list[dict]:
        f = self.home / "gateway" / f"audit-r{i}.jsonl"
        return [json.loads(x) for x in f.read_text().splitlines() if x.strip()] if f.exists() else []

    def client(self) -> httpx.Client:
        """A fresh client: a new TCP connection to HAProxy, so round robin may pick the other replica."""
        return httpx.Client(
            proxy=self.url, verify=ssl.create_default_context(cafile=str(self.ca)), timeout=60, trust_env=False
        )


def _wait_log(log: Path, text: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    raise RuntimeError(f"no {text!r} after {seconds} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, pki: tuple[Path, Path, Path], upstream_map: dict[str, int]
) -> Iterator[GW]:
    need("haproxy")
    need("redis-server")
    home = tmp_path_factory.mktemp("gw-home")
    port = free_port()
    log = home / "gateway.out"
    mapping = ",".join(f"{h}=127.0.0.1:{p}" for h, p in upstream_map.items())
    cmd = phiwall_cmd("gateway", "--replicas", "2", "--port", str(port), "--", "--workers", "1",
                      "--", "-s", str(REDIRECT), "--set", f"ssl_verify_upstream_trusted_ca={pki[0]}")  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=REPO,
        env=clean_env(home, PHIWALL_TEST_UPSTREAMS=mapping),
    )  # fmt: skip
    gw = GW(proc, port, home, log)
    try:
        _wait_log(log, "phiwall gateway: ready", proc, 240)
        yield gw
    finally:
        pids = []
        try:
            st = gw.state()
            pids = [st["haproxy_pid"], st["redis_pid"], *(r["pid"] for r in st["replicas"])]
        except (OSError, ValueError, KeyError):
            pass
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        time.sleep(0.5)
        alive = [p for p in pids if p and _alive(p)]
        assert not alive, f"Ctrl-C left processes running: {alive}"
        assert "phiwall gateway: stopped" in log.read_text()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its parent is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _routes_openai_uploads(up: FakeUpstream) -> None:
    n = {"part": 0}

    def create(req: Recorded) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": "application/json"}, json.dumps(
            {"id": f"upload_{uuid.uuid4().hex[:16]}", "object": "upload", "bytes": req.json()["bytes"],
             "status": "pending"}).encode()  # fmt: skip

    def part(req: Recorded) -> tuple[int, dict[str, str], bytes]:
        n["part"] += 1
        return 200, {"content-type": "application/json"}, json.dumps(
            {"id": f"part_{n['part']:08d}", "object": "upload.part"}).encode()  # fmt: skip

    def complete(req: Recorded) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": "application/json"}, json.dumps(
            {"id": req.path.split("/")[3], "object": "upload", "status": "completed",
             "file": {"id": "file-gw000001", "object": "file"}}).encode()  # fmt: skip

    up.route("POST", r"^/v1/uploads$", create)
    up.route("POST", r"^/v1/uploads/[^/]+/parts$", part)
    up.route("POST", r"^/v1/uploads/[^/]+/complete$", complete)


def _openai_upload(gw: GW, data: bytes, parts: int = 3) -> tuple[str, list[int]]:
    """create → parts → complete, every request over a fresh connection. Returns the upload id and statuses."""
    auth = {"authorization": "Bearer sk-test"}
    with gw.client() as c:
        r = c.post("https://api.openai.com/v1/uploads", headers=auth,
                   json={"bytes": len(data), "filename": "letter.txt", "mime_type": "text/plain",
                         "purpose": "user_data"})  # fmt: skip
    assert r.status_code == 200, r.text
    uid = r.json()["id"]
    statuses, part_ids = [r.status_code], []
    size = -(-len(data) // parts)
    for off in range(0, len(data), size):
        with gw.client() as c:
            r = c.post(f"https://api.openai.com/v1/uploads/{uid}/parts", headers=auth,
                       files={"data": ("blob", data[off : off + size], "application/octet-stream")})  # fmt: skip
        statuses.append(r.status_code)
        if r.status_code == 200:
            part_ids.append(r.json()["id"])
    with gw.client() as c:
        r = c.post(f"https://api.openai.com/v1/uploads/{uid}/complete", headers=auth, json={"part_ids": part_ids})
    statuses.append(r.status_code)
    return uid, statuses


def _replicas_seen(gw: GW, needle: str) -> set[int]:
    return {i for i in (1, 2) for e in gw.audit(i) if needle in e.get("path", "")}


def test_openai_uploads_across_replicas_are_judged_whole(gw_up: tuple[GW, FakeUpstream]) -> None:
    gw, up = gw_up
    _routes_openai_uploads(up)
    phi = (b"Clinic letter.\n" * 40) + PHI_NOTE.encode()  # the identifiers only in the last part
    uid, statuses = _openai_upload(gw, phi)
    assert statuses == [200, 200, 200, 200, 403], statuses
    assert not any(r.path.endswith("/complete") for r in up.requests)
    assert _replicas_seen(gw, uid) == {1, 2}, "the upload's requests did not reach both replicas"
    done = [e for i in (1, 2) for e in gw.audit(i) if e.get("path", "").endswith(f"{uid}/complete")]
    assert done and done[0]["verdict"] == "block" and done[0]["assembled_bytes"] == len(phi)

    benign = b"Clinic opening hours: Mon-Fri 8-17.\n" * 200
    uid2, statuses = _openai_upload(gw, benign)
    assert statuses == [200] * 5
    assert any(r.path.endswith(f"{uid2}/complete") for r in up.requests)
    assert _replicas_seen(gw, uid2) == {1, 2}


def _google(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    cmd = req.headers.get("x-goog-upload-command", "")
    if "start" in cmd:
        url = f"{API}/upload/v1beta/files?upload_id={uuid.uuid4().hex}&upload_protocol=resumable"
        return 200, {"x-goog-upload-url": url, "x-goog-upload-status": "active"}, b""
    if "finalize" in cmd:
        body = {"file": {"name": "files/gw0001abcd", "uri": f"{API}/v1beta/files/gw0001abcd", "state": "ACTIVE"}}
        return 200, {"x-goog-upload-status": "final", "content-type": "application/json"}, json.dumps(body).encode()
    return 200, {"x-goog-upload-status": "active"}, b""


def _resumable(gw: GW, data: bytes, chunks: int = 4) -> tuple[str, list[int]]:
    with gw.client() as c:
        r = c.post(f"{API}/upload/v1beta/files", json={"file": {"displayName": "note.txt"}},
                   headers={"x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start",
                            "x-goog-upload-header-content-length": str(len(data)), "x-goog-api-key": "k"})  # fmt: skip
    assert r.status_code == 200, r.text
    url = r.headers["x-goog-upload-url"]
    size = -(-len(data) // chunks)
    out = [r.status_code]
    for off in range(0, len(data), size):
        last = off + size >= len(data)
        with gw.client() as c:
            r = c.post(url, content=data[off : off + size],
                       headers={"x-goog-upload-command": "upload, finalize" if last else "upload",
                                "x-goog-upload-offset": str(off), "content-type": "text/plain"})  # fmt: skip
        out.append(r.status_code)
    return url.split("upload_id=")[1].split("&")[0], out


def test_gemini_resumable_upload_across_replicas_is_judged_whole(gw_up: tuple[GW, FakeUpstream]) -> None:
    gw, up = gw_up
    up.route("POST", r"^/upload/v1(?:beta)?/files", _google)
    data = (b"Clinic letter.\n" * 60) + PHI_NOTE.encode()
    uid, statuses = _resumable(gw, data)
    assert statuses == [200, 200, 200, 200, 403], statuses
    assert [r.headers.get("x-goog-upload-command") for r in up.requests] == ["start"] + ["upload"] * 3
    seen = {i for i in (1, 2) for e in gw.audit(i) if uid in json.dumps(e) or e.get("path", "").startswith("/upload")}
    assert seen == {1, 2}
    final = [e for i in (1, 2) for e in gw.audit(i) if e.get("assembled_bytes") == len(data)]
    assert final and final[-1]["verdict"] == "block"


@pytest.fixture
def gw_up(gateway: GW, fresh_upstream: FakeUpstream) -> tuple[GW, FakeUpstream]:
    return gateway, fresh_upstream


def test_killing_a_replica_loses_no_acknowledged_request(gw_up: tuple[GW, FakeUpstream]) -> None:
    """Chat requests on fresh connections while replica r1 is killed (SIGKILL): every request answered 200 reached
    the service (counted at the fake upstream by its marker); after the kill, requests succeed again (HAProxy
    re-dispatches refused connections and drops the dead server on its health check; the gateway restarts r1)."""
    gw, up = gw_up
    victim = gw.state()["replicas"][0]
    results: dict[str, int] = {}
    killed = threading.Event()

    def send(marker: str) -> None:
        try:
            with gw.client() as c:
                msg = [{"role": "user", "content": f"ping {marker}"}]
                r = c.post("https://api.openai.com/v1/chat/completions", headers={"authorization": "Bearer sk"},
                           json={"model": "gpt-4o", "messages": msg})  # fmt: skip
            results[marker] = r.status_code
        except httpx.HTTPError:
            results[marker] = -1  # the client was told it failed

    for i in range(30):
        if i == 8:
            os.kill(victim["pid"], signal.SIGKILL)
            killed.set()
        send(f"m{i:03d}")
    ok = [m for m, s in results.items() if s == 200]
    received = {r.json()["messages"][0]["content"].split()[-1] for r in up.requests if r.path.endswith("/completions")}
    assert set(ok) <= received, f"answered 200 but never reached the service: {set(ok) - received}"
    assert len(ok) >= 25, results
    time.sleep(3)
    after = []
    for i in range(10):
        send(f"after{i}")
        after.append(results[f"after{i}"])
    assert after == [200] * 10, after
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and gw.state()["replicas"][0]["restarts"] < 1:
        time.sleep(0.5)
    assert gw.state()["replicas"][0]["restarts"] >= 1
