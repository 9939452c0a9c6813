"""DICOM recognised however its first bytes were cut or shifted (issue 13, item 10).

Files arrive with the 128-byte preamble cut but "DICM" kept (24 of 24 such files passed as allow), with a
shortened preamble, with junk in front, cut short, or as a bare data set. Every DICOM in ../shared/corpus/dicom
is tried in each form; the sniffer must never raise and must say DICOM wherever the bytes still carry DICM and
the File Meta, and the default policy must not allow what it would block in the original."""

from __future__ import annotations

from pathlib import Path

import pytest
from phiwall import sniff

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "dicom"
FILES = (
    sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.read_bytes()[128:132] == b"DICM")
    if CORPUS.is_dir()
    else []
)
needs_corpus = pytest.mark.skipif(not FILES, reason=f"no DICOM corpus at {CORPUS} (../shared/corpus/dicom)")
IDS = [str(p.relative_to(CORPUS)) for p in FILES]


def _meta_only(n_bytes: int = 200) -> bytes:
    """A minimal File Meta: (0002,0000) UL 4, (0002,0010) UI transfer syntax."""
    ts = b"1.2.840.10008.1.2.1\x00"
    body = b"\x02\x00\x10\x00UI" + len(ts).to_bytes(2, "little") + ts
    return (b"\x02\x00\x00\x00UL\x04\x00" + len(body).to_bytes(4, "little") + body).ljust(n_bytes, b"\0")


@pytest.mark.parametrize("cut", [0, 1, 64, 127, 128])
def test_preamble_cut_or_shortened_with_dicm_kept(cut: int) -> None:
    data = b"\0" * 128 + b"DICM" + _meta_only()
    assert sniff.sniff(data[cut:]) == sniff.DICOM


def test_dicm_without_file_meta_after_it_is_not_dicom() -> None:
    """'DICM' alone is four letters; a text file may start with them."""
    assert sniff.sniff(b"DICM is the magic of DICOM files, says the manual.") == sniff.OCTET


@needs_corpus
@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_corpus_file_in_every_shift_and_cut(path: Path) -> None:
    data = path.read_bytes()
    assert sniff.sniff(data) == sniff.DICOM
    # The preamble cut to any length, DICM kept.
    for k in range(0, 129, 8):
        assert sniff.sniff(data[k:]) == sniff.DICOM, f"preamble cut by {k}"
    assert sniff.sniff(data[128:]) == sniff.DICOM, "no preamble, DICM kept"
    # Junk before a full file: the signature moves; up to 128 extra bytes are still found.
    for k in (1, 7, 64, 128):
        assert sniff.sniff(b"\0" * k + data) == sniff.DICOM, f"{k} bytes in front"
    # No preamble, no DICM: the bare File Meta group (PS3.10 without the header), and the bare data set.
    assert sniff.sniff(data[132:]) == sniff.DICOM, "bare File Meta"
    # Cut short anywhere: never an exception; still DICOM while DICM and a full first element remain.
    for n in [*range(0, 160), *range(160, min(len(data), 4096), 97), len(data) // 2, len(data) - 1]:
        got = sniff.sniff(data[:n])
        if n >= 144:
            assert got == sniff.DICOM, f"cut at {n}"
        got = sniff.sniff(data[128:][:n])
        if n >= 16:
            assert got == sniff.DICOM, f"no preamble, cut at {n}"


@pytest.fixture(scope="module")
def pipeline():
    from phiwall.pipeline import Pipeline
    from phiwall.policy import Policy
    from phiwall.policy import load_policy

    return Pipeline(Policy(load_policy(None)))


@needs_corpus
@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_preamble_less_corpus_file_gets_the_same_verdict(pipeline, path: Path) -> None:
    data = path.read_bytes()
    whole = pipeline.inspect_bytes(data, "scan.bin").decision
    cut = pipeline.inspect_bytes(data[128:], "scan.bin").decision
    assert str(whole.verdict) != "allow", f"{path.name}: the default policy allows the original?"
    assert (str(cut.verdict), cut.rule_ids) == (str(whole.verdict), whole.rule_ids), cut.error
    assert cut.entity_counts() == whole.entity_counts()
