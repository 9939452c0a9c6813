"""Prometheus metrics for one proxy process (prometheus-client, a registry of its own).

Fed from the audit stream (every verdict is audited exactly once, so counting audit events counts verdicts
without a second code path in the addon) and from gauges read at scrape time (worker queue, readiness). Labels
are closed vocabularies or policy-author names — service, endpoint kind, verdict, rule id, detector — never a
value from the traffic: no PHI, no user, no host outside the service table.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(v: Any, default: str = "none") -> str:
    s = str(v) if v not in (None, "") else default
    return "".join(c if c.isalnum() or c in "_-.:" else "_" for c in s)[:64]


class Metrics:
    """All of phiwall's series. `observe(event)` is an AuditSink; gauges are callbacks set by the addons."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "phiwall_requests",
            "Guarded requests judged, by service, endpoint kind, verdict and what was applied.",
            ["service", "kind", "verdict", "applied"],
            registry=r,
        )
        self.rules = Counter(
            "phiwall_rule_matches",
            "Rules that decided a request.",
            ["service", "rule"],
            registry=r,
        )
        self.latency = Histogram(
            "phiwall_request_seconds",
            "Time from the request's arrival to phiwall's verdict, by service.",
            ["service"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.detector = Histogram(
            "phiwall_inspection_seconds",
            "Inspection time per detector stage (worker side).",
            ["detector"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overload = Counter(
            "phiwall_overload_rejections", "Guarded requests answered by on_overload (pool saturated).", registry=r
        )
        self.abandoned = Counter(
            "phiwall_abandoned_requests", "Inspections cancelled because the client went away.", registry=r
        )
        self.errors = Counter(
            "phiwall_inspection_errors", "Requests that got on_error, by error kind.", ["kind"], registry=r
        )
        self.reloads = Counter("phiwall_policy_reloads", "Policy reload attempts, by result.", ["result"], registry=r)
        self.reload_ok = Gauge(
            "phiwall_policy_reload_ok",
            "0 after a failed reload.",
            registry=r,
        )
        self.generation = Gauge(
            "phiwall_policy_generation", "Policies installed since start (1 = the start-up policy).", registry=r
        )
        self.queue = Gauge("phiwall_worker_queue_depth", "Requests waiting for a worker.", registry=r)
        self.busy = Gauge("phiwall_workers_busy", "Inspection workers running a task.", registry=r)
        self.sessions = Gauge("phiwall_upload_sessions_open", "Uploads being held.", registry=r)
        self.ready = Gauge("phiwall_ready", "1 once the workers are warm and the policy is loaded.", registry=r)
        self.reload_ok.set(1)
        self.generation.set(1)

    def observe(self, event: Mapping[str, Any]) -> None:
        """Count one audit event (the AuditSink protocol)."""
        kind = event.get("event")
        if kind == "policy_reloaded":
            self.reloads.labels("ok").inc()
            self.reload_ok.set(1)
            self.generation.inc()
            return
        if kind == "policy_reload_failed":
            self.reloads.labels("failed").inc()
            self.reload_ok.set(0)
            return
        if kind != "inspection":
            return
        service = _label(event.get("service"))
        self.requests.labels(
            service, _label(event.get("endpoint_kind")), _label(event.get("verdict")), _label(event.get("applied"))
        ).inc()
        for rule in event.get("rule_ids") or ():
            self.rules.labels(service, _label(rule)).inc()
        if "on_error" in (event.get("rule_ids") or ()):
            self.errors.labels(_label(event.get("error_kind"), "error")).inc()
        lat = event.get("latency_ms")
        if isinstance(lat, (int, float)):
            self.latency.labels(service).observe(lat / 1000)
        timings = event.get("timings_ms")
        if isinstance(timings, Mapping):
            for det, ms in timings.items():
                if isinstance(ms, (int, float)):
                    self.detector.labels(_label(det)).observe(ms / 1000)

    emit = observe

    def bind(
        self,
        *,
        queue: Callable[[], float] | None = None,
        busy: Callable[[], float] | None = None,
        ready: Callable[[], float] | None = None,
    ) -> None:
        """Gauges read at scrape time."""
        if queue is not None:
            self.queue.set_function(queue)
        if busy is not None:
            self.busy.set_function(busy)
        if ready is not None:
            self.ready.set_function(ready)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
