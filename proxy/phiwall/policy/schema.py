"""The policy language, as pydantic models. Unknown keys and bad values are errors (extra="forbid"), closed
vocabularies live here and nowhere else, and every validator says how to fix the problem."""

from __future__ import annotations

import ipaddress
import re
import string
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import WithJsonSchema
from pydantic import field_validator
from pydantic import model_validator

from phiwall.deid.options import DeidOptionSet
from phiwall.deid.options import DicomDeidOptions
from phiwall.deid.options import ImageDeidOptions
from phiwall.deid.options import TextDeidOptions

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
    "DICOM_HEADER_VALUE",  # used as BURNED_IN:DICOM_HEADER_VALUE: OCR text equal to another identifying header value
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


Size = Annotated[
    int,
    BeforeValidator(parse_size),
    Field(gt=0),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([KkMmGg][Ii]?[Bb]|[Bb])?\s*$"},
            ],
            "description": "a size: bytes, or a number with B, KB, KiB, MB, MiB, GB or GiB",
        }
    ),
]
StrList = Annotated[list[str], BeforeValidator(_listify)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(Strict):
    """Request-level behaviour that is not tied to what was found."""

    on_error: ErrorAction = Field(
        "block", description="Verdict when a body cannot be parsed, a detector fails or inspection times out."
    )
    on_overload: ErrorAction = Field(
        "block",
        description="Verdict when every inspection worker is busy and a request waited its bound (a saturated "
        "gateway): block answers 503 with Retry-After so clients retry; warn or allow forward it uninspected "
        "(audited as overload).",
    )
    unknown_endpoint: Literal["inspect", "block", "allow"] = Field(
        "inspect",
        description="A guarded host's endpoint phiwall has no adapter shape for: inspect generically, block or allow.",
    )
    max_body_bytes: Size = Field(50 * 1024 * 1024, description="Guarded request bodies above this size get on_error.")
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="Inspection time limit per request.")


class DetectorOptions(Strict):
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict, description="Detector-specific options (docs/policy.md).")


# --- matchers ---------------------------------------------------------------------------------------------------

DICOM_FIELDS = ("Modality", "BurnedInAnnotation", "SOPClassUID", "BodyPartExamined", "ImageType")
"""The only DICOM attributes a policy may test: none of them identifies a person, so detectors may carry them."""

DicomField = Literal["Modality", "BurnedInAnnotation", "SOPClassUID", "BodyPartExamined", "ImageType"]


class DicomCondition(Strict):
    """One test on a non-identifying DICOM header attribute, deid-style. Exactly one operator per condition."""

    field: DicomField
    equals: str | None = None
    notequals: str | None = None
    contains: str | None = None
    notcontains: str | None = None
    present: bool | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> DicomCondition:
        ops = [k for k in ("equals", "notequals", "contains", "notcontains", "present") if getattr(self, k) is not None]
        if len(ops) != 1:
            raise ValueError(
                "a dicom condition needs exactly one of equals, notequals, contains, notcontains, present "
                f"(got {', '.join(ops) or 'none'}); write e.g. {{field: Modality, equals: US}}"
            )
        return self


def _check_cidr(v: str) -> str:
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise ValueError(f"{v!r} is not an IP address or CIDR range; write e.g. 10.20.0.0/16 or 192.0.2.7") from None
    return v


Cidr = Annotated[str, AfterValidator(_check_cidr)]


class Context(Strict):
    """Conditions on the request and the person sending it (no findings needed). Every listed condition must
    hold; a list matches when any of its items does."""

    services: StrList | None = Field(None, description="Service names (openai_api, chatgpt_web, ...) or '*'.")
    hosts: StrList | None = Field(None, description="Host globs, e.g. 'contoso.openai.azure.com', '*.claude.ai'.")
    endpoints: Annotated[list[EndpointKindName], BeforeValidator(_listify)] | None = Field(
        None, description="Endpoint kinds: chat, upload, other."
    )
    endpoint_names: StrList | None = Field(
        None, description="Adapter endpoint name globs: 'chat.completions', 'files.*', 'generic'."
    )
    clients: Annotated[list[Cidr], BeforeValidator(_listify)] | None = Field(
        None, description="Client addresses or CIDR ranges."
    )
    users: StrList | None = Field(None, description="Proxy-authenticated user name globs.")
    groups: StrList | None = Field(None, description="Matches when the user is in any of these groups.")
    authenticated: bool | None = Field(None, description="true: only known users; false: only anonymous requests.")

    @field_validator("services")
    @classmethod
    def _known_services(cls, v: list[str] | None) -> list[str] | None:
        from phiwall.extractors import SERVICE_NAMES

        for s in v or ():
            if s not in SERVICE_NAMES and s != "*":
                raise ValueError(f"unknown service {s!r}; known services: {', '.join(sorted(SERVICE_NAMES))}")
        return v


