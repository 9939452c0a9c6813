"""Orchestration, run inside a worker process: adapter → containers → detectors → policy.

No mitmproxy import here: the same code serves the proxy (through workers.py), `phiwall scan` and
`phiwall replay`. Any failure becomes the policy's on_error decision with a PHI-free reason; nothing passes
silently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

from phiwall import containers
from phiwall import headers
from phiwall import justify
from phiwall import safelog
from phiwall.deid.options import CannotDeidentify
from phiwall.deid.plan import STRUCTURAL
from phiwall.deid.plan import DeidContext
from phiwall.deid.plan import find_values
from phiwall.deid.plan import plan_edits
from phiwall.deid.text import spans_of
from phiwall.detectors import build_detector
from phiwall.detectors.base import Detector
from phiwall.encoding import decode_body
from phiwall.errors import InspectionTimeout
from phiwall.errors import LimitError
from phiwall.errors import PhiWallError
from phiwall.extractors import Service
from phiwall.extractors import adapter_for
from phiwall.extractors import route
from phiwall.extractors.base import Adapter
from phiwall.extractors.generic import GenericAdapter
from phiwall.locators import RewriteError
from phiwall.model import Decision
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.model import Finding
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.model import RuleHit
from phiwall.model import Verdict
from phiwall.policy import Policy
from phiwall.policy.engine import describe
from phiwall.request import RequestData
from phiwall.request import Who

log = logging.getLogger("phiwall")

TEXT_JOIN = "\n\n"


@dataclass(frozen=True, slots=True)
class PartInfo:
    """A PHI-free description of one inspected part (no text, no bytes, no filename)."""

    id: str
    kind: str
    media_type: str | None
    size: int
    where: str
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeidReport:
    """What a de-identification changed, for the audit and for restoring the reply.

    `entity_counts`, `parts` and `operators` are PHI-free. `vault` holds the new stand-in → original pairs
    (with the keyed digest of each original): it is the only place originals leave the worker, because the reply
    cannot be restored without them; the addon moves them into the vault and never writes them anywhere else.
    """

    entity_counts: tuple[tuple[str, int], ...]
    parts: tuple[str, ...]  # audit_where() of every rewritten part
    operators: tuple[str, ...]
    vault: tuple[tuple[str, str, str, str], ...] = ()  # (digest, stand-in, original, entity), new in this request
    verified: bool = False  # the rewritten request was scanned again and nothing above threshold remained

    def audit(self) -> dict[str, Any]:
        return {
            "entity_counts": dict(self.entity_counts),
            "parts": list(self.parts),
            "operators": list(self.operators),
            "verified": self.verified,
        }


@dataclass(frozen=True, slots=True)
class Inspection:
    service: str
    endpoint: str
    kind: str
    parts: tuple[PartInfo, ...]
    decision: Decision
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    correlation_id: str | None = None
    # Set when the decision is DEIDENTIFY: the decoded request body with the stand-ins written in, and what changed.
    rewritten: bytes | None = None
    deid: DeidReport | None = None
    # A justified request (phiwall.justify): the PHI-free audit record; `rewritten` is then the body without the
    # marker line, when there was one.
    justification: dict[str, Any] | None = None


class Pipeline:
    """Detectors built once for a policy; `inspect_*` is then cheap to call many times."""

    def __init__(self, policy: Policy, detectors: Mapping[str, Detector] | None = None) -> None:
        self.policy = policy
        if detectors is None:
            detectors = {name: build_detector(name, opts) for name, opts in policy.detector_options().items()}
        self.detectors = dict(detectors)
        self._justified = False  # the request being judged carries a justification (phiwall.justify)

    # -- entry points -------------------------------------------------------------------------------------------

    def inspect_request(
        self, req: RequestData, service: Service | None = None, deid: DeidContext | None = None
    ) -> Inspection:
        """Judge one request. When the decision is `deidentify`, also rewrite it (see `_deidentify`): the result
        then carries the rewritten body, or a block saying why the request could not be de-identified."""
        t0 = time.perf_counter()
        service = service or route(req.host)
        service_name = service.name if service else "generic"
        try:
            body = decode_body(req.raw_body, req.header("content-encoding"), self.policy.max_body_bytes)
        except PhiWallError as e:
            return self._failed(service_name, "body", str(e), t0, _kind(e))
        adapter = adapter_for(service) if service else GenericAdapter()
        try:
            envelope = adapter.extract(req, body)
        except PhiWallError as e:
            # A known endpoint whose shape changed is audited under its own name (the matcher-table row the
            # adapter was parsing), so changed protocols can be counted per endpoint; "unparsed" when none matched.
            endpoint = getattr(e, "endpoint", None) or "unparsed"
            return self._failed(service_name, endpoint, str(e), t0, _kind(e))
        except Exception as e:  # an adapter bug must not become a pass
            log.error("phiwall: adapter %s crashed: %s", service_name, safelog.crash(e))
            return self._failed(
                service_name,
                "unparsed",
                f"internal error in the {service_name} adapter ({type(e).__name__})",
                t0,
                "internal",
            )
        if not req.websocket:  # custom request headers are text the service receives (phiwall.headers)
            extra = headers.header_parts(req.headers, [p.id for p in envelope.parts])
            if extra:
                envelope = replace(envelope, parts=envelope.parts + extra)
        if envelope.endpoint == "generic" and self.policy.unknown_endpoint != "inspect":
            verdict = Verdict.parse(self.policy.unknown_endpoint)
            msg = (
                f"phiwall {verdict} this request: {service_name} endpoint {req.path_only!r} is not one phiwall knows, "
                "and the policy's unknown_endpoint setting says so."
            )
            d = Decision(verdict, ("unknown_endpoint",), (msg,) if verdict != Verdict.ALLOW else ())
            return self._result(envelope, d, {"total": _ms(t0)})
        found = justify.find(req, envelope) if self.policy.justifiable else None
        self._justified = found is not None and bool(found.reason)  # read by every evaluate of this request
        try:
            known = deid.values if deid is not None else ()
            expanded, decision, timings = self._judge(envelope, req.who, t0, req.host, known)
            if decision.verdict == Verdict.DEIDENTIFY:
                ins = self._deidentify(req, body, adapter, expanded, decision, timings, deid, t0)
            else:
                ins = self._result(expanded, decision, timings)
        finally:
            self._justified = False
        return self._justify(req, body, adapter, ins, found) if found is not None else ins

    def _justify(
        self, req: RequestData, body: bytes, adapter: Adapter, ins: Inspection, found: justify.Justification
    ) -> Inspection:
        """A request with a justification: the marker line comes out of what is forwarded, and the audit gets
        the (PHI-checked) reason and the rules it overrode. A block stays a block."""
        if ins.decision.verdict == Verdict.BLOCK:
            return ins
        if found.reason:
            texts = [n for n, d in self.detectors.items() if "text" in d.handles]
            part = justify.reason_part(found.reason[: justify.MAX_REASON])
            record = justify.audit_record(
                found,
                ins.decision.overridden,
                lambda _r: [f for n in texts for f in self._run_detector(n, self.detectors[n], [part])],
            )
            ins = replace(ins, justification=record)
        if not found.marked:
            return ins
        base = ins.rewritten if ins.rewritten is not None else body
        try:
            parts = adapter.extract(replace(req, raw_body=base), base).parts if ins.rewritten is not None else None
            if parts is None:
                parts = adapter.extract(req, body).parts
            new = adapter.rewrite(req, base, justify.strip_edits(parts, found.marked), parts)
        except (PhiWallError, RewriteError) as e:
            title = _title(ins.service)
            reason = (
                f"phiwall blocked this request to {title}: it could not remove the justification line ({e}). "
                "Send the justification in the X-Phiwall-Justify header instead."
            )
            return replace(ins, decision=Decision(Verdict.BLOCK, ("justify",), (reason,)), rewritten=None)
        return replace(ins, rewritten=new)

    def inspect_envelope(
        self, envelope: Envelope, who: Who | None = None, t0: float | None = None, host: str | None = None
    ) -> Inspection:
        t0 = t0 if t0 is not None else time.perf_counter()
        expanded, decision, timings = self._judge(envelope, who, t0, host)
        return self._result(expanded, decision, timings)

    def _judge(
        self,
        envelope: Envelope,
        who: Who | None,
        t0: float,
        host: str | None,
        known: Sequence[tuple[str, str]] = (),
    ) -> tuple[Envelope, Decision, dict[str, float]]:
        """Expand containers, run the detectors, evaluate the policy: the expanded envelope and the decision.

        `known`: (entity, original) of values this conversation already had de-identified; every occurrence in a
        text part counts as a finding (detector "vault"), so a later message naming the same person is
        de-identified even where the detector misses the name."""
        timings: dict[str, float] = {}
        findings: list[Finding] = list(envelope.adapter_findings)
        errors: list[tuple[str, str]] = []  # (kind, PHI-free message)
        try:
            envelope = self._expand(envelope)
        except PhiWallError as e:
            errors.append((_kind(e), str(e)))
        if known:
            findings.extend(find_values(envelope.parts, known))
        timings["expand"] = _ms(t0)
        # Exceptions can lower a verdict on evidence found later, so only short-circuit without them.
        can_stop_early = not self.policy.exceptions
        for name, det in self.detectors.items():
            t = time.perf_counter()
            try:
                findings.extend(self._run_detector(name, det, envelope.parts))
            except PhiWallError as e:
                errors.append((_kind(e, "detector"), str(e)))
            except Exception as e:  # a detector bug must not become a pass
                log.error("phiwall: detector %s crashed: %s", name, safelog.crash(e))
                errors.append(("detector", f"internal error in the {name} detector ({type(e).__name__})"))
            timings[name] = _ms(t)
            # Skip the remaining (costlier) detectors once the strictest verdict is certain.
            j = self._justified
            if (
                can_stop_early
                and self.policy.evaluate(envelope, findings, who, host, justified=j).verdict == Verdict.BLOCK
            ):
                break
        if known:
            findings = _drop_covered_vault_findings(findings)
        decision = self.policy.evaluate(envelope, findings, who, host, justified=self._justified)
        if errors:
            kind, message = errors[0]
            failed = self.policy.error_decision(envelope.service, message, findings, kind)
            # What was found still counts: an error never lowers a verdict the evidence already reached, and
            # when the evidence alone decides, the person is told about the evidence.
            if failed.verdict > decision.verdict or not decision.rule_ids:
                decision = failed
            else:
                decision = replace(decision, error=message)
        timings["total"] = _ms(t0)
        return envelope, decision, timings

    # -- de-identification ----------------------------------------------------------------------------------------

    def _deidentify(
        self,
        req: RequestData,
        body: bytes,
        adapter: Adapter,
        envelope: Envelope,
        decision: Decision,
        timings: dict[str, float],
        context: DeidContext | None,
        t0: float,
    ) -> Inspection:
        """Carry out the plan: edits per part, the body rewritten through the adapter, then the rewritten request
        scanned again. Anything that cannot be done, or anything identifying left above threshold, blocks."""
        t = time.perf_counter()
        title = _title(envelope.service)
        try:
            planned = plan_edits(envelope.parts, decision, context)
            new_body = adapter.rewrite(req, body, planned.edits, envelope.parts)
            if context is not None and context.keep_length is not None and len(new_body) != context.keep_length:
                raise CannotDeidentify(
                    "size_registered",
                    f"the service registered a {context.keep_length}-byte upload and the de-identified one is "
                    f"{len(new_body)} bytes",
                )
        except (CannotDeidentify, RewriteError) as e:
            return self._result(envelope, _cannot(decision, title, str(e)), timings)
        except Exception as e:  # a bug in a writer must not forward the original
            log.error("phiwall: de-identification crashed: %s", safelog.crash(e))
            reason = f"internal error while de-identifying ({type(e).__name__})"
            return self._result(envelope, _cannot(decision, title, reason, "internal"), timings)
        timings["deidentify"] = _ms(t)
        t = time.perf_counter()
        left = self._verify(req, new_body, adapter, planned.inserted)
        timings["verify"] = _ms(t)
        if left:
            reason = f"after de-identification it still contained {describe(left)}"
            return self._result(envelope, _cannot(decision, title, reason), timings)
        where = {p.id: p.locator.audit_where() for p in envelope.parts}
        report = DeidReport(
            entity_counts=planned.entity_counts,
            parts=tuple(where.get(pid, pid) for pid in planned.parts),
            operators=planned.operators,
            vault=planned.vault,
            verified=True,
        )
        timings["total"] = _ms(t0)
        ins = self._result(envelope, decision, timings)
        return replace(ins, rewritten=new_body, deid=report)

    def _verify(self, req: RequestData, body: bytes, adapter: Adapter, inserted: Sequence[str]) -> list[Finding]:
        """What the policy would still act on in the rewritten request, not counting the stand-ins themselves and
        what a part *is* (a de-identified CT is still a DICOM file)."""
        headers = tuple((k, v) for k, v in req.headers if k.lower() not in ("content-encoding", "content-length"))
        new_req = replace(req, raw_body=body, headers=headers)
        try:
            envelope = adapter.extract(new_req, body)
        except PhiWallError:
            return [Finding("verify", "UNPARSEABLE_AFTER_REWRITE", "-", 1.0)]
        envelope, decision, _ = self._judge(envelope, req.who, time.perf_counter(), req.host)
        texts = {p.id: p.text or "" for p in envelope.parts if p.kind == PartKind.TEXT}
        left = []
        for f in decision.findings:
            if f.entity in STRUCTURAL or f.detector == "adapter":
                continue
            if f.part_id in texts and f.start is not None and f.end is not None:
                spans = spans_of(texts[f.part_id], inserted)
                if any(a < (f.end or 0) and f.start < b for a, b in spans):
                    continue
            left.append(f)
        if not left:
            return []
        # Only what a rule would act on counts: a finding no rule matches was allowed in the first place.
        remaining = self.policy.evaluate(
            replace(envelope, parts=envelope.parts), left, req.who, req.host, justified=self._justified
        )
        return list(left) if remaining.verdict >= Verdict.DEIDENTIFY else []

    def inspect_bytes(self, data: bytes, name: str = "file") -> Inspection:
        """Inspect a file's bytes as if uploaded (used by `phiwall scan`)."""
        from phiwall.extractors.base import PartCollector

        c = PartCollector()
        c.file(data, Locator("body", (), "raw"), filename=name)
        return self.inspect_envelope(c.envelope("file", "scan", EndpointKind.UPLOAD))

    def inspect_text(self, text: str) -> Inspection:
        part = Part("p0", PartKind.TEXT, Locator("body", (), "utf8"), text=text)
        return self.inspect_envelope(Envelope("file", "scan", EndpointKind.OTHER, (part,)))

    # -- internals ----------------------------------------------------------------------------------------------

    def _expand(self, envelope: Envelope) -> Envelope:
        out: list[Part] = []
        queue = [(p, 0) for p in envelope.parts]
        while queue:
            part, depth = queue.pop(0)
            out.append(part)
            if part.kind == PartKind.FILE:
                children = containers.expand(part, depth)
                queue.extend((c, depth + 1) for c in children)
        return envelope if len(out) == len(envelope.parts) else replace(envelope, parts=tuple(out))

    def _run_detector(self, name: str, det: Detector, parts: Sequence[Part]) -> list[Finding]:
        wants = det.handles
        if "text" in wants:
            texts = [p for p in parts if p.kind == PartKind.TEXT and p.text]
            return _detect_joined(det, texts) if texts else []
        found: list[Finding] = []
        for p in parts:
            if p.kind == PartKind.FILE and p.data is not None and ("*" in wants or p.media_type in wants):
                found.extend(det.detect(p))
        return found

    def _failed(self, service: str, endpoint: str, error: str, t0: float, kind: str) -> Inspection:
        d = self.policy.error_decision(service, error, kind=kind)
        env = Envelope(service, endpoint, EndpointKind.OTHER, ())
        return self._result(env, d, {"total": _ms(t0)})

    def _result(self, envelope: Envelope, decision: Decision, timings: dict[str, float]) -> Inspection:
        infos = tuple(
            PartInfo(p.id, p.kind.value, p.media_type, p.size, p.locator.audit_where(), p.parent_id)
            for p in envelope.parts
        )
        return Inspection(
            service=envelope.service,
            endpoint=envelope.endpoint,
            kind=envelope.kind.value,
            parts=infos,
            decision=decision,
            timings_ms=timings,
            notes=envelope.notes,
            correlation_id=envelope.correlation_id,
        )


