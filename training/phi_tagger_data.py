"""Generate the PHI tagger's training data: surrogate PHI in the dev corpus's *tune* half, plus templates.

Sources (all from `../shared/corpus/phi_text`, the *tune* half only: physionet by even patient id, presidio_synth
by even template id, medquad by even CRC32 of the document group, the same rule as bench/quality_text.py; the
*check* half and the philter notes set are never read here):

1. physionet_deid tune notes with gold spans: every annotated slot is refilled with a surrogate of its type
   (the original's letter case and, half of the time, its digit layout are kept), several variants per note.
2. physionet_deid tune notes without PHI ("carriers"): kept as negatives, and copies receive 1-3 lines taken
   from the annotated tune notes (the line around a gold span, with its slots refilled).
3. presidio_synth tune sentences: slots refilled with multi-locale Faker values.
4. medquad tune questions/answers: negatives (eponyms such as Parkinson's or Hodgkin are not people).
5. Clinical and chat templates (discharge headers, referral letters, chat requests) with every identifier
   format we report: names with titles and initials, dates in every clinical format, hospitals, wards, cities,
   streets, phones, IDs, ages over 89; and eponym sentences as hard negatives.

Surrogates: philter-lite 0.6.0's name lists (`filters/set.toml`: first names, surnames; only its data files,
never its sample notes), Faker, `zipcodes` (US city/state pairs). Output: `training/out/{train,dev}.spacy`
(DocBin) and `training/out/stats.json`. The dev set is the *unaltered* physionet tune notes (a sanity check for
`spacy train`; the reported numbers come from bench/quality_text.py on the check half).

Usage: .venv/bin/python training/phi_tagger_data.py [--variants 8] [--seed 1234]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import re
import tomllib
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import spacy
import zipcodes
from faker import Faker
from spacy.tokens import Doc
from spacy.tokens import DocBin

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "phi_text"
OUT = ROOT / "training" / "out"
LABELS = ("PERSON", "DATE", "LOC", "ADDRESS", "PHONE", "ID", "AGE")

PHYSIONET_LABEL = {
    "CLINICIAN_NAME": "PERSON", "PATIENT_NAME": "PERSON", "RELATIVE_OR_PROXY_NAME": "PERSON",
    "PATIENT_NAME_INITIAL": "PERSON", "DATE": "DATE", "DATE_YEAR": "DATE", "LOCATION": "LOC", "PHONE": "PHONE",
    "AGE_OVER_89": "AGE", "OTHER": "ID",
}  # fmt: skip
SYNTH_LABEL = {
    "PERSON": "PERSON", "STREET_ADDRESS": "ADDRESS", "GPE": "LOC", "DATE_TIME": "DATE", "PHONE_NUMBER": "PHONE",
    "ZIP_CODE": "ADDRESS", "CREDIT_CARD": "ID", "IBAN_CODE": "ID", "US_SSN": "ID", "US_DRIVER_LICENSE": "ID",
}  # fmt: skip

Span = tuple[int, int, str]


def group_key(row: dict[str, object], index: int) -> int:
    """bench/quality_text.py's `_group_key`: patient id, template id, CRC32 of the document group, or index."""
    for key in ("patient_id", "template_id"):
        value = row.get(key)
        if isinstance(value, int):
            return value
    group = row.get("group")
    if isinstance(group, str):
        return zlib.crc32(group.encode())
    return index


