"""The person-facing text of a decision: several rules' messages read as one message."""

from __future__ import annotations

import pytest
from phiwall.model import Decision
from phiwall.model import Verdict
from phiwall.model import combine_reasons

A = "phiwall blocked this message to the OpenAI API: it contains 1 medical record number (rule phi-identifiers)."
B = "phiwall blocked this message to the OpenAI API: it contains 1 person name (rule phi-person-name)."
OTHER = "Uploads of DICOM files are not allowed (rule dicom)."


# fmt: off
@pytest.mark.parametrize("reasons,expected", [
    ((), ""),
    ((A,), A),
    ((A, A), A),  # the same rule message twice (two parts) is said once
    ((A, B), A + " Also: it contains 1 person name (rule phi-person-name)."),
    ((A, OTHER), A + " " + OTHER),  # nothing shared: plain sentences one after the other
    ((OTHER, "No colon here either."), OTHER + " No colon here either."),
])
# fmt: on
def test_combine_reasons(reasons: tuple[str, ...], expected: str) -> None:
    assert combine_reasons(reasons) == expected


def test_decision_message_uses_it() -> None:
    d = Decision(Verdict.BLOCK, ("r1", "r2"), (A, B))
    assert d.message.count("phiwall blocked") == 1 and "person name" in d.message
