"""Policy evaluation: envelope + findings → Decision. Pure: no I/O, no mitmproxy, no detectors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from phiwall.extractors import service_by_name
from phiwall.model import Decision
from phiwall.model import Envelope
from phiwall.model import Finding
from phiwall.model import Part
from phiwall.model import RuleHit
from phiwall.model import Verdict
from phiwall.policy.loader import PolicySource
from phiwall.policy.schema import Rule
from phiwall.request import Who

_LABELS = {
    "PERSON": "person name",
    "DATE_OF_BIRTH": "date of birth",
    "DATE_TIME": "date",
    "MRN": "medical record number",
    "ACCESSION_NUMBER": "accession number",
    "AGE_OVER_89": "age over 89",
    "STREET_ADDRESS": "street address",
    "LOCATION": "place name",
    "NPI": "NPI number",
    "DEA": "DEA number",
    "HEALTH_PLAN_ID": "health-plan id",
    "ACCOUNT_NUMBER": "account number",
    "US_SSN": "social security number",
    "PHONE_NUMBER": "phone number",
    "EMAIL_ADDRESS": "e-mail address",
    "DICOM_FILE": "DICOM file",
    "DICOM_PRIVATE_TAGS": "DICOM file with private tags",
    "DICOM_BURNED_IN_ANNOTATION": "DICOM image flagged as having burned-in annotation",
    "MEDICAL_IMAGE": "medical image",
    "BURNED_IN_TEXT": "text burned into an image",
    "FACE": "face",
    "REMOTE_REFERENCE": "link the service would fetch itself",
    "BLOCKED_FILE_REFERENCE": "reference to a file phiwall blocked earlier",
}

_DEFAULT_MESSAGES = {
    "block": (
        "phiwall blocked this request to {service}: it contains {found} (rule {rule}). "
        "Remove the patient identifiers or the medical file and try again, or use a service your organisation "
        "has approved for health data."
    ),
    "warn": (
        "phiwall warning: this request to {service} contained {found} (rule {rule}). "
        "It was sent; avoid sharing health information with chatbots."
    ),
    "allow": "allowed by rule {rule}",
}


def describe(findings: Sequence[Finding]) -> str:
    """A PHI-free, human summary of findings: kinds and counts, DICOM field names, never values."""
    if not findings:
        return "nothing specific"
    counts = Counter(f.entity for f in findings)
    tags = sorted({e.split(":", 1)[1] for e in counts if e.startswith("DICOM_TAG:")})
    phrases = []
    for entity, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if entity.startswith("DICOM_TAG:"):
            continue
        prefix = ""
        base = entity
        for p, label in (("BURNED_IN:", "burned into an image: "), ("IMAGE_METADATA:", "in image metadata: ")):
            if entity.startswith(p):
                prefix, base = label, entity[len(p) :]
        label = _LABELS.get(base, base.replace("_", " ").lower())
        phrases.append(f"{prefix}{n} {label}{'s' if n > 1 and not label.endswith('s') else ''}")
    if tags:
        shown = ", ".join(tags[:6]) + (f" and {len(tags) - 6} more" if len(tags) > 6 else "")
        phrases.append(f"identifying DICOM header fields ({shown})")
    return "; ".join(phrases)


class Policy:
    """A loaded policy, ready to evaluate. Immutable; a reload builds a new one."""

    def __init__(self, source: PolicySource) -> None:
        self.source = source
        m = source.model
        self.id = m.id
        self.sha256 = source.sha256
        self.on_error = Verdict.parse(m.defaults.on_error)
        self.unknown_endpoint = m.defaults.unknown_endpoint
        self.max_body_bytes = m.defaults.max_body_bytes
        self.timeout_seconds = m.defaults.timeout_seconds
        self.rules: tuple[Rule, ...] = tuple(m.rules)

    def detector_options(self) -> dict[str, dict[str, Any]]:
        """Enabled detectors and their options: every registered detector unless the policy disables it."""
        from phiwall.detectors import DETECTOR_NAMES

        out: dict[str, dict[str, Any]] = {}
        for name in DETECTOR_NAMES:
            cfg = self.source.model.detectors.get(name)
            if cfg is None or cfg.enabled:
                out[name] = dict(cfg.options) if cfg else {}
        return out

    def evaluate(self, envelope: Envelope, findings: Sequence[Finding], who: Who | None = None) -> Decision:
        parts = {p.id: p for p in envelope.parts}
        hits: list[tuple[Verdict, Rule, list[Finding]]] = []
        for rule in self.rules:
            matched = self._match(rule, envelope, findings, parts)
            if matched is not None:
                hits.append((Verdict.parse(rule.action), rule, matched))
        if not hits:
            return Decision(Verdict.ALLOW, (), (), tuple(findings))
        top = max(v for v, _, _ in hits)
        hits.sort(key=lambda h: -h[0])
        title = _service_title(envelope.service)
        rule_hits = []
        for verdict, rule, matched in hits:
            template = rule.message or _DEFAULT_MESSAGES.get(rule.action, _DEFAULT_MESSAGES["block"])
            msg = template.format(found=describe(matched), rule=rule.id, service=title, action=rule.action)
            rule_hits.append(RuleHit(rule.id, verdict, msg))
        reasons = tuple(h.message for h in rule_hits if h.verdict == top)
        return Decision(
            verdict=top,
            rule_ids=tuple(h.rule_id for h in rule_hits),
            reasons=reasons,
            findings=tuple(findings),
            hits=tuple(rule_hits),
        )

    def error_decision(
        self, envelope_service: str, error: str, findings: Sequence[Finding] = (), kind: str = "unparseable"
    ) -> Decision:
        """The on_error verdict, with a message that says what went wrong (PHI-free) and what to do."""
        title = _service_title(envelope_service)
        if self.on_error == Verdict.ALLOW:
            reasons: tuple[str, ...] = ()
        else:
            reasons = (
                f"phiwall could not inspect this request to {title} ({error}), and its policy blocks what it "
                "cannot inspect. Check the file is complete and in a supported format, or send it without the "
                "attachment.",
            )
        return Decision(
            verdict=self.on_error,
            rule_ids=("on_error",),
            reasons=reasons,
            findings=tuple(findings),
            error=error,
            error_kind=kind,
            hits=(RuleHit("on_error", self.on_error, reasons[0] if reasons else error),),
        )

    def _match(
        self, rule: Rule, envelope: Envelope, findings: Sequence[Finding], parts: dict[str, Part]
    ) -> list[Finding] | None:
        w = rule.when
        if w.services and "*" not in w.services and envelope.service not in w.services:
            return None
        if w.endpoints and envelope.kind.value not in w.endpoints:
            return None
        evidence = w.entities or w.detectors or w.parts or w.media_types
        if not evidence:
            return []
        matched = []
        for f in findings:
            if f.score < w.min_score:
                continue
            if w.entities and not any(fnmatchcase(f.entity, pat) for pat in w.entities):
                continue
            if w.detectors and f.detector not in w.detectors:
                continue
            part = parts.get(f.part_id)
            if w.parts and (part is None or part.kind.value not in w.parts):
                continue
            if w.media_types and (
                part is None or not any(fnmatchcase(part.media_type or "", m) for m in w.media_types)
            ):
                continue
            matched.append(f)
        return matched if len(matched) >= w.min_count else None


def _service_title(name: str) -> str:
    s = service_by_name(name)
    return s.title if s else name
