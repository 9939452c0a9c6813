"""One enforcement path: a decision applied to a flow, then audited, once.

`Enforcer.apply(flow, decision)` is the only place that answers in the service's place (block), marks a request so
its reply carries a notice (warn), writes the de-identified body into the request (deidentify), or lets it pass
untouched (allow), and the only place that writes the inspection's audit event. Every caller — a judged request,
an upload chunk whose verdict is already known, a request that could not be inspected, a WebSocket message —
builds a `Decision` and hands it here, so shadow mode, incident ids, the answer's HTTP status and the audit record
cannot differ between paths.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mitmproxy import http

from phiwall import identity
from phiwall.audit import build_event
from phiwall.extractors import Service
from phiwall.model import Decision
from phiwall.model import Verdict
from phiwall.pipeline import Inspection
from phiwall.policy import PolicySource
from phiwall.request import Who
from phiwall.responses import block_answer
from phiwall.responses import websocket_notice

log = logging.getLogger("phiwall")

META = "phiwall"

# How a block is answered, by the kind of problem behind it: too big → 413, could not parse → 422, too slow → 504,
# a phiwall bug → 500; a policy block (no error kind) and a request that cannot be de-identified are 403.
ERROR_STATUS = {
    "limit": 413,
    "unparseable": 422,
    "timeout": 504,
    "overload": 503,
    "detector": 422,
    "internal": 500,
    "cannot_deidentify": 403,
    "rewrite": 403,
}


@dataclass(frozen=True, slots=True)
class WebSocketTarget:
    """A client→server WebSocket message being judged: a block drops it (and, where the protocol has a place for
    one, sends the person a notice); a de-identification replaces its content."""

    message: Any  # mitmproxy.websocket.WebSocketMessage
    notice_style: str
    session_id: str | None
    extra: dict[str, Any]
    t0: float


class Enforcer:
    """Applies decisions. Collaborators are injected so tests and replay use the same code as the proxy.

    Args:
        source: the policy in force (for the audit record's policy id and hash).
        emit: writes one audit event.
        mode: "enforce" or "shadow" (inspect and audit, change nothing).
        who: the requester of a flow (client, user, groups).
        inject: sends a server→client WebSocket message (the notice for a dropped message).
        remember: remembers a file id's verdict (ids learnt before the bytes: later references inherit it).
    """

    def __init__(
        self,
        *,
        source: Callable[[], PolicySource | None],
        emit: Callable[[dict[str, Any]], None],
        mode: Callable[[], str],
        who: Callable[[http.HTTPFlow], Who | identity.Requester],
        inject: Callable[[http.HTTPFlow, bytes], None],
        remember: Callable[[list[str], Verdict, str, tuple[str, ...]], None],
    ) -> None:
        self._source = source
        self._emit = emit
        self._mode = mode
        self._who = who
        self._inject = inject
        self._remember = remember

    def apply(
        self,
        flow: http.HTTPFlow,
        decision: Decision,
        *,
        service: Service,
        inspection: Inspection | None = None,
        status: int | None = None,
        entities: dict[str, int] | None = None,
        warn_also: Sequence[str] = (),
        note: str | None = None,
        websocket: WebSocketTarget | None = None,
    ) -> str:
        """Enforce `decision` on the flow (or on `websocket`'s message) and audit it. Returns what was applied:
        "block", "drop", "deidentify", "warn", "allow" or "none" (shadow mode).

        Args:
            decision: the verdict, rule ids, reasons and (for deidentify) the plan.
            inspection: the pipeline's result, when there was one: endpoint, parts, findings, rewritten body.
            status: the HTTP status of a block answer, when the caller knows better than the error kind.
            entities: entity counts for the audit when there is no inspection (a reference to a blocked file).
            warn_also: notices to show although the decision itself allows (a reference to a warned file).
            note: the audit's `error` text for a request forwarded without a verdict of its own.
        """
        d = decision
        shadow = self._mode() == "shadow"
        verdict = d.verdict
        message = d.message
        if verdict == Verdict.DEIDENTIFY and (
            inspection is None
            or inspection.rewritten is None
            or (websocket is None and not flow.metadata.get(META, {}).get("rewritable"))
        ):
            # Fail closed: a de-identify verdict without a rewritten body of this very request (an upload judged on
            # its reassembled file cannot be rewritten chunk by chunk) must never forward the original.
            verdict = Verdict.BLOCK
            message = (
                f"phiwall blocked this request to {service.title}: the policy asks to de-identify it, but this upload "
                "was registered with the service (its size, or its first part) before its bytes were sent, so a "
                "de-identified file cannot take its place. Remove the identifying details yourself, or send the "
                "file in a single request (for example as a message attachment), and try again."
            )
        incident = uuid.uuid4().hex[:12]
        meta: dict[str, Any] | None = None
        if websocket is None:
            meta = flow.metadata.setdefault(META, {"service": service.name, "t0": time.perf_counter()})
            style = meta.get("style") or service.error_style
            meta.update(verdict=str(d.verdict), rule_ids=list(d.rule_ids), style=style, reason=message)
            if inspection is not None:
                meta.update(endpoint=inspection.endpoint, entity_counts=d.entity_counts(), kind=inspection.kind)
        applied = "none"
        if not shadow:
            applied = self._enforce(flow, verdict, d, message, incident, status, inspection, warn_also, websocket)
        if meta is not None:
            meta["applied"] = applied
            if verdict in (Verdict.WARN, Verdict.BLOCK) and meta.get("file_ids"):
                # (A de-identified file is not remembered: what reached the service is the clean one.)
                # The id is known before the bytes (ChatGPT): later messages naming it get the same verdict.
                self._remember(list(meta["file_ids"]), d.verdict, d.message, d.rule_ids)
        if inspection is not None:
            reason = None
        elif note is not None:
            reason = note
        else:
            reason = d.error or (message if verdict > Verdict.ALLOW else None)
        ev = self.event(
            flow,
            inspection,
            verdict=str(verdict),
            applied=applied,
            rule_ids=d.rule_ids,
            reason=reason,
            incident="" if note is not None else incident,
            t0=websocket.t0 if websocket else None,
            extra=websocket.extra if websocket else None,
        )
        if entities:
            ev["entity_counts"] = entities
        if inspection is not None and inspection.deid is not None:
            ev["deidentified"] = inspection.deid.audit()
        if inspection is not None and inspection.justification is not None:
            ev["justification"] = inspection.justification  # PHI-free (phiwall.justify.audit_record)
        self._emit(ev)
        if meta is not None:
            meta["audited"] = True
        return applied

    def _enforce(
        self,
        flow: http.HTTPFlow,
        verdict: Verdict,
        d: Decision,
        message: str,
        incident: str,
        status: int | None,
        inspection: Inspection | None,
        warn_also: Sequence[str],
        ws: WebSocketTarget | None,
    ) -> str:
        if verdict == Verdict.BLOCK:
            if ws is not None:
                ws.message.drop()
                notice = websocket_notice(
                    ws.notice_style, f"{message} (phiwall incident {incident})", session_id=ws.session_id
                )
                if notice is not None:
                    self._inject(flow, notice)
                return "drop"
            meta = flow.metadata[META]
            code = status or ERROR_STATUS.get(d.error_kind or "", 403)
            answer = block_answer(meta["style"], message, status=code, incident=incident, rule_ids=d.rule_ids)
            flow.response = http.Response.make(answer.status, answer.body, answer.headers)
            return "block"
        if verdict == Verdict.DEIDENTIFY:
            assert inspection is not None and inspection.rewritten is not None
            if ws is not None:
                ws.message.content = inspection.rewritten
                return "deidentify"
            # The rewritten body is the decoded body: mitmproxy re-applies Content-Encoding and Content-Length.
            flow.request.content = inspection.rewritten
            flow.metadata[META]["deidentified"] = True
            return "deidentify"
        if ws is not None:
            if inspection is not None and inspection.rewritten is not None:
                ws.message.content = inspection.rewritten  # a justified message, without its marker line
            return str(verdict)
        if inspection is not None and inspection.rewritten is not None:
            # A justified request (phiwall.justify): forwarded without its '#phiwall-justify:' line.
            flow.request.content = inspection.rewritten
        if verdict == Verdict.WARN or warn_also:
            flow.metadata[META]["warn"] = message if verdict == Verdict.WARN else warn_also[0]
            return "warn"
        return str(verdict)

    def event(
        self,
        flow: http.HTTPFlow,
        inspection: Inspection | None,
        *,
        verdict: str,
        applied: str,
        rule_ids: tuple[str, ...],
        reason: str | None = None,
        incident: str = "",
        t0: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The audit record of one inspected request or message (PHI-free: see phiwall.audit)."""
        source = self._source()
        assert source is not None
        meta = flow.metadata.get(META, {})
        who = self._who(flow)
        more: dict[str, Any] = dict(extra or {})
        if incident:
            more["incident"] = incident
        for k in ("assembled_bytes", "note"):
            if k in meta:
                more[k] = meta[k]
        start = t0 if t0 is not None else meta.get("t0", time.perf_counter())
        ev = build_event(
            inspection,
            flow_id=flow.id,
            client=who.client,
            user=who.user,
            host=flow.request.pretty_host,
            method="WS" if extra and extra.get("websocket") else flow.request.method,
            path=flow.request.path,
            verdict=verdict,
            applied=applied,
            rule_ids=rule_ids,
            policy_id=source.model.id,
            policy_sha256=source.sha256,
            latency_ms=(time.perf_counter() - start) * 1000,
            mode=self._mode(),
            reason=reason,
            extra=more or None,
        )
        if "service" not in ev:
            ev["service"] = meta.get("service")
        return ev
