"""Issue 3 acceptance, web apps: requests rebuilt from the spec's recorded shapes (HAR, synthetic PHI) replayed
through the real `phiwall run` process. Each byte-carrying or PHI-carrying request is stopped with a service-shaped
403 carrying phiwall's message; each benign one reaches the fake server byte for byte."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.web_shapes import all_entries
from tests.support.web_shapes import entry_body
from tests.support.web_shapes import read_har
from tests.support.web_shapes import write_har

pytestmark = pytest.mark.e2e
ENTRIES = all_entries()


@pytest.fixture(scope="module")
def har(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Write the flows as a HAR file and read them back: the replay below works from the HAR, as it would from a
    capture exported by a browser."""
    return read_har(write_har(tmp_path_factory.mktemp("web") / "webapps.har", ENTRIES))


@pytest.fixture(scope="module")
def http(proxy: ProxyProcess) -> httpx.Client:
    with httpx.Client(proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)), timeout=60) as c:
        yield c


@pytest.mark.parametrize("index", range(len(ENTRIES)), ids=[e["_phiwall"]["name"] for e in ENTRIES])
def test_replay(
    index: int, har: list[dict[str, Any]], http: httpx.Client, proxy: ProxyProcess, fresh_upstream: FakeUpstream
) -> None:
    entry = har[index]
    req = entry["request"]
    body = entry_body(entry)
    headers = {h["name"]: h["value"] for h in req["headers"]}
    r = http.request(req["method"], req["url"], content=body, headers=headers)
    if entry["_phiwall"]["expect"] == "block":
        assert r.status_code == 403, r.text[:300]
        assert r.headers.get("x-phiwall-verdict") == "block"
        reply = r.json()
        message = reply["errors"][0]["message"] if "errors" in reply else reply["error"]["message"]  # X's own shape
        assert "phiwall blocked" in message
        assert fresh_upstream.requests == []  # the bytes never left
        ev = proxy.audit_events()[-1]
        assert ev["verdict"] == "block"
        assert ev["endpoint"] != "generic" or "content-push" in req["url"]  # content-push: generic until its adapter
    else:
        assert r.status_code == 200, r.text[:300]
        assert len(fresh_upstream.requests) == 1
        assert fresh_upstream.requests[0].body == body  # forwarded unchanged
        assert fresh_upstream.requests[0].path == "/" + req["url"].split("/", 3)[3]


def test_har_round_trip_keeps_binary_bodies(har: list[dict[str, Any]]) -> None:
    for original, loaded in zip(ENTRIES, har, strict=True):
        assert entry_body(original) == entry_body(loaded)
