"""Issue 13 item 8: plain `mitmdump -s addons/phiwall.py` behaves like `phiwall run` — only the guarded chatbot
hosts are intercepted (any other host's TLS goes through untouched), no `--set flow_detail=0` needed, and an
unauthenticated listener on every interface is refused with the command line to use instead."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from mitmproxy import options
from phiwall.mitm_plain import plain_defaults

from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import REDIRECT
from tests.support.proxy import REPO
from tests.support.proxy import free_port
from tests.support.proxy import wait_listening
from tests.support.tls import SERVICE_HOSTS

pytestmark = pytest.mark.e2e

MITMDUMP = Path(sys.executable).with_name("mitmdump")
SCRIPT = REPO / "addons" / "phiwall.py"
PHI = "Patient John Smith, DOB 03/14/1961, MRN 48213977, has a cough. What could it be?"


def _env(home: Path, upstream: FakeUpstream) -> dict[str, str]:
    e = dict(os.environ, PHIWALL_HOME=str(home), PYTHONUNBUFFERED="1")
    e["PHIWALL_TEST_UPSTREAMS"] = ",".join(f"{h}=127.0.0.1:{upstream.port}" for h in SERVICE_HOSTS)
    for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
        e.pop(k, None)
    return e


@pytest.fixture(scope="module")
def mitmdump(
    tmp_path_factory: pytest.TempPathFactory, pki: tuple[Path, Path, Path], upstream: FakeUpstream
) -> Iterator[tuple[int, Path]]:
    home = tmp_path_factory.mktemp("plain")
    port = free_port()
    log = home / "mitmdump.log"
    cmd = [str(MITMDUMP), "-s", str(SCRIPT), "-s", str(REDIRECT), "--listen-host", "127.0.0.1",
           "--listen-port", str(port), "--set", f"confdir={home}/mitm",
           "--set", f"ssl_verify_upstream_trusted_ca={pki[0]}",
           "--set", f"phiwall_audit_file={home}/audit.jsonl", "--set", "phiwall_workers=1"]  # fmt: skip
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_env(home, upstream), cwd=REPO)
    try:
        wait_listening(proc, port, log, 90)
        yield port, home
    finally:
        proc.terminate()
        proc.wait(15)


def test_guarded_host_is_inspected_without_extra_options(
    mitmdump: tuple[int, Path], fresh_upstream: FakeUpstream
) -> None:
    port, home = mitmdump
    http = openai.DefaultHttpxClient(
        proxy=f"http://127.0.0.1:{port}",
        verify=ssl.create_default_context(cafile=str(home / "mitm" / "mitmproxy-ca-cert.pem")),
        timeout=90,
    )
    c = openai.OpenAI(api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as ei:
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PHI}])
    assert "phiwall blocked" in str(ei.value)
    assert fresh_upstream.requests == []
    log = (home / "mitmdump.log").read_text()
    assert "plain mitmdump: set allow_hosts=<guarded hosts>, connection_strategy=lazy, flow_detail=0" in log


def test_other_hosts_are_tunnelled_with_their_own_tls(
    mitmdump: tuple[int, Path], pki: tuple[Path, Path, Path], fresh_upstream: FakeUpstream
) -> None:
    """A non-chatbot host (localhost here) sees the client's TLS handshake itself: the client verifies the
    server's own certificate, which an intercepting proxy could not present."""
    port, _ = mitmdump
    ctx = ssl.create_default_context(cafile=str(pki[0]))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(f"CONNECT localhost:{fresh_upstream.port} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        assert b" 200" in raw.recv(4096)
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:  # fails against mitmproxy's certificate
            s.sendall(b"GET /anything HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
    assert reply.startswith(b"HTTP/1.") and b'"fake": "default"' in reply
    assert fresh_upstream.requests[0].path == "/anything"


def test_listener_on_every_interface_is_refused_and_says_how(tmp_path: Path, upstream: FakeUpstream) -> None:
    cmd = [str(MITMDUMP), "-s", str(SCRIPT), "--listen-port", str(free_port()), "--set", f"confdir={tmp_path}/mitm"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path, upstream), cwd=REPO, timeout=90)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "--listen-host 127.0.0.1" in out and "open proxy" in out


def test_plain_defaults_keep_what_the_user_set() -> None:
    from mitmproxy.addons.proxyserver import Proxyserver
    from mitmproxy.test import taddons

    with taddons.context(Proxyserver()) as tctx:
        opts = tctx.options
        _check_defaults(opts)


def _check_defaults(opts: options.Options) -> None:
    d = plain_defaults(opts)
    assert d["connection_strategy"] == "lazy" and "openai" in d["allow_hosts"][0]
    opts.update(connection_strategy="lazy", ignore_hosts=["example.org"])
    assert plain_defaults(opts) == {}  # what the user set stays theirs (ignore_hosts excludes allow_hosts)
