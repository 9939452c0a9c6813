"""Property-based fuzzing of the parsers that take user bytes (issue 13, item 12).

Every property asserts that a parser either returns or raises one of phiwall's own error types (never a
KeyError, IndexError, struct.error, RecursionError...), within a deadline per example and under a memory cap.

The suite run uses a modest number of examples (about a minute in all). A longer run is one command:

    PHIWALL_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -q -p no:cacheprovider tests/fuzz

(`PHIWALL_FUZZ_EXAMPLES` sets max_examples per property; a long run keeps failing examples in
~/.cache/phiwall-fuzz. 1,000 examples per property take about 70 s here.)
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

EXAMPLES = int(os.environ.get("PHIWALL_FUZZ_EXAMPLES", "150"))
settings.register_profile(
    "phiwall-fuzz",
    max_examples=EXAMPLES,
    deadline=3000,  # ms per example: "bounded time" (a parser that loops or backtracks fails here)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    derandomize=EXAMPLES <= 150,  # the suite run is reproducible; long runs explore
    # Long runs keep failing examples outside the checkout (the tree stays clean).
    database=None if EXAMPLES <= 150 else DirectoryBasedExampleDatabase(Path.home() / ".cache" / "phiwall-fuzz"),
)
settings.load_profile("phiwall-fuzz")

MEMORY_HEADROOM = 1 << 30  # address space a parser may add while fuzzed


def _vm_size() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.fixture(autouse=True)
def bounded_memory() -> Iterator[None]:
    """Cap the address space at what the process uses now plus 1 GiB: a parser that expands input without bound
    fails with MemoryError (not one of phiwall's errors) instead of taking the machine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_size() + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
