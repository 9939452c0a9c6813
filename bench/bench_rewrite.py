"""Cost of writing de-identified values back into a request (`Adapter.rewrite`, phiwall.locators), next to the
cost of taking the same body apart (`extract`) in the same run. Prints median and p99 in milliseconds.

Bodies (OpenAI chat completions, as the SDK sends them):
  chat-2k    a 2 KB conversation (6 turns), every message naming the patient
  chat-16k   a 16 KB conversation (48 turns)
  image      one user message: a 6.6 MB base64 PNG data URL, then a question naming the patient
Cases:
  none       rewrite with no edits (returns the body itself)
  same       every text part written back with its own text (every chain walked, nothing re-encoded)
  text       every text part edited (names become stand-ins); for `image`, only the text after the image
  image      the image replaced by new bytes of the same size (base64 re-encoded in the same style)

    .venv/bin/python bench/bench_rewrite.py [--rounds N]
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import statistics
import time
from collections.abc import Callable

from phiwall.extractors.openai_api import OpenAIAdapter
from phiwall.model import PartKind
from phiwall.request import RequestData

NAME = "Margaret Okafor"
TURN = (
    f"My patient {NAME}, MRN 4455667, born 03/14/1961, has had chest pain since Tuesday; her ECG shows ST "
    "depression in V4-V6. What should we rule out first, and which labs would you order tonight?"
)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def chat(size: int) -> bytes:
    msgs: list[dict[str, object]] = []
    while len(json.dumps({"model": "gpt-4o", "messages": msgs})) < size:
        role = "user" if len(msgs) % 2 == 0 else "assistant"
        msgs.append({"role": role, "content": TURN if role == "user" else TURN.replace("My patient", "For")})
    return json.dumps({"model": "gpt-4o", "messages": msgs}).encode()


def image_chat(b64_len: int = 6_600_000) -> bytes:
    raw = os.urandom(b64_len * 3 // 4 - 8)
    png = b"\x89PNG\r\n\x1a\n" + raw  # a PNG by its magic: extracted as a file part, never decoded here
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": TURN}]
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}).encode()


def request(body: bytes) -> RequestData:
    return RequestData(
        method="POST",
        scheme="https",
        host="api.openai.com",
        port=443,
        path="/v1/chat/completions",
        headers=(("content-type", "application/json"),),
        raw_body=body,
    )


def timed(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    fn()  # warm
    xs = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(xs), pct(xs, 0.99)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=200, help="timed runs per case (image cases: a fifth)")
    args = ap.parse_args()
    a = OpenAIAdapter()
    print(f"{'body':9} {'case':8} {'median ms':>10} {'p99 ms':>9}")
    for label, body in (("chat-2k", chat(2048)), ("chat-16k", chat(16384)), ("image", image_chat())):
        req = request(body)
        rounds = args.rounds if label != "image" else max(10, args.rounds // 5)
        parts = a.extract(req, body).parts
        texts = [p for p in parts if p.kind == PartKind.TEXT]
        files = [p for p in parts if p.kind == PartKind.FILE]
        same: dict[str, str | bytes] = {p.id: p.text or "" for p in texts}
        edited: dict[str, str | bytes] = {p.id: (p.text or "").replace(NAME, "[PATIENT_1]") for p in texts}
        cases: list[tuple[str, dict[str, str | bytes]]] = [("none", {}), ("same", same), ("text", edited)]
        if files:
            new = os.urandom(len(files[0].data or b""))
            cases.append(("image", {files[0].id: b"\x89PNG\r\n\x1a\n" + new[8:]}))
        med, p99 = timed(functools.partial(a.extract, req, body), rounds)
        print(f"{label:9} {'extract':8} {med:10.3f} {p99:9.3f}   ({len(body) / 1000:.0f} KB, {len(parts)} parts)")
        for case, edits in cases:
            out = a.rewrite(req, body, edits, parts)
            if case in ("none", "same"):
                assert out == body
            else:
                assert out != body and (case != "text" or NAME.encode() not in out)
            med, p99 = timed(functools.partial(a.rewrite, req, body, edits, parts), rounds)
            print(f"{label:9} {case:8} {med:10.3f} {p99:9.3f}")


if __name__ == "__main__":
    main()