class When(Context):
    """Context conditions plus evidence: which findings (entities, detectors, where, how sure, how many)."""

    parts: Annotated[list[PartKindName], BeforeValidator(_listify)] | None = Field(
        None, description="Only findings in text parts or file parts."
    )
    media_types: StrList | None = Field(None, description="Sniffed media type globs of the part: 'image/*'.")
    detectors: StrList | None = None
    entities: StrList | None = Field(None, description="Entity names or globs: PERSON, 'DICOM_TAG:*', 'BURNED_IN:*'.")
    modalities: StrList | None = Field(None, description="DICOM or medical-image modality: CT, MR, US, CR, DX, ...")
    dicom: list[DicomCondition] | None = Field(
        None, description="All conditions must hold on a DICOM file's non-identifying attributes."
    )
    paths: StrList | None = Field(
        None, description="Globs on the part's location, e.g. 'archive:*.dcm', 'json:messages.*'."
    )
    in_container: bool | None = Field(None, description="true: only parts found inside an archive or document.")
    min_score: float = Field(0.0, ge=0.0, le=1.0)
    min_count: int = Field(1, ge=1, description="How many matching findings are needed.")

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

    def has_evidence(self) -> bool:
        """Whether the rule needs findings; a rule with only context conditions fires on every matching request."""
        return any(
            x is not None
            for x in (
                self.entities,
                self.detectors,
                self.parts,
                self.media_types,
                self.modalities,
                self.dicom,
                self.paths,
                self.in_container,
            )
        )


MESSAGE_PLACEHOLDERS = ("found", "rule", "service", "action", "count", "entities", "endpoint", "policy")
"""What a message may say: kinds and counts of findings and where the request went, never a detected value."""


def check_template(v: str) -> str:
    """Reject templates that would fail at request time, or could reach into objects ({found.__class__})."""
    try:
        fields = list(string.Formatter().parse(v))
    except ValueError as e:
        raise ValueError(f"message is not a valid template ({e}); write literal braces as {{{{ and }}}}") from None
    available = ", ".join("{" + p + "}" for p in MESSAGE_PLACEHOLDERS)
    for _, name, spec, conv in fields:
        if name is None:
            continue
        if name == "" or name.isdigit():
            # `{}` / `{0}` would be filled positionally, and phiwall passes no positional values: the name of what
            # to show is missing.
            raise ValueError(f"placeholder {{{name}}} in message is missing its name; write one of: {available}")
        if name not in MESSAGE_PLACEHOLDERS or spec or conv:
            raise ValueError(f"unknown placeholder {{{name}}} in message; available: {available}")
    return v


# --- deidentify vocabulary ---------------------------------------------------------------------------------------


class DeidOptions(Strict):
    """Per-kind options for action `deidentify` (the `with:` block).

    Each kind is validated straight into the engines' own frozen option dataclasses (`phiwall.deid.options`), so
    the YAML keys, their defaults and the engines cannot drift apart, and unknown keys are errors there too. A kind
    left out gets its defaults: consistent pseudonyms for text, the Basic Profile for DICOM, painted text and
    stripped metadata for images.
    """

    text: TextDeidOptions | None = Field(None, description="How PHI in text is replaced (operator, entities).")
    dicom: DicomDeidOptions | None = Field(None, description="PS3.15 Annex E Basic Profile and its options.")
    image: ImageDeidOptions | None = Field(None, description="Raster images: painted regions and metadata.")

    @field_validator("text")
    @classmethod
    def _text_entities(cls, v: TextDeidOptions | None) -> TextDeidOptions | None:
        for e in (v.entities if v is not None else None) or ():
            if e not in TEXT_ENTITIES and e != "*":
                raise ValueError(
                    f"with.text.entities: {e!r} is not a text entity; use one of {', '.join(TEXT_ENTITIES)}"
                )
        if v is not None and v.min_score is not None and not 0.0 <= v.min_score <= 1.0:
            raise ValueError("with.text.min_score must be between 0 and 1")
        return v

    def option_set(self) -> DeidOptionSet:
        """The options the engines take, defaults filled in for the kinds the rule did not configure."""
        return DeidOptionSet(
            text=self.text or TextDeidOptions(),
            dicom=self.dicom or DicomDeidOptions(),
            image=self.image or ImageDeidOptions(),
        )


