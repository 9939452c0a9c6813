"""`phiwall deid IN... -o OUT [--policy FILE]`: de-identify files and folders offline, with the proxy's engines.

DICOM (PS3.15 Annex E Basic Profile and the policy's options), PNG/JPEG/WebP/HEIC images, text files, JSON Lines
(every string value of every record) and ZIP archives (member by member, DICOMDIR included) are written to OUT
under the same relative names; anything that cannot be de-identified is refused, reported with its reason, and
not written. The keys come from the installation secret (~/.phiwall/secret), so the same study gets the same new
UIDs and the same patient the same pseudonym here and in the proxy; text pseudonyms are consistent across all the
files of one run.

Exit status: 0 everything was de-identified, 1 something had to be refused, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def add_parser(sub: Any) -> None:
    """Register the `deid` subcommand on the `phiwall` parser's subparsers."""
    p = sub.add_parser(
        "deid",
        help="de-identify files and folders offline (DICOM, images, text, JSON Lines, ZIP)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="files or folders")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output file (one input file) or folder")
    p.add_argument(
        "--policy", help="policy YAML whose first deidentify rule's `with:` options apply (default: Basic Profile)"
    )
    p.add_argument("--json", action="store_true", help="one JSON line per file: path, status, PHI-free summary")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on folders")
    p.set_defaults(func=cmd_deid)


def cmd_deid(args: argparse.Namespace) -> int:
    from phiwall import digest
    from phiwall import home
    from phiwall.deid.files import deidentify_bytes
    from phiwall.deid.files import deidentify_dicomdir
    from phiwall.deid.files import is_dicomdir
    from phiwall.deid.options import CannotDeidentify
    from phiwall.deid.options import DeidResult
    from phiwall.deid.uids import derive_keys
    from phiwall.errors import PolicyError

    inputs = [Path(p) for p in args.inputs]
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        print(f"phiwall deid: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.output)
    single = len(inputs) == 1 and inputs[0].is_file() and not out.is_dir() and not args.output.endswith("/")
    for p in inputs:
        if out.resolve() == p.resolve() or (p.is_dir() and out.resolve().is_relative_to(p.resolve())):
            print("phiwall deid: OUT must not be an input or inside one", file=sys.stderr)
            return EXIT_USAGE
    try:
        opts, text_options = _options(args.policy)
    except PolicyError as e:
        print(f"phiwall deid: invalid policy:\n{e}", file=sys.stderr)
        return EXIT_USAGE
    secret = digest.load_or_create_secret(home.default_secret_file())
    digest.set_key(secret)
    keys = derive_keys(secret)
    text_fn = _text_function(opts.text, text_options)

    jobs = list(_jobs(inputs, out, single))
    refused = 0
    bar = None
    if any(p.is_dir() for p in inputs) and not args.no_progress:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

        bar = tqdm(total=len(jobs), unit="file", desc="de-identifying", file=sys.stderr, disable=None)
    # A DICOMDIR goes last: its records must name the transfer syntaxes of the files as they were written.
    jobs.sort(key=lambda job: job[0].name.upper() == "DICOMDIR")
    for src, dest in jobs:
        status: dict[str, Any] = {"path": str(src)}
        try:
            data = src.read_bytes()
            if is_dicomdir(data):
                new = deidentify_dicomdir(data, opts, keys, member_dir=dest.parent)
                res = DeidResult(new, "application/dicom", {"kind": "dicomdir"})
            else:
                res = deidentify_bytes(data, src.name, opts, keys, text_fn=text_fn)
        except CannotDeidentify as exc:
            refused += 1
            status.update(status="refused", code=exc.code, reason=exc.reason)
            if not args.json:
                print(f"phiwall deid: refused {src}: {exc.reason}", file=sys.stderr)
        except OSError as exc:
            refused += 1
            status.update(status="refused", code="unreadable", reason=exc.strerror or "cannot read")
            if not args.json:
                print(f"phiwall deid: cannot read {src}: {exc.strerror}", file=sys.stderr)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(res.data)
            status.update(status="deidentified", output=str(dest), summary=res.summary)
        if args.json:
            print(json.dumps(status, sort_keys=True))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    done = len(jobs) - refused
    if not args.json:
        print(f"phiwall deid: {done} file(s) de-identified, {refused} refused", file=sys.stderr)
    return EXIT_REFUSED if refused else EXIT_OK


def _jobs(inputs: list[Path], out: Path, single: bool) -> Iterator[tuple[Path, Path]]:
    if single:
        yield inputs[0], out
        return
    for p in inputs:
        if p.is_file():
            yield p, out / p.name
            continue
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            yield f, out / p.name / f.relative_to(p)


def _options(policy: str | None) -> tuple[Any, dict[str, Any]]:
    """The first `deidentify` rule's options (per kind, the first rule that sets that kind), and text_phi's
    detector options; the defaults (Basic Profile, pseudonyms, painted text) without a policy."""
    from phiwall.deid.options import DeidOptionSet

    if policy is None:
        return DeidOptionSet(), {}
    from phiwall.policy import Policy
    from phiwall.policy import load_policy

    pol = Policy(load_policy(policy))
    found: dict[str, Any] = {}
    for rule in pol.rules:
        w = getattr(rule, "with_", None)
        if rule.action != "deidentify" or w is None:
            continue
        for kind in ("text", "dicom", "image"):
            val = getattr(w, kind, None)
            if val is not None:
                found.setdefault(kind, val)
    opts = DeidOptionSet(**found)
    return opts, pol.detector_options().get("text_phi", {})


def _text_function(opts: Any, detector_options: dict[str, Any]) -> Any:
    """One text de-identifier for the whole run: the text_phi detector's findings replaced by the text engine,
    with one set of pseudonyms so the same person is the same stand-in in every file."""
    from phiwall.deid import text as text_engine
    from phiwall.detectors import text_phi
    from phiwall.model import Locator
    from phiwall.model import Part
    from phiwall.model import PartKind

    state: dict[str, Any] = {}
    pseudonyms = text_engine.Pseudonyms(scope="phiwall-deid")

    def run(text: str) -> str:
        det = state.get("det")
        if det is None:
            det = state["det"] = text_phi.build(detector_options)
        part = Part("p0", PartKind.TEXT, Locator("body"), text=text)
        findings = [(f, opts) for f in det.detect(part) if text_engine.wants(opts, f)]
        if not findings:
            return text
        try:
            return text_engine.deidentify_text(text, findings, pseudonyms).text
        except ValueError:
            from phiwall.deid.options import CannotDeidentify

            raise CannotDeidentify("unparseable", "a finding in the text has no position to replace") from None

    return run
