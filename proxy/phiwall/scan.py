"""`phiwall scan` over many files: the items to inspect, a progress bar, and `--jobs N` worker processes.

1,215 notes took 76 s one after another with nothing on screen. The pipeline is built once in the parent; with
`--jobs N` the parent forks N workers that inherit it (models already loaded, pages shared copy-on-write), and
results come back in input order, so the output is the same whatever N is.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phiwall.pipeline import Inspection
from phiwall.pipeline import Pipeline


@dataclass(frozen=True)
class Item:
    """One thing to inspect: a file, or one record of a .jsonl file (`record` holds its id and text)."""

    path: str
    record: tuple[Any, str] | None = None


@dataclass(frozen=True)
class Result:
    item: Item
    inspection: Inspection | None
    error: str | None = None  # the file could not be read (its OS error, no content)


def iter_paths(paths: list[str]) -> Iterator[Path]:
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            yield from sorted(x for x in p.rglob("*") if x.is_file())
        else:
            yield p


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                print(f"phiwall: {path}:{n}: not a JSON record, skipped", file=sys.stderr)
                continue
            if isinstance(rec, dict):
                yield rec


def items(paths: list[str]) -> list[Item]:
    out: list[Item] = []
    for path in iter_paths(paths):
        if path.suffix == ".jsonl":
            out += [Item(str(path), (rec.get("id"), str(rec.get("text", "")))) for rec in read_jsonl(path)]
        else:
            out.append(Item(str(path)))
    return out


_PIPE: Pipeline | None = None  # the parent's pipeline, inherited by forked workers


def _inspect(item: Item) -> Result:
    assert _PIPE is not None
    if item.record is not None:
        return Result(item, _PIPE.inspect_text(item.record[1]))
    try:
        data = Path(item.path).read_bytes()
    except OSError as e:
        return Result(item, None, e.strerror or type(e).__name__)
    return Result(item, _PIPE.inspect_bytes(data, Path(item.path).name))


def run(pipe: Pipeline, todo: list[Item], jobs: int = 1, progress: bool | None = None) -> Iterator[Result]:
    """Inspect every item, yielding results in input order; a progress bar on stderr when it is a terminal (or
    when `progress` is True) and there is more than one item."""
    global _PIPE
    _PIPE = pipe
    show = sys.stderr.isatty() if progress is None else progress
    bar: Any = None
    if show and len(todo) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="scan", unit="file", file=sys.stderr, mininterval=0.2)
    try:
        if jobs <= 1 or len(todo) <= 1:
            results: Iterator[Result] = (_inspect(i) for i in todo)
            for r in results:
                if bar is not None:
                    bar.update(1)
                yield r
            return
        # fork: the workers inherit the loaded pipeline instead of loading the models again.
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx) as pool:
            for r in pool.map(_inspect, todo, chunksize=1 if len(todo) < 64 else 4):
                if bar is not None:
                    bar.update(1)
                yield r
    finally:
        if bar is not None:
            bar.close()
        _PIPE = None
