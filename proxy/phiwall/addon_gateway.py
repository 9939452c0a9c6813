"""Addons that make one proxy process a gateway replica: shared state, never an open proxy, observability.

Registered next to `PhiWall` (phiwall/mitm_entry.py). They read the PhiWall instance (its policy, pool, upload
store, audit sink) and change nothing in how a request is judged. Options are read from the master's options
object kept at `load` (only addon.py touches mitmproxy's global `ctx`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any

from mitmproxy import exceptions
from mitmproxy.addonmanager import Loader
from mitmproxy.utils import asyncio_utils

from phiwall import exposure
from phiwall import pac
from phiwall import safelog
from phiwall.admin import AdminServer
from phiwall.audit import SyslogAudit
from phiwall.audit import TeeAudit
from phiwall.metrics import Metrics
from phiwall.state import StateStore
from phiwall.state import open_store

log = logging.getLogger("phiwall")

_store: StateStore | None = None


def current_store() -> StateStore | None:
    """The process's state store (None before configure): the vault and findings cache use it too."""
    return _store


class ExposureGuard:
    """Refuses to start a proxy that listens beyond loopback with no authentication (phiwall.exposure)."""

    def load(self, loader: Loader) -> None:
        self.opts: Any = loader.master.options
        loader.add_option(
            "phiwall_open_proxy",
            bool,
            False,
            "Allow listening on a non-loopback address without proxy authentication (an open proxy).",
        )

    def configure(self, updated: set[str]) -> None:
        host = getattr(self.opts, "listen_host", None)
        if host is None:  # no proxy server (tests, replay)
            return
        why = exposure.refusal(
            exposure.ListenAuth(
                host=host,
                proxyauth=getattr(self.opts, "proxyauth", "") or "",
                user_header=getattr(self.opts, "phiwall_user_header", ""),
                trusted_proxies=getattr(self.opts, "phiwall_trusted_proxies", ""),
                open_proxy_ok=self.opts.phiwall_open_proxy,
            )
        )
        if why:
            raise exceptions.OptionsError(why)


class SharedState:
    """Builds the StateStore named by `phiwall_state` and hands it to the PhiWall upload store."""

    def __init__(self, wall: Any) -> None:
        self.wall = wall
        self.store: StateStore | None = None

    def load(self, loader: Loader) -> None:
        self.opts: Any = loader.master.options
        loader.add_option(
            "phiwall_state",
            str,
            "memory",
            "Cross-request state: 'memory' (this process) or redis://host:port/db (shared by every replica).",
        )
        loader.add_option(
            "phiwall_upload_max_bytes", int, 512 * 1024 * 1024, "Largest multi-request upload held to judge it whole."
        )
        loader.add_option(
            "phiwall_upload_total_bytes", int, 1024 * 1024 * 1024, "Upload chunk bytes one replica holds at once."
        )

    def configure(self, updated: set[str]) -> None:
        global _store
        for opt in ("phiwall_upload_max_bytes", "phiwall_upload_total_bytes"):
            if getattr(self.opts, opt) <= 0:
                raise exceptions.OptionsError(f"{opt} must be a positive number of bytes")
        self.wall.uploads.max_session_bytes = self.opts.phiwall_upload_max_bytes
        self.wall.uploads.max_total_bytes = self.opts.phiwall_upload_total_bytes
        if "phiwall_state" not in updated and self.store is not None:
            return
        try:
            store = open_store(self.opts.phiwall_state)
        except (ValueError, ImportError) as e:
            raise exceptions.OptionsError(f"Cannot use phiwall_state: {e}") from None
        self.store = _store = store
        self.wall.uploads.use(store)

    async def running(self) -> None:
        if self.store is not None and not await self.store.ping():
            log.error("phiwall: shared state %s does not answer; uploads fail closed", _safe(self.store.url))

    async def done(self) -> None:
        if self.store is not None:
            try:
                await self.store.close()
            except Exception:  # noqa: BLE001 - shutting down
                pass


