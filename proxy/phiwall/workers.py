"""Inspection off mitmproxy's event loop: a small set of warmed worker processes, one task at a time each.

CPU-bound Python (spaCy NER, pixel work, pydicom) holds the GIL, so threads would stall every other client; a
process per worker keeps the proxy responsive (measured in bench/). Each worker is its own single-process
executor so that a task that runs past its time limit can be killed alone, without failing the requests other
workers are serving.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import BrokenExecutor
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from phiwall import digest
from phiwall import safelog
from phiwall.deid.plan import DeidContext
from phiwall.errors import InspectionTimeout
from phiwall.extractors import service_by_name
from phiwall.lifeline import die_with_parent
from phiwall.pipeline import Inspection
from phiwall.pipeline import Pipeline
from phiwall.policy import Policy
from phiwall.policy import PolicySource
from phiwall.request import RequestData

log = logging.getLogger("phiwall")

# --- inside a worker process -------------------------------------------------------------------------------------

_pipelines: dict[str, Pipeline] = {}


def _init_worker(secret: bytes) -> None:
    die_with_parent()  # a worker outlives neither its fork server nor, through it, the proxy
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    safelog.install()  # no exception message or library log text (both can quote PHI) reaches the log
    digest.set_key(secret)


def pipeline_for(source: PolicySource) -> Pipeline:
    """The pipeline for a policy, built once per process and reused (engines are expensive to build)."""
    pipe = _pipelines.get(source.sha256)
    if pipe is None:
        _pipelines.clear()  # one policy at a time: a reload replaces the engines
        pipe = Pipeline(Policy(source))
        _pipelines[source.sha256] = pipe
    return pipe


def _inspect(
    source: PolicySource, req: RequestData, service: str | None, deid: DeidContext | None = None
) -> Inspection:
    svc = service_by_name(service) if service else None
    return pipeline_for(source).inspect_request(req, svc, deid)


def _warm(source: PolicySource) -> float:
    import time

    t0 = time.perf_counter()
    pipe = pipeline_for(source)
    pipe.inspect_text("Warm-up note for Jane Example, MRN 0000000, seen 2020-01-01.")
    return time.perf_counter() - t0


# --- in the proxy process ---------------------------------------------------------------------------------------


# A request body up to this size is a chat message or a small attachment, not an upload: it may use the express
# workers, so it never queues behind large uploads that keep every general worker busy for seconds.
SMALL_BODY = 64 * 1024


class InspectionOverload(InspectionTimeout):
    """Every worker of the lane is busy and the request waited its bound (or the queue is full): the policy's
    `on_overload` answers (default block, 503 with Retry-After). Never an unbounded queue."""

    status = 503

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def default_workers() -> int:
    """Inspection workers sized to the machine: one per usable core (the express worker comes on top)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 2
    return max(1, min(cores, 16))


@dataclass
class PoolLimits:
    """Back-pressure: how long a guarded request may wait for a worker, how many may wait, and how many body
    bytes may be waiting or in inspection at once (memory in total; per request it is the policy's body limit)."""

    max_wait: float = 0.5
    max_queue: int = 64
    max_inflight_bytes: int = 512 * 1024 * 1024


@dataclass
class _Worker:
    executor: ProcessPoolExecutor
    busy: int = 0
    warm: Future[float] | None = None

    def dead(self) -> bool:
        """The executor broke (its process died), was shut down, or its process is gone, while idle or not."""
        if getattr(self.executor, "_broken", False) or getattr(self.executor, "_shutdown_thread", False):
            return True
        procs = getattr(self.executor, "_processes", None)
        if procs is None:  # the executor cleared it: shut down or broken
            return True
        return any(p.exitcode is not None for p in list(procs.values()))


