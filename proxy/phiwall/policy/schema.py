"""The policy language, as pydantic models. Unknown keys and bad values are errors (extra="forbid"), closed
vocabularies live here and nowhere else, and every validator says how to fix the problem."""

from __future__ import annotations

import re
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import field_validator

ACTIONS = ("allow", "warn", "block", "deidentify")
Action = Literal["allow", "warn", "block", "deidentify"]
ErrorAction = Literal["allow", "warn", "block"]
PartKindName = Literal["text", "file"]
EndpointKindName = Literal["chat", "upload", "other"]

# Entities detectors and adapters can produce. Patterns ("DICOM_TAG:*") may be used in rules; a rule naming an
# entity outside this vocabulary is an error (a typo would otherwise silently never match).
TEXT_ENTITIES = (
    "PERSON",
    "DATE_OF_BIRTH",
    "DATE_TIME",
    "MRN",
    "ACCESSION_NUMBER",
    "AGE_OVER_89",
    "STREET_ADDRESS",
    "LOCATION",
    "NPI",
    "DEA",
    "HEALTH_PLAN_ID",
    "ACCOUNT_NUMBER",
    "US_SSN",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "IP_ADDRESS",
    "URL",
    "CREDIT_CARD",
    "US_DRIVER_LICENSE",
    "US_PASSPORT",
    "IBAN_CODE",
    "ZIP_CODE",
)
FIXED_ENTITIES = (
    "DICOM_FILE",
    "DICOM_PRIVATE_TAGS",
    "DICOM_BURNED_IN_ANNOTATION",
    "MEDICAL_IMAGE",
    "BURNED_IN_TEXT",
    "FACE",
    "REMOTE_REFERENCE",
    "BLOCKED_FILE_REFERENCE",
    "IMAGE_METADATA:GPS",
)
PREFIXED_ENTITIES = ("DICOM_TAG:", "BURNED_IN:", "IMAGE_METADATA:")
KNOWN_ENTITIES = frozenset(TEXT_ENTITIES + FIXED_ENTITIES)


def is_known_entity(pattern: str) -> bool:
    """Whether a rule's entity pattern can ever match something a detector emits."""
    if pattern in KNOWN_ENTITIES or pattern == "*":
        return True
    for prefix in PREFIXED_ENTITIES:
        if pattern.startswith(prefix):
            rest = pattern[len(prefix) :]
            if prefix == "DICOM_TAG:":
                return bool(re.fullmatch(r"[A-Za-z0-9*?]+", rest))
            return rest == "*" or rest in KNOWN_ENTITIES or rest == "GPS"
    if "*" in pattern or "?" in pattern:
        from fnmatch import fnmatchcase

        return any(fnmatchcase(e, pattern) for e in KNOWN_ENTITIES) or any(
            p.startswith(pattern.split("*")[0]) for p in PREFIXED_ENTITIES
        )
    return False


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KIB|MB|MIB|GB|GIB)?\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 1000, "KIB": 1024, "MB": 1000**2, "MIB": 1024**2, "GB": 1000**3, "GIB": 1024**3}


def parse_size(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("expected a size such as 50MiB or a number of bytes")
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        m = _SIZE.match(v)
        if m:
            return int(float(m.group(1)) * _UNITS[(m.group(2) or "B").upper()])
    raise ValueError(f"expected a size such as 50MiB or a number of bytes, got {v!r}")


def _listify(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


Size = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]
StrList = Annotated[list[str], BeforeValidator(_listify)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(Strict):
    on_error: ErrorAction = Field("block", description="Verdict when a body cannot be parsed or a detector fails.")
    unknown_endpoint: Literal["inspect", "block", "allow"] = "inspect"
    max_body_bytes: Size = 50 * 1024 * 1024
    timeout_seconds: float = Field(30.0, gt=0, le=600)


class DetectorOptions(Strict):
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)


class When(Strict):
    services: StrList | None = None
    endpoints: Annotated[list[EndpointKindName], BeforeValidator(_listify)] | None = None
    parts: Annotated[list[PartKindName], BeforeValidator(_listify)] | None = None
    media_types: StrList | None = None
    detectors: StrList | None = None
    entities: StrList | None = None
    min_score: float = Field(0.0, ge=0.0, le=1.0)
    min_count: int = Field(1, ge=1)

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, v: list[str] | None) -> list[str] | None:
        for e in v or ():
            if not is_known_entity(e):
                raise ValueError(
                    f"unknown entity {e!r}; use one of the entity names in docs/policy.md "
                    "(e.g. PERSON, MRN, DICOM_FILE, DICOM_TAG:PatientName, MEDICAL_IMAGE)"
                )
        return v

    @field_validator("services")
    @classmethod
    def _known_services(cls, v: list[str] | None) -> list[str] | None:
        from phiwall.extractors import SERVICE_NAMES

        for s in v or ():
            if s not in SERVICE_NAMES and s != "*":
                raise ValueError(f"unknown service {s!r}; known services: {', '.join(sorted(SERVICE_NAMES))}")
        return v


MESSAGE_PLACEHOLDERS = ("found", "rule", "service", "action")


class Rule(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    when: When = Field(default_factory=When)
    action: Action
    message: str | None = None

    @field_validator("message")
    @classmethod
    def _placeholders(cls, v: str | None) -> str | None:
        if v is None:
            return v
        for name in re.findall(r"{([^{}]*)}", v):
            if name not in MESSAGE_PLACEHOLDERS:
                raise ValueError(
                    f"unknown placeholder {{{name}}} in message; available: "
                    + ", ".join("{" + p + "}" for p in MESSAGE_PLACEHOLDERS)
                )
        return v


class PolicyModel(Strict):
    version: Literal[1] = 1
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    defaults: Defaults = Field(default_factory=Defaults)
    detectors: dict[str, DetectorOptions] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, v: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for r in v:
            if r.id in seen:
                raise ValueError(f"rule id {r.id!r} is used twice; rule ids must be unique")
            seen.add(r.id)
        return v
