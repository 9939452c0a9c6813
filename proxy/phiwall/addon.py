"""The mitmproxy addon: options, `configure` and hooks, and the only module that talks to mitmproxy's `ctx`.

Each hook hands its work to a collaborator with one job: the inspection workers (`phiwall.workers`) judge a request,
`phiwall.enforce.Enforcer` applies the decision and audits it, `phiwall.replies` shapes the reply (warn notices,
restored values), `phiwall.policy_watch` reloads the policy, and `phiwall.addon_uploads` follows uploads that span
several requests.

Fail closed: every path that cannot inspect a guarded request (timeout, crash, bad body, size) ends in the
policy's on_error verdict, never in a silent pass.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from mitmproxy import ctx
from mitmproxy import exceptions
from mitmproxy import http
from mitmproxy.addonmanager import Loader
from mitmproxy.utils import asyncio_utils

from phiwall import digest
from phiwall import home
from phiwall import hostcheck
from phiwall import identity
from phiwall import justify
from phiwall import notices
from phiwall import safelog
from phiwall.addon_uploads import UploadFlows
from phiwall.addon_uploads import json_or_none
from phiwall.audit import AuditSink
from phiwall.audit import JsonlAudit
from phiwall.deid.plan import DeidContext
from phiwall.deid.restore import Restorer
from phiwall.deid.restore import restore_body
from phiwall.deid.vault import MemoryVault
from phiwall.deid.vault import ScopeLocks
from phiwall.deid.vault import StoreVault
from phiwall.deid.vault import Vault
from phiwall.deid.vault import conversation_scope
from phiwall.encoding import decode_body_async
from phiwall.enforce import Enforcer
from phiwall.enforce import WebSocketTarget
from phiwall.errors import InspectionTimeout
from phiwall.errors import PhiWallError
from phiwall.errors import PolicyError
from phiwall.extractors import Service
from phiwall.extractors import adapter_for
from phiwall.extractors import hostless_service
from phiwall.extractors import route
from phiwall.extractors import route_request
from phiwall.extractors.websocket import protocol as ws_protocol
from phiwall.model import Decision
from phiwall.model import Verdict
from phiwall.pipeline import Inspection
from phiwall.pipeline import Pipeline
from phiwall.policy import Policy
from phiwall.policy import PolicySource
from phiwall.policy import load_policy
from phiwall.policy_watch import PolicyWatcher
from phiwall.replies import Replies
from phiwall.request import RequestData
from phiwall.request import Who
from phiwall.uploads import FileVerdict
from phiwall.uploads import UploadStore
from phiwall.workers import InspectionOverload
from phiwall.workers import InspectorPool

log = logging.getLogger("phiwall")

META = "phiwall"


class PhiWall(UploadFlows):
    def __init__(self) -> None:
        self.source: PolicySource | None = None
        self.policy: Policy | None = None
        self.pool: InspectorPool | None = None
        self.inline: Pipeline | None = None
        self.audit: AuditSink | None = None
        self._audit_path: str | None = None
        self._running = False
        self.uploads = UploadStore()  # multi-request uploads and file-id verdicts (phiwall.uploads)
        self.watcher = PolicyWatcher(self._install_policy, self._emit)
        self.enforcer = Enforcer(
            source=lambda: self.source,
            emit=self._emit,
            mode=lambda: str(ctx.options.phiwall_mode),
            who=_who,
            inject=lambda flow, notice: self._inject(flow, notice),
            remember=self.uploads.remember_verdict_soon,
        )
        self.replies = Replies()
        # The pseudonym vault (in memory, with a TTL; see phiwall.deid.vault) and one lock per conversation.
        self._memory_vault: Vault = MemoryVault()
        self._store_vaults: dict[int, Vault] = {}
        self.scope_locks = ScopeLocks()

    # -- options ------------------------------------------------------------------------------------------------

    def load(self, loader: Loader) -> None:
        safelog.install_proxy_log_filter()  # mitmproxy's own records quote request bytes: reworded (no PHI at rest)
        loader.add_option(
            "phiwall_policy", str, "", "Path to the phiwall YAML policy. Empty: the embedded default policy."
        )
        loader.add_option(
            "phiwall_mode", str, "enforce", "enforce, or shadow: inspect and audit what would happen, change nothing."
        )
        loader.add_option(
            "phiwall_audit_file", str, "", "JSON Lines audit file. Empty: ~/.phiwall/audit.jsonl (or $PHIWALL_HOME)."
        )
        loader.add_option("phiwall_workers", int, 2, "Inspection worker processes (bounded concurrency).")
        loader.add_option(
            "phiwall_express_workers",
            int,
            1,
            "Extra inspection workers for small requests only (bodies up to 64 KiB), so chat messages never wait "
            "behind large uploads. 0: none.",
        )
        loader.add_option(
            "phiwall_inline", bool, False, "Inspect in the proxy process (tests and offline replay only)."
        )
        # An int, not a float: mitmproxy's `--set` parses only str, int, bool and sequence options, so a float
        # option made `phiwall run -- --set phiwall_reload_seconds=5` stop at start.
        loader.add_option(
            "phiwall_reload_seconds",
            int,
            2,
            "How often, in whole seconds, to check the policy file and the bases it extends for changes (0: never).",
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
        loader.add_option(
            "phiwall_unsafe_logging",
            bool,
            False,
            "Allow mitmproxy options that write traffic to logs or files (flow_detail > 0, proxy_debug, "
            "save_stream_file): they put URLs and bodies, PHI included, on disk. Synthetic test data only.",
        )

    def configure(self, updated: set[str]) -> None:
        if ctx.options.stream_large_bodies:
            raise exceptions.OptionsError(
                "phiwall requires stream_large_bodies to be unset: streamed request bodies would be forwarded "
                "before phiwall could inspect them."
            )
        self._refuse_traffic_logging()
        identity_opts = (
            "phiwall_groups_file",
            "phiwall_user_header",
            "phiwall_groups_header",
            "phiwall_trusted_proxies",
        )
        if set(identity_opts) & updated:
            try:
                identity.resolver_for(*(getattr(ctx.options, o) for o in identity_opts))
            except PolicyError as e:
                raise exceptions.OptionsError(f"Cannot use the identity options: {e}") from None
        if ctx.options.phiwall_reload_seconds < 0:
            raise exceptions.OptionsError(
                "phiwall_reload_seconds must be 0 (never reload) or a positive number of seconds, "
                f"not {ctx.options.phiwall_reload_seconds}"
            )
        if "phiwall_reload_seconds" in updated and self._running:
            self._start_watcher()
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
        worker_opts = {"phiwall_workers", "phiwall_express_workers", "phiwall_inline"}
        if worker_opts & updated or (self.pool is None and self.inline is None):
            self._build_workers()

    @staticmethod
    def _refuse_traffic_logging() -> None:
        """No PHI at rest: mitmproxy's flow dump prints URLs with their query strings (flow_detail 1) and bodies
        (3+), proxy_debug logs every byte received, save_stream_file (-w) writes whole flows. Each is refused
        unless phiwall_unsafe_logging says the traffic is synthetic. The options belong to other addons, so an
        absent one (tests, replay) counts as off."""
        if ctx.options.phiwall_unsafe_logging:
            return
        on = []
        if getattr(ctx.options, "flow_detail", 0):
            on.append(f"flow_detail={ctx.options.flow_detail} (use flow_detail=0)")
        if getattr(ctx.options, "proxy_debug", False):
            on.append("proxy_debug")
        if getattr(ctx.options, "save_stream_file", None):
            on.append("save_stream_file (-w)")
        if on:
            raise exceptions.OptionsError(
                f"phiwall refuses {', '.join(on)}: it would write request URLs or bodies, PHI included, to a log or "
                "file. Set phiwall_unsafe_logging=true only for synthetic test traffic."
            )

    def _install_policy(self, source: PolicySource) -> None:
        """Swap in a fully built policy (a failed load never reaches here, so the last good one stays)."""
        self.source = source
        self.policy = Policy(source)
        self.watcher.installed(source)
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
            self.pool = InspectorPool(ctx.options.phiwall_workers, secret, ctx.options.phiwall_express_workers)
            self.pool.warm(self.source)

    def running(self) -> None:
        if not ctx.options.body_size_limit and self.policy is not None:
            # Without it mitmproxy would buffer any body, however large, before phiwall could refuse it.
            ctx.options.update(body_size_limit=str(self.policy.max_body_bytes))
        self._running = True
        self._start_watcher()

    def _start_watcher(self) -> None:
        if ctx.options.phiwall_reload_seconds > 0 and self.watcher.task is None:
            self.watcher.task = asyncio_utils.create_task(
                self.watcher.run(
                    lambda: int(ctx.options.phiwall_reload_seconds),
                    lambda: str(ctx.options.phiwall_policy),
                    lambda: self.source,
                ),
                name="phiwall policy watcher",
                keep_ref=True,
            )

    def done(self) -> None:
        if self.watcher.task is not None:
            self.watcher.task.cancel()
        if self.pool is not None:
            self.pool.close()

    def check_policy_file(self) -> None:
        """Reload the policy when its file or a base it `extends` changed (see PolicyWatcher.check)."""
        self.watcher.check(ctx.options.phiwall_policy, self.source)

    # -- hooks --------------------------------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        if hostcheck.answer_misdirected(flow):  # Host/:authority/SNI naming another host than the connection
            return
        service = route_request(flow.request.pretty_host, flow.request.path)
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
            if flow.response is None and flow.metadata.get(META) is not None:
                self._strip_identity_headers(flow)
        except Exception as e:  # fail closed: a bug in phiwall must never let a guarded request through
            log.error("phiwall: request hook failed: %s", safelog.crash(e))
            if flow.metadata.get(META) is not None and flow.response is None:
                flow.response = http.Response.make(
                    500,
                    b'{"error": {"message": "phiwall could not inspect this request (internal error)", '
                    b'"type": "phiwall_error"}}',
                    {"content-type": "application/json"},
                )

    async def _request(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(META)
        if meta is None:
            service = route_request(flow.request.pretty_host, flow.request.path)
            if service is None:
                return
            meta = flow.metadata[META] = {"service": service.name, "t0": time.perf_counter()}
        service = route_request(flow.request.pretty_host, flow.request.path)
        assert service is not None and self.source is not None and self.policy is not None
        meta["style"] = _style(flow, service)
        raw = flow.request.raw_content
        if raw is None:
            self._answer_error(flow, service, "the request body was streamed and could not be inspected")
            return
        if len(raw) > self.policy.max_body_bytes:
            self._answer_error(
                flow,
                service,
                f"the request body is {len(raw)} bytes, over this policy's {self.policy.max_body_bytes}-byte limit",
                status=413,
            )
            return
        body = await self._decoded(flow)
        # A message that points at a file whose upload phiwall blocked (or warned about) inherits that verdict.
        hits = await self.uploads.referenced(flow.request.path, body if body is not None else raw)
        blocked = [(fid, fv) for fid, fv in hits if fv.verdict >= Verdict.DEIDENTIFY]
        if blocked:
            self._block_reference(flow, service, blocked)
            if flow.response is not None or ctx.options.phiwall_mode != "shadow":
                return
        warned = [notices.file_notice(fv.reason) for _, fv in hits if fv.verdict == Verdict.WARN]
        stateful = self._stateful_kind(flow, service)
        if stateful is not None:
            if body is None:
                self._answer_error(flow, service, "the request body's Content-Encoding could not be decoded")
                return
            await stateful(flow, service, body)
            return
        if adapter_for(service).registers_upload(flow.request.method, flow.request.path):
            meta["learn"] = "register"
        inspect_as = _GRPC if meta["style"] == "grpc" else service
        req = self._request_data(flow)
        if self.policy.deidentifies:
            await self._inspect_deidentifying(flow, service, req, inspect_as, warned)
            return
        inspection = await self._inspect_or_answer(flow, service, req, inspect_as)
        if inspection is not None:
            self._apply(flow, service, inspection, extra_warn=warned)

    def vault(self) -> Vault:
        """The pseudonym vault: in this process's memory, or — when the gateway shares state between replicas
        (`phiwall_state=redis://…`) — in that store, originals encrypted (phiwall.deid.vault.StoreVault)."""
        store = self.uploads.store
        if not str(getattr(store, "url", "memory")).startswith(("redis://", "rediss://", "unix://")):
            return self._memory_vault
        v = self._store_vaults.get(id(store))
        if v is None:
            self._store_vaults = {id(store): (v := StoreVault(store))}
        return v

    async def _judge_in_place(
        self, flow: http.HTTPFlow, service: Service, req: RequestData, inspect_as: Service
    ) -> None:
        """Judge and enforce an upload whose own body is the whole file (a single PUT of a registered ChatGPT file,
        a one-request resumable upload). The service registered its size first, so a de-identified file must keep
        that length exactly (the engines pad DICOM, PNG and JPEG) or the upload is blocked with that reason."""
        assert self.policy is not None
        if self.policy.deidentifies:
            await self._inspect_deidentifying(flow, service, req, inspect_as, [], keep_length=len(req.raw_body))
            return
        inspection = await self._inspect_or_answer(flow, service, req, inspect_as)
        if inspection is not None:
            self._apply(flow, service, inspection)

    async def _inspect_deidentifying(
        self,
        flow: http.HTTPFlow,
        service: Service,
        req: RequestData,
        inspect_as: Service,
        warned: list[str],
        *,
        keep_length: int | None = None,
    ) -> None:
        """Inspect under a policy that may de-identify: one request of a conversation at a time, with the
        conversation's stand-ins, so the same person keeps the same stand-in in every turn. After a rewrite the
        reply is restored from the vault (`phiwall.replies`)."""
        assert self.policy is not None
        who = req.who
        scope = conversation_scope(who.user, who.client, service.name)
        meta = flow.metadata[META]
        meta["rewritable"] = True  # this flow's own body is what the pipeline judged (not an assembled upload)
        async with self.scope_locks.hold(scope):
            known = await self.vault().known(scope)
            ctx_ = DeidContext(scope, tuple(known.items()), tuple(await self.vault().values(scope)), keep_length)
            inspection = await self._inspect_or_answer(flow, service, req, inspect_as, ctx_)
            if inspection is None:
                return
            if inspection.deid is not None and inspection.deid.vault and ctx.options.phiwall_mode != "shadow":
                held = await self.vault().add(scope, inspection.deid.vault)
                if any(held.get(k) != s for k, s, _, _ in inspection.deid.vault):  # another replica was first
                    self._answer_error(
                        flow, service, "the conversation's stand-ins changed while this request was de-identified"
                    )
                    return
            self._apply(flow, service, inspection, extra_warn=warned)
            if meta.get("applied") == "deidentify":
                meta["restore"] = await self.vault().originals(scope)
                # The reply is rewritten as it streams: ask for it uncompressed, so chunks are text.
                flow.request.headers["accept-encoding"] = "identity"

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(META)
        if meta is None or flow.response is None:
            return
        self.replies.headers(flow, meta)

    async def response(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(META)
        if not meta or flow.response is None:
            return
        if meta.get("applied") != "block" and not flow.response.headers.get("x-phiwall-verdict") == "block":
            try:
                await self._learn(flow, meta)
            except Exception as e:  # learning is best effort; a bad upstream answer must not break the reply
                log.error("phiwall: could not read an upload response: %s", safelog.crash(e))
        self.replies.body(flow, meta)

    async def websocket_message(self, flow: http.HTTPFlow) -> None:
        """Client→server messages on guarded hosts go through the same pipeline as requests. A blocked message is
        dropped (it never reaches the service) and, where the protocol has a place for it, the person gets a
        notice in the stream. Any failure drops the message: fail closed."""
        if flow.websocket is None or not flow.websocket.messages:
            return
        msg = flow.websocket.messages[-1]
        if msg.dropped:
            return
        if not msg.from_client:
            await self._restore_websocket(flow, msg)
            return
        service = route(flow.request.pretty_host)
        if service is None or self.source is None or self.policy is None:
            return
        try:
            await self._websocket_message(flow, service, msg)
        except Exception as e:  # noqa: BLE001 - fail closed
            log.error("phiwall: websocket message inspection failed: %s", safelog.crash(e))
            msg.drop()
            self._emit(
                self.enforcer.event(
                    flow,
                    None,
                    verdict="block",
                    applied="drop",
                    rule_ids=("on_error",),
                    reason=f"internal error ({type(e).__name__})",
                    extra={"websocket": True},
                )
            )

    def error(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(META)
        if meta is None or meta.get("audited") or self.source is None:
            return
        # mitmproxy's body_size_limit refusal (413 before the body is read), or a client that went away
        # mid-upload: either way the request never left. Record it.
        meta["audited"] = True
        msg = flow.error.msg if flow.error else ""
        too_big = "body_size_limit" in msg
        limit = self.policy.max_body_bytes if self.policy else 0
        reason = (
            f"request body over the {limit}-byte limit (refused before reading it)" if too_big else _flow_error(msg)
        )
        self._emit(
            self.enforcer.event(
                flow,
                None,
                verdict="block",
                applied="block" if too_big else "connection_error",
                rule_ids=("on_error",),
                reason=reason,
            )
        )

    # -- the enforcement path's entry points (also used by phiwall.addon_uploads) ----------------------------------

    def _apply(
        self, flow: http.HTTPFlow, service: Service, inspection: Inspection, extra_warn: list[str] | None = None
    ) -> None:
        """Enforce a pipeline result."""
        self.enforcer.apply(
            flow, inspection.decision, service=service, inspection=inspection, warn_also=extra_warn or ()
        )

    def _answer_error(self, flow: http.HTTPFlow, service: Service, reason: str, status: int = 422) -> None:
        """A request phiwall could not inspect: the on_error verdict, a clear answer, and an audit event."""
        assert self.policy is not None
        d = self.policy.error_decision(service.name, reason, kind=_KIND_BY_STATUS.get(status, "unparseable"))
        self.enforcer.apply(flow, d, service=service, status=status)

    def _block_known(self, flow: http.HTTPFlow, service: Service, reason: str, **kw: Any) -> None:
        """Answer a request whose verdict is already known (a chunk of a blocked upload, a reference to one).

        Keywords: `rules` (the rule ids to report, default "upload-blocked") and `entities` (audit counts)."""
        rules: tuple[str, ...] = tuple(kw.get("rules", ("upload-blocked",)))
        entities: dict[str, int] | None = kw.get("entities")
        self.enforcer.apply(flow, Decision(Verdict.BLOCK, rules, (reason,)), service=service, entities=entities)

    def _audit_plain(self, flow: http.HTTPFlow, note: str, inspection: Inspection | None = None) -> None:
        """Audit a request forwarded without a verdict of its own (an intermediate chunk, an upload control)."""
        service = route_request(flow.request.pretty_host, flow.request.path)
        assert service is not None
        self.enforcer.apply(flow, Decision(Verdict.ALLOW, (), ()), service=service, inspection=inspection, note=note)

    def _block_reference(self, flow: http.HTTPFlow, service: Service, hits: list[tuple[str, FileVerdict]]) -> None:
        """Block a request that refers to a file whose upload was blocked: blocking the upload alone would let a
        retried or replayed message point the service at a file it may still hold."""
        rules = tuple(dict.fromkeys(r for _, fv in hits for r in fv.rule_ids)) or ("upload",)
        reason = (
            f"phiwall blocked this request to {service.title}: it refers to a file whose upload phiwall blocked "
            f"earlier (rule {', '.join(rules)}). Remove that attachment and send the message again."
        )
        self._block_known(
            flow,
            service,
            reason,
            rules=("blocked-file-reference", *rules),
            entities={"BLOCKED_FILE_REFERENCE": len(hits)},
        )

    # -- WebSockets ---------------------------------------------------------------------------------------------

    async def _websocket_message(self, flow: http.HTTPFlow, service: Service, msg: Any) -> None:
        assert self.policy is not None and flow.websocket is not None
        t0 = time.perf_counter()
        content: bytes = msg.content
        endpoint, notice_style = ws_protocol(flow.request.pretty_host, flow.request.path)
        extra = {"websocket": True, "message": len(flow.websocket.messages) - 1, "endpoint": endpoint}
        target = WebSocketTarget(msg, notice_style, _json_field(content, "session_id"), extra, t0)

        def apply(d: Decision, inspection: Inspection | None = None, **kw: Any) -> None:
            self.enforcer.apply(flow, d, service=service, inspection=inspection, websocket=target, **kw)

        if len(content) > self.policy.max_body_bytes:
            d = self.policy.error_decision(
                service.name, f"a {len(content)}-byte WebSocket message is over the limit", kind="limit"
            )
            apply(d)
            return
        hits = [(fid, fv) for fid, fv in await self.uploads.referenced(content) if fv.verdict >= Verdict.DEIDENTIFY]
        if hits:
            rules = tuple(dict.fromkeys(r for _, fv in hits for r in fv.rule_ids))
            reason = (
                f"phiwall blocked this message to {service.title}: it refers to a file whose upload phiwall blocked "
                "earlier. Remove that attachment and send the message again."
            )
            apply(
                Decision(Verdict.BLOCK, ("blocked-file-reference", *rules), (reason,)),
                entities={"BLOCKED_FILE_REFERENCE": len(hits)},
            )
            return
        req = RequestData(
            method="WS",
            scheme=flow.request.scheme,
            host=flow.request.pretty_host,
            port=flow.request.port,
            path=flow.request.path,
            headers=tuple((k, v) for k, v in flow.request.headers.items(multi=True)),
            raw_body=content,
            who=_who(flow),
            websocket=True,
            flow_id=flow.id,
        )
        scope = conversation_scope(req.who.user, req.who.client, service.name)
        async with self.scope_locks.hold(scope):
            deid = None
            if self.policy.deidentifies:
                known = await self.vault().known(scope)
                deid = DeidContext(scope, tuple(known.items()), tuple(await self.vault().values(scope)))
            try:
                inspection = await self._inspect(req, _WEBSOCKET, deid)
            except PhiWallError as e:
                kind = "timeout" if isinstance(e, InspectionTimeout) else "unparseable"
                apply(self.policy.error_decision(service.name, str(e), kind=kind))
                return
            if inspection.deid is not None and inspection.deid.vault and ctx.options.phiwall_mode != "shadow":
                await self.vault().add(scope, inspection.deid.vault)
                flow.metadata.setdefault(META, {})["restore_scope"] = scope
            apply(inspection.decision, inspection)

    async def _restore_websocket(self, flow: http.HTTPFlow, msg: Any) -> None:
        """A server→client message of a socket whose messages were de-identified: stand-ins restored, message by
        message (a stand-in cut across two messages stays as sent)."""
        scope = (flow.metadata.get(META) or {}).get("restore_scope")
        if not scope:
            return
        restorer = Restorer(await self.vault().originals(scope))
        if not restorer:
            return
        new = restore_body(msg.content, restorer)
        if new is not None:
            msg.content = new

    def _inject(self, flow: http.HTTPFlow, notice: bytes) -> None:
        try:
            ctx.master.commands.call("inject.websocket", flow, True, notice, True)
        except Exception:  # noqa: BLE001 - no proxy server (offline replay, tests): the drop alone still holds
            log.debug("phiwall: could not inject a WebSocket notice")

    # -- internals ----------------------------------------------------------------------------------------------

    async def _inspect_or_answer(
        self,
        flow: http.HTTPFlow,
        service: Service,
        req: RequestData,
        inspect_as: Service,
        deid: DeidContext | None = None,
    ) -> Inspection | None:
        """Run the pipeline; on a failure answer with the on_error verdict and return None."""
        try:
            return await self._inspect(req, inspect_as, deid)
        except InspectionOverload as e:
            self._answer_error(flow, service, str(e), status=503)
        except InspectionTimeout as e:
            self._answer_error(flow, service, str(e), status=504)
        except PhiWallError as e:
            self._answer_error(flow, service, str(e))
        except Exception as e:  # noqa: BLE001 - fail closed: an unexpected error must never let the request pass
            log.error("phiwall: inspection failed: %s", safelog.crash(e))
            self._answer_error(flow, service, f"internal inspection error ({type(e).__name__})", status=500)
        return None

    async def _inspect(self, req: RequestData, service: Service, deid: DeidContext | None = None) -> Inspection:
        assert self.source is not None and self.policy is not None
        timeout = self.policy.timeout_seconds
        if self.inline is not None:
            return self.inline.inspect_request(req, service, deid)
        assert self.pool is not None
        return await self.pool.inspect(self.source, req, service.name, timeout, deid)

    async def _decoded(self, flow: http.HTTPFlow) -> bytes | None:
        """The request body with its Content-Encoding undone (bounded), or None when it cannot be decoded (the
        pipeline then fails closed on the same body)."""
        assert self.policy is not None
        raw = flow.request.raw_content or b""
        ce = flow.request.headers.get("content-encoding", "")
        if not ce:
            return raw
        try:
            return await decode_body_async(raw, ce, self.policy.max_body_bytes)  # bounded, off the loop
        except PhiWallError:
            return None

    def _request_data(self, flow: http.HTTPFlow, body: bytes | None = None) -> RequestData:
        """A picklable snapshot of the request; with `body`, the decoded body replaces the wire body."""
        r = flow.request
        # Identity headers from an authenticating proxy are for phiwall (resolved into `who`), not content to
        # inspect (phiwall.headers inspects custom headers' values).
        own = {str(getattr(ctx.options, o, "") or "").lower() for o in ("phiwall_user_header", "phiwall_groups_header")}
        headers = tuple((k, v) for k, v in r.headers.items(multi=True) if k.lower() not in own)
        if body is not None:
            headers = tuple((k, v) for k, v in headers if k.lower() != "content-encoding")
        return RequestData(
            method=r.method,
            scheme=r.scheme,
            host=r.pretty_host,
            port=r.port,
            path=r.path,
            headers=headers,
            raw_body=(r.raw_content or b"") if body is None else body,
            who=_who(flow),
            flow_id=flow.id,
        )

    @staticmethod
    def _strip_identity_headers(flow: http.HTTPFlow) -> None:
        """Internal user and group headers (set by the hospital's authenticating proxy) are for phiwall only:
        a chatbot service has no business learning who inside the hospital asked."""
        for opt in ("phiwall_user_header", "phiwall_groups_header"):
            name = getattr(ctx.options, opt, "")
            if name and name in flow.request.headers:
                del flow.request.headers[name]
        if justify.HEADER in flow.request.headers:  # for phiwall only (phiwall.justify)
            del flow.request.headers[justify.HEADER]

    def _emit(self, event: dict[str, Any]) -> None:
        if self.audit is None:
            return
        event.setdefault("ts", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))
        try:
            self.audit.emit(event)
        except OSError as e:  # an unwritable audit file must be loud, but must not take the proxy down
            log.error("phiwall: cannot write audit event: %s", e.strerror)


# The error kind behind a status a caller chose (413 for a size, 504 for a time limit, 500 for a phiwall bug).
_KIND_BY_STATUS = {413: "limit", 504: "timeout", 500: "internal", 503: "overload"}

_GRPC = hostless_service("grpc")
_WEBSOCKET = hostless_service("websocket")


def _style(flow: http.HTTPFlow, service: Service) -> str:
    """How to answer this request: gRPC clients only understand a gRPC status, whatever the host's REST style."""
    if flow.request.headers.get("content-type", "").lower().startswith("application/grpc"):
        return "grpc"
    return service.error_style


def _json_field(body: bytes, key: str) -> str | None:
    doc = json_or_none(body) if body[:1] in (b"{", b" ") else None
    v = doc.get(key) if isinstance(doc, dict) else None
    return v if isinstance(v, str) else None


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


def _flow_error(msg: str) -> str:
    """A PHI-free name for mitmproxy's flow error: its protocol messages can quote what the client sent (an
    illegal header, a chunk line), so only a fixed wording is kept."""
    low = msg.lower()
    if "disconnect" in low:
        return "the client disconnected before the request was complete"
    if "killed" in low:
        return "the connection was killed"
    if "protocol error" in low:
        return "the client broke the HTTP protocol mid-request"
    return "connection error before the request was complete"
