"""Clinical identifiers Presidio does not know: MRN, accession, NPI, DEA, health-plan and account numbers."""

from __future__ import annotations

import regex as re

from phiwall.recognizers.base import _GAP
from phiwall.recognizers.base import _ID
from phiwall.recognizers.base import RegexRecognizer
from phiwall.recognizers.base import Rule
from phiwall.recognizers.base import _c
from phiwall.recognizers.base import _has_real_digits
from phiwall.recognizers.base import register

# --- MRN -------------------------------------------------------------------------------------------------------
_MRN_CONTEXT = (
    r"(?:\bmrn|\bmr\s*\#|\bm\.r\.n?\.?|\bmed(?:ical)?\.?\s+rec(?:ord)?s?\.?(?:\s+(?:number|no\.?|num|\#))?"
    r"|\bchart\s*(?:number|no\.?|\#)|\bpatient\s*(?:id|identifier|number|no\.?|\#)|\bpt\.?\s*(?:id|\#)"
    r"|\bhospital\s+(?:number|no\.?|\#)|\bunit\s+(?:number|no\.?)|\brecord\s*(?:number|no\.?|\#))"
)
MRN_RULES = (Rule("mrn_context", _c(_MRN_CONTEXT + _GAP + _ID), 0.9, _has_real_digits),)

# --- Accession number ------------------------------------------------------------------------------------------
_ACC_CONTEXT = r"(?:\baccession(?:\s+(?:number|no\.?|num|\#))?|\bacc(?:n|t\.?\s*no)?\.?\s*(?:\#|no\.?|number)|\baccn\b)"
ACCESSION_RULES = (Rule("accession_context", _c(_ACC_CONTEXT + _GAP + _ID), 0.9, _has_real_digits),)


