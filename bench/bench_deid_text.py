"""Text de-identification and reply restore cost (issue 9 goals: pseudonymisation ≤ 2 ms beyond detection for a
2 KB message; restoring a streamed reply ≤ 1 ms per chunk). Prints median and p99.

    .venv/bin/python bench/bench_deid_text.py
"""

from __future__ import annotations

import json
import statistics
import time

from phiwall.deid.options import DeidOptionSet
from phiwall.deid.plan import plan_edits
from phiwall.deid.restore import Restorer
from phiwall.deid.restore import SseRestorer
from phiwall.detectors import build_detector
from phiwall.model import Decision
from phiwall.model import DeidStep
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.model import Verdict

NOTE = (
    "Margaret Okafor (MRN 4455667, DOB 03/14/1961) was seen on 2024-05-02 with chest pain. Her husband John "
    "Adeyemi drove her in; call him on (617) 555-0142. Dr Alan Reyes reviewed the ECG. "
)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    text = (NOTE * 12)[:2048]
    det = build_detector("text_phi", {})
    part = Part("p0", PartKind.TEXT, Locator("json", ("messages", 0, "content")), text=text)
    findings = det.detect(part)
    step = DeidStep("r", tuple(findings), DeidOptionSet())
    d = Decision(Verdict.DEIDENTIFY, ("r",), (), plan=(step,))
    plan_edits((part,), d, None)  # warm presidio's engine
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        plan_edits((part,), d, None)
        times.append((time.perf_counter() - t0) * 1000)
    print(
        f"pseudonymise 2 KB ({len(findings)} spans): median {statistics.median(times):.2f} ms, "
        f"p99 {pct(times, 0.99):.2f} ms"
    )

    r = Restorer({"[PATIENT_1]": "Margaret Okafor", "[PATIENT_2]": "John Adeyemi", "[DATE_1]": "03/14/1961"})
    answer = "About [PATIENT_1] born [DATE_1]: ask [PATIENT_2] to bring her back. " * 40
    events = [
        b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": answer[i : i + 3]}}]}).encode() + b"\n\n"
        for i in range(0, len(answer), 3)
    ]
    per = []
    for _ in range(20):
        s = SseRestorer(r, "openai_chat")
        for ev in events:
            t0 = time.perf_counter()
            s(ev)
            per.append((time.perf_counter() - t0) * 1000)
    print(
        f"restore SSE, one 3-character event per chunk: median {statistics.median(per):.4f} ms, "
        f"p99 {pct(per, 0.99):.4f} ms"
    )


if __name__ == "__main__":
    main()
