"""Keyed stand-ins (phiwall.deid.uids): valid UIDs, stable pseudonyms and date shifts."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from phiwall.deid import uids

UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
K = uids.derive_keys(b"k" * 32)


@given(st.text(alphabet="0123456789.", min_size=1, max_size=64))
def test_new_uid_is_always_a_valid_uid(old: str) -> None:
    for root in ("2.25", "1.2.826.0.1.3680043.10.99999999999999999999"):
        new = uids.new_uid(K.uid, old, root)
        assert UID_RE.match(new) and len(new) <= 64 and new.startswith(root + ".")


def test_new_uid_is_deterministic_and_keyed() -> None:
    a = uids.new_uid(K.uid, "1.2.3.4")
    assert a == uids.new_uid(K.uid, "1.2.3.4 ") == uids.new_uid(K.uid, "1.2.3.4\x00")  # padding is not identity
    assert a != uids.new_uid(K.uid, "1.2.3.5")
    assert a != uids.new_uid(uids.derive_keys(b"j" * 32).uid, "1.2.3.4")


def test_keys_differ_per_purpose() -> None:
    assert len({K.uid, K.patient, K.dates, K.digest}) == 4


def test_roots() -> None:
    assert uids.valid_uid_root("2.25") and uids.valid_uid_root("1.2.826.0.1.3680043.10.1")
    assert not uids.valid_uid_root("1.02") and not uids.valid_uid_root("1.2.") and not uids.valid_uid_root("1." * 30)


def test_pseudonym_and_shift() -> None:
    p = uids.patient_pseudonym(K.patient, "MRN1")
    assert p == uids.patient_pseudonym(K.patient, "MRN1") and p != uids.patient_pseudonym(K.patient, "MRN2")
    assert re.fullmatch(r"PW[0-9A-F]{12}", p)
    shifts = {uids.date_shift_days(K.dates, f"p{i}", 30) for i in range(200)}
    assert shifts <= set(range(-30, 0)) and len(shifts) > 20
    assert uids.shift_da("20240301", -1) == "20240229" and uids.shift_da("2024.03.01", -1) == "20240229"
    assert uids.shift_da("garbage", -1) is None and uids.shift_da("20241301", -1) is None
    assert uids.shift_dt("20240301101530.5+0100", -1) == "20240229101530.5+0100"
