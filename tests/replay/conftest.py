"""Shared fixtures for replay tests: the synthetic recordings (built once per session) and a network guard."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.replay.traffic import make_requests
from tests.replay.traffic import write_flows
from tests.replay.traffic import write_har


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same 1,000 mixed requests as a HAR and as a mitmproxy flow file."""
    d = tmp_path_factory.mktemp("recordings")
    reqs = make_requests(1000)
    write_har(d / "traffic.har", reqs)
    write_flows(d / "traffic.mitm", reqs)
    return d / "traffic.har", d / "traffic.mitm"


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Any outgoing connection attempt (TCP, UDP connect, DNS through create_connection) fails the test."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object, *a: object) -> None:
        attempts.append(address)
        raise NetworkUsed(f"replay tried to connect to {address!r}")

    def refuse_create(address: object, *a: object, **k: object) -> None:
        attempts.append(address)
        raise NetworkUsed(f"replay tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse_create)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: refuse_create(a[0] if a else None))
    yield attempts
    assert attempts == []


@pytest.fixture(autouse=True)
def phiwall_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PHIWALL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