def is_tune_dev(key: int) -> bool:
    """A fifth of the tune half (by group) is held out of training to choose the operating point on
    (`bench/quality_text.py --half tune-dev`); the same rule lives there."""
    return key % 2 == 0 and (key // 2) % 5 == 0


def tune_rows(path: Path, dev: bool = False) -> list[dict[str, object]]:
    """The tune half minus its tune-dev fifth (the only corpus rows training learns from), or with `dev` that
    fifth (spaCy's dev set: scores during training only)."""
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    keys = [group_key(r, i) for i, r in enumerate(rows)]
    return [r for r, k in zip(rows, keys, strict=True) if k % 2 == 0 and is_tune_dev(k) == dev]


def _philter_sets() -> dict[str, list[str]]:
    # Locate the package without importing it: its __init__ pulls in NLTK (the runtime we do not use).
    spec = importlib.util.find_spec("philter_lite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("philter-lite 0.6.0 is not installed: pip install --no-deps -r training/requirements.txt")
    ref = Path(next(iter(spec.submodule_search_locations))) / "filters" / "set.toml"
    with ref.open("rb") as fh:
        return tomllib.load(fh)  # type: ignore[no-any-return]


class Surrogates:
    """Random stand-ins for each PHI type, shaped like the value they replace."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        sets = _philter_sets()
        nonames = set(sets["nonames"])
        clean = re.compile(r"^[a-z][a-z'\-]{1,14}$")
        firsts = [w for w in sets["firstnames"] if clean.match(w)]
        lasts = [w for w in sets["lastnames"] if clean.match(w)]
        # Mostly names that are not English words, but a share of word-like names ("Frost", "Park") too.
        self.first_plain = [w for w in firsts if w not in nonames]
        self.first_word = [w for w in firsts if w in nonames]
        self.last_plain = [w for w in lasts if w not in nonames]
        self.last_word = [w for w in lasts if w in nonames]
        self.fakers = [Faker(loc) for loc in ("en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "it_IT", "es_ES",
                                               "fi_FI", "da_DK", "pl_PL", "pt_BR", "en_AU")]  # fmt: skip
        for i, f in enumerate(self.fakers):
            f.seed_instance(rng.randrange(1 << 30) + i)
        self.us = self.fakers[0]
        zc = [z for z in zipcodes.list_all() if z["city"] and z["state"]]
        self.cities = sorted({z["city"].title() for z in zc})
        self.city_state = [(z["city"].title(), z["state"], z["zip_code"]) for z in zc]

    # names -----------------------------------------------------------------------------------------------
    def first(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            return self.us.first_name()
        pool = self.first_word if r < 0.45 else self.first_plain
        return self.rng.choice(pool).title()

    def last(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return self.rng.choice(self.fakers).last_name()
        pool = self.last_word if r < 0.45 else self.last_plain
        name = self.rng.choice(pool).title()
        if self.rng.random() < 0.04:
            name = name + "-" + self.rng.choice(self.last_plain).title()
        return name

    def person_like(self, original: str) -> str:
        words = original.split()
        if len(original) <= 2 or (len(words) == 1 and len(original.rstrip(".")) == 1):
            return self.rng.choice("ABCDEFGHJKLMNPRSTW") + ("." if original.endswith(".") else "")
        if len(words) >= 2:
            return f"{self.first()} {self.last()}"
        return self.last() if self.rng.random() < 0.7 else self.first()

    def person(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            return f"{self.first()} {self.last()}"
        if r < 0.6:
            return f"{self.first()[0]}. {self.last()}"
        if r < 0.68:
            return f"{self.first()} {self.rng.choice('ABCDEFGHJKLMNPRSTW')}. {self.last()}"
        if r < 0.75:
            return f"{self.last()}, {self.first()}"
        return self.last() if r < 0.9 else self.first()

    # dates -----------------------------------------------------------------------------------------------
    MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")  # fmt: skip

    def date(self) -> str:
        rng = self.rng
        y, m, d = rng.randint(1925, 2030), rng.randint(1, 12), rng.randint(1, 28)
        mon = self.MONTHS[m - 1]
        ab = mon[:3]
        fmt = rng.randrange(22)
        return [
            f"{m}/{d}", f"{m:02d}/{d:02d}", f"{m}/{d}/{y % 100:02d}", f"{m}/{d}/{y}", f"{m:02d}/{d:02d}/{y}",
            f"{y}-{m:02d}-{d:02d}", f"{m}-{d}-{y % 100:02d}", f"{m:02d}-{d:02d}-{y}", f"{d}.{m}.{y}",
            f"{mon} {d}", f"{ab} {d}", f"{ab}. {d}, {y}", f"{mon} {d}, {y}", f"{d} {mon} {y}",
            f"{d} {ab}, {y % 100:02d}",
            f"{mon} {d}{self._ord(d)}", f"{d}{self._ord(d)} of {mon}", f"{mon} {y}", f"{ab}-{y % 100:02d}",
            str(y), f"'{y % 100:02d}", f"{d}-{ab}-{y}",
        ][fmt]  # fmt: skip

    @staticmethod
    def _ord(d: int) -> str:
        return "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")

    def date_like(self, original: str) -> str:
        if re.fullmatch(r"'?\d{2}'?|\d{4}", original.strip()):
            y = self.rng.randint(1930, 2029)
            s = original.strip()
            if len(s.strip("'")) == 4:
                return str(y)
            return s.replace(s.strip("'"), f"{y % 100:02d}")
        if self.rng.random() < 0.5 and re.search(r"\d", original):
            return self._digits_like(original, date=True)
        return self.date()

    def _digits_like(self, original: str, date: bool = False) -> str:
        out = []
        for ch in original:
            out.append(str(self.rng.randint(0, 9)) if ch.isdigit() else ch)
        s = "".join(out)
        if date:  # keep month/day plausible in m/d shapes
            s = re.sub(r"^(\d{1,2})([/\-.])(\d{1,2})", lambda mm: f"{self.rng.randint(1, 12)}{mm.group(2)}"
                       f"{self.rng.randint(1, 28)}", s)  # fmt: skip
        return s

    # places ----------------------------------------------------------------------------------------------
    def city(self) -> str:
        return self.rng.choice(self.cities) if self.rng.random() < 0.7 else self.rng.choice(self.fakers).city()

    def hospital(self) -> str:
        rng = self.rng
        r = rng.randrange(12)
        city, last = self.city(), self.last()
        return [
            f"{city} General Hospital", f"{last} Memorial Hospital", f"St. {self.first()}'s", f"{city} Medical Center",
            f"{last} Rehab", f"{city} VA", "".join(rng.choice("ABCDEFGHJKLMNPRSTW") for _ in range(rng.randint(2, 4))),
            f"{city} Hospital", f"{last} Clinic", f"{city} Nursing Home", f"{last} House", f"{city} Regional",
        ][r]  # fmt: skip

    def location_like(self, original: str) -> str:
        if original.isupper() and len(original) <= 5 and " " not in original:
            return "".join(self.rng.choice("ABCDEFGHJKLMNPRSTW") for _ in range(len(original)))
        r = self.rng.random()
        if r < 0.45:
            return self.city()
        if r < 0.85:
            return self.hospital()
        city, state, _ = self.rng.choice(self.city_state)
        return f"{city}, {state}"

    def street(self) -> str:
        f = self.rng.choice(self.fakers) if self.rng.random() < 0.5 else self.us
        r = self.rng.random()
        if r < 0.5:
            return f.street_address()
        if r < 0.8:
            return f.address().replace("\n", ", " if self.rng.random() < 0.7 else "\n")
        city, state, zc = self.rng.choice(self.city_state)
        return f"{self.us.street_address()}, {city}, {state} {zc}"

    # numbers ---------------------------------------------------------------------------------------------
    def phone(self) -> str:
        rng = self.rng
        a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
        return [f"{a}-{b}-{c:04d}", f"({a}) {b}-{c:04d}", f"{a}.{b}.{c:04d}", f"{a} {b} {c:04d}",
                f"+1 {a} {b} {c:04d}", f"{b}-{c:04d}", f"x{rng.randint(1000, 99999)}", f"1-{a}-{b}-{c:04d}",
                self.rng.choice(self.fakers).phone_number()][rng.randrange(9)]  # fmt: skip

    def phone_like(self, original: str) -> str:
        return self._digits_like(original) if self.rng.random() < 0.6 else self.phone()

    def ident(self) -> str:
        rng = self.rng
        r = rng.randrange(7)
        if r == 0:
            return str(rng.randint(100000, 99999999))
        if r == 1:
            return f"{rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
        if r == 2:
            return rng.choice("ABCDEFGHJKMNPRSTWXYZ") + str(rng.randint(1000000, 9999999))
        if r == 3:
            return f"{rng.choice(['MRN', 'ACC', 'AC', 'RX', 'E'])}{rng.randint(100000, 9999999)}"
        if r == 4:
            return "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.randint(6, 10)))
        if r == 5:
            return f"{rng.randint(10, 99)}-{rng.randint(100000, 999999)}"
        return self.us.credit_card_number() if rng.random() < 0.5 else self.rng.choice(self.fakers).iban()

    def age(self) -> str:
        return str(self.rng.choice([90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104]))

    def for_label(self, label: str, original: str | None = None) -> str:
        if original is not None:
            make: dict[str, Callable[[str], str]] = {
                "PERSON": self.person_like, "DATE": self.date_like, "LOC": self.location_like,
                "PHONE": self.phone_like,
                "ID": lambda o: self._digits_like(o) if self.rng.random() < 0.5 else self.ident(),
                "AGE": lambda o: self.age(), "ADDRESS": lambda o: self.street(),
            }  # fmt: skip
            return case_like(make[label](original), original)
        return {"PERSON": self.person, "DATE": self.date, "LOC": self.location_like_any, "PHONE": self.phone,
                "ID": self.ident, "AGE": self.age, "ADDRESS": self.street}[label]()  # fmt: skip

    def location_like_any(self) -> str:
        return self.location_like("Xx")


def case_like(value: str, original: str) -> str:
    letters = [c for c in original if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return value.upper()
    if letters and all(c.islower() for c in letters):
        return value.lower()
    return value


def refill(text: str, spans: list[Span], sur: Surrogates, keep: float = 0.0) -> tuple[str, list[Span]]:
    """Replace each (start, end, label) span by a surrogate; `keep` is the chance a span keeps its value."""
    out: list[str] = []
    new: list[Span] = []
    pos = 0
    for s, e, label in sorted(spans):
        if s < pos:
            continue
        out.append(text[pos:s])
        original = text[s:e]
        value = original if sur.rng.random() < keep else sur.for_label(label, original)
        start = sum(len(x) for x in out)
        out.append(value)
        new.append((start, start + len(value), label))
        pos = e
    out.append(text[pos:])
    return "".join(out), new


# Templates: {PERSON} etc. are slots; {{...}} are literal braces-free context words picked at random.
CLINICAL_TEMPLATES = (
    "Patient: {PERSON}\nMRN: {ID}\nDOB: {DATE}\nAdmission date: {DATE}\nAttending: Dr. {PERSON}",
    "Name: {PERSON}    Unit No: {ID}\nAdmission Date: {DATE}    Discharge Date: {DATE}\nDate of Birth: {DATE}",
    "{PERSON} is a {AGE} year old woman admitted to {LOC} on {DATE} with shortness of breath.",
    "Mr. {PERSON} is a {AGE} yo man transferred from {LOC} for evaluation of chest pain.",
    "Pt seen by Dr. {PERSON} this am, plan to d/c to {LOC} tomorrow.",
    "Daughter {PERSON} called at {PHONE}, updated on plan of care.",
    "Wife {PERSON} in to visit, can be reached at {PHONE} (home) or {PHONE} (cell).",
    "Referred by Dr. {PERSON}, {LOC}. Seen in clinic {DATE}.",
    "Please send records to {PERSON}, {ADDRESS}.",
    "Lives with her husband {PERSON} at {ADDRESS}.",
    "Accession #: {ID}   Exam date: {DATE}   Ordering physician: {PERSON}, MD",
    "Follow up with {PERSON}, NP in 2 weeks at {LOC}. Phone {PHONE}.",
    "CT chest {DATE}: no PE. Compared with prior study from {DATE}.",
    "S/P CABG {DATE}, AVR {DATE}. Hx of MI in {DATE}.",
    "Signed: {PERSON}, RN {DATE} 0700",
    "{PERSON}, MD\nAttending Physician\n{LOC}",
    "Can you summarize this note? Patient {PERSON}, {AGE}F, seen on {DATE} at {LOC} for dizziness.",
    "I'm a nurse at {LOC}. My patient {PERSON} (DOB {DATE}, MRN {ID}) has a potassium of 6.1. What should I do?",
    "Write a discharge letter for {PERSON}, born {DATE}, who lives at {ADDRESS}.",
    "Draft a referral to Dr. {PERSON} at {LOC} regarding {PERSON}'s worsening COPD.",
    "Family meeting with son {PERSON} and niece {PERSON} on {DATE}; code status DNR/DNI.",
    "Transferred to {LOC} {LOC} for rehab on {DATE}.",
    "Contact: {PERSON} ({PHONE}), {ADDRESS}",
    "Health plan ID {ID}; account {ID}; seen by {PERSON} on {DATE}.",
    "{AGE} y/o M with hx of CHF presented to {LOC} ED on {DATE}.",
    "She is {AGE} years old and lives alone in {LOC}.",
    "Called pharmacy at {PHONE} re: refill for {PERSON}.",
    "Discussed with Dr {PERSON} and Dr {PERSON}; will repeat labs {DATE}.",
    "{PERSON} from social work following; brother {PERSON} is HCP.",
    "Date: {DATE}\nTo: {PERSON}\nFrom: {PERSON}\nRe: {PERSON}, MRN {ID}",
    "Pt was born in {LOC} and moved to {LOC} in {DATE}.",
    "Email from {PERSON} on {DATE} about the biopsy results.",
)
NEGATIVE_TEMPLATES = (
    "What is the prognosis of Parkinson's disease in a 70 year old?",
    "Hodgkin lymphoma stage II treated with ABVD; PET negative after 2 cycles.",
    "Crohn's disease flare, started on prednisone 40 mg daily.",
    "Positive Babinski sign on the left, Romberg negative.",
    "Pt with hx of Alzheimer's dementia and Graves disease, on methimazole.",
    "Swan-Ganz catheter placed, Foley to gravity, Glasgow coma scale 14.",
    "Is Addison disease the same as adrenal insufficiency?",
    "What causes Cushing syndrome and how is it treated?",
    "Bell's palsy on the right, started on valacyclovir.",
    "Wilson disease screening: ceruloplasmin low, 24-h urine copper high.",
    "Apgar scores 8 and 9. Coombs negative.",
    "Down syndrome with AV canal defect, s/p repair.",
    "Tourette syndrome and ADHD, on guanfacine.",
    "Holter monitor showed runs of SVT; Doppler of the legs negative.",
    "Guillain-Barre syndrome after a viral illness; IVIG started.",
    "Barrett's esophagus without dysplasia on EGD.",
    "Kaposi sarcoma lesions on the legs; CD4 count 120.",
    "Sjogren syndrome with dry eyes and mouth.",
    "Murphy sign positive, RUQ US with gallstones.",
    "Stevens-Johnson syndrome after starting lamotrigine.",
    "Huntington disease in the family; genetic counselling offered.",
    "Epstein-Barr virus serology pending.",
    "Lou Gehrig's disease (ALS) progressing, BiPAP at night.",
    "Marfan syndrome: aortic root 4.6 cm.",
    "Meniere disease with vertigo and tinnitus.",
    "Raynaud phenomenon in the hands, worse in the cold.",
    "Reye syndrome is why aspirin is avoided in children.",
    "Wolff-Parkinson-White pattern on the ECG.",
    "Ewing sarcoma of the femur, on chemotherapy.",
    "Tay-Sachs carrier screening was negative.",
    "Fallot tetralogy repaired in infancy.",
    "Whipple procedure planned for the pancreatic head mass.",
    "Nissen fundoplication for reflux.",
    "Gleason score 3+4 on the prostate biopsy.",
    "Kussmaul breathing, pH 7.12, anion gap 24.",
    "Cheyne-Stokes respirations overnight.",
    "Trendelenburg position for line placement.",
    "Valsalva maneuver terminated the SVT.",
    "Heimlich maneuver performed at the scene.",
    "Von Willebrand factor level low.",
    "Ehlers-Danlos syndrome, hypermobile type.",
    "Zollinger-Ellison syndrome suspected; gastrin level sent.",
    "Chagas disease serology positive.",
    "Lyme disease treated with doxycycline.",
    "Hashimoto thyroiditis on levothyroxine 75 mcg.",
)
TITLES = ("Dr.", "Dr", "dr.", "dr", "DR.", "DR", "Dr. ", "Doctor")
NAME_CUES_AFTER = (
    "aware",
    "notified",
    "paged",
    "in to see pt",
    "at bedside",
    "called back",
    "made aware",
    "ordered",
    "here",
    "updated",
    "informed",
    "aware of above",
    "to see pt",
    "placed line",
    "following",
    "will call back",
    "in to eval",
)
RELATIONS = (
    "wife",
    "husband",
    "son",
    "daughter",
    "dtr",
    "sister",
    "brother",
    "mother",
    "father",
    "niece",
    "nephew",
    "friend",
    "HCP",
    "grandson",
    "granddaughter",
    "cousin",
    "aunt",
    "uncle",
    "neighbor",
    "partner",
    "fiance",
    "son-in-law",
    "daughter in law",
    "guardian",
    "proxy",
)
RELATION_AFTER = (
    "in to visit",
    "called",
    "at bedside",
    "updated",
    "visited",
    "spoke with RN",
    "in",
    "here",
    "aware",
    "called for update",
    "will be in tomorrow",
    "is HCP",
    "requesting update",
    "",
)
BEFORE_NAME = (
    "per",
    "spoke with",
    "called",
    "discussed with",
    "paged",
    "notified",
    "seen by",
    "by",
    "with",
    "d/w",
    "case discussed with",
    "message left for",
    "report given to",
    "care assumed by",
    "plan per",
)
ROLES = ("NP", "PA", "RN", "resident", "attending", "fellow", "HO", "SW", "social worker", "case manager", "RRT")
LOC_BEFORE = (
    "transferred to",
    "transferred from",
    "admitted to",
    "sent to",
    "d/c to",
    "discharged to",
    "lives in",
    "from",
    "returned from",
    "transfer to",
    "accepted at",
    "arrived from",
    "taken to",
    "went to",
    "moving to",
)
DATE_BEFORE = ("on", "since", "until", "s/p CABG", "dx", "last seen", "admitted", "d/c", "due", "from", "f/u", "CT")


def cue_phrase(sur: Surrogates) -> tuple[str, list[Span]]:
    """One short nursing-note phrase with a PHI slot, from a small grammar of the cues clinicians write."""
    rng = sur.rng
    kind = rng.randrange(12)
    name = sur.person() if rng.random() < 0.4 else sur.last()
    parts: list[tuple[str, str | None]]
    if kind <= 2:
        parts = [(rng.choice(TITLES) + " ", None), (name, "PERSON"), (" " + rng.choice(NAME_CUES_AFTER), None)]
    elif kind == 3:
        parts = [(rng.choice(BEFORE_NAME) + " " + rng.choice(("", "Dr. ", "dr ")), None), (name, "PERSON")]
    elif kind == 4:
        first = sur.first() if rng.random() < 0.7 else sur.person()
        parts = [(rng.choice(RELATIONS) + rng.choice((" ", ", ", " (", ": ")), None), (first, "PERSON"),
                 (" " + rng.choice(RELATION_AFTER), None)]  # fmt: skip
    elif kind == 5:
        parts = [(sur.person(), "PERSON"), (rng.choice((", ", " ", " - ")) + rng.choice(("RN", "RRT", "NP", "MD",
                 "rn", "SN", "PA-C")), None)]  # fmt: skip
    elif kind == 6:
        parts = [(rng.choice(ROLES) + " ", None), (name, "PERSON"), (" " + rng.choice(NAME_CUES_AFTER), None)]
    elif kind in (7, 8):
        parts = [(rng.choice(LOC_BEFORE) + " ", None), (sur.location_like("Xx"), "LOC")]
    elif kind == 9:
        parts = [(rng.choice(DATE_BEFORE) + " ", None), (sur.date(), "DATE")]
    elif kind == 10:
        parts = [(rng.choice(("can be reached at", "cell", "home #", "beeper", "pager #", "tel", "phone")) + " ", None),
                 (sur.phone(), "PHONE")]  # fmt: skip
    else:
        parts = [
            (sur.age(), "AGE"),
            (rng.choice((" yo", " y/o", "yo", " year old", "-year-old", " yo M", "yoF")), None),
        ]
    text, spans = "", []
    for chunk, label in parts:
        if label:
            spans.append((len(text), len(text) + len(chunk), label))
        text += chunk
    if rng.random() < 0.25:
        text, spans = text.upper(), spans
    elif rng.random() < 0.2:
        text = text.lower()
    return text, spans


def insert_phrases(carrier: str, sur: Surrogates, n: int) -> tuple[str, list[Span]]:
    """Put `n` cue phrases into a PHI-free carrier at sentence or line boundaries (or after a comma)."""
    bounds = [0] + [m.end() for m in re.finditer(r"[.;:!?]\s+|\n|,\s", carrier)]
    picks = sorted(sur.rng.sample(bounds, min(n, len(bounds))))
    out, spans, pos = "", [], 0
    for b in picks:
        out += carrier[pos:b]
        phrase, pspans = cue_phrase(sur)
        sep = sur.rng.choice((". ", ", ", " ", "\n", "; "))
        spans += [(s + len(out), e + len(out), lab) for s, e, lab in pspans]
        out += phrase + sep
        pos = b
    out += carrier[pos:]
    return out, spans


GENERIC_TEMPLATES = (
    "{PERSON} said the meeting moved to {DATE}.",
    "I spoke to {PERSON} yesterday about the results.",
    "My name is {PERSON} and I live in {LOC}.",
    "Please forward this to {PERSON} at {ADDRESS}.",
    "{PERSON} and {PERSON} visited {LOC} in {DATE}.",
    "Ask {PERSON} to call me back at {PHONE}.",
    "The package for {PERSON} was delivered to {ADDRESS} on {DATE}.",
    "We hired {PERSON} from {LOC} last spring.",
    "According to {PERSON}, the clinic in {LOC} closes early.",
    "Thanks, {PERSON}",
    "Regards,\n{PERSON}",
    "Hi {PERSON}, can we move my appointment to {DATE}?",
    "{PERSON}'s mother was born in {LOC}.",
    "Send the invoice to {PERSON}, {ADDRESS}.",
    "Is {PERSON} still working at the {LOC} office?",
    "Contact {PERSON} ({PHONE}) for directions to {ADDRESS}.",
    "User: {PERSON}\nBot: How can I help?",
    "{PERSON} was born on {DATE} in {LOC}.",
    "Flight to {LOC} on {DATE}; {PERSON} will drive.",
    "The author, {PERSON}, moved to {LOC} after {DATE}.",
    "Card holder: {PERSON}, account {ID}.",
    "{PERSON} from accounting needs your SSN by {DATE}.",
    "Our new address is {ADDRESS}.",
    "I was treated by {PERSON} at {LOC} in {DATE}.",
    "{PERSON}, {PERSON} and I drove from {LOC} to {LOC}.",
)


def generic_docs(sur: Surrogates, n: int) -> list[tuple[str, list[Span]]]:
    out = []
    slot = re.compile(r"\{(PERSON|DATE|LOC|ADDRESS|PHONE|ID|AGE)\}")
    for _ in range(n):
        tpl = sur.rng.choice(GENERIC_TEMPLATES)
        text, spans, pos = "", [], 0
        for m in slot.finditer(tpl):
            text += tpl[pos : m.start()]
            f = sur.rng.choice(sur.fakers)
            make = {"PERSON": f.name, "LOC": f.city, "ADDRESS": lambda: f.address().replace("\n", ", "),  # noqa: B023
                    "DATE": sur.date, "PHONE": f.phone_number, "ID": sur.ident, "AGE": sur.age}  # fmt: skip
            value = make[m.group(1)]()
            spans.append((len(text), len(text) + len(value), m.group(1)))
            text += value
            pos = m.end()
        out.append((text + tpl[pos:], spans))
    return out


def eponym_negatives(rng: random.Random, n: int) -> list[tuple[str, list[Span]]]:
    """Hard negatives from the medical dictionary's capitalised entries (eponyms): "Crohn disease" is no person."""
    dic = Path("/usr/share/hunspell/en_med_glut.dic")
    if not dic.exists():
        return []
    words = [w.split("/")[0] for w in dic.read_text(encoding="utf-8", errors="ignore").split()]
    caps = [w for w in words if w[:1].isupper() and w[1:].islower() and w.isalpha() and len(w) > 3]
    tails = ("disease", "syndrome", "'s disease", "'s sign", "sign", "test", "reflex", "'s palsy", "lymphoma",
             "procedure", "maneuver", "'s syndrome", "score", "classification", "fracture")  # fmt: skip
    out = []
    for _ in range(n):
        w = rng.choice(caps)
        tail = rng.choice(tails)
        sep = "" if tail.startswith("'") else " "
        frame = rng.choice(("What is {}?", "Hx of {}.", "Is {} hereditary?", "{} ruled out.", "Positive {}.",
                            "Treatment options for {} include surgery.", "r/o {}", "{} was negative."))  # fmt: skip
        out.append((frame.format(w + sep + tail), []))
    return out


def template_docs(sur: Surrogates, n: int) -> list[tuple[str, list[Span]]]:
    out = []
    slot = re.compile(r"\{(PERSON|DATE|LOC|ADDRESS|PHONE|ID|AGE)\}")
    for _ in range(n):
        tpl = sur.rng.choice(CLINICAL_TEMPLATES)
        text, spans, pos = "", [], 0
        for m in slot.finditer(tpl):
            text += tpl[pos : m.start()]
            value = sur.for_label(m.group(1))
            spans.append((len(text), len(text) + len(value), m.group(1)))
            text += value
            pos = m.end()
        text += tpl[pos:]
        if sur.rng.random() < 0.3:
            neg = sur.rng.choice(NEGATIVE_TEMPLATES)
            if sur.rng.random() < 0.5:
                text = text + " " + neg
            else:
                text = neg + " " + text
                spans = [(s + len(neg) + 1, e + len(neg) + 1, lab) for s, e, lab in spans]
        out.append((text, spans))
    for _ in range(n // 6):
        out.append((" ".join(sur.rng.sample(NEGATIVE_TEMPLATES, sur.rng.randint(1, 3))), []))
    return out


def span_lines(text: str, spans: list[Span]) -> list[tuple[str, list[Span]]]:
    """The lines that hold gold spans, each with its spans relative to the line (context donors for carriers)."""
    out = []
    starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
    for i, ls in enumerate(starts):
        le = starts[i + 1] if i + 1 < len(starts) else len(text)
        inside = [(s - ls, e - ls, lab) for s, e, lab in spans if ls <= s and e <= le]
        if inside and le - ls <= 400:
            out.append((text[ls:le], inside))
    return out


def inject(carrier: str, donors: list[tuple[str, list[Span]]], sur: Surrogates) -> tuple[str, list[Span]]:
    lines = carrier.splitlines(keepends=True)
    spans: list[Span] = []
    for _ in range(sur.rng.randint(1, 3)):
        line, dspans = sur.rng.choice(donors)
        line, dspans = refill(line, dspans, sur)
        if not line.endswith("\n"):
            line += "\n"
        at = sur.rng.randint(0, len(lines))
        lines.insert(at, (line, dspans))  # type: ignore[arg-type]
    text = ""
    for item in lines:
        if isinstance(item, tuple):
            line, dspans = item
            spans += [(s + len(text), e + len(text), lab) for s, e, lab in dspans]
            text += line
        else:
            text += item
    return text, spans


def case_augment(text: str, spans: list[Span], rng: random.Random) -> str:
    r = rng.random()
    if r < 0.12:
        return text.upper()
    if r < 0.2:
        return text.lower()
    return text


def to_doc(nlp: spacy.language.Language, text: str, spans: list[Span], stats: Counter[str]) -> Doc:
    doc = nlp.make_doc(text)
    ents = []
    taken: set[int] = set()
    for s, e, label in sorted(spans):
        # Trim whitespace and punctuation that tokenisation would glue to a span edge.
        while s < e and not text[s].isalnum() and text[s] not in "+('":
            s += 1
        while e > s and not text[e - 1].isalnum() and text[e - 1] not in ".)'":
            e -= 1
        if s >= e:
            continue
        span = doc.char_span(s, e, label=label, alignment_mode="expand")
        if span is None or any(t.i in taken for t in span):
            stats["dropped"] += 1
            continue
        taken.update(t.i for t in span)
        ents.append(span)
        stats[label] += 1
    doc.ents = ents
    return doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", type=int, default=8, help="surrogate variants per annotated physionet note")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    sur = Surrogates(rng)
    nlp = spacy.blank("en")
    stats: Counter[str] = Counter()
    train: list[tuple[str, list[Span]]] = []
    dev: list[tuple[str, list[Span]]] = []

    physionet = tune_rows(CORPUS / "physionet_deid" / "notes.jsonl")
    positives, carriers, donors = [], [], []
    for row in physionet:
        text = str(row["text"])
        spans = [(int(s["start"]), int(s["end"]), PHYSIONET_LABEL[str(s["type"])]) for s in row["spans"]]  # type: ignore[attr-defined]
        if spans:
            positives.append((text, spans))
            donors += span_lines(text, spans)
        else:
            carriers.append(text)
    for text, spans in positives:
        train.append((text, spans))
        for _ in range(args.variants):
            new_text, new_spans = refill(text, spans, sur)
            train.append((case_augment(new_text, new_spans, rng), new_spans))
    for text in carriers:
        train.append((text, []))
        for _ in range(2):
            new_text, new_spans = inject(text, donors, sur)
            train.append((case_augment(new_text, new_spans, rng), new_spans))
    for row in tune_rows(CORPUS / "physionet_deid" / "notes.jsonl", dev=True):
        dev.append((str(row["text"]), [(int(x["start"]), int(x["end"]), PHYSIONET_LABEL[str(x["type"])])
                                       for x in row["spans"]]))  # type: ignore[attr-defined]  # fmt: skip
    stats["physionet_positive_notes"] = len(positives)
    stats["physionet_carriers"] = len(carriers)

    for row in tune_rows(CORPUS / "presidio_synth" / "synth_dataset_v2.jsonl"):
        text = str(row["text"])
        raw = [(int(s["start"]), int(s["end"]), str(s["type"])) for s in row["spans"]]  # type: ignore[attr-defined]
        spans = [(s, e, SYNTH_LABEL[t]) for s, e, t in raw if t in SYNTH_LABEL]
        train.append((text, spans))
        for _ in range(3):
            train.append(refill(text, spans, sur))
    medquad = [str(row["text"]) for name in ("questions", "answers")
               for row in tune_rows(CORPUS / "medquad_negatives" / f"{name}.jsonl")]  # fmt: skip
    for text in medquad:
        train.append((text, []))
        train.append(insert_phrases(text, sur, rng.randint(1, 2)))
    for text in carriers:
        for _ in range(3):
            new_text, new_spans = insert_phrases(text, sur, rng.randint(1, 4))
            train.append((case_augment(new_text, new_spans, rng), new_spans))
    train += template_docs(sur, 3000)
    train += generic_docs(sur, 3000)
    train += eponym_negatives(rng, 1500)

    rng.shuffle(train)
    OUT.mkdir(parents=True, exist_ok=True)
    train_bin = DocBin(store_user_data=False)
    for text, spans in train:
        train_bin.add(to_doc(nlp, text, spans, stats))
    train_bin.to_disk(OUT / "train.spacy")
    dev_stats: Counter[str] = Counter()
    dev_bin = DocBin(store_user_data=False)
    for text, spans in dev:
        dev_bin.add(to_doc(nlp, text, spans, dev_stats))
    dev_bin.to_disk(OUT / "dev.spacy")
    stats["train_docs"] = len(train)
    stats["train_chars"] = sum(len(t) for t, _ in train)
    stats["dev_docs"] = len(dev)
    (OUT / "stats.json").write_text(json.dumps({"train": stats, "dev": dev_stats}, indent=1, sort_keys=True))
    print(json.dumps(stats, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
