"""phiwall's PHI recognizers: one class per entity, registered by class (`base.register`), as Presidio does.

- `tagger`: the trained PHI tagger (names, dates, places, addresses, phones, ids, ages over 89).
- `identifiers`: MRN, accession, NPI, DEA, health-plan and account numbers (context-anchored patterns).
- `dates`: dates of birth, clinical date formats. `phone`: phone layouts and Presidio's phonenumbers matcher.
- `person`: names after cues (titles, relations, credentials) and names from philter-lite's name lists;
  `location`: facilities, transfer/residence cues, "City, State".
- `age`: ages over 89. `address`: street addresses and ZIP codes. `web`: e-mail and URLs.
- Presidio's own SSN, credit-card, IP, IBAN, US driver-licence and passport recognizers, registered here by class.

`build_all()` instantiates every registered class once per process (text_phi's shared engine); the policy's deny
list is an ad-hoc `base.deny_list_recognizer`.
"""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer
from presidio_analyzer.predefined_recognizers import CreditCardRecognizer
from presidio_analyzer.predefined_recognizers import IbanRecognizer
from presidio_analyzer.predefined_recognizers import IpRecognizer
from presidio_analyzer.predefined_recognizers import UsLicenseRecognizer
from presidio_analyzer.predefined_recognizers import UsPassportRecognizer
from presidio_analyzer.predefined_recognizers import UsSsnRecognizer

from phiwall.recognizers import address
from phiwall.recognizers import age
from phiwall.recognizers import dates
from phiwall.recognizers import identifiers
from phiwall.recognizers import location
from phiwall.recognizers import person
from phiwall.recognizers import phone
from phiwall.recognizers import tagger
from phiwall.recognizers import web
from phiwall.recognizers.base import REGISTRY
from phiwall.recognizers.base import deny_list_recognizer
from phiwall.recognizers.base import register

for _cls in (UsSsnRecognizer, CreditCardRecognizer, IpRecognizer, IbanRecognizer, UsLicenseRecognizer,
             UsPassportRecognizer):  # fmt: skip
    register(_cls)

__all__ = [
    "REGISTRY", "address", "age", "build_all", "dates", "deny_list_recognizer", "identifiers", "location", "person",
    "phone", "register", "tagger", "web",
]  # fmt: skip


def build_all(exclude: frozenset[str] = frozenset()) -> list[EntityRecognizer]:
    """One instance of every registered recognizer class, except the classes named in `exclude`."""
    # Registered classes take no constructor arguments (Presidio's own ones all have defaults).
    return [cls() for cls in REGISTRY if cls.__name__ not in exclude]  # type: ignore[call-arg]
