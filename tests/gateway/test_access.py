"""Never an open proxy: `phiwall run` refuses a non-loopback listener without authentication; a login is enforced
(407); the CA private key and the installation secret are owner-only."""

from __future__ import annotations

import base64
import hashlib
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from phiwall import exposure

from tests.gateway.conftest import clean_env
from tests.gateway.conftest import phiwall_cmd
from tests.gateway.conftest import start_replica
from tests.support.proxy import REPO
from tests.support.proxy import free_port


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        phiwall_cmd("run", *args), capture_output=True, text=True, env=clean_env(home), cwd=REPO, timeout=60
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--host", "0.0.0.0"),
        ("--host", ""),
        ("--host", "::"),
        ("--host", "10.1.2.3"),
        ("--", "--listen-host", "0.0.0.0"),  # straight to mitmdump
        ("--", "--set", "listen_host=0.0.0.0"),
        ("--host", "0.0.0.0", "--user-header", "X-User"),  # a header trusted from nobody is no authentication
    ],
)
def test_run_on_a_routable_address_without_auth_exits_non_zero_and_says_what_to_do(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    port = free_port()
    r = _run(tmp_path, "--port", str(port), *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "open proxy" in r.stderr and "--htpasswd" in r.stderr and exposure.OPEN_PROXY_FLAG in r.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    assert not (tmp_path / "mitmproxy").exists()  # refused before creating anything


def test_missing_htpasswd_file_is_a_usage_error(tmp_path: Path) -> None:
    r = _run(tmp_path, "--host", "0.0.0.0", "--htpasswd", str(tmp_path / "nope"))
    assert r.returncode == 2 and "htpasswd" in r.stderr


def test_mitmdump_with_the_phiwall_script_also_refuses_an_open_listener(tmp_path: Path) -> None:
    """Defence in depth: the addon itself (ExposureGuard) refuses, not only the `phiwall run` front door."""
    from phiwall import mitm_entry

    exe = Path(sys.executable).with_name("mitmdump")
    r = subprocess.run(
        [str(exe), "-s", mitm_entry.__file__, "--listen-host", "0.0.0.0", "--listen-port", str(free_port()),
         "--set", f"confdir={tmp_path}/mitmproxy", "--set", "flow_detail=0"],
        capture_output=True, text=True, env=clean_env(tmp_path), cwd=REPO, timeout=90,
    )  # fmt: skip
    assert r.returncode != 0
    assert "open proxy" in (r.stdout + r.stderr)


@pytest.mark.parametrize(
    "auth,ok",
    [
        (exposure.ListenAuth("127.0.0.1"), True),
        (exposure.ListenAuth("127.0.0.7"), True),
        (exposure.ListenAuth("::1"), True),
        (exposure.ListenAuth("localhost"), True),
        (exposure.ListenAuth("0.0.0.0"), False),
        (exposure.ListenAuth("proxy.example.org"), False),
        (exposure.ListenAuth("0.0.0.0", proxyauth="@/etc/htpasswd"), True),
        (exposure.ListenAuth("0.0.0.0", user_header="X-User"), False),
        (exposure.ListenAuth("0.0.0.0", user_header="X-User", trusted_proxies="10.0.0.5"), True),
        (exposure.ListenAuth("0.0.0.0", open_proxy_ok=True), True),
    ],
)
def test_refusal_table(auth: exposure.ListenAuth, ok: bool) -> None:
    assert (exposure.refusal(auth) is None) is ok


def _htpasswd(path: Path, user: str, password: str) -> Path:
    path.write_text(f"{user}:{{SHA}}" + base64.b64encode(hashlib.sha1(password.encode()).digest()).decode() + "\n")
    return path


def _proxy_get(port: int, auth: str | None) -> bytes:
    head = "GET http://plain.example.test/ HTTP/1.1\r\nHost: plain.example.test\r\n"
    if auth:
        head += "Proxy-Authorization: Basic " + base64.b64encode(auth.encode()).decode() + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall((head + "Connection: close\r\n\r\n").encode())
        return s.recv(4096)


def test_unauthenticated_client_gets_407_and_a_login_gets_through(
    tmp_path: Path, pki: tuple[Path, Path, Path], upstream_map: dict[str, int], fresh_upstream
) -> None:
    """--host 0.0.0.0 with --htpasswd starts (the login makes it not open); no or wrong credentials: 407 with a
    Proxy-Authenticate challenge; the right ones: the request is served (the fake answers plain HTTP via the
    redirect map) and the audit names the user."""
    import httpx

    pw = _htpasswd(tmp_path / "htpasswd", "rad.lee", "s3cret")
    p = start_replica(
        tmp_path / "home", {**upstream_map, "*": fresh_upstream.port}, pki[0],
        run_args=["--host", "0.0.0.0", "--htpasswd", str(pw)],
    )  # fmt: skip
    try:
        no = _proxy_get(p.port, None)
        assert no.startswith(b"HTTP/1.1 407") and b"proxy-authenticate" in no.lower()
        assert _proxy_get(p.port, "rad.lee:wrong").startswith(b"HTTP/1.1 407")
        with httpx.Client(
            proxy=f"http://rad.lee:s3cret@127.0.0.1:{p.port}", verify=str(p.ca), trust_env=False, timeout=60
        ) as c:
            r = c.post("https://api.openai.com/v1/chat/completions",
                       json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hello there"}]})  # fmt: skip
        assert r.status_code == 200, r.text
        ev = [e for e in p.audit_events() if e.get("event") == "inspection"]
        assert ev and ev[-1]["user"] == "rad.lee"
    finally:
        p.stop()


def test_ca_key_and_installation_secret_are_owner_only(
    tmp_path: Path, pki: tuple[Path, Path, Path], upstream_map: dict[str, int]
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    p = start_replica(home, upstream_map, pki[0])
    try:
        for f in (home / "mitmproxy" / "mitmproxy-ca.pem", home / "mitmproxy" / "mitmproxy-ca.p12", home / "secret"):
            assert f.exists(), f
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, (f, oct(f.stat().st_mode))
        assert stat.S_IMODE((home / "mitmproxy").stat().st_mode) == 0o700
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
    finally:
        p.stop()


def test_secret_from_environment_and_short_one_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from phiwall import digest

    monkeypatch.setenv("PHIWALL_SECRET", "x" * 40)
    assert digest.load_or_create_secret(tmp_path / "unused") == b"x" * 40
    assert not (tmp_path / "unused").exists()
    monkeypatch.setenv("PHIWALL_SECRET", "short")
    with pytest.raises(ValueError, match="32"):
        digest.load_or_create_secret(tmp_path / "unused")
    monkeypatch.delenv("PHIWALL_SECRET")
    weak = tmp_path / "weak"
    weak.write_text("short")
    weak.chmod(0o644)
    assert len(digest.load_or_create_secret(weak)) == 64
    assert stat.S_IMODE(weak.stat().st_mode) == 0o600