def _drop_covered_vault_findings(findings: list[Finding]) -> list[Finding]:
    """A known value the detectors found themselves is counted once (theirs)."""
    spans = [(f.part_id, f.start, f.end) for f in findings if f.detector != "vault" and f.start is not None]
    return [
        f
        for f in findings
        if f.detector != "vault"
        or not any(
            p == f.part_id and a is not None and b is not None and a < (f.end or 0) and (f.start or 0) < b
            for p, a, b in spans
        )
    ]


def _cannot(decision: Decision, title: str, reason: str, kind: str = "cannot_deidentify") -> Decision:
    """The block a de-identify verdict falls back to, with the reason it could not be carried out."""
    msg = (
        f"phiwall blocked this request to {title}: the policy asks to de-identify it, but {reason}. "
        "Remove the identifying details (or the attachment) yourself and send it again."
    )
    return replace(
        decision,
        verdict=Verdict.BLOCK,
        reasons=(msg,),
        error=reason,
        error_kind=kind,
        hits=(*decision.hits, RuleHit("deidentify-failed", Verdict.BLOCK, msg)),
        rule_ids=(*decision.rule_ids, "deidentify-failed"),
    )


def _title(service: str) -> str:
    from phiwall.extractors import service_by_name

    s = service_by_name(service)
    return s.title if s else service


def _detect_joined(det: Detector, texts: Sequence[Part]) -> list[Finding]:
    """Run a text detector once over all text parts joined, then map spans back: one NLP call per request
    instead of one per JSON string (a chat history has dozens)."""
    if len(texts) == 1:
        return det.detect(texts[0])
    offsets = []
    pos = 0
    chunks = []
    for p in texts:
        assert p.text is not None
        offsets.append((pos, pos + len(p.text), p))
        chunks.append(p.text)
        pos += len(p.text) + len(TEXT_JOIN)
    joined = Part("joined", PartKind.TEXT, Locator("body"), text=TEXT_JOIN.join(chunks))
    out = []
    for f in det.detect(joined):
        if f.start is None:
            continue
        for start, end, p in offsets:
            if start <= f.start < end:
                out.append(replace(f, part_id=p.id, start=f.start - start, end=min(f.end or end, end) - start))
                break
    return out


def _kind(e: PhiWallError, default: str = "unparseable") -> str:
    if isinstance(e, LimitError):
        return "limit"
    if isinstance(e, InspectionTimeout):
        return "timeout"
    return default


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)
