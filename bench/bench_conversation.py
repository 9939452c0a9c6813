"""A growing chat conversation through phiwall and plain mitmdump, side by side in the same run.

    .venv/bin/python bench/bench_conversation.py [--turns 24] [--runs 3]

An API client resends the whole conversation on every turn. Each turn here adds a benign clinical user message
(~0.9 KB) and the assistant's previous answer (~0.3 KB): about 1.2 KB per turn, ~28 KB of history by turn 24.
Each turn is sent to plain mitmdump, then to `phiwall run` (real processes, a fake HTTPS upstream on 127.0.0.1),
and the latency phiwall adds is the difference. Every run is a new conversation (different sentences), so the
findings cache helps only within a conversation, as in real use.

Prints the median added latency per turn over the runs, and the acceptance check of issue 10: the mean added
latency of turns 21-24 must be at most 2x that of turns 2-5.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# bench/ is a folder of scripts, not a package: reuse bench_proxy's servers and plain-mitmdump starter by path.
_bp = importlib.import_module("bench.bench_proxy")
_serve_local, _serve_upstream, context_lines = _bp._serve_local, _bp._serve_upstream, _bp.context_lines
loadavg, start_plain, upstream_map = _bp.loadavg, _bp.start_plain, _bp.upstream_map
from tests.support.proxy import start_proxy  # noqa: E402
from tests.support.tls import make_test_pki  # noqa: E402

SENTENCES = (
    "What is the usual starting dose of metoprolol for rate control in atrial fibrillation?",
    "The patient reports intermittent chest tightness on exertion, relieved by rest, with no radiation.",
    "Vitals were stable and the ECG showed sinus rhythm without acute ST changes.",
    "How should potassium be replaced when the serum level is 3.1 and renal function is normal?",
    "Lungs are clear to auscultation bilaterally; there is mild pitting edema of both ankles.",
    "Is it reasonable to hold the ACE inhibitor while the creatinine is rising after contrast?",
    "The wound is clean and dry with no erythema, and the staples can come out in ten days.",
    "Please explain the difference between type 1 and type 2 respiratory failure in simple terms.",
    "Blood glucose has ranged from 140 to 220 on the sliding scale; should basal insulin be started?",
    "Which antibiotics cover community-acquired pneumonia in a patient with a penicillin allergy?",
    "The abdomen is soft and non-tender, bowel sounds are present, and the patient tolerates a diet.",
    "Summarise the main side effects of amiodarone that need monitoring over the long term.",
    "Urine output has been about 30 ml per hour over the last six hours despite fluids.",
    "What are the criteria for sepsis and how do they differ from the older SIRS definition?",
    "Heart rate is in the 90s, blood pressure 110 over 70, oxygen saturation 95 percent on room air.",
    "Can you draft patient-friendly instructions for using an incentive spirometer at home?",
    "The chest x-ray shows a small right pleural effusion and no pneumothorax.",
    "How long should anticoagulation continue after a first provoked deep vein thrombosis?",
    "Pain is controlled with oral analgesics and the patient is walking in the hallway with assistance.",
    "List the common causes of delirium in elderly inpatients and how to screen for them.",
)
ANSWER = (
    "Thanks for the details. In general, the approach depends on the clinical picture, the kidney function and "
    "the other medicines involved; a careful review with the responsible clinician is recommended before any "
    "change, and local guidelines should be followed. "
)


def user_message(rng: random.Random, target: int = 900) -> str:
    out: list[str] = []
    while sum(len(s) + 1 for s in out) < target:
        out.append(rng.choice(SENTENCES))
    return " ".join(out)


def conversation(seed: int, turns: int) -> list[bytes]:
    """The request body of each turn: the whole history so far plus the new user message."""
    rng = random.Random(seed)
    messages: list[dict[str, str]] = [{"role": "system", "content": "You are a careful clinical assistant."}]
    bodies = []
    for t in range(turns):
        if t:
            messages.append({"role": "assistant", "content": f"(turn {t}) " + ANSWER})
        messages.append({"role": "user", "content": f"Question {t + 1} of run {seed}: " + user_message(rng)})
        bodies.append(json.dumps({"model": "gpt-4o", "messages": messages}).encode())
    return bodies


def post(client: httpx.Client, body: bytes) -> float:
    t = time.perf_counter()
    r = client.post(
        "https://api.openai.com/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    dt = (time.perf_counter() - t) * 1000
    if r.status_code != 200:
        raise SystemExit(f"unexpected {r.status_code}: {r.text[:300]}")
    return dt


def warm_up(client: httpx.Client, body: bytes, seconds: float = 300) -> None:
    """Until the proxy answers 200: its workers build their engines after it starts listening, and on a loaded
    machine a request sent before that is over can hit the inspection time limit (and get a 504)."""
    deadline = time.monotonic() + seconds
    while True:
        r = client.post(
            "https://api.openai.com/v1/chat/completions", content=body, headers={"content-type": "application/json"}
        )
        if r.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"proxy not ready after {seconds:.0f} s: {r.status_code} {r.text[:200]}")
        time.sleep(5)


def process_tree_rss(root: int) -> list[tuple[int, float]]:
    """(pid, resident MB) of `root` and every descendant (the proxy and its inspection workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append((pid, int(line.split()[1]) / 1024))
        except OSError:
            pass
        todo += children.get(pid, [])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=24)
    ap.add_argument("--runs", type=int, default=3, help="conversations (each a new one)")
    ap.add_argument("--workers", type=int, default=2, help="phiwall inspection workers (phiwall run's default: 2)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for line in context_lines():
        print(line)
    print(f"load average at start: {loadavg()}", flush=True)
    import multiprocessing

    tmp = Path(tempfile.mkdtemp(prefix="phiwall-conv-"))
    ca, cert, key = make_test_pki(tmp / "pki")
    mp = multiprocessing.get_context("spawn")
    ports: Any = mp.Queue()
    servers = [
        mp.Process(target=_serve_upstream, args=(str(cert), str(key), ports), daemon=True),
        mp.Process(target=_serve_local, args=(ports,), daemon=True),
    ]
    servers[0].start()
    up_port = ports.get(timeout=60)
    servers[1].start()
    local_port = ports.get(timeout=60)
    targets = upstream_map(up_port, local_port)
    plain, plain_port = start_plain(targets, ca, tmp / "plain")
    pw = start_proxy(tmp / "phiwall", targets, ca, workers=args.workers)
    added: list[list[float]] = [[] for _ in range(args.turns)]
    sizes = [len(b) for b in conversation(0, args.turns)]
    try:
        time.sleep(6)  # let the workers finish warming
        plain_ca = tmp / "plain" / "mitmproxy" / "mitmproxy-ca-cert.pem"
        with (
            httpx.Client(proxy=f"http://127.0.0.1:{plain_port}", verify=str(plain_ca), timeout=120) as pc,
            httpx.Client(proxy=pw.url, verify=str(pw.ca), timeout=120) as wc,
        ):
            for body in conversation(10_000, 3):  # connections, TLS and every worker's engines; not measured
                warm_up(pc, body)
                for _ in range(args.workers + 1):
                    warm_up(wc, body)
            for run in range(args.runs):
                for t, body in enumerate(conversation(run + 1, args.turns)):
                    a = post(pc, body)
                    b = post(wc, body)
                    added[t].append(b - a)
        print(f"\nAdded latency per turn (phiwall minus plain mitmdump, ms; median of {args.runs} conversations)\n")
        print(f"{'turn':>4} | {'body KB':>7} | {'added ms':>8} | per run")
        print("-" * 60)
        med = [statistics.median(x) for x in added]
        for t in range(args.turns):
            runs = " ".join(f"{x:6.1f}" for x in added[t])
            print(f"{t + 1:>4} | {sizes[t] / 1024:7.1f} | {med[t]:8.1f} | {runs}")
        if args.turns >= 24:
            early = statistics.mean(med[1:5])
            late = statistics.mean(med[20:24])
            ok = late <= 2 * max(early, 0.1)
            print(
                f"\nturns 2-5: {early:.1f} ms, turns 21-24: {late:.1f} ms, ratio {late / max(early, 0.1):.2f} "
                f"(target <= 2): {'PASS' if ok else 'FAIL'}"
            )
        rss = process_tree_rss(pw.proc.pid)
        print("\nresident memory after the runs (MB): " + ", ".join(f"{mb:.0f}" for _, mb in rss)
              + " (the phiwall process first, then its children: workers with the tagger loaded)")  # fmt: skip
    finally:
        pw.stop()
        plain.terminate()
        for sv in servers:
            sv.terminate()
    print(f"\nload average at end: {loadavg()}")


if __name__ == "__main__":
    main()
