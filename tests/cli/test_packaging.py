"""The things a newcomer touches first: the quick start, the console script, the plain mitmdump script, the
embedded default policy, the compose file."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.proxy import free_port
from tests.support.proxy import wait_listening
from tests.support.samples import PHI_PROMPT

REPO = Path(__file__).resolve().parents[2]


def test_embedded_default_policy_is_the_shipped_one() -> None:
    shipped = (REPO / "policies" / "default.yaml").read_bytes()
    embedded = (REPO / "proxy" / "phiwall" / "data" / "default.yaml").read_bytes()
    assert shipped == embedded, "copy policies/default.yaml to proxy/phiwall/data/default.yaml"


def test_run_refuses_an_invalid_policy_with_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nid: x\nrules:\n  - id: r1\n    when: {entitys: [PERSON]}\n    action: block\n")
    r = subprocess.run(
        [sys.executable, "-m", "phiwall.cli", "run", "--policy", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PHIWALL_HOME=str(tmp_path)),
    )
    assert r.returncode == 1
    assert f"{bad}:5: rules[0].when.entitys" in r.stderr


def test_console_script_help() -> None:
    exe = Path(sys.executable).with_name("phiwall")
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "scan" in r.stdout and "run" in r.stdout


def test_compose_file_structure() -> None:
    """Without docker-compose on the machine (the next test skips), at least the file's shape is checked."""
    import yaml

    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    svc = doc["services"]["phiwall"]
    assert (REPO / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
    assert svc["command"][0] == "run" and "--policy" in svc["command"]
    assert all(str(p).startswith("127.0.0.1:") for p in svc.get("ports", [])), "publish on localhost only"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (Debian package) not installed")
def test_compose_file_is_valid() -> None:
    r = subprocess.run(
        ["docker-compose", "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


def _blocked_through(port: int, ca: Path) -> httpx.Response:
    """A chat request with PHI through the proxy. Nothing answers upstream: only phiwall can answer it."""
    with httpx.Client(proxy=f"http://127.0.0.1:{port}", verify=str(ca), timeout=60) as c:
        return c.post(
            "https://api.openai.com/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": PHI_PROMPT}]},
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _setup_done() -> bool:
    """Whether scripts/setup.sh already ran for this pyproject (its stamp), so quickstart.sh will not install."""
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes() + (REPO / "requirements-model.txt").read_bytes())
    return (REPO / ".venv" / f".phiwall-setup-{digest.hexdigest()[:16]}").exists()


@pytest.mark.e2e
@pytest.mark.skipif(not _setup_done(), reason="scripts/setup.sh has not run for this pyproject (it would install)")
def test_quickstart_starts_the_proxy_on_embedded_defaults(tmp_path: Path) -> None:
    """README quick start: scripts/quickstart.sh sets up (here: already done, so it only checks) and starts the
    proxy on the embedded default policy, with the audit file in PHIWALL_HOME; it blocks PHI at once."""
    port = free_port()
    log = tmp_path / "quickstart.log"
    env = dict(os.environ, PHIWALL_HOME=str(tmp_path / "home"), PHIWALL_NO_APT="1")
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "quickstart.sh"), "--port", str(port)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        wait_listening(proc, port, log, 90)
        ca = tmp_path / "home" / "mitmproxy" / "mitmproxy-ca-cert.pem"
        r = _blocked_through(port, ca)
        assert r.status_code == 403 and r.json()["error"]["type"] == "phiwall_blocked", r.text
        out = log.read_text()
        assert "policy default" in out and f"export HTTPS_PROXY=http://127.0.0.1:{port}" in out
        assert (tmp_path / "home" / "audit.jsonl").read_text().count('"verdict":"block"') == 1
    finally:
        _stop(proc)


def _mitmdump_script(tmp_path: Path, port: int, *sets: str) -> list[str]:
    cmd = [str(Path(sys.executable).with_name("mitmdump")), "-s", str(REPO / "addons" / "phiwall.py")]
    cmd += ["--listen-host", "127.0.0.1", "--listen-port", str(port), "--set", f"confdir={tmp_path}/mitmproxy"]
    for s in ("phiwall_workers=1", "connection_strategy=lazy", *sets):
        cmd += ["--set", s]
    return cmd


@pytest.mark.parametrize(
    "sets,refused",
    [
        ((), "flow_detail=1"),  # mitmdump's default flow dump prints URLs with query strings
        (("flow_detail=0", "proxy_debug=true"), "proxy_debug"),
        (("flow_detail=0", "save_stream_file=flows.mitm"), "save_stream_file"),
    ],
)
def test_mitmdump_options_that_write_traffic_are_refused(tmp_path: Path, sets: tuple[str, ...], refused: str) -> None:
    env = dict(os.environ, PHIWALL_HOME=str(tmp_path))
    cmd = _mitmdump_script(tmp_path, free_port(), *sets)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode != 0
    assert f"phiwall refuses {refused}" in r.stdout + r.stderr
    flows = tmp_path / "flows.mitm"  # mitmproxy's Save addon may create it before phiwall refuses: empty
    assert not flows.exists() or flows.stat().st_size == 0


@pytest.mark.e2e
def test_plain_mitmdump_script_blocks(tmp_path: Path) -> None:
    """`mitmdump -s addons/phiwall.py` (the script's own name must not hide the phiwall package) inspects."""
    port = free_port()
    log = tmp_path / "mitmdump.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            _mitmdump_script(tmp_path, port, "flow_detail=0"),
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PHIWALL_HOME=str(tmp_path)),
            cwd=tmp_path,
        )
    try:
        wait_listening(proc, port, log, 90)
        r = _blocked_through(port, tmp_path / "mitmproxy" / "mitmproxy-ca-cert.pem")
        assert r.status_code == 403 and r.json()["error"]["type"] == "phiwall_blocked", r.text
        assert "error in script" not in log.read_text()
    finally:
        _stop(proc)
