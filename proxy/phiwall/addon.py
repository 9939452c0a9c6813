"""The mitmproxy addon: the only module that talks to mitmproxy's `ctx`. Routing, limits, handing requests to
the inspection workers, applying decisions and writing the audit trail.

Fail closed: every path that cannot inspect a guarded request (timeout, crash, bad body, size) ends in the
policy's on_error verdict, never in a silent pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from mitmproxy import ctx
from mitmproxy import exceptions
from mitmproxy import http
from mitmproxy.addonmanager import Loader
from mitmproxy.utils import asyncio_utils

from phiwall import actions
from phiwall import digest
from phiwall import home
from phiwall import identity
from phiwall.audit import AuditSink
from phiwall.audit import JsonlAudit
from phiwall.audit import build_event
from phiwall.errors import InspectionTimeout
from phiwall.errors import PhiWallError
from phiwall.errors import PolicyError
from phiwall.extractors import Service
from phiwall.extractors import route
from phiwall.model import Verdict
from phiwall.pipeline import Inspection
from phiwall.pipeline import Pipeline
from phiwall.policy import Policy
from phiwall.policy import PolicySource
from phiwall.policy import load_policy
from phiwall.request import RequestData
from phiwall.request import Who
from phiwall.responses import block_answer
from phiwall.workers import InspectorPool

log = logging.getLogger("phiwall")

META = "phiwall"


class PhiWall:
    def __init__(self) -> None:
        self.source: PolicySource | None = None
        self.policy: Policy | None = None
        self.pool: InspectorPool | None = None
        self.inline: Pipeline | None = None
        self.audit: AuditSink | None = None
        self._audit_path: str | None = None
        self._policy_mtime: float | None = None
        self._watch: asyncio.Task[None] | None = None

    # -- options ------------------------------------------------------------------------------------------------

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "phiwall_policy", str, "", "Path to the phiwall YAML policy. Empty: the embedded default policy."
        )
        loader.add_option(
            "phiwall_mode", str, "enforce", 'enforce, or shadow: inspect and audit what would happen, change nothing.'
        )
        loader.add_option(
            "phiwall_audit_file", str, "", "JSON Lines audit file. Empty: ~/.phiwall/audit.jsonl (or $PHIWALL_HOME)."
        )
        loader.add_option("phiwall_workers", int, 2, "Inspection worker processes (bounded concurrency).")
        loader.add_option(
            "phiwall_inline", bool, False, "Inspect in the proxy process (tests and offline replay only)."
        )
        loader.add_option(
            "phiwall_reload_seconds", float, 2.0, "How often to check the policy file for changes (0: never)."
        )
        loader.add_option(
            "phiwall_groups_file", str, "", "Group file for policy `groups:` ('group: user1 user2' lines)."
        )
        loader.add_option(
            "phiwall_user_header", str, "", "Header naming the user, set by an upstream authenticating proxy."
        )
        loader.add_option(
            "phiwall_groups_header", str, "", "Header listing the user's groups (comma-separated), set upstream."
        )
        loader.add_option(
            "phiwall_trusted_proxies", str, "", "Comma-separated IPs/CIDRs whose identity headers are trusted."
        )

    def configure(self, updated: set[str]) -> None:
        if ctx.options.stream_large_bodies:
            raise exceptions.OptionsError(
                "phiwall requires stream_large_bodies to be unset: streamed request bodies would be forwarded "
                "before phiwall could inspect them."
            )
        if ctx.options.phiwall_mode not in ("enforce", "shadow"):
            raise exceptions.OptionsError(
                f"phiwall_mode must be 'enforce' or 'shadow', not {ctx.options.phiwall_mode!r}"
            )
        if "phiwall_policy" in updated or self.source is None:
            try:
                source = load_policy(ctx.options.phiwall_policy or None)
            except PolicyError as e:
                raise exceptions.OptionsError(f"Cannot load phiwall_policy: {e}") from None
            self._install_policy(source)
        if "phiwall_audit_file" in updated or self.audit is None:
            path = ctx.options.phiwall_audit_file or str(home.default_audit_file())
            if path != self._audit_path:
                try:
                    self.audit = JsonlAudit(path)
                except OSError as e:
                    raise exceptions.OptionsError(f"Cannot open phiwall_audit_file {path}: {e.strerror}") from None
                self._audit_path = path
        if {"phiwall_workers", "phiwall_inline"} & updated or (self.pool is None and self.inline is None):
            self._build_workers()

    def _install_policy(self, source: PolicySource) -> None:
        """Swap in a fully built policy (a failed load never reaches here, so the last good one stays)."""
        self.source = source
        self.policy = Policy(source)
        try:
            self._policy_mtime = Path(source.path).stat().st_mtime
        except OSError:
            self._policy_mtime = None
        if self.inline is not None:
            self.inline = Pipeline(self.policy)
        if self.pool is not None:
            self.pool.warm(source)

    def _build_workers(self) -> None:
        assert self.source is not None and self.policy is not None
        secret = digest.load_or_create_secret(home.default_secret_file())
        digest.set_key(secret)
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if ctx.options.phiwall_inline:
            self.inline = Pipeline(self.policy)
        else:
            self.inline = None
            self.pool = InspectorPool(ctx.options.phiwall_workers, secret)
            self.pool.warm(self.source)

    def running(self) -> None:
        if not ctx.options.body_size_limit and self.policy is not None:
            # Without it mitmproxy would buffer any body, however large, before phiwall could refuse it.
            ctx.options.update(body_size_limit=str(self.policy.max_body_bytes))
        if ctx.options.phiwall_reload_seconds > 0 and self._watch is None:
            self._watch = asyncio_utils.create_task(self._watch_policy(), name="phiwall policy watcher", keep_ref=True)

    def done(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        if self.pool is not None:
            self.pool.close()

    async def _watch_policy(self) -> None:
        while True:
            await asyncio.sleep(ctx.options.phiwall_reload_seconds)
            self.check_policy_file()

    def check_policy_file(self) -> None:
        """Reload the policy when its file changed; keep the last good one (and audit why) when the new is bad."""
        if self.source is None or not ctx.options.phiwall_policy:
            return
        path = Path(ctx.options.phiwall_policy)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return
        if mtime == self._policy_mtime:
            return
        self._policy_mtime = mtime
        try:
            source = load_policy(path)
        except PolicyError as e:
            log.error("phiwall: kept the last good policy; the changed file is invalid:\n%s", e)
            self._emit({"event": "policy_reload_failed", "path": str(path), "error": str(e), "kept": self.source.sha256[:16]})
            return
        if source.sha256 != self.source.sha256:
            self._install_policy(source)
            log.info("phiwall: reloaded policy %s (%s)", source.model.id, source.sha256[:12])
            self._emit({"event": "policy_reloaded", "path": str(path), "policy_id": source.model.id, "policy_sha256": source.sha256[:16]})

    # -- hooks --------------------------------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        service = route(flow.request.pretty_host)
        if service is None:
            return
        flow.request.stream = False  # a streamed body would leave before inspection
        flow.metadata[META] = {"service": service.name, "t0": time.perf_counter()}
        # Bodies over the limit are refused by mitmproxy's body_size_limit (set by `phiwall run` and in
        # `running`) before a byte is buffered; the error hook audits them.

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        try:
            await self._request(flow)
        except Exception:  # fail closed: a bug in phiwall must never let a guarded request through
            log.exception("phiwall: request hook failed")
            if flow.metadata.get(META) is not None and flow.response is None:
                flow.response = http.Response.make(
                    500, b'{"error": {"message": "phiwall could not inspect this request (internal error)", '
                    b'"type": "phiwall_error"}}', {"content-type": "application/json"}
                )

    async def _request(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(META)
        if meta is None:
            service = route(flow.request.pretty_host)
            if service is None:
                return
            meta = flow.metadata[META] = {"service": service.name, "t0": time.perf_counter()}
        service = route(flow.request.pretty_host)
        assert service is not None and self.source is not None and self.policy is not None
        raw = flow.request.raw_content
        if raw is None:
            self._answer_error(flow, service, "the request body was streamed and could not be inspected")
            return
        if len(raw) > self.policy.max_body_bytes:
            self._answer_error(
                flow, service, f"the request body is {len(raw)} bytes, over this policy's {self.policy.max_body_bytes}-byte limit", status=413
            )
            return
        req = self._request_data(flow)
        try:
            inspection = await self._inspect(req, service)
        except InspectionTimeout as e:
            self._answer_error(flow, service, str(e), status=504)
            return
        except PhiWallError as e:
            self._answer_error(flow, service, str(e))
            return
        except Exception as e:  # noqa: BLE001 - fail closed: an unexpected error must never let the request pass
            log.exception("phiwall: inspection failed")
            self._answer_error(flow, service, f"internal inspection error ({type(e).__name__})", status=500)
            return
        self._apply(flow, service, inspection)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(META)
        if meta is None or flow.response is None:
            return
        ctype = flow.response.headers.get("content-type", "")
        if meta.get("warn"):
            flow.response.headers["x-phiwall-verdict"] = "warn"
            flow.response.headers["x-phiwall-warning"] = _header_safe(meta["warn"])
        if ctype.startswith("text/event-stream"):
            notice = None
            if meta.get("warn") and meta.get("endpoint") in ("chat.completions", "generateContent"):
                notice = actions.sse_notice_event(meta.get("style", ""), actions.warning_text([meta["warn"]]))
            if notice:
                # The body grows by the notice: drop the upstream length and re-frame the stream.
                if "content-length" in flow.response.headers:
                    del flow.response.headers["content-length"]
                    if not flow.response.is_http2 and not flow.response.is_http3:
                        flow.response.headers["transfer-encoding"] = "chunked"
                flow.response.stream = actions.InjectFirst(notice)
            else:
                flow.response.stream = True

    def response(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(META)
        if not meta or not meta.get("warn") or flow.response is None or flow.response.stream:
            return
        if "json" in flow.response.headers.get("content-type", ""):
            new = actions.add_warning_to_json(flow.response.content or b"", actions.warning_text([meta["warn"]]))
            if new is not None:
                flow.response.content = new

    def error(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(META)
        if meta is None or meta.get("audited") or self.source is None:
            return
        # mitmproxy's body_size_limit refusal (413 before the body is read), or a client that went away
        # mid-upload: either way the request never left. Record it.
        meta["audited"] = True
        msg = flow.error.msg if flow.error else "connection error"
        too_big = "body_size_limit" in msg
        reason = (
            f"request body over the {self.policy.max_body_bytes if self.policy else 0}-byte limit (refused before reading it)"
            if too_big
            else msg
        )
        self._emit(
            self._event(flow, None, verdict="block", applied="block" if too_big else "connection_error",
                        rule_ids=("on_error",), reason=reason)
        )

    # -- internals ----------------------------------------------------------------------------------------------

    async def _inspect(self, req: RequestData, service: Service) -> Inspection:
        assert self.source is not None and self.policy is not None
        timeout = self.policy.timeout_seconds
        if self.inline is not None:
            return self.inline.inspect_request(req, service)
        assert self.pool is not None
        return await self.pool.inspect(self.source, req, service.name, timeout)

    def _request_data(self, flow: http.HTTPFlow) -> RequestData:
        r = flow.request
        return RequestData(
            method=r.method,
            scheme=r.scheme,
            host=r.pretty_host,
            port=r.port,
            path=r.path,
            headers=tuple((k, v) for k, v in r.headers.items(multi=True)),
            raw_body=r.raw_content or b"",
            who=_who(flow),
            flow_id=flow.id,
        )

    def _apply(self, flow: http.HTTPFlow, service: Service, inspection: Inspection) -> None:
        assert self.policy is not None
        meta = flow.metadata[META]
        d = inspection.decision
        meta.update(
            verdict=str(d.verdict), rule_ids=list(d.rule_ids), endpoint=inspection.endpoint, style=service.error_style,
            entity_counts=d.entity_counts(),
        )
        shadow = ctx.options.phiwall_mode == "shadow"
        incident = uuid.uuid4().hex[:12]
        applied = "none"
        if not shadow:
            if d.verdict >= Verdict.DEIDENTIFY:  # de-identification is not available yet: fail closed
                status = _ERROR_STATUS.get(d.error_kind or "", 403)
                answer = block_answer(
                    service.error_style, " ".join(d.reasons), status=status, incident=incident, rule_ids=d.rule_ids
                )
                actions.respond(flow, answer)
                applied = "block"
            elif d.verdict == Verdict.WARN:
                meta["warn"] = " ".join(d.reasons)
                applied = "warn"
            else:
                applied = "allow"
        self._emit(self._event(flow, inspection, verdict=str(d.verdict), applied=applied, rule_ids=d.rule_ids, incident=incident))
        meta["audited"] = True

    def _answer_error(self, flow: http.HTTPFlow, service: Service, reason: str, status: int = 422) -> None:
        """A request phiwall could not inspect: the on_error verdict, a clear answer, and an audit event."""
        assert self.policy is not None
        d = self.policy.error_decision(service.name, reason)
        meta = flow.metadata.setdefault(META, {"service": service.name, "t0": time.perf_counter()})
        meta.update(verdict=str(d.verdict), rule_ids=list(d.rule_ids), style=service.error_style)
        incident = uuid.uuid4().hex[:12]
        shadow = ctx.options.phiwall_mode == "shadow"
        applied = "none" if shadow else str(d.verdict)
        if not shadow:
            if d.verdict == Verdict.BLOCK:
                answer = block_answer(service.error_style, d.reasons[0], status=status, incident=incident, rule_ids=d.rule_ids)
                actions.respond(flow, answer)
            elif d.verdict == Verdict.WARN:
                meta["warn"] = d.reasons[0]
        self._emit(self._event(flow, None, verdict=str(d.verdict), applied=applied, rule_ids=d.rule_ids, reason=reason, incident=incident))
        meta["audited"] = True

    def _event(self, flow: http.HTTPFlow, inspection: Inspection | None, *, verdict: str, applied: str,
               rule_ids: tuple[str, ...], reason: str | None = None, incident: str = "") -> dict[str, Any]:
        assert self.source is not None
        meta = flow.metadata.get(META, {})
        who = _who(flow)
        ev = build_event(
            inspection,
            flow_id=flow.id,
            client=who.client,
            user=who.user,
            host=flow.request.pretty_host,
            method=flow.request.method,
            path=flow.request.path,
            verdict=verdict,
            applied=applied,
            rule_ids=rule_ids,
            policy_id=self.source.model.id,
            policy_sha256=self.source.sha256,
            latency_ms=(time.perf_counter() - meta.get("t0", time.perf_counter())) * 1000,
            mode=ctx.options.phiwall_mode,
            reason=reason,
            extra={"incident": incident} if incident else None,
        )
        if "service" not in ev:
            ev["service"] = meta.get("service")
        return ev

    def _emit(self, event: dict[str, Any]) -> None:
        if self.audit is None:
            return
        event.setdefault("ts", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))
        try:
            self.audit.emit(event)
        except OSError as e:  # an unwritable audit file must be loud, but must not take the proxy down
            log.error("phiwall: cannot write audit event: %s", e.strerror)


# How an on_error block is answered: too big → 413, could not parse → 422, too slow → 504; policy blocks are 403.
_ERROR_STATUS = {"limit": 413, "unparseable": 422, "timeout": 504, "detector": 422}


def _who(flow: http.HTTPFlow) -> Who:
    """Who sent the flow and where it goes (phiwall.identity.Requester): client address, the user from mitmproxy's
    `proxyauth` or a trusted upstream header, and groups. A bad identity option never widens access: it is
    logged and no header is trusted."""
    peer = flow.client_conn.peername
    client = peer[0] if peer else ""
    user = None
    auth = flow.metadata.get("proxyauth")
    if isinstance(auth, tuple) and auth:
        user = str(auth[0])
    host = flow.request.pretty_host
    opts = ctx.options
    try:
        resolver = identity.resolver_for(
            getattr(opts, "phiwall_groups_file", ""),
            getattr(opts, "phiwall_user_header", ""),
            getattr(opts, "phiwall_groups_header", ""),
            getattr(opts, "phiwall_trusted_proxies", ""),
        )
    except PolicyError as e:
        log.error("phiwall: identity options are invalid, trusting no identity header: %s", e)
        return identity.Requester(client=client, user=user, host=host)
    return resolver.resolve(client, user, flow.request.headers.items(multi=True), host=host)


def _header_safe(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:900]

