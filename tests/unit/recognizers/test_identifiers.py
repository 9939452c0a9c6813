"""MRN, accession, NPI, DEA, health-plan and account numbers: context-anchored, checksum-validated."""

from __future__ import annotations

import pytest
from phiwall.recognizers import identifiers as ids

from tests.unit.recognizers.conftest import found


@pytest.mark.parametrize(
    ("value", "ok"),
    [("1234567893", True), ("1234567890", False), ("2000000008", False), ("3234567893", False)],
)
def test_npi_checksum(value: str, ok: bool) -> None:
    assert ids.npi_ok(value) is ok


@pytest.mark.parametrize(("value", "ok"), [("AB1234563", True), ("AB1234564", False), ("BX7654329", True)])
def test_dea_checksum(value: str, ok: bool) -> None:
    assert ids.dea_ok(value) is ok


CASES = [
    (ids.MrnRecognizer, "MRN: 4839201, seen in clinic", "4839201"),
    (ids.MrnRecognizer, "medical record number 00-483-921 on file", "00-483-921"),
    (ids.AccessionNumberRecognizer, "CT chest, accession # A2398112 pending", "A2398112"),
    (ids.NpiRecognizer, "Referring NPI 1234567893", "1234567893"),
    (ids.DeaRecognizer, "Prescriber DEA AB1234563", "AB1234563"),
    (ids.HealthPlanIdRecognizer, "Member ID: XZ12345678", "XZ12345678"),
    (ids.HealthPlanIdRecognizer, "Medicare MBI 1EG4TE5MK73 on the card", "1EG4TE5MK73"),
    (ids.AccountNumberRecognizer, "billing account # 99812345", "99812345"),
]


@pytest.mark.parametrize(("cls", "text", "value"), CASES)
def test_identifier_found(cls: type, text: str, value: str) -> None:
    assert value in found(cls(), text)


NEGATIVES = [
    (ids.MrnRecognizer, "MRN: 0000000 placeholder"),  # one repeated digit
    (ids.MrnRecognizer, "4839201 without any cue"),
    (ids.NpiRecognizer, "Referring NPI 1234567890"),  # bad checksum
    (ids.DeaRecognizer, "Prescriber DEA AB1234564"),
    (ids.AccountNumberRecognizer, "account of the events"),
]


@pytest.mark.parametrize(("cls", "text"), NEGATIVES)
def test_identifier_look_alikes_stay_clean(cls: type, text: str) -> None:
    assert found(cls(), text) == set()
