"""Latency of the `text_phi` detector on clinical-note-like text of 200 B, 2 KB and 20 KB.

Targets (median, 2-core machine, issue 10): 2 KB <= 20 ms, 20 KB <= 150 ms. The text is synthetic (no corpus
needed): a header with name, DOB, MRN, phone, SSN and address, then nursing-note prose. The findings cache is off
(`cache_entries: 0`: the same text would otherwise be judged once); the last line shows a cached repeat.
Also prints the process's resident memory with the engine loaded (a worker's footprint for text).

Usage: .venv/bin/python bench/bench_text_phi.py [--runs 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from phiwall.detectors.text_phi import TextPhiDetector
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind

HEADER = (
    "Patient: Maria Gonzalez  DOB: 04/17/1958  MRN: 00483921\n"
    "Phone (617) 555-0143, SSN 536-22-8109, 42 Elm Street, Springfield, MA 01103.\n"
)
PROSE = (
    "Neuro: alert and oriented x3, follows commands, MAE. Pain controlled with morphine 2 mg IV q4h prn. "
    "CV: SR 80s-90s, no ectopy. BP 110-130/60s. Heparin gtt at 900 units/hr, PTT due at 1800. "
    "Resp: LS clear bilaterally, sats 95-98% on 2L NC. Dr. Holden aware of low UO; 250 ml NS bolus given. "
    "GI: tolerating clear liquids, abd soft, +BS. Husband Jim in to visit, updated on plan of care by RN. "
    "Plan: continue to monitor hemodynamics, wean O2 as tolerated, PT consult placed for 3/14.\n"
)


def make_text(size: int) -> str:
    text = HEADER
    while len(text.encode()) < size:
        text += PROSE
    return text.encode()[:size].decode("utf-8", "ignore")


def measure(detector: TextPhiDetector, text: str, runs: int) -> tuple[float, float, int]:
    part = Part(id="bench", kind=PartKind.TEXT, locator=Locator("body"), text=text)
    for _ in range(3):
        detector.detect(part)
    times = []
    findings = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        findings = len(detector.detect(part))
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    return statistics.median(times), p99, findings


def _rss_mb() -> float:
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2, help="nlp_threads option (spaCy threads for long texts)")
    args = ap.parse_args()
    print(
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {os.cpu_count()} cores; python {platform.python_version()}; "
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    t0 = time.perf_counter()
    detector = TextPhiDetector({"nlp_threads": args.threads, "cache_entries": 0})
    print(f"engine build: {time.perf_counter() - t0:.2f} s (once per process)")
    print(f"resident memory with the engine loaded: {_rss_mb():.0f} MB")
    print(f"{'size':>8} | {'median ms':>9} | {'p99 ms':>8} | {'target':>6} | findings")
    print(f"{'-' * 8}-+-{'-' * 9}-+-{'-' * 8}-+-{'-' * 6}-+---------")
    for size, target, runs in (
        (200, "-", args.runs),
        (2_000, "20", args.runs),
        (20_000, "150", max(10, args.runs // 2)),
    ):
        med, p99, n = measure(detector, make_text(size), runs)
        print(f"{size:>7}B | {med:9.1f} | {p99:8.1f} | {target:>6} | {n}")
    cached = TextPhiDetector({"nlp_threads": args.threads})
    med, p99, n = measure(cached, make_text(20_000), args.runs)
    print(f"{'20000B':>8} | {med:9.1f} | {p99:8.1f} | {'cached':>6} | {n}   (same text again: findings cache)")
    print(f"resident memory at end: {_rss_mb():.0f} MB")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
