"""Build phiwall/data/name_lists.json.gz: the name and not-a-name word lists the text recognizers use at run time.

From philter-lite 0.6.0's `filters/set.toml` (BSD-3-Clause, UCSF; only this data file, never its runtime or its
sample notes): first names and surnames, minus every word of its "not a name" whitelist; and that whitelist itself
(English and medical words). Debian's `hunspell-en-med` is GPL-3+, so it is used only to generate training
negatives (training/phi_tagger_data.py), never shipped.

Usage: .venv/bin/python training/build_name_lists.py
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "proxy" / "phiwall" / "data" / "name_lists.json.gz"


def philter_sets() -> dict[str, list[str]]:
    # Locate the package without importing it: its __init__ pulls in NLTK (the runtime we do not use).
    spec = importlib.util.find_spec("philter_lite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("philter-lite 0.6.0 is not installed: pip install --no-deps -r training/requirements.txt")
    path = Path(next(iter(spec.submodule_search_locations))) / "filters" / "set.toml"
    with path.open("rb") as fh:
        return tomllib.load(fh)  # type: ignore[no-any-return]


def main() -> int:
    sets = philter_sets()
    word = re.compile(r"^[a-z][a-z'\-]{1,24}$")
    not_names = {w for w in sets["nonames"] if word.match(w)}
    first = sorted({w for w in sets["firstnames"] if word.match(w)} - not_names)
    last = sorted({w for w in sets["lastnames"] if word.match(w)} - not_names)
    data = {
        "source": "philter-lite 0.6.0 filters/set.toml (BSD-3-Clause, UCSF)",
        "first_names": first,
        "last_names": last,
        "not_names": sorted(not_names),
    }
    raw = json.dumps(data, separators=(",", ":")).encode()
    OUT.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"{OUT}: {len(first)} first names, {len(last)} surnames, {len(not_names)} not-names, "
          f"{OUT.stat().st_size / 1e6:.1f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
