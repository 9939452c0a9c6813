"""Requests phiwall cannot take apart, through the real addon (inline inspection, JSONL audit on disk): the answer
is the policy's on_error verdict, and the audit event says what went wrong without quoting the request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.addon.conftest import audit
from tests.addon.test_addon_uploads import flow
from tests.addon.test_addon_uploads import send
from tests.unit.extractors.test_changed_shapes import CASES
from tests.unit.extractors.test_changed_shapes import PATIENT_KEY_CASES


@pytest.mark.parametrize(
    ("host", "path", "ctype", "body", "endpoint"), CASES, ids=[f"{c[0]}{c[1][:40]}" for c in CASES]
)
async def test_a_changed_shape_is_audited_under_its_endpoint(
    phiwall_ctx, tmp_path: Path, host: str, path: str, ctype: str, body: object, endpoint: str
) -> None:
    """The audit event's `endpoint` is the matcher-table row the adapter was parsing, not "unparsed": changed
    protocols can be counted per endpoint without parsing the `error` text."""
    addon, _ = phiwall_ctx
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    f = await send(addon, flow("POST", f"https://{host}{path}", raw, {"content-type": ctype}))
    assert f.response is not None and f.response.status_code == 422
    (ev,) = audit(tmp_path)
    assert ev["rule_ids"] == ["on_error"] and ev["verdict"] == "block"
    assert ev["endpoint"] == endpoint and ev["error"].startswith(endpoint), ev


@pytest.mark.parametrize(
    ("host", "path", "body", "endpoint", "readable"), PATIENT_KEY_CASES, ids=[c[4] for c in PATIENT_KEY_CASES]
)
async def test_a_patient_named_key_in_a_broken_body_stays_out_of_the_audit(
    phiwall_ctx, tmp_path: Path, host: str, path: str, body: object, endpoint: str, readable: str
) -> None:
    addon, _ = phiwall_ctx
    raw = json.dumps(body).encode()
    f = await send(addon, flow("POST", f"https://{host}{path}", raw, {"content-type": "application/json"}))
    assert f.response is not None and f.response.status_code == 422  # on_error: block, as unparseable
    assert "Jane" not in f.response.get_text()
    on_disk = (tmp_path / "audit.jsonl").read_text()
    (ev,) = audit(tmp_path)
    assert ev["rule_ids"] == ["on_error"] and ev["error"].startswith(endpoint + ":") and readable in ev["error"]
    assert ev["endpoint"] == endpoint
    assert "Jane" not in on_disk and "Doe" not in on_disk
