"""Audit events: one JSON Lines record per inspected request, PHI-free by construction.

What goes in: time, client address, user, service, endpoint, verdict, rule ids, entity counts, part kinds and
sizes, keyed digests of detected values, latency, policy id and hash. What never goes in: detected values,
text, file bytes, filenames, URLs' query strings (signed upload URLs carry secrets).
"""

from __future__ import annotations

import json
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

from phiwall.pipeline import Inspection


class AuditSink(Protocol):
    def emit(self, event: Mapping[str, Any]) -> None: ...


class JsonlAudit:
    """Appends events to a file (mode 0600), one line each, flushed at once so a crash loses nothing."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._fh = os.fdopen(fd, "a", encoding="utf-8", buffering=1)

    def emit(self, event: Mapping[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":"), sort_keys=False, default=str)
        with self._lock:
            self._fh.write(line + "\n")

    def close(self) -> None:
        self._fh.close()


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
    """Assemble an audit record. `path` is reduced to its path component (no query string)."""
    ev: dict[str, Any] = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "event": "inspection",
        "id": str(uuid.uuid4()),
        "flow_id": flow_id,
        "client": client,
        "user": user,
        "host": host,
        "method": method,
        "path": path.split("?", 1)[0],
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
