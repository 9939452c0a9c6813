"""Loaded once by the inspection workers' fork server (`multiprocessing` forkserver preload), before any worker
exists: the NLP engine (spaCy model and presidio registry, the bulk of a worker's memory) is built here, and every
worker forked from this process starts with it already in memory, its pages shared copy-on-write instead of each
worker loading its own copy. Only thread-free state may be built here (threads do not survive a fork: the NLP
engine starts its thread pool lazily, in the worker); a failure is left for the worker to report when it builds
its detectors.
"""

from __future__ import annotations

import os

from phiwall.lifeline import die_with_parent

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _preload() -> None:
    die_with_parent()
    from phiwall import safelog

    safelog.install()
    try:
        from phiwall.detectors import text_phi

        text_phi._shared_engine()
    except Exception:  # noqa: BLE001 - the worker builds it again and reports the error in its own words
        return
    import gc

    gc.collect()
    gc.freeze()  # objects made so far are never touched by the collector: their pages stay shared after fork


_preload()
