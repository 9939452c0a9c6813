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

from phiwall import containers
from phiwall import safelog
from phiwall.detectors import build_detector
from phiwall.detectors.base import Detector
from phiwall.encoding import decode_body
from phiwall.errors import InspectionTimeout
from phiwall.errors import LimitError
from phiwall.errors import PhiWallError
from phiwall.extractors import Service
from phiwall.extractors import adapter_for
from phiwall.extractors import route
from phiwall.extractors.generic import GenericAdapter
from phiwall.model import Decision
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.model import Finding
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.model import Verdict
from phiwall.policy import Policy
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
class Inspection:
    service: str
    endpoint: str
    kind: str
    parts: tuple[PartInfo, ...]
    decision: Decision
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    correlation_id: str | None = None


class Pipeline:
    """Detectors built once for a policy; `inspect_*` is then cheap to call many times."""

    def __init__(self, policy: Policy, detectors: Mapping[str, Detector] | None = None) -> None:
        self.policy = policy
        if detectors is None:
            detectors = {name: build_detector(name, opts) for name, opts in policy.detector_options().items()}
        self.detectors = dict(detectors)

    # -- entry points -------------------------------------------------------------------------------------------

    def inspect_request(self, req: RequestData, service: Service | None = None) -> Inspection:
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
        if envelope.endpoint == "generic" and self.policy.unknown_endpoint != "inspect":
            verdict = Verdict.parse(self.policy.unknown_endpoint)
            msg = (
                f"phiwall {verdict} this request: {service_name} endpoint {req.path_only!r} is not one phiwall knows, "
                "and the policy's unknown_endpoint setting says so."
            )
            d = Decision(verdict, ("unknown_endpoint",), (msg,) if verdict != Verdict.ALLOW else ())
            return self._result(envelope, d, {"total": _ms(t0)})
        return self.inspect_envelope(envelope, who=req.who, t0=t0, host=req.host)

    def inspect_envelope(
        self, envelope: Envelope, who: Who | None = None, t0: float | None = None, host: str | None = None
    ) -> Inspection:
        t0 = t0 if t0 is not None else time.perf_counter()
        timings: dict[str, float] = {}
        findings: list[Finding] = list(envelope.adapter_findings)
        errors: list[tuple[str, str]] = []  # (kind, PHI-free message)
        try:
            envelope = self._expand(envelope)
        except PhiWallError as e:
            errors.append((_kind(e), str(e)))
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
            if can_stop_early and self.policy.evaluate(envelope, findings, who, host).verdict == Verdict.BLOCK:
                break
        decision = self.policy.evaluate(envelope, findings, who, host)
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
        return self._result(envelope, decision, timings)

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