def _safe(url: str) -> str:
    """A state URL without its password."""
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


class Observability:
    """Metrics from the audit stream, the admin endpoint, the "ready" log line, syslog, and SIGHUP reopening."""

    def __init__(self, wall: Any) -> None:
        self.wall = wall
        self.metrics = Metrics()
        self.admin: AdminServer | None = None
        self._syslog: SyslogAudit | None = None
        self._t0 = time.monotonic()
        self._ready_logged = False
        self._tasks: list[asyncio.Task[None]] = []
        self._flows: dict[str, set[str]] = {}  # client connection id -> guarded flow ids in progress

    def load(self, loader: Loader) -> None:
        self.opts: Any = loader.master.options
        loader.add_option(
            "phiwall_admin_port", int, 0, "Serve /metrics, /healthz, /readyz, /proxy.pac on 127.0.0.1:PORT (0: off)."
        )
        loader.add_option(
            "phiwall_admin_host",
            str,
            "127.0.0.1",
            "Address of the admin endpoint. Keep 127.0.0.1; 0.0.0.0 only inside a container network.",
        )
        loader.add_option(
            "phiwall_pac_proxy", str, "", "HOST:PORT that /proxy.pac sends guarded hosts to (default: this listener)."
        )
        loader.add_option(
            "phiwall_queue_wait_ms",
            int,
            500,
            "How long a guarded request may wait for a free inspection worker before on_overload answers (503).",
        )
        loader.add_option("phiwall_max_queue", int, 64, "Guarded requests that may wait for a worker at once.")
        loader.add_option(
            "phiwall_max_inflight_bytes",
            int,
            512 * 1024 * 1024,
            "Body bytes that may be waiting for or in inspection at once (memory bound over all requests).",
        )
        loader.add_option(
            "phiwall_syslog",
            str,
            "",
            "Also send audit events to syslog (RFC 5424): udp://host:514, tcp://host:601 or unix:/dev/log.",
        )

    def configure(self, updated: set[str]) -> None:
        if self.opts.phiwall_admin_port < 0 or self.opts.phiwall_admin_port > 65535:
            raise exceptions.OptionsError(f"phiwall_admin_port must be 0..65535, not {self.opts.phiwall_admin_port}")
        if "phiwall_syslog" in updated:
            if self._syslog is not None:
                self._syslog.close()
                self._syslog = None
            if self.opts.phiwall_syslog:
                try:
                    self._syslog = SyslogAudit(self.opts.phiwall_syslog)
                except (OSError, ValueError, KeyError) as e:
                    raise exceptions.OptionsError(f"Cannot use phiwall_syslog: {e}") from None
        self._wrap_audit()
        self._pool_limits()
        self.metrics.bind(
            queue=lambda: float(getattr(self.wall.pool, "waiting", 0)),
            busy=lambda: float(self.wall.pool.busy()) if self.wall.pool is not None else 0.0,
            ready=lambda: 1.0 if self.not_ready() is None else 0.0,
        )

    # -- capacity: overload answers, abandoned requests, pool limits -------------------------------------------

    def _pool_limits(self) -> None:
        pool = self.wall.pool
        if pool is not None and hasattr(pool, "limits"):
            pool.limits.max_wait = self.opts.phiwall_queue_wait_ms / 1000
            pool.limits.max_queue = self.opts.phiwall_max_queue
            pool.limits.max_inflight_bytes = self.opts.phiwall_max_inflight_bytes

    def requestheaders(self, flow: Any) -> None:
        if flow.metadata.get("phiwall") is not None:  # guarded: remember which client it belongs to
            self._flows.setdefault(flow.client_conn.id, set()).add(flow.id)

    def request(self, flow: Any) -> None:
        """After PhiWall answered: a blocked overload (on_overload: block, status 503) gets Retry-After; under
        warn or allow the request went on uninspected and is only counted."""
        pool = self.wall.pool
        conn = self._flows.get(flow.client_conn.id)
        if conn is not None:
            conn.discard(flow.id)
        if pool is None or flow.id not in getattr(pool, "overloaded", ()):
            return
        pool.overloaded.discard(flow.id)
        self.metrics.overload.inc()
        if flow.response is not None and flow.response.status_code == 503:
            flow.response.headers["retry-after"] = str(max(1, int(pool.limits.max_wait) + 1))

    def client_disconnected(self, client: Any) -> None:
        """The client went away: cancel the inspections of its requests still running or waiting. They are never
        forwarded, so they are audited as abandoned, not as allowed."""
        pool = self.wall.pool
        for fid in self._flows.pop(client.id, set()):
            if pool is not None and hasattr(pool, "cancel") and pool.cancel(fid):
                self.metrics.abandoned.inc()
                self.wall._emit({"event": "request_abandoned", "flow_id": fid, "applied": "none",
                                 "reason": "the client disconnected before phiwall's verdict"})  # fmt: skip

    def _wrap_audit(self) -> None:
        """PhiWall (re)opens its audit sink in its own configure, which runs first: wrap whatever it has now."""
        inner = self.wall.audit
        if inner is None:
            return
        if isinstance(inner, TeeAudit):
            inner = inner.inner
        observers: list[Any] = [self.metrics]
        if self._syslog is not None:
            observers.append(self._syslog)
        self.wall.audit = TeeAudit(inner, observers)

    def not_ready(self) -> str | None:
        if self.wall.source is None:
            return "no policy loaded"
        if self.wall.pool is not None:
            return self.wall.pool.warm_state()  # type: ignore[no-any-return]
        return None

    def pac_text(self) -> str:
        proxy = self.opts.phiwall_pac_proxy
        if not proxy:
            host = getattr(self.opts, "listen_host", "") or "127.0.0.1"
            proxy = f"{host}:{getattr(self.opts, 'listen_port', None) or 8080}"
        return pac.pac_file(proxy)

    async def running(self) -> None:
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._reopen)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
        if self.opts.phiwall_admin_port:
            self.admin = AdminServer(self.metrics, self.not_ready, self.pac_text)
            try:
                await self.admin.start(self.opts.phiwall_admin_port, self.opts.phiwall_admin_host)
            except OSError as e:
                log.error("phiwall: cannot serve the admin port %d: %s", self.opts.phiwall_admin_port, e.strerror)
        self._tasks.append(asyncio_utils.create_task(self._watch(), name="phiwall readiness", keep_ref=True))

    def _reopen(self) -> None:
        audit = self.wall.audit
        if isinstance(audit, TeeAudit):
            try:
                audit.reopen()
                log.info("phiwall: reopened the audit file (SIGHUP)")
            except OSError as e:
                log.error("phiwall: cannot reopen the audit file: %s", e.strerror)

    async def _watch(self) -> None:
        """Log "ready" once (with the warm-up time) and keep the upload-sessions gauge current."""
        while True:
            try:
                if not self._ready_logged and self.not_ready() is None:
                    self._ready_logged = True
                    src = self.wall.source
                    log.warning(
                        "phiwall: ready in %.1f s (policy %s, %d inspection workers warm)",
                        time.monotonic() - self._t0,
                        src.model.id if src else "?",
                        len(getattr(self.wall.pool, "_warming", ()) or ()),
                    )
                if self.wall.pool is not None and hasattr(self.wall.pool, "heal"):
                    self.wall.pool.heal()  # a worker that died while idle is replaced now, not at the next request
                self.metrics.sessions.set(await self.wall.uploads.sessions_open())
            except Exception as e:  # noqa: BLE001 - a gauge must never stop the loop
                log.debug("phiwall: metrics refresh failed: %s", safelog.crash(e))
            await asyncio.sleep(0.5 if not self._ready_logged else 2.0)

    async def done(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self.admin is not None:
            await self.admin.stop()
        if self._syslog is not None:
            self._syslog.close()