# --- NPI: 10 digits, Luhn over "80840" + the number ------------------------------------------------------------
def luhn_ok(digits: str) -> bool:
    """Standard Luhn check over a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def npi_ok(value: str) -> bool:
    """An NPI is 10 digits starting 1 or 2 whose Luhn check is computed with the 80840 prefix (ISO 7812)."""
    digits = value.replace(" ", "").replace("-", "")
    return len(digits) == 10 and digits.isdigit() and digits[0] in "12" and luhn_ok("80840" + digits)


def _npi_validate(value: str, match: re.Match[str]) -> tuple[int, int] | None:
    return match.span("value") if npi_ok(value) else None


_NPI_VALUE = r"(?P<value>[12]\d{3}[ \-]?\d{3}[ \-]?\d{3})(?!\d)"
NPI_RULES = (
    Rule(
        "npi_context",
        _c(
            r"(?:\bnpi|\bnational\s+provider\s+(?:identifier|id|number)|\bprovider\s+(?:id|number|\#))"
            + _GAP
            + _NPI_VALUE
        ),
        0.95,
        _npi_validate,
    ),
    # A bare 10-digit Luhn-valid number might be a phone number: only a low score, below the default threshold.
    Rule("npi_checksum", _c(r"(?<![\d\-])" + _NPI_VALUE), 0.3, _npi_validate),
)


# --- DEA registration numbers ------------------------------------------------------------------------------------
def dea_ok(value: str) -> bool:
    """DEA check digit: (d1+d3+d5) + 2*(d2+d4+d6), last digit equals d7."""
    digits = value[2:]
    if len(digits) != 7 or not digits.isdigit():
        return False
    d = [int(c) for c in digits]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


def _dea_validate(value: str, match: re.Match[str]) -> tuple[int, int] | None:
    return match.span("value") if dea_ok(value.upper()) else None


_DEA_VALUE = r"(?P<value>[ABCDEFGHJKLMPRSTUXabcdefghjklmprstux][A-Za-z9]\d{7})\b"
DEA_RULES = (
    Rule("dea_context", _c(r"\bdea" + _GAP + _DEA_VALUE), 0.95, _dea_validate),
    Rule(
        "dea_checksum",
        re.compile(r"\b(?P<value>[ABCDEFGHJKLMPRSTUX][A-Z9]\d{7})\b", re.VERSION1),
        0.6,
        _dea_validate,
    ),
)

# --- Health-plan beneficiary / member ids ---------------------------------------------------------------------
_PLAN_CONTEXT = (
    r"(?:\bmember\s*(?:id|number|no\.?|\#)|\bsubscriber\s*(?:id|number|no\.?|\#)|\bpolicy\s*(?:id|number|no\.?|\#)"
    r"|\binsurance\s*(?:id|number|no\.?|\#)|\bgroup\s*(?:id|number|no\.?|\#)|\bhealth\s*plan\s*(?:id|number|no\.?|\#)?"
    r"|\bmedicaid\s*(?:id|number|no\.?|\#)?|\bmedicare\s*(?:id|number|no\.?|\#)?|\bbeneficiary\s*(?:id|number|no\.?|\#)"
    r"|\bmbi|\bhicn?|\bplan\s*(?:id|number|no\.?|\#))"
)
_MBI_L = "[AC-HJKMNP-RT-Y]"  # Medicare Beneficiary Identifier letters: no S, L, O, I, B, Z
_MBI = rf"(?P<value>[1-9]{_MBI_L}(?:{_MBI_L}|\d)\d{_MBI_L}(?:{_MBI_L}|\d)\d{_MBI_L}{{2}}\d{{2}})"
HEALTH_PLAN_RULES = (
    Rule("plan_context", _c(_PLAN_CONTEXT + _GAP + _ID), 0.85, _has_real_digits),
    Rule("medicare_mbi", re.compile(r"\b" + _MBI + r"\b", re.VERSION1), 0.7),
)

# --- Account numbers -------------------------------------------------------------------------------------------
_ACCOUNT_CONTEXT = (
    r"(?:\baccount\s*(?:number|no\.?|num|\#)?|\bacct\.?\s*(?:number|no\.?|\#)?|\bbilling\s*(?:number|no\.?|\#|id)"
    r"|\bencounter\s*(?:number|no\.?|\#|id)|\bvisit\s*(?:number|no\.?|\#|id)|\bfin\s*(?:number|no\.?|\#)?(?=[\s:#])"
    r"|\bclaim\s*(?:number|no\.?|\#|id)?|\binvoice\s*(?:number|no\.?|\#)?|\bbank\s+account)"
)
ACCOUNT_RULES = (Rule("account_context", _c(_ACCOUNT_CONTEXT + _GAP + _ID), 0.85, _has_real_digits),)


@register
class MrnRecognizer(RegexRecognizer):
    """Medical record numbers after an MRN/chart/patient-id cue."""

    ENTITY = "MRN"
    RULES = MRN_RULES


@register
class AccessionNumberRecognizer(RegexRecognizer):
    """Imaging/lab accession numbers after an accession cue."""

    ENTITY = "ACCESSION_NUMBER"
    RULES = ACCESSION_RULES


@register
class NpiRecognizer(RegexRecognizer):
    """National Provider Identifiers (Luhn with the 80840 prefix)."""

    ENTITY = "NPI"
    RULES = NPI_RULES


@register
class DeaRecognizer(RegexRecognizer):
    """DEA registration numbers (check digit)."""

    ENTITY = "DEA"
    RULES = DEA_RULES


@register
class HealthPlanIdRecognizer(RegexRecognizer):
    """Member/subscriber/Medicare ids."""

    ENTITY = "HEALTH_PLAN_ID"
    RULES = HEALTH_PLAN_RULES


@register
class AccountNumberRecognizer(RegexRecognizer):
    """Account, billing, encounter and claim numbers."""

    ENTITY = "ACCOUNT_NUMBER"
    RULES = ACCOUNT_RULES
