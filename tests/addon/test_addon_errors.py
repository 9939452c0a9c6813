"""Requests phiwall cannot take apart, through the real addon (inline inspection, JSONL audit on disk): the answer
is the policy's on_error verdict, and the audit event says what went wrong without quoting the request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.addon.conftest import audit
from tests.addon.test_addon_uploads import flow
from tests.addon.test_addon_uploads import send
from tests.unit.extractors.test_changed_shapes import PATIENT_KEY_CASES


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
    assert "Jane" not in on_disk and "Doe" not in on_disk
