"""Dates of birth, and the clinical date formats of nursing notes (month/day, '88, m-d-yy, month names)."""

from __future__ import annotations

import regex as re

from phiwall.recognizers.base import RegexRecognizer
from phiwall.recognizers.base import Rule
from phiwall.recognizers.base import _c
from phiwall.recognizers.base import register

# --- Dates of birth --------------------------------------------------------------------------------------------
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
DATE_VALUE = (
    r"(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})|\d{4}[/.\-]\d{1,2}[/.\-]\d{1,2}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+\d{{4}}"
    r"|\d{8})"
)
_DOB_CONTEXT = r"(?:\bd\.?\s?o\.?\s?b\b\.?|\bdate\s+of\s+birth|\bbirth\s*(?:date|day)|\bborn(?:\s+on)?|\bb\.?d\.?\b)"
DOB_RULES = (
    Rule(
        "dob_context",
        _c(_DOB_CONTEXT + r"[\s:#=.\-,]*(?:(?:is|was|of|on)\s+){0,2}(?P<value>" + DATE_VALUE + r")(?!\d)"),
        0.9,
    ),
)

# --- Month/day dates without a year ("since 8/11"): common in notes, but so are fractions ("1/2 NS", "5/5") ---
_VENT_SETTING = re.compile(
    r"\b(?:psv?|peep|c?pap|bi-?pap|settings?|vent\w*|mask|s?imv|a/?c|ps|wean\w*(?:\s+\w+){0,2}\s+to|pain"
    r"|rat(?:ing|ed|es?)|scores?|scale|level|strength|grade)\W*(?:(?:of|at|is|was|to|a|as|about|around|~)\W+)?"
    r"(?:\.?\d+(?:\.\d+)?\s*%\W*)?$",
    re.IGNORECASE,
)


def _short_date_validate(value: str, match: re.Match[str]) -> tuple[int, int] | None:
    month, day = (int(x) for x in value.split("/"))
    before = match.string[max(0, match.start("value") - 20) : match.start("value")]
    if _VENT_SETTING.search(before):
        return None
    if month <= 6 and day <= 6:  # 1/2, 2/3, 3/4, 4/5, 5/5 strength, 3/6 murmur: fractions and grades
        return None
    return match.span("value")


def _not_a_setting(value: str, match: re.Match[str]) -> tuple[int, int] | None:
    before = match.string[max(0, match.start("value") - 20) : match.start("value")]
    return None if _VENT_SETTING.search(before) else match.span("value")


_NOT_A_DOSE = (
    r"(?![\d/%]|\.\d|\s*(?:strength|murmur|ns\b|normal\s+saline|tabs?\b|inch|of\b|mg\b|ml\b|cc\b|units?\b|x\b))"
)
# Month names: full names in any case, but "may"/"march" only capitalised (verbs) and three-letter abbreviations only
# in title case ("dec" and "DEC" are "decreased" in nursing shorthand).
_MONTH_FULL = (
    r"(?:(?i:january|february|april|june|july|august|september|october|november|december)|May|MAY|March|MARCH)"
)
_MONTH_ABBR = r"(?:(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?|(?:JAN|FEB|APR|JUN|JUL|AUG|SEPT?|OCT|NOV)\b\.?)"
_MONTH_NAME = rf"(?:{_MONTH_FULL}|{_MONTH_ABBR})"
_ORD = r"(?:st|nd|rd|th|ST|ND|RD|TH)"
_YEAR_CUE = (
    r"(?:\bin|\bcirca|\bsince|\byear|\bdiagnosed(?:\s+in)?|\bdx'?d?(?:\s+in)?|\bhx\s+of\s+\w+(?:\s+in)?"
    r"|\b(?:s/p|h/o)\s+[\w/\-]+(?:\s+x\s*\d)?(?:\s+in)?"
    r"|\b(?:mi|cva|cabg|tia|ptca|avr|mvr|chf|copd|cad|ca|pci|stent|tah|bso|lap\s+chole|appy|turp|tka|tha|orif)"
    r"(?:\s*x\s*\d)?(?:\s+in)?)"
)
SHORT_DATE_RULES = (
    Rule(
        "month_day",
        _c(r"(?<![\d/.,:\-])(?P<value>(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))" + _NOT_A_DOSE),
        0.6,
        _short_date_validate,
    ),
    # "fx 4/97", "CA (12/93)", "CABG in 3/80": month/two-digit year after a history cue.
    Rule(
        "month_year",
        _c(
            r"(?:\b(?:in|since|on|from|until|fx|dx|s/p|h/o|hx|diagnosed|dx'?d|ca)\s*|\()"
            r"(?P<value>(?:0?[1-9]|1[0-2])/(?:[3-9]\d|[0-2]\d))" + _NOT_A_DOSE
        ),
        0.6,
    ),
    # "10-18-20", "3-24-88", "3/24/88" with two- or four-digit years.
    Rule(
        "numeric_mdy",
        _c(
            r"(?<![\d/.\-])(?P<value>(?:0?[1-9]|1[0-2])([/\-])(?:0?[1-9]|[12]\d|3[01])\2(?:\d{4}|\d{2}))"
            r"(?![\d/\-.]\d|\d|[a-z%])"
        ),
        0.6,
        _not_a_setting,
    ),
    # "March 4th", "Jan. 12", "4th of July", "28 Oct, 88": a month name and a day, with or without a year.
    Rule(
        "month_name_day",
        re.compile(
            rf"\b(?P<value>{_MONTH_NAME}\s*(?:0?[1-9]|[12]\d|3[01]){_ORD}?(?:,?\s*(?:'?\d{{2}}|\d{{4}}))?)(?![\d:/]|\s*(?:mg|ml|cc|units?|%|x\b))"
            rf"|\b(?P<value>(?:0?[1-9]|[12]\d|3[01]){_ORD}?\s+(?:(?i:of)\s+)?{_MONTH_NAME}(?:,?\s*(?:'?\d{{2}}\b|\d{{4}}))?)(?![A-Za-z])",
            re.VERSION1,
        ),
        0.7,
    ),
    # Years after a history cue ("CABG 1957", "CVA in 2008", "dx'd 1999"); four-digit times ("at 1930") have no cue.
    Rule(
        "year_after_cue",
        _c(
            _YEAR_CUE + r"\s*[,:]?\s*(?P<value>(?:19[3-9]\d|20[0-4]\d))(?:\s*(?:,|and|&)\s*(?:19[3-9]\d|20[0-4]\d))*"
            r"\b(?!\s*(?:hrs?\b|h\b|:|am\b|pm\b|-\s*\d|mg|ml|cc|units?))"
        ),
        0.6,
    ),
    # Apostrophe years: "CA'88", "surgery '85".
    Rule("apostrophe_year", re.compile(r"(?<=[A-Za-z\s(,])(?P<value>['’][3-9]\d)\b(?![\d'’\"])", re.VERSION1), 0.6),
)


@register
class DateOfBirthRecognizer(RegexRecognizer):
    """A date right after a DOB/born cue."""

    ENTITY = "DATE_OF_BIRTH"
    RULES = DOB_RULES


@register
class ClinicalDateRecognizer(RegexRecognizer):
    """Nursing-note dates: 8/15, 4/97, 10-18-20, March 4th, CABG 1957, '88."""

    ENTITY = "DATE_TIME"
    RULES = SHORT_DATE_RULES
