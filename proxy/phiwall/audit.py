"""Audit events: one JSON Lines record per inspected request, PHI-free by construction.

What goes in: time, client address, user, service, endpoint, verdict, rule ids, entity counts, part kinds and
sizes, keyed digests of detected values, latency, policy id and hash. What never goes in: detected values,
text, file bytes, filenames, URLs' query strings (signed upload URLs carry secrets).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import Protocol

from phiwall import safelog
from phiwall.pipeline import Inspection


class AuditSink(Protocol):
    def emit(self, event: Mapping[str, Any]) -> None: ...


class JsonlAudit:
    """Appends events to a file (mode 0600), one line each, flushed at once so a crash loses nothing.

    `reopen()` (on SIGHUP) closes and reopens the path, so logrotate can move the file away and the next event
    starts the new one (logrotate's `postrotate kill -HUP`, no `copytruncate` needed)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fh = self._open()

    def _open(self) -> Any:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "a", encoding="utf-8", buffering=1)

    def emit(self, event: Mapping[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":"), sort_keys=False, default=str)
        with self._lock:
            self._fh.write(line + "\n")

    def reopen(self) -> None:
        with self._lock:
            new = self._open()
            old, self._fh = self._fh, new
        old.close()

    def close(self) -> None:
        self._fh.close()


def iso_now() -> str:
    """Audit time stamps: ISO 8601 with milliseconds and an explicit offset (+00:00)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class SyslogAudit:
    """Sends each event to syslog as an RFC 5424 message (the standard library's SysLogHandler over UDP, TCP
    or a Unix socket), MSGID `phiwall`, structured data `-`, the event as JSON in MSG. PHI-free like the file."""

    def __init__(self, target: str, facility: str = "local0", app_name: str = "phiwall") -> None:
        import logging.handlers
        import socket

        self.target = target
        if target.startswith("unix:"):
            address: Any = target[len("unix:") :]
            socktype = None
        else:
            proto, _, hostport = target.rpartition("://")
            host, _, port = hostport.rpartition(":")
            address = (host or "127.0.0.1", int(port or 514))
            socktype = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        fac = logging.handlers.SysLogHandler.facility_names[facility]
        self._handler = logging.handlers.SysLogHandler(address=address, facility=fac, socktype=socktype)
        self._handler.ident = ""
        self._app = app_name
        self._host = socket.gethostname() or "-"
        self._handler.setFormatter(_Rfc5424Formatter(self._app, self._host))
        self._log = logging.getLogger(f"phiwall.audit.syslog.{id(self)}")
        self._log.propagate = False
        self._log.setLevel(logging.INFO)
        self._log.addHandler(self._handler)

    def emit(self, event: Mapping[str, Any]) -> None:
        self._log.info("%s", json.dumps(event, separators=(",", ":"), default=str))

    def close(self) -> None:
        self._log.removeHandler(self._handler)
        self._handler.close()


class _Rfc5424Formatter(logging.Formatter):
    """`1 TIMESTAMP HOST APP PROCID MSGID - MSG` (the `<PRI>` prefix is added by SysLogHandler)."""

    def __init__(self, app: str, host: str) -> None:
        super().__init__()
        self.app, self.host = app, host

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        return f"1 {ts} {self.host} {self.app} {os.getpid()} inspection - {record.getMessage()}"


class TeeAudit:
    """The addon's audit sink: time-stamps every event in ISO 8601 with offset, writes it to the file sink, then
    hands it to observers (metrics, syslog). An observer's failure never loses the file record."""

    def __init__(self, inner: AuditSink, observers: list[AuditSink]) -> None:
        self.inner = inner
        self.observers = observers

    def emit(self, event: Mapping[str, Any]) -> None:
        ev = dict(event)
        ts = ev.get("ts")
        if not isinstance(ts, str) or not (ts.endswith("Z") or "+" in ts[10:] or "-" in ts[19:]):
            ev["ts"] = iso_now()
        self.inner.emit(ev)
        for o in self.observers:
            try:
                o.emit(ev)
            except Exception:  # noqa: BLE001 - metrics/syslog trouble must not stop auditing
                pass

    def reopen(self) -> None:
        r = getattr(self.inner, "reopen", None)
        if callable(r):
            r()


class MemoryAudit:
    """Keeps events in a list (replay, scan and tests)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: Mapping[str, Any]) -> None:
        self.events.append(dict(event))


def build_event(
    inspection: Inspection | None,
    *,
    flow_id: str,
    client: str,
    user: str | None,
    host: str,
    method: str,
    path: str,
    verdict: str,
    applied: str,
    rule_ids: tuple[str, ...],
    policy_id: str,
    policy_sha256: str,
    latency_ms: float,
    mode: str,
    reason: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble an audit record. `path` is reduced to its path component (no query string), and a segment the
    user chose (`/v1/chat/completions/<patient name>`) to a keyed digest (`safelog.safe_url_path`)."""
    ev: dict[str, Any] = {
        "ts": iso_now(),
        "event": "inspection",
        "id": str(uuid.uuid4()),
        "flow_id": flow_id,
        "client": client,
        "user": user,
        "host": host,
        "method": method,
        "path": safelog.safe_url_path(path),  # no query; segments no endpoint table names are digested
        "mode": mode,
        "verdict": verdict,
        "applied": applied,
        "rule_ids": list(rule_ids),
        "policy_id": policy_id,
        "policy_sha256": policy_sha256[:16],
        "latency_ms": round(latency_ms, 2),
    }
    if inspection is not None:
        d = inspection.decision
        ev.update(
            service=inspection.service,
            endpoint=inspection.endpoint,
            endpoint_kind=inspection.kind,
            entity_counts=d.entity_counts(),
            digests=sorted({f.digest for f in d.findings if f.digest}),
            parts=[
                {"id": p.id, "kind": p.kind, "media_type": p.media_type, "size": p.size, "where": p.where}
                for p in inspection.parts
            ],
            timings_ms=dict(inspection.timings_ms),
            notes=list(inspection.notes),
        )
        if d.error:
            ev["error"] = d.error
    if reason:
        ev["error"] = reason
    if extra:
        ev.update(extra)
    return ev


def monotonic_ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