def _procs(executor: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    """The executor's processes (no public API); [] once it was shut down (the attribute becomes None)."""
    return list((getattr(executor, "_processes", None) or {}).values())


class InspectorPool:
    """Bounded concurrency (one task per worker), bounded waiting, a time limit that starts when the request
    arrives (queue wait included), and self-healing workers (a dead one is replaced on any path, busy or idle).

    Two lanes. `workers` general workers take any request. `express` extra workers take only requests of at most
    SMALL_BODY bytes: two large scans being OCRed would otherwise hold every general worker for seconds and
    every chat message behind them would wait (measured in bench/bench_proxy.py). A small request takes a free
    express worker, else a free general one, else waits for an express worker (small tasks free it soonest).
    """

    def __init__(self, workers: int, secret: bytes, express: int = 1, limits: PoolLimits | None = None) -> None:
        self.size = max(1, workers)
        self.secret = secret
        self.limits = limits or PoolLimits()
        # Workers fork from a fork server (a fresh process, never the proxy with its event loop) that has loaded the
        # NLP engine once (phiwall.worker_preload): its memory is shared copy-on-write by every worker.
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["phiwall.worker_preload"])
        self._lanes: dict[str, list[_Worker]] = {
            "general": [self._new_worker() for _ in range(self.size)],
            "express": [self._new_worker() for _ in range(max(0, express))],
        }
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._source: PolicySource | None = None
        self.waiting = 0  # guarded requests queued for a worker (the worker_queue_depth gauge)
        self.inflight_bytes = 0
        self.overloads = 0
        self.replaced = 0
        self.overloaded: set[str] = set()  # flow ids answered by on_overload (read once by the metrics addon)
        self._tasks: dict[str, asyncio.Task[object]] = {}  # flow id -> the task inspecting it (to cancel)

    def _new_worker(self) -> _Worker:
        ex = ProcessPoolExecutor(max_workers=1, mp_context=self._ctx, initializer=_init_worker, initargs=(self.secret,))
        return _Worker(ex)

    def _all(self) -> list[_Worker]:
        return [w for lane in self._lanes.values() for w in lane]

    @property
    def _warming(self) -> list[Future[float]]:
        return [w.warm for w in self._all() if w.warm is not None]

    def warm(self, source: PolicySource) -> None:
        """Start every worker and build its engines now, not on the first user's request."""
        self._source = source
        for w in self._all():
            try:
                w.warm = w.executor.submit(_warm, source)
            except (BrokenExecutor, RuntimeError):
                self._replace(w, "died before warm-up")

    def warm_state(self) -> str | None:
        """None once every worker has built its engines for the current policy; else why not (PHI-free)."""
        self.heal()
        warming = self._warming
        pending = sum(1 for f in warming if not f.done())
        if pending:
            return f"{pending} of {len(warming)} inspection workers still warming up"
        failed = sum(1 for f in warming if f.cancelled() or f.exception() is not None)
        if failed:
            return f"{failed} inspection workers failed to start"
        return None

    def busy(self) -> int:
        return sum(w.busy for w in self._all())

    def heal(self) -> int:
        """Replace every idle worker whose process died (a crash between requests, the OOM killer): it would
        otherwise break the next submit() and stay dead. Returns how many were replaced. Never raises: it runs
        from the readiness check, and a failing /readyz takes the replica out of the load balancer."""
        n = 0
        for w in self._all():
            try:
                if w.busy == 0 and w.dead():
                    self._replace(w, "died while idle")
                    n += 1
            except Exception as e:  # noqa: BLE001
                log.error("phiwall: could not check an inspection worker: %s", safelog.crash(e))
        return n

    def _sem(self, lane: str) -> asyncio.Semaphore:
        if lane not in self._sems:  # created on the event loop that uses it
            self._sems[lane] = asyncio.Semaphore(len(self._lanes[lane]))
        return self._sems[lane]

    def lane_for(self, body_size: int) -> str:
        if body_size > SMALL_BODY or not self._lanes["express"]:
            return "general"
        if not self._sem("express").locked():
            return "express"
        return "general" if not self._sem("general").locked() else "express"

    def _overload(self, req: RequestData, why: str) -> InspectionOverload:
        self.overloads += 1
        if req.flow_id:
            self.overloaded.add(req.flow_id)
            if len(self.overloaded) > 10_000:
                self.overloaded.clear()
        return InspectionOverload(
            f"phiwall is busy inspecting other requests ({why}); try again in a few seconds",
            retry_after=max(1, int(self.limits.max_wait) + 1),
        )

    async def inspect(
        self,
        source: PolicySource,
        req: RequestData,
        service: str | None,
        timeout: float,
        deid: DeidContext | None = None,
    ) -> Inspection:
        task = asyncio.current_task()
        if req.flow_id and task is not None:
            self._tasks[req.flow_id] = task
        try:
            return await self._inspect_bounded(source, req, service, timeout, deid)
        finally:
            if req.flow_id:
                self._tasks.pop(req.flow_id, None)

    def cancel(self, flow_id: str) -> bool:
        """Cancel the inspection of a request whose client went away (waiting or running: the worker is
        replaced, so the abandoned work stops). True when there was one."""
        task = self._tasks.pop(flow_id, None)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def _inspect_bounded(
        self,
        source: PolicySource,
        req: RequestData,
        service: str | None,
        timeout: float,
        deid: DeidContext | None,
    ) -> Inspection:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout  # the wait for a worker counts toward the policy's time limit
        size = len(req.raw_body)
        if self.inflight_bytes + size > self.limits.max_inflight_bytes and self.inflight_bytes > 0:
            raise self._overload(req, "too many bytes waiting for inspection")
        lane = self.lane_for(size)
        sem = self._sem(lane)
        if sem.locked():
            if self.waiting >= self.limits.max_queue:
                raise self._overload(req, "the inspection queue is full")
            wait = min(self.limits.max_wait, max(0.0, deadline - loop.time()))
            self.waiting += 1
            try:
                await asyncio.wait_for(sem.acquire(), wait)
            except TimeoutError:
                raise self._overload(req, f"no inspection worker free within {wait:g} s") from None
            finally:
                self.waiting -= 1
        else:
            await sem.acquire()
        self.inflight_bytes += size
        try:
            return await self._run(lane, source, req, service, deid, deadline, timeout)
        finally:
            self.inflight_bytes -= size
            sem.release()

    async def _run(
        self,
        lane: str,
        source: PolicySource,
        req: RequestData,
        service: str | None,
        deid: DeidContext | None,
        deadline: float,
        timeout: float,
    ) -> Inspection:
        loop = asyncio.get_running_loop()
        w = min(self._lanes[lane], key=lambda x: x.busy)
        if w.dead():
            w = self._replace(w, "found dead")
        w.busy += 1
        try:
            try:
                fut = w.executor.submit(_inspect, source, req, service, deid)
            except (BrokenExecutor, RuntimeError):  # died while idle, between heal() and now
                w.busy -= 1
                w = self._replace(w, "died while idle")
                w.busy += 1
                fut = w.executor.submit(_inspect, source, req, service, deid)
            remaining = deadline - loop.time()
            if remaining <= 0:
                fut.cancel()
                raise InspectionTimeout(f"inspection took longer than the policy's {timeout:g} s limit")
            try:
                return await asyncio.wait_for(asyncio.wrap_future(fut), remaining)
            except TimeoutError:
                self._replace(w, "ran past the time limit")
                raise InspectionTimeout(f"inspection took longer than the policy's {timeout:g} s limit") from None
            except BrokenExecutor:
                self._replace(w, "stopped mid-task")
                raise InspectionTimeout("the inspection worker stopped unexpectedly") from None
            except asyncio.CancelledError:
                # The request's task was cancelled (the client went away, the proxy is stopping): stop the work
                # too, so an abandoned request does not hold a worker for its whole time limit.
                if not fut.done():
                    self._replace(w, "abandoned by its request")
                raise
        finally:
            w.busy = max(0, w.busy - 1)

    def _replace(self, w: _Worker, why: str = "after a timeout or crash") -> _Worker:
        """Kill a worker and start a fresh one in its place (its warm-up starts at once)."""
        lane = next((ws for ws in self._lanes.values() if w in ws), None)
        for p in _procs(w.executor):  # no public API to kill a running task
            if p.exitcode is None:
                p.kill()
        w.executor.shutdown(wait=False, cancel_futures=True)
        new = self._new_worker()
        if lane is not None:
            lane[lane.index(w)] = new
        if self._source is not None:
            new.warm = new.executor.submit(_warm, self._source)
        self.replaced += 1
        log.warning("phiwall: replaced an inspection worker (%s)", why)
        return new

    def close(self) -> None:
        for w in self._all():
            for p in _procs(w.executor):
                p.kill()
            w.executor.shutdown(wait=False, cancel_futures=True)
