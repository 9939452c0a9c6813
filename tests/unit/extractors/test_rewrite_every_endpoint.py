"""Write-back round trips for every row of every matcher table (the requests of test_every_endpoint.py):

* no edits: `rewrite` returns the body itself;
* every part written back with its own value, re-encoding every layer (`force`): byte-identical, so each step
  (form, JSON, JSON-in-JSON, JSON Lines, multipart, data URL, base64, gRPC frame and field) re-encodes as found;
* each part edited in turn: extracting the rewritten body again finds the new value at the same locator, and
  every other part exactly as it was.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from phiwall.extractors import adapter_for
from phiwall.extractors import hostless_service
from phiwall.extractors import route
from phiwall.locators import rewrite_parts
from phiwall.model import Envelope
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.request import RequestData

from tests.support.samples import request
from tests.unit.extractors.test_every_endpoint import SAMPLES
from tests.unit.extractors.test_every_endpoint import _body
from tests.unit.extractors.test_every_endpoint import _grpc_body

IDS = [f"{s[0]}:{s[1]}" for s in SAMPLES]
EDIT_TEXT = ' → [PATIENT_1] "quoted" ü/\\ end'


def _setup(row: tuple[str, ...]) -> tuple[object, RequestData, bytes, Envelope]:
    table, _name, method, host, path, kind, _expects = row
    body, ctype, headers = _body(kind)
    if kind == "grpc":
        body = _grpc_body(path)
    req = request(method, host, path, body, ctype, tuple(headers.items()), websocket=method == "WS")
    if table in ("grpc", "websocket"):
        service = hostless_service(table)
    else:
        service = route(host)
    assert service is not None
    adapter = adapter_for(service)
    return adapter, req, body, adapter.extract(req, body)


def _value(p: Part) -> str | bytes:
    return p.text if p.kind == PartKind.TEXT else p.data  # type: ignore[return-value]


def _edited(p: Part) -> str | bytes:
    if p.kind == PartKind.TEXT:
        return (p.text or "") + EDIT_TEXT
    return (p.data or b"") + b"\x00edited\x01"


def _by_place(env: Envelope) -> dict[tuple[str, str], str | bytes]:
    out: dict[tuple[str, str], str | bytes] = {}
    for p in env.parts:
        key = (p.locator.describe(), p.kind.value)
        assert key not in out, f"two parts at {key}"
        out[key] = _value(p)
    return out


@pytest.mark.parametrize("row", SAMPLES, ids=IDS)
def test_no_edits_returns_the_body(row: tuple[str, ...]) -> None:
    adapter, req, body, env = _setup(row)
    assert adapter.rewrite(req, body, {}) is body  # type: ignore[attr-defined]
    assert adapter.rewrite(req, body, {}, env.parts) is body  # type: ignore[attr-defined]


@pytest.mark.parametrize("row", SAMPLES, ids=IDS)
def test_every_part_rewritten_as_found_is_byte_identical(row: tuple[str, ...]) -> None:
    _adapter, _req, body, env = _setup(row)
    assert env.parts
    for p in env.parts:
        assert p.not_rewritable is None, (p.locator.describe(), p.not_rewritable)
    edits = {p.id: _value(p) for p in env.parts}
    assert rewrite_parts(body, env.parts, edits, force=True) == body


@pytest.mark.parametrize("row", SAMPLES, ids=IDS)
def test_each_part_edited_lands_in_its_place(row: tuple[str, ...]) -> None:
    adapter, req, body, env = _setup(row)
    before = _by_place(env)
    for p in env.parts:
        new = _edited(p)
        out = adapter.rewrite(req, body, {p.id: new}, env.parts)  # type: ignore[attr-defined]
        assert out != body
        env2 = adapter.extract(replace(req, raw_body=out), out)  # type: ignore[attr-defined]
        after = _by_place(env2)
        key = (p.locator.describe(), p.kind.value)
        assert after.get(key) == new, (key, "edit not found at its place")
        assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in before.items() if k != key}
        # Without the parts, the adapter extracts the body again and finds the same place by id.
        assert adapter.rewrite(req, body, {p.id: new}) == out  # type: ignore[attr-defined]


@pytest.mark.parametrize("row", SAMPLES, ids=IDS)
def test_all_parts_edited_at_once(row: tuple[str, ...]) -> None:
    adapter, req, body, env = _setup(row)
    edits = {p.id: _edited(p) for p in env.parts}
    out = adapter.rewrite(req, body, edits, env.parts)  # type: ignore[attr-defined]
    env2 = adapter.extract(replace(req, raw_body=out), out)  # type: ignore[attr-defined]
    want = {(p.locator.describe(), p.kind.value): _edited(p) for p in env.parts}
    assert _by_place(env2) == want