class Rule(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Stable id, audited; lowercase, digits, . _ -")
    description: str = ""
    when: When = Field(default_factory=lambda: When.model_validate({}))
    action: Action
    message: str | None = Field(
        None, description="What the person reads; placeholders: " + ", ".join(MESSAGE_PLACEHOLDERS)
    )
    with_: DeidOptions | None = Field(
        None, alias="with", description="Options for action deidentify: text, dicom and image engines."
    )
    override: Literal["none", "justify"] = Field(
        "none",
        description="justify: a person may resend a request this rule blocked with a justification "
        "('#phiwall-justify: <reason>' as the message's first line, or the X-Phiwall-Justify header); it is "
        "then forwarded and the reason audited. Action block only.",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("message")
    @classmethod
    def _placeholders(cls, v: str | None) -> str | None:
        return check_template(v) if v is not None else v

    def deid_options(self) -> DeidOptionSet:
        """The engines' options for this rule (defaults when it has no `with:`)."""
        return self.with_.option_set() if self.with_ is not None else DeidOptionSet()

    @model_validator(mode="after")
    def _with_needs_deidentify(self) -> Rule:
        if self.with_ is not None and self.action != "deidentify":
            raise ValueError(f"'with' options only apply to action deidentify, not {self.action}; remove 'with'")
        return self

    @model_validator(mode="after")
    def _override_needs_block(self) -> Rule:
        if self.override != "none" and self.action != "block":
            raise ValueError(
                f"'override: {self.override}' only applies to action block (there is nothing to override in "
                f"{self.action}); remove 'override' or make the rule block"
            )
        return self


class PolicyException(Strict):
    """An explicit, audited exception to "strictest wins": caps what the named rules can do for some requests."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    reason: str = Field(min_length=3, description="Why this exception exists; audited with every use.")
    when: Context = Field(default_factory=lambda: Context.model_validate({}))
    rules: StrList | None = Field(None, description="Rule ids this exception caps (default: every rule).")
    max_verdict: Literal["allow", "warn"] = Field(description="The strictest verdict the capped rules may give.")
    message: str | None = None

    @field_validator("message")
    @classmethod
    def _placeholders(cls, v: str | None) -> str | None:
        return check_template(v) if v is not None else v


class Terms(Strict):
    """Terms for the text detector: `allow` are never reported (disease eponyms such as "Parkinson"); `deny` are
    always reported, as PERSON for a plain list or under the given entity for a mapping."""

    allow: StrList = Field(default_factory=list)
    deny: list[str] | dict[str, list[str]] = Field(default_factory=list)

    @field_validator("deny")
    @classmethod
    def _deny_entities(cls, v: list[str] | dict[str, list[str]]) -> list[str] | dict[str, list[str]]:
        if isinstance(v, dict):
            for e in v:
                if e not in TEXT_ENTITIES:
                    raise ValueError(
                        f"deny-list entity {e!r} is not a text entity; use one of {', '.join(TEXT_ENTITIES)}"
                    )
        return v


class PolicyModel(Strict):
    version: Literal[1] = 1
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    extends: str | None = Field(
        None,
        description="Base policy: a path relative to this file, or builtin:default. "
        "Rules with the same id replace the base's.",
    )
    disable: StrList = Field(default_factory=list, description="Base-policy rule ids to drop.")
    defaults: Defaults = Field(default_factory=lambda: Defaults.model_validate({}))
    detectors: dict[str, DetectorOptions] = Field(default_factory=dict)
    thresholds: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=dict, description="Per-entity minimum score (entity or glob → 0..1), applied to every rule."
    )
    terms: Terms = Field(default_factory=Terms)
    rules: list[Rule] = Field(default_factory=list)
    exceptions: list[PolicyException] = Field(default_factory=list)

    @field_validator("thresholds")
    @classmethod
    def _known_threshold_entities(cls, v: dict[str, float]) -> dict[str, float]:
        for e in v:
            if not is_known_entity(e):
                raise ValueError(f"unknown entity {e!r} in thresholds; use an entity name from docs/policy.md")
        return v

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, v: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for r in v:
            if r.id in seen:
                raise ValueError(f"rule id {r.id!r} is used twice; rule ids must be unique")
            seen.add(r.id)
        return v

    @field_validator("exceptions")
    @classmethod
    def _unique_exception_ids(cls, v: list[PolicyException]) -> list[PolicyException]:
        seen: set[str] = set()
        for x in v:
            if x.id in seen:
                raise ValueError(f"exception id {x.id!r} is used twice; exception ids must be unique")
            seen.add(x.id)
        return v
