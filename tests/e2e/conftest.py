"""Fixtures for end-to-end tests: a real `phiwall run` process, real SDKs, fake chatbot servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.proxy import start_proxy
from tests.support.tls import SERVICE_HOSTS
from tests.support.tls import make_test_pki

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def upstream(pki: tuple[Path, Path, Path]) -> Iterator[FakeUpstream]:
    _, cert, key = pki
    with FakeUpstream(cert, key) as up:
        yield up


@pytest.fixture(scope="session")
def proxy_factory(
    tmp_path_factory: pytest.TempPathFactory, pki: tuple[Path, Path, Path], upstream: FakeUpstream
) -> Iterator[Callable[..., ProxyProcess]]:
    """start(policy=None, mode="enforce") → a running proxy; one process per (policy, mode), reused in the session."""
    started: dict[tuple[str, str], ProxyProcess] = {}

    def start(policy: Path | None = None, mode: str = "enforce") -> ProxyProcess:
        key = (str(policy), mode)
        if key not in started:
            home = tmp_path_factory.mktemp("phiwall-home")
            started[key] = start_proxy(
                home, {h: upstream.port for h in SERVICE_HOSTS}, pki[0], policy=policy, mode=mode
            )
        return started[key]

    yield start
    for p in started.values():
        p.stop()


@pytest.fixture(scope="session")
def proxy(proxy_factory: Callable[..., ProxyProcess]) -> ProxyProcess:
    """The proxy on its embedded default policy."""
    return proxy_factory()


@pytest.fixture
def fresh_upstream(upstream: FakeUpstream) -> FakeUpstream:
    upstream.clear()
    return upstream
