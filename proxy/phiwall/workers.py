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
from phiwall.pipeline import Inspection
from phiwall.pipeline import Pipeline
from phiwall.policy import Policy
from phiwall.policy import PolicySource
from phiwall.request import RequestData

log = logging.getLogger("phiwall")

# --- inside a worker process -------------------------------------------------------------------------------------

_pipelines: dict[str, Pipeline] = {}


def _init_worker(secret: bytes) -> None:
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


@dataclass
class _Worker:
    executor: ProcessPoolExecutor
    busy: int = 0


class InspectorPool:
    """Bounded concurrency (one task per worker, the rest queue), per-task time limit, self-healing workers.

    Two lanes. `workers` general workers take any request. `express` extra workers take only requests of at most
    SMALL_BODY bytes: two large scans being OCRed would otherwise hold every general worker for seconds and
    every chat message behind them would wait (measured in bench/bench_proxy.py). A small request takes a free
    express worker, else a free general one, else waits for an express worker (small tasks free it soonest).
    """

    def __init__(self, workers: int, secret: bytes, express: int = 1) -> None:
        self.size = max(1, workers)
        self.secret = secret
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process that runs an event loop
        self._lanes: dict[str, list[_Worker]] = {
            "general": [self._new_worker() for _ in range(self.size)],
            "express": [self._new_worker() for _ in range(max(0, express))],
        }
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._source: PolicySource | None = None
        self._warming: list[Future[float]] = []
        self.waiting = 0  # guarded requests queued for a worker (the worker_queue_depth gauge)

    def _new_worker(self) -> _Worker:
        ex = ProcessPoolExecutor(max_workers=1, mp_context=self._ctx, initializer=_init_worker, initargs=(self.secret,))
        return _Worker(ex)

    def _all(self) -> list[_Worker]:
        return [w for lane in self._lanes.values() for w in lane]

    def warm(self, source: PolicySource) -> None:
        """Start every worker and build its engines now, not on the first user's request."""
        self._source = source
        self._warming = [w.executor.submit(_warm, source) for w in self._all()]

    def warm_state(self) -> str | None:
        """None once every worker has built its engines for the current policy; else why not (PHI-free)."""
        pending = sum(1 for f in self._warming if not f.done())
        if pending:
            return f"{pending} of {len(self._warming)} inspection workers still warming up"
        failed = sum(1 for f in self._warming if f.cancelled() or f.exception() is not None)
        if failed:
            return f"{failed} inspection workers failed to start"
        return None

    def busy(self) -> int:
        return sum(w.busy for w in self._all())

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

    async def inspect(
        self,
        source: PolicySource,
        req: RequestData,
        service: str | None,
        timeout: float,
        deid: DeidContext | None = None,
    ) -> Inspection:
        lane = self.lane_for(len(req.raw_body))
        async with self._sem(lane):
            w = min(self._lanes[lane], key=lambda x: x.busy)
            w.busy += 1
            try:
                fut = w.executor.submit(_inspect, source, req, service, deid)
                try:
                    return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
                except TimeoutError:
                    self._replace(w)
                    raise InspectionTimeout(f"inspection took longer than the policy's {timeout:g} s limit") from None
                except BrokenExecutor:
                    self._replace(w)
                    raise InspectionTimeout("the inspection worker stopped unexpectedly") from None
            finally:
                w.busy -= 1

    def _replace(self, w: _Worker) -> None:
        """Kill a stuck worker and start a fresh one in its place."""
        lane = next((ws for ws in self._lanes.values() if w in ws), None)
        if lane is None:
            return
        procs = list(getattr(w.executor, "_processes", {}).values())  # no public API to kill a running task
        for p in procs:
            p.kill()
        w.executor.shutdown(wait=False, cancel_futures=True)
        lane[lane.index(w)] = new = self._new_worker()
        if self._source is not None:
            new.executor.submit(_warm, self._source)
        log.warning("phiwall: replaced an inspection worker after a timeout or crash")

    def close(self) -> None:
        for w in self._all():
            for p in list(getattr(w.executor, "_processes", {}).values()):
                p.kill()
            w.executor.shutdown(wait=False, cancel_futures=True)
