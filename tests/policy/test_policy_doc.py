"""docs/policy.md is what people write policies from: its `services` condition row must name every service row of
`phiwall.extractors.SERVICES` and nothing else, or a policy author cannot scope a rule to a service the doc
forgot (x_grok and gemini_upload were missing once)."""

from __future__ import annotations

import re
from pathlib import Path

from phiwall.extractors import SERVICE_NAMES
from phiwall.extractors import SERVICES

DOC = Path(__file__).resolve().parents[2] / "docs" / "policy.md"


def _services_row() -> str:
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| `services` |")]
    assert len(rows) == 1, "docs/policy.md must have exactly one `services` condition row"
    return rows[0]


def test_the_services_row_lists_every_service_name() -> None:
    row = _services_row()
    named = set(re.findall(r"`([^`]+)`", row)) - {"services", "*", "service"}
    assert named == SERVICE_NAMES, (
        f"missing from docs/policy.md: {sorted(SERVICE_NAMES - named)}; not a service: {sorted(named - SERVICE_NAMES)}"
    )


def test_hosted_services_come_before_the_host_less_note() -> None:
    """The names a request can report (rows with hosts) are the list; host-less rows only in the note after it."""
    main, _, note = _services_row().partition("or `*`")
    hosted = {s.name for s in SERVICES if s.hosts}
    assert set(re.findall(r"`([^`]+)`", main)) - {"services", "service"} == hosted
    assert set(re.findall(r"`([^`]+)`", note)) == SERVICE_NAMES - hosted
