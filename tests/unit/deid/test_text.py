"""Text de-identification: every operator, consistent pseudonyms, surrogates, and the echo of known values."""

from __future__ import annotations

import re

import pytest
from phiwall.deid.options import DeidOptionSet
from phiwall.deid.options import TextDeidOptions
from phiwall.deid.plan import DeidContext
from phiwall.deid.plan import plan_edits
from phiwall.deid.text import Pseudonyms
from phiwall.deid.text import deidentify_text
from phiwall.deid.text import value_key
from phiwall.model import Decision
from phiwall.model import DeidStep
from phiwall.model import Finding
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.model import Verdict

TEXT = "Margaret Okafor, MRN 4455667, seen 03/14/2024 by Dr Adeyemi."
SPANS = [("PERSON", 0, 15), ("MRN", 21, 28), ("DATE_TIME", 35, 45), ("PERSON", 52, 59)]


def findings(spans=SPANS) -> list[Finding]:
    return [Finding("text_phi", e, "p0", 0.9, s, t) for e, s, t in spans]


def run(op: TextDeidOptions, p: Pseudonyms | None = None) -> str:
    return deidentify_text(TEXT, [(f, op) for f in findings()], p or Pseudonyms()).text


@pytest.mark.parametrize(
    "opts,expected",
    [
        (TextDeidOptions(), "[PATIENT_1], MRN [MRN_1], seen [DATE_1] by Dr [PATIENT_2]."),
        (TextDeidOptions(operator="replace"), "<PERSON>, MRN <MRN>, seen <DATE_TIME> by Dr <PERSON>."),
        (
            TextDeidOptions(operator="replace", template="[{label}]"),
            "[PATIENT], MRN [MRN], seen [DATE] by Dr [PATIENT].",
        ),
        (TextDeidOptions(operator="redact"), ", MRN , seen  by Dr ."),
        (TextDeidOptions(operator="mask"), "***************, MRN *******, seen ********** by Dr *******."),
        (
            TextDeidOptions(operator="mask", mask_chars=4, mask_from_end=True),
            "Margaret Ok****, MRN 445****, seen 03/14/**** by Dr Ade****.",
        ),
    ],
)
def test_operators(opts: TextDeidOptions, expected: str) -> None:
    assert run(opts) == expected


def test_hash_is_keyed_and_stable() -> None:
    out = run(TextDeidOptions(operator="hash"))
    assert "Okafor" not in out and "4455667" not in out
    digests = re.findall(r"[0-9a-f]{16}", out)
    assert len(digests) == 4 and run(TextDeidOptions(operator="hash")) == out


def test_pseudonyms_are_consistent_and_continue_numbering() -> None:
    p = Pseudonyms()
    first = run(TextDeidOptions(), p)
    assert [s for _, s, _, _ in p.new] == ["[PATIENT_1]", "[MRN_1]", "[DATE_1]", "[PATIENT_2]"]
    # the next request of the conversation: known stand-ins kept, a new person gets the next number
    p2 = Pseudonyms({k: s for k, s, _, _ in p.new})
    assert run(TextDeidOptions(), p2) == first and p2.new == []
    assert p2.stand_in("PERSON", "John Smith") == "[PATIENT_3]"
    assert p2.stand_in("PERSON", "  margaret   OKAFOR ") == "[PATIENT_1]"  # case and spacing are not a new person
    assert value_key("PERSON", "Margaret Okafor") == value_key("PERSON", "margaret okafor")
    assert "Okafor" not in value_key("PERSON", "Margaret Okafor")


def test_surrogates_are_realistic_consistent_and_shift_dates_by_one_offset() -> None:
    import datetime as dt

    p = Pseudonyms(scope="conv-1")
    out = run(TextDeidOptions(operator="surrogate"), p)
    assert "Okafor" not in out and "4455667" not in out and "03/14/2024" not in out and "[" not in out
    name = p.stand_in("PERSON", "Margaret Okafor", "surrogate")
    assert len(name.split()) >= 2 and out.startswith(name)
    d1 = dt.datetime.strptime(p.stand_in("DATE_TIME", "03/14/2024", "surrogate"), "%m/%d/%Y")
    d2 = dt.datetime.strptime(p.stand_in("DATE_TIME", "03/20/2024", "surrogate"), "%m/%d/%Y")
    assert (d2 - d1).days == 6  # intervals survive
    assert p.stand_in("DATE_TIME", "next Tuesday", "surrogate").startswith("[DATE_")  # no parse: a stand-in


def test_plan_replaces_every_other_mention_and_known_values_of_earlier_turns() -> None:
    parts = (
        Part("p0", PartKind.TEXT, Locator("json", ("messages", 0, "content")), text=TEXT),
        Part(
            "p1",
            PartKind.TEXT,
            Locator("json", ("messages", 1, "content")),
            text="Tell margaret okafor and John Smith.",
        ),
    )
    step = DeidStep("r", tuple(findings()[:1]), DeidOptionSet())
    d = Decision(Verdict.DEIDENTIFY, ("r",), (), plan=(step,))
    ctx = DeidContext("s", (), (("PERSON", "John Smith"),))
    planned = plan_edits(parts, d, ctx)
    assert planned.edits == {
        "p0": "[PATIENT_1], MRN 4455667, seen 03/14/2024 by Dr Adeyemi.",
        "p1": "Tell [PATIENT_1] and [PATIENT_2].",
    }
    assert dict(planned.entity_counts) == {"PERSON": 3}
    assert [(s, o) for _, s, o, _ in planned.vault] == [
        ("[PATIENT_1]", "Margaret Okafor"),
        ("[PATIENT_2]", "John Smith"),
    ]


def test_a_finding_without_a_span_cannot_be_deidentified() -> None:
    from phiwall.deid.options import CannotDeidentify

    parts = (Part("p0", PartKind.TEXT, Locator("body"), text=TEXT),)
    step = DeidStep("r", (Finding("x", "PERSON", "p0", 0.9),), DeidOptionSet())
    with pytest.raises(CannotDeidentify):
        plan_edits(parts, Decision(Verdict.DEIDENTIFY, ("r",), (), plan=(step,)), None)
