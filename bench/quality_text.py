"""Span- and note-level quality of the `text_phi` detector on the shared PHI text corpora.

Method (also in docs/quality.md, "PHI in text"):
- A gold span is *found* when any predicted span overlaps it by at least one character, whatever the predicted
  entity (the proxy blocks or warns on any PHI, so the type matters less than the catch). Recall = found / gold.
- A predicted span is *correct* when it overlaps a gold span. Predictions that overlap only gold spans of types
  outside our vocabulary (ORGANIZATION, TITLE, NRP, AGE under 90) are ignored, and so are those gold spans.
  Precision = correct / (predicted - ignored). Every finding on a negative note is a false positive.
- Note level: a note with gold PHI is *flagged* when it gets at least one finding; a negative note (no gold span)
  is a false alarm when it gets any finding.

- Halves: `--half tune` keeps records whose group key is even, `--half check` the odd ones (physionet: patient id;
  presidio_synth: template id; medquad: CRC32 of the MedQuAD document group; philter: record index). Rules were
  tuned on `tune` only, so `check` is the honest estimate inside the dev data.
- The PHI tagger (training/) learns from the tune half minus a fifth of its groups, `--half tune-dev` (group key
  even and (key // 2) % 5 == 0): the operating point is chosen there, on groups the tagger never saw.

Usage: .venv/bin/python bench/quality_text.py [--limit N] [--threshold 0.5] [--half tune|check|tune-dev]
       [--show-errors TYPE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections import Counter
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from phiwall.detectors.text_phi import TextPhiDetector
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "phi_text"
SETS = {
    "physionet_deid": CORPUS / "physionet_deid" / "notes.jsonl",
    "philter_i2b2": CORPUS / "philter_i2b2" / "notes.jsonl",
    "presidio_synth": CORPUS / "presidio_synth" / "synth_dataset_v2.jsonl",
    "medquad_questions": CORPUS / "medquad_negatives" / "questions.jsonl",
    "medquad_answers": CORPUS / "medquad_negatives" / "answers.jsonl",
}
OUT_OF_SCOPE = {"ORGANIZATION", "TITLE", "NRP", "AGE"}


@dataclass
class Tally:
    gold: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    pred: Counter[str] = field(default_factory=Counter)
    correct: Counter[str] = field(default_factory=Counter)
    pos_notes: int = 0
    pos_flagged: int = 0
    neg_notes: int = 0
    neg_flagged: int = 0
    neg_fp_entities: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    chars: int = 0
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _group_key(row: dict[str, object], index: int) -> int:
    for key in ("patient_id", "template_id"):
        if isinstance(row.get(key), int):
            return int(row[key])  # type: ignore[call-overload]
    if isinstance(row.get("group"), str):
        return zlib.crc32(str(row["group"]).encode())
    return index


def evaluate(detector: TextPhiDetector, path: Path, limit: int | None, half: str | None = None) -> Tally:
    t = Tally()
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    if half == "tune-dev":
        rows = [r for i, r in enumerate(rows) if _group_key(r, i) % 2 == 0 and (_group_key(r, i) // 2) % 5 == 0]
    elif half:
        parity = 0 if half == "tune" else 1
        rows = [r for i, r in enumerate(rows) if _group_key(r, i) % 2 == parity]
    if limit:
        rows = rows[:limit]
    for row in rows:
        text: str = row["text"]
        part = Part(id=row["id"], kind=PartKind.TEXT, locator=Locator("body"), text=text)
        t0 = time.perf_counter()
        findings = detector.detect(part)
        t.seconds += time.perf_counter() - t0
        t.chars += len(text)
        preds = [(f.start or 0, f.end or 0, f.entity) for f in findings]
        gold_in = [(s["start"], s["end"], s["type"]) for s in row["spans"] if s["type"] not in OUT_OF_SCOPE]
        gold_out = [(s["start"], s["end"]) for s in row["spans"] if s["type"] in OUT_OF_SCOPE]
        for gs, ge, gt in gold_in:
            t.gold[gt] += 1
            if any(_overlaps((gs, ge), (ps, pe)) for ps, pe, _ in preds):
                t.found[gt] += 1
            else:
                t.errors[f"FN:{gt}"].append(_ctx(text, gs, ge))
        for ps, pe, pt in preds:
            if any(_overlaps((ps, pe), (gs, ge)) for gs, ge, _ in gold_in):
                t.pred[pt] += 1
                t.correct[pt] += 1
            elif any(_overlaps((ps, pe), g) for g in gold_out):
                continue
            else:
                t.pred[pt] += 1
                t.errors[f"FP:{pt}"].append(_ctx(text, ps, pe))
        if row["spans"]:
            t.pos_notes += 1
            t.pos_flagged += bool(preds)
        else:
            t.neg_notes += 1
            if preds:
                t.neg_flagged += 1
                t.neg_fp_entities.update({p[2] for p in preds})
    return t


def _ctx(text: str, s: int, e: int) -> str:
    return (text[max(0, s - 30) : s] + "[[" + text[s:e] + "]]" + text[e : e + 20]).replace("\n", " ")


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:5.1f}%" if b else "    -"


def report(results: dict[str, Tally]) -> str:
    lines = [
        "| set | gold spans | recall | predicted | precision | PHI notes flagged | negative notes flagged | ms/KB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total = Tally()
    for name, t in results.items():
        g, f, p, c = sum(t.gold.values()), sum(t.found.values()), sum(t.pred.values()), sum(t.correct.values())
        lines.append(
            f"| {name} | {g} | {_pct(f, g)} | {p} | {_pct(c, p)} | {t.pos_flagged}/{t.pos_notes} "
            f"({_pct(t.pos_flagged, t.pos_notes).strip()}) | {t.neg_flagged}/{t.neg_notes} "
            f"({_pct(t.neg_flagged, t.neg_notes).strip()}) | {1000 * t.seconds / max(1, t.chars / 1024):.1f} |"
        )
        total.gold.update(t.gold)
        total.found.update(t.found)
        total.pred.update(t.pred)
        total.correct.update(t.correct)
        total.neg_fp_entities.update(t.neg_fp_entities)
    lines += ["", "Recall per gold type (all sets):", "", "| gold type | spans | found | recall |"]
    lines.append("|---|---:|---:|---:|")
    for gt, n in total.gold.most_common():
        lines.append(f"| {gt} | {n} | {total.found[gt]} | {_pct(total.found[gt], n)} |")
    lines += ["", "Precision per predicted entity (all sets):", "", "| entity | predicted | correct | precision |",
              "|---|---:|---:|---:|"]  # fmt: skip
    for pt, n in total.pred.most_common():
        lines.append(f"| {pt} | {n} | {total.correct[pt]} | {_pct(total.correct[pt], n)} |")
    lines += ["", "Entities behind false alarms on negative notes (notes with at least one):", ""]
    lines.append(", ".join(f"{e} {n}" for e, n in total.neg_fp_entities.most_common()) or "none")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="only the first N records of each set (quick look)")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument(
        "--half",
        choices=("tune", "check", "tune-dev"),
        default=None,
        help="even (tune) or odd (check) groups only; tune-dev: the fifth of tune the tagger never trained on",
    )
    ap.add_argument("--show-errors", default=None, help="print up to 40 contexts for e.g. FN:PERSON or FP:LOCATION")
    args = ap.parse_args(argv)
    detector = TextPhiDetector({"score_threshold": args.threshold})
    results = {name: evaluate(detector, path, args.limit, args.half) for name, path in SETS.items() if path.exists()}
    print(report(results))
    if args.show_errors:
        for name, t in results.items():
            keys = [k for k in t.errors if args.show_errors == "all" or k == args.show_errors]
            for ctx in (f"{k} {c}" for k in keys for c in t.errors[k][: 10_000 if args.show_errors == "all" else 40]):
                print(f"{name}: {ctx}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
