"""Shared fixtures for replay tests: the synthetic recordings (built once per session) and a network guard."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.replay.traffic import Req
from tests.replay.traffic import make_requests
from tests.replay.traffic import write_flows
from tests.replay.traffic import write_har


@dataclass(frozen=True)
class Recordings:
    har: Path
    flows: Path
    requests: list[Req]


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Recordings:
    """The same 1,000 mixed requests (with the services' answers) as a HAR and as a mitmproxy flow file."""
    d = tmp_path_factory.mktemp("recordings")
    reqs = make_requests(1000)
    write_har(d / "traffic.har", reqs)
    write_flows(d / "traffic.mitm", reqs)
    return Recordings(d / "traffic.har", d / "traffic.mitm", reqs)


class NetworkUsed(AssertionError):
    pass


# Python's audit hooks see every socket operation and process start in this interpreter, whichever library (or
# C extension going through the socket module) makes it, so a test can prove replay opens no connection rather
# than only patch the functions it expects to be called. A hook cannot be removed; it only records while a
# `no_network` test is running. (Binding alone is no connection: urllib3 binds ::1 port 0 on import to probe IPv6.)
_NET_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
_DNS_EVENTS = frozenset({"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"})
# Processes replay may start: the OCR engine (offline; it reads an image from a pipe and writes text back).
ALLOWED_PROGRAMS = frozenset({"tesseract"})
_active: list[list[str]] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if not _active:
        return
    what = None
    if event in _NET_EVENTS:
        what = f"{event} {args[1]!r}"
    elif event in _DNS_EVENTS:
        what = f"{event} {args[0]!r}"
    elif event == "subprocess.Popen" and Path(str(args[0])).name not in ALLOWED_PROGRAMS:
        what = f"{event} {args[0]!r}"  # a child process would be outside this guard
    if what is not None:
        _active[-1].append(what)
        raise NetworkUsed(f"replay tried {what}")


sys.addaudithook(_audit)


@pytest.fixture
def no_network() -> Iterator[list[str]]:
    """Any socket connect, send or name lookup, or any process other than the OCR engine, fails the test."""
    attempts: list[str] = []
    _active.append(attempts)
    try:
        yield attempts
    finally:
        _active.remove(attempts)
    assert attempts == [], attempts


@pytest.fixture(autouse=True)
def phiwall_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PHIWALL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
