"""Keyed, consistent stand-ins for DICOM identifiers: UIDs, patient IDs and the per-patient date shift.

Why keyed (HMAC with the installation secret) and not random: the same StudyInstanceUID must become the same new
UID in every file of the study, in every request, on every gateway replica and in `phiwall deid` runs on the same
installation, with no shared table to keep. Why not a plain hash: without the secret nobody can recompute the
mapping from a guessed original (UIDs and MRNs are low-entropy).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date
from datetime import timedelta
from typing import Final

from phiwall.deid.options import DEFAULT_UID_ROOT
from phiwall.deid.options import DeidKeys

MAX_UID_LENGTH: Final = 64
_UID_ROOT = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def derive_keys(secret: bytes) -> DeidKeys:
    """One HMAC key per purpose from the installation secret, so a leaked digest of one kind says nothing of another."""

    def sub(label: str) -> bytes:
        return hmac.new(secret, b"phiwall-deid/" + label.encode("ascii"), hashlib.sha256).digest()

    return DeidKeys(uid=sub("uid"), patient=sub("patient"), dates=sub("dates"), digest=sub("digest"))


def valid_uid_root(root: str) -> bool:
    """A UID root must be dotted decimal components without leading zeros, leaving room for a 20+ digit suffix."""
    return bool(_UID_ROOT.match(root)) and len(root) <= MAX_UID_LENGTH - 22


def new_uid(key: bytes, old: str, root: str = DEFAULT_UID_ROOT) -> str:
    """The replacement for UID `old`: `root.<decimal of keyed digest>`, at most 64 characters (PS3.5 9.1).

    Under the default root 2.25 the suffix is a 128-bit integer, as a UUID-derived UID is; under a longer root the
    suffix is shortened to fit (never below 20 digits, about 66 bits).
    """
    value = old.strip().rstrip("\x00").strip()
    mac = hmac.new(key, value.encode("ascii", "replace"), hashlib.sha256).digest()
    number = int.from_bytes(mac[:16], "big")
    room = MAX_UID_LENGTH - len(root) - 1
    digits = str(number)
    if len(digits) > room:
        digits = str(number % (10**room))
    digits = digits.lstrip("0") or "1"  # no leading zero in a UID component
    return f"{root}.{digits}"


def patient_pseudonym(key: bytes, patient_key: str, prefix: str = "PW") -> str:
    """A stable pseudonymous PatientID (prefix + 12 upper-case hex digits of a keyed digest); fits LO and SH."""
    mac = hmac.new(key, patient_key.encode("utf-8", "replace"), hashlib.sha256).hexdigest()
    return f"{prefix}{mac[:12].upper()}"


def date_shift_days(key: bytes, patient_key: str, max_days: int = 365) -> int:
    """The per-patient shift for modified dates: a whole number of days in [-max_days, -1] (always earlier, never 0,
    so no shifted date equals its original)."""
    mac = hmac.new(key, patient_key.encode("utf-8", "replace"), hashlib.sha256).digest()
    return -(1 + int.from_bytes(mac[:4], "big") % max(1, max_days))


def shift_da(value: str, days: int) -> str | None:
    """Shift a DA value (YYYYMMDD; the old YYYY.MM.DD form is read too). None when it is not a date."""
    digits = value.strip().replace(".", "").replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        d = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        return (d + timedelta(days=days)).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return None


def shift_dt(value: str, days: int) -> str | None:
    """Shift the date part of a DT value (YYYYMMDD[HHMMSS.FFFFFF][&ZZXX]); the time part is kept."""
    v = value.strip()
    if len(v) < 8:
        return None
    head = shift_da(v[:8], days)
    return None if head is None else head + v[8:]
