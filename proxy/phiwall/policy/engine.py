"""Policy evaluation: envelope + findings → Decision. Pure: no I/O, no mitmproxy, no detectors."""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from collections.abc import Sequence
from fnmatch import fnmatchcase
from ipaddress import IPv4Network
from ipaddress import IPv6Address
from ipaddress import IPv6Network
from typing import Any

from phiwall.extractors import service_by_name
from phiwall.justify import HINT as JUSTIFY_HINT
from phiwall.model import Decision
from phiwall.model import DeidStep
from phiwall.model import Envelope
from phiwall.model import Finding
from phiwall.model import Part
from phiwall.model import RuleHit
from phiwall.model import Verdict
from phiwall.policy.loader import PolicySource
from phiwall.policy.schema import DICOM_FIELDS
from phiwall.policy.schema import Context
from phiwall.policy.schema import DicomCondition
from phiwall.policy.schema import PolicyException
from phiwall.policy.schema import Rule
from phiwall.policy.schema import When
from phiwall.request import Who

log = logging.getLogger("phiwall")

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
    "deidentify": (
        "phiwall de-identified this request to {service} before it was sent: {found} (rule {rule}). Names and "
        "numbers in the reply are shown as you wrote them."
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
    """A loaded policy, ready to evaluate. Immutable; a reload builds a new one.

    Evaluation: findings below a per-entity threshold are dropped; every rule whose conditions hold fires; each
    exception whose context matches caps the verdicts of the rules it names; the strictest remaining verdict wins.
    Every fired rule and every applied exception (as `exception:<id>`) is in `Decision.rule_ids`, so the audit
    trail shows both what a rule would have done and who was let through.
    """

    def __init__(self, source: PolicySource) -> None:
        self.source = source
        m = source.model
        self.id = m.id
        self.sha256 = source.sha256
        self.on_error = Verdict.parse(m.defaults.on_error)
        self.on_overload = Verdict.parse(m.defaults.on_overload)
        self.unknown_endpoint = m.defaults.unknown_endpoint
        self.max_body_bytes = m.defaults.max_body_bytes
        self.timeout_seconds = m.defaults.timeout_seconds
        self.rules: tuple[Rule, ...] = tuple(m.rules)
        # Whether any rule can de-identify: requests then go through the pseudonym vault (phiwall.deid.vault).
        self.deidentifies = any(r.action == "deidentify" for r in self.rules)
        # Whether any rule may be overridden by a justification (phiwall.justify): only then is one looked for.
        self.justifiable = any(r.override == "justify" for r in self.rules)
        self.exceptions: tuple[PolicyException, ...] = tuple(m.exceptions)
        self.thresholds: tuple[tuple[str, float], ...] = tuple(m.thresholds.items())
        self._nets: dict[str, IPv4Network | IPv6Network] = {}
        for ctx_ in [r.when for r in self.rules] + [x.when for x in self.exceptions]:
            for c in ctx_.clients or ():
                self._nets[c] = ipaddress.ip_network(c, strict=False)

    def detector_options(self) -> dict[str, dict[str, Any]]:
        """Enabled detectors and their options: every registered detector unless the policy disables it.

        The policy's `terms` go to the text detector as `allow_list` / `deny_list` (it is the only place that sees
        the words themselves), added to whatever its own options list.
        """
        from phiwall.detectors import REGISTRY

        m = self.source.model
        out: dict[str, dict[str, Any]] = {}
        for name in REGISTRY:  # registry order is run order: cheap, decisive detectors first
            cfg = m.detectors.get(name)
            if cfg is None or cfg.enabled:
                out[name] = dict(cfg.options) if cfg else {}
        text = out.get("text_phi")
        if text is not None and (m.terms.allow or m.terms.deny):
            if m.terms.allow:
                text["allow_list"] = list(dict.fromkeys([*_as_list(text.get("allow_list")), *m.terms.allow]))
            if m.terms.deny:
                text["deny_list"] = _merge_deny(text.get("deny_list"), m.terms.deny)
        return out

    def evaluate(
        self,
        envelope: Envelope,
        findings: Sequence[Finding],
        who: Who | None = None,
        host: str | None = None,
        *,
        justified: bool = False,
    ) -> Decision:
        """Decide one request. `host` defaults to `who.host` when the caller passed a phiwall.identity.Requester.

        `justified`: the request carries a justification (phiwall.justify); block rules with `override: justify`
        then drop out (listed in `Decision.overridden`) and the other rules decide."""
        who = who or Who()
        host = host if host is not None else getattr(who, "host", None)
        findings = self._above_thresholds(findings)
        parts = {p.id: p for p in envelope.parts}
        hits: list[tuple[Verdict, Rule, list[Finding]]] = []
        for rule in self.rules:
            if not self._context(rule.when, envelope, who, host):
                continue
            matched = self._evidence(rule.when, findings, parts)
            if matched is not None:
                hits.append((Verdict.parse(rule.action), rule, matched))
        if not hits:
            return Decision(Verdict.ALLOW, (), (), tuple(findings))
        title = _service_title(envelope.service)
        capped: list[tuple[Verdict, Rule, list[Finding], PolicyException | None]] = []
        used: dict[str, tuple[PolicyException, Verdict]] = {}
        applicable = [x for x in self.exceptions if self._context(x.when, envelope, who, host)]
        for verdict, rule, matched in hits:
            cap = None
            for x in applicable:
                if x.rules is None or rule.id in x.rules:
                    limit = Verdict.parse(x.max_verdict)
                    if verdict > limit and (cap is None or limit < Verdict.parse(cap.max_verdict)):
                        cap = x
            if cap is not None:
                before = verdict
                verdict = Verdict.parse(cap.max_verdict)
                prev = used.get(cap.id)
                used[cap.id] = (cap, max(before, prev[1]) if prev else before)
            capped.append((verdict, rule, matched, cap))
        overridden = tuple(
            r.id for v, r, _, _ in capped if justified and v == Verdict.BLOCK and r.override == "justify"
        )
        if overridden:
            capped = [h for h in capped if h[1].id not in overridden]
            if not capped:
                return Decision(Verdict.ALLOW, (), (), tuple(findings), overridden=overridden)
        top = max(v for v, *_ in capped)
        capped.sort(key=lambda h: -h[0])
        rule_hits = []
        for verdict, rule, matched, cap in capped:
            template = rule.message or _DEFAULT_MESSAGES.get(str(verdict), _DEFAULT_MESSAGES["block"])
            if cap is not None and cap.message is None:
                template = _DEFAULT_MESSAGES.get(str(verdict), template)
            msg = self._render(template, matched, rule.id, str(verdict), title, envelope)
            rule_hits.append(RuleHit(rule.id, verdict, msg))
        for xid, (x, before) in used.items():
            note = x.message or ("phiwall exception {rule} let this request to {service} through as " + x.max_verdict)
            msg = self._render(note, [], f"exception:{xid}", x.max_verdict, title, envelope)
            rule_hits.append(RuleHit(f"exception:{xid}", Verdict.parse(x.max_verdict), msg))
            log.info("phiwall: exception %s capped %s to %s (%s)", xid, before, x.max_verdict, x.reason[:80])
        reasons = tuple(h.message for h in rule_hits if h.verdict == top and not h.rule_id.startswith("exception:"))
        # Every blocking rule allows override: the block message says how to resend with a justification.
        justifiable = top == Verdict.BLOCK and all(r.override == "justify" for v, r, _, _ in capped if v == top)
        if justifiable:
            reasons += (JUSTIFY_HINT,)
        if used and top <= Verdict.WARN:
            reasons += tuple(h.message for h in rule_hits if h.rule_id.startswith("exception:") and top == h.verdict)
        plan = tuple(
            DeidStep(rule.id, tuple(matched), rule.deid_options())
            for verdict, rule, matched, _ in capped
            if verdict == Verdict.DEIDENTIFY
        )
        return Decision(
            verdict=top,
            rule_ids=tuple(h.rule_id for h in rule_hits),
            reasons=tuple(r for r in reasons if r) if top != Verdict.ALLOW else (),
            findings=tuple(findings),
            hits=tuple(rule_hits),
            plan=plan,
            overridden=overridden,
            justifiable=justifiable,
        )

    def _render(
        self, template: str, matched: Sequence[Finding], rule: str, action: str, title: str, envelope: Envelope
    ) -> str:
        return template.format(
            found=describe(matched),
            rule=rule,
            service=title,
            action=action,
            count=len(matched),
            entities=", ".join(sorted({f.entity for f in matched})) or "none",
            endpoint=envelope.endpoint,
            policy=self.id,
        )

    def _above_thresholds(self, findings: Sequence[Finding]) -> list[Finding]:
        if not self.thresholds:
            return list(findings)
        out = []
        for f in findings:
            # The most specific pattern decides: an exact entity name beats a glob.
            limit = None
            for pat, t in self.thresholds:
                if pat == f.entity:
                    limit = t
                    break
                if limit is None and fnmatchcase(f.entity, pat):
                    limit = t
            if limit is None or f.score >= limit:
                out.append(f)
        return out

    def error_decision(
        self, envelope_service: str, error: str, findings: Sequence[Finding] = (), kind: str = "unparseable"
    ) -> Decision:
        """The on_error verdict (on_overload for kind "overload"), with a message that says what went wrong
        (PHI-free) and what to do."""
        title = _service_title(envelope_service)
        rule, verdict = ("on_overload", self.on_overload) if kind == "overload" else ("on_error", self.on_error)
        if verdict == Verdict.ALLOW:
            reasons: tuple[str, ...] = ()
        elif kind == "overload":
            reasons = (
                f"phiwall is too busy to inspect this request to {title} right now ({error}), and its policy "
                "blocks what it cannot inspect. Try again in a few seconds.",
            )
        else:
            reasons = (
                f"phiwall could not inspect this request to {title} ({error}), and its policy blocks what it "
                "cannot inspect. Check the file is complete and in a supported format, or send it without the "
                "attachment.",
            )
        return Decision(
            verdict=verdict,
            rule_ids=(rule,),
            reasons=reasons,
            findings=tuple(findings),
            error=error,
            error_kind=kind,
            hits=(RuleHit(rule, verdict, reasons[0] if reasons else error),),
        )

    def _context(self, w: Context, envelope: Envelope, who: Who, host: str | None) -> bool:
        """Whether the request and its sender fit a rule's or exception's context conditions."""
        if w.services and "*" not in w.services and envelope.service not in w.services:
            return False
        if w.hosts is not None:
            h = (host or "").rstrip(".").lower()
            if not h or not any(fnmatchcase(h, g.lower()) for g in w.hosts):
                return False
        if w.endpoints and envelope.kind.value not in w.endpoints:
            return False
        if w.endpoint_names and not any(fnmatchcase(envelope.endpoint, g) for g in w.endpoint_names):
            return False
        if w.authenticated is not None and (who.user is not None) != w.authenticated:
            return False
        if w.users is not None and (who.user is None or not any(fnmatchcase(who.user, g) for g in w.users)):
            return False
        if w.groups is not None and not set(w.groups) & set(who.groups):
            return False
        if w.clients is not None:
            try:
                addr = ipaddress.ip_address(who.client.split("%", 1)[0]) if who.client else None
            except ValueError:
                addr = None
            if isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped
            if addr is None or not any(
                addr in self._nets[c] for c in w.clients if self._nets[c].version == addr.version
            ):
                return False
        return True

    def _evidence(self, w: When, findings: Sequence[Finding], parts: dict[str, Part]) -> list[Finding] | None:
        """The findings that satisfy a rule's evidence conditions; None when too few (the rule does not fire)."""
        if not w.has_evidence():
            return []
        dicom_parts = _dicom_parts(w.dicom, findings) if w.dicom is not None else None
        matched = []
        for f in findings:
            if f.score < w.min_score:
                continue
            if w.entities and not any(fnmatchcase(f.entity, pat) for pat in w.entities):
                continue
            if w.detectors and f.detector not in w.detectors:
                continue
            if w.modalities and (f.modality is None or f.modality.upper() not in {m.upper() for m in w.modalities}):
                continue
            if dicom_parts is not None and f.part_id not in dicom_parts:
                continue
            if dicom_parts is not None and not (w.entities or w.detectors) and f.entity != "DICOM_FILE":
                continue  # a bare `dicom:` rule is about the file, counted once
            part = parts.get(f.part_id)
            if w.parts and (part is None or part.kind.value not in w.parts):
                continue
            if w.media_types and (
                part is None or not any(fnmatchcase(part.media_type or "", m) for m in w.media_types)
            ):
                continue
            if w.in_container is not None and (part is None or (part.parent_id is not None) != w.in_container):
                continue
            if w.paths and (part is None or not any(fnmatchcase(part.locator.describe(), g) for g in w.paths)):
                continue
            matched.append(f)
        return matched if len(matched) >= w.min_count else None


def dicom_attributes(findings: Sequence[Finding], part_id: str) -> dict[str, str]:
    """The non-identifying DICOM attributes known for one part.

    From `Finding.attrs` of its DICOM_FILE finding when the detector provides them; otherwise Modality from
    `Finding.modality` and BurnedInAnnotation=YES from a DICOM_BURNED_IN_ANNOTATION finding (an attribute the
    detector does not report counts as absent).
    """
    out: dict[str, str] = {}
    for f in findings:
        if f.part_id != part_id:
            continue
        if f.entity == "DICOM_FILE":
            for k, v in getattr(f, "attrs", ()) or ():
                if k in DICOM_FIELDS:
                    out[k] = v
            if f.modality and "Modality" not in out:
                out["Modality"] = f.modality
        elif f.entity == "DICOM_BURNED_IN_ANNOTATION":
            out.setdefault("BurnedInAnnotation", "YES")
    return out


def _condition_holds(c: DicomCondition, attrs: dict[str, str]) -> bool:
    value = attrs.get(c.field)
    norm = value.strip().upper() if value is not None else None
    if c.present is not None:
        return (norm not in (None, "")) == c.present
    if c.equals is not None:
        return norm == c.equals.strip().upper()
    if c.notequals is not None:
        return norm != c.notequals.strip().upper()
    if c.contains is not None:
        return norm is not None and c.contains.strip().upper() in norm
    if c.notcontains is not None:
        return norm is None or c.notcontains.strip().upper() not in norm
    return False  # unreachable: the schema requires one operator


def _dicom_parts(conditions: Sequence[DicomCondition], findings: Sequence[Finding]) -> set[str]:
    """Parts holding a DICOM file whose attributes satisfy every condition."""
    out = set()
    for pid in {f.part_id for f in findings if f.entity == "DICOM_FILE"}:
        attrs = dicom_attributes(findings, pid)
        if all(_condition_holds(c, attrs) for c in conditions):
            out.add(pid)
    return out


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    return [v] if isinstance(v, str) else [str(x) for x in v]


def _merge_deny(existing: Any, extra: list[str] | dict[str, list[str]]) -> list[str] | dict[str, list[str]]:
    """Union of the detector's own deny_list and the policy's terms.deny, in the detector's format."""
    if not existing and isinstance(extra, list):
        return list(extra)
    a = existing if isinstance(existing, dict) else {"PERSON": _as_list(existing)} if existing else {}
    b = extra if isinstance(extra, dict) else {"PERSON": list(extra)}
    return {e: list(dict.fromkeys([*_as_list(a.get(e)), *b.get(e, [])])) for e in {**a, **b}}


def _service_title(name: str) -> str:
    s = service_by_name(name)
    return s.title if s else name
