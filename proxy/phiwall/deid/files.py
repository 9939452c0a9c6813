"""De-identification of whole files, offline and in the proxy alike: sniff what the bytes are and hand them to the
engine for that kind (DICOM, raster image, ZIP member by member, text, JSON Lines).

Why one dispatcher: `phiwall deid` and the proxy's worker must give the same bytes for the same input, so both call
`deidentify_bytes`. What has no writer (PDF, Office documents, NIfTI, archives other than ZIP) raises
`CannotDeidentify`, and the caller refuses (the CLI exits 1, the proxy blocks).

ZIP archives: every member is de-identified with the same keys, so the files of one study get the same new
StudyInstanceUID and the same patient pseudonym; a DICOMDIR is de-identified like any data set (its directory
records hold names, IDs and the referenced UIDs, which map exactly as the files' own UIDs do), and its record
offsets are recomputed by pydicom's FileSet. Member names are kept (a name that looks like a person's is the
sender's choice, but it is reported to the caller as `member_names` count only).
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import Final

from phiwall import sniff
from phiwall.deid.options import CannotDeidentify
from phiwall.deid.options import DeidKeys
from phiwall.deid.options import DeidOptionSet
from phiwall.deid.options import DeidResult

MAX_ZIP_MEMBERS: Final = 10_000
MAX_ZIP_TOTAL: Final = 4 * 1024**3  # expanded bytes; a bomb is refused, not de-identified
MAX_DEPTH: Final = 3
TEXT_SUFFIXES: Final = frozenset({".txt", ".md", ".csv", ".tsv", ".text", ".note", ".log", ".rtf_plain"})
JSONL_SUFFIXES: Final = frozenset({".jsonl", ".ndjson"})
IMAGE_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})

TextFn = Callable[[str], str]
"""De-identifies one text (the caller binds the options, the detector and the conversation's pseudonyms)."""


def kind_of(data: bytes, name: str) -> str:
    """`dicom`, `image`, `zip`, `jsonl`, `text` or the sniffed media type when there is no writer for it."""
    if data[128:132] == b"DICM":
        return "dicom"
    if data[:4] == b"PK\x03\x04" or (data[:4] == b"PK\x05\x06" and len(data) == 22):
        return "zip"  # before sniffing: a stored DICOM member puts 'DICM' within the archive's first bytes
    media = sniff.sniff(data)
    if media == sniff.DICOM:
        return "dicom"
    if media in IMAGE_TYPES:
        return "image"
    suffix = Path(name).suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in TEXT_SUFFIXES or (media == sniff.OCTET and _is_text(data)):
        return "text"
    return media


def deidentify_bytes(
    data: bytes,
    name: str,
    opts: DeidOptionSet,
    keys: DeidKeys,
    *,
    keep_length: int | None = None,
    text_fn: TextFn | None = None,
    depth: int = 0,
) -> DeidResult:
    """De-identify one file's bytes; `name` is used only for its suffix (text vs JSON Lines).

    Raises:
        CannotDeidentify: the kind has no writer, the bytes are damaged, a limit is hit, or the size cannot be kept.
    """
    kind = kind_of(data, name)
    if kind == "dicom":
        from phiwall.deid.dicom import deidentify_dicom

        offset = sniff.dicm_offset(data)
        if offset is not None and offset != 128:
            data = sniff.with_standard_preamble(data)
        if is_dicomdir(data):
            if keep_length is not None:
                raise CannotDeidentify("size_registered", "a DICOMDIR whose size was registered first cannot change")
            return DeidResult(deidentify_dicomdir(data, opts, keys), "application/dicom", {"kind": "dicomdir"})
        return deidentify_dicom(data, opts.dicom, keys, keep_length=keep_length)
    if kind == "image":
        from phiwall.deid.raster import deidentify_image

        return deidentify_image(data, opts.image, keys, keep_length=keep_length)
    if kind == "zip":
        if keep_length is not None:
            raise CannotDeidentify("size_registered", "a ZIP whose size was registered first cannot be rewritten")
        return deidentify_zip(data, opts, keys, text_fn=text_fn, depth=depth)
    if kind in ("text", "jsonl"):
        if text_fn is None:
            raise CannotDeidentify("unsupported_format", "text files are de-identified by the text engine only")
        if keep_length is not None:
            raise CannotDeidentify("size_registered", "a text file whose size was registered first cannot change")
        text = _decode_text(data)
        out = deidentify_jsonl(text, text_fn) if kind == "jsonl" else text_fn(text)
        new = out.encode("utf-8")
        return DeidResult(new, "text/plain" if kind == "text" else "application/jsonl", {"kind": kind}, new != data)
    raise CannotDeidentify(
        "unsupported_format",
        f"{kind} files cannot be de-identified (no writer); remove the identifying content or send a DICOM, "
        "PNG, JPEG, WebP, text or ZIP file",
    )


def deidentify_jsonl(text: str, text_fn: TextFn) -> str:
    """Every string value of every JSON record (keys stay), line by line; blank lines kept.

    Raises:
        CannotDeidentify: a line is not JSON (it cannot be de-identified field by field, so nothing is written).
    """
    out: list[str] = []
    for n, line in enumerate(text.splitlines(keepends=True), 1):
        body = line.rstrip("\r\n")
        if not body.strip():
            out.append(line)
            continue
        try:
            rec = json.loads(body)
        except json.JSONDecodeError:
            raise CannotDeidentify("unparseable", f"line {n} is not a JSON record") from None
        out.append(json.dumps(_walk_json(rec, text_fn), ensure_ascii=False) + line[len(body) :])
    return "".join(out)


def _walk_json(value: Any, text_fn: TextFn) -> Any:
    if isinstance(value, str):
        return text_fn(value) if value.strip() else value
    if isinstance(value, list):
        return [_walk_json(v, text_fn) for v in value]
    if isinstance(value, dict):
        return {k: _walk_json(v, text_fn) for k, v in value.items()}
    return value


def deidentify_zip(
    data: bytes, opts: DeidOptionSet, keys: DeidKeys, *, text_fn: TextFn | None = None, depth: int = 0
) -> DeidResult:
    """Every member de-identified and re-packed in the same order with the same names and compression.

    Raises:
        CannotDeidentify: the archive is damaged, encrypted, too large or too deep, or any member cannot be
            de-identified (one identifying member must not slip through inside a "de-identified" archive).
    """
    if depth >= MAX_DEPTH:
        raise CannotDeidentify("nested", "archives nested this deep cannot be de-identified")
    try:
        zin = zipfile.ZipFile(io.BytesIO(data))
        infos = zin.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise CannotDeidentify("unparseable", "the ZIP archive could not be read") from None
    if len(infos) > MAX_ZIP_MEMBERS or sum(i.file_size for i in infos) > MAX_ZIP_TOTAL:
        raise CannotDeidentify("too_large", "the ZIP archive is too large to de-identify")
    members: list[tuple[zipfile.ZipInfo, bytes]] = []
    counts: dict[str, int] = {}
    dicomdir: list[int] = []
    for info in infos:
        if info.flag_bits & 0x1:
            raise CannotDeidentify("unsupported_format", "encrypted ZIP members cannot be de-identified")
        if info.is_dir():
            members.append((info, b""))
            continue
        try:
            raw = zin.read(info)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
            raise CannotDeidentify("unparseable", "a ZIP member could not be read") from None
        if Path(info.filename).name.upper() == "DICOMDIR":
            dicomdir.append(len(members))
            members.append((info, raw))
            continue
        try:
            res = deidentify_bytes(raw, info.filename, opts, keys, text_fn=text_fn, depth=depth + 1)
        except CannotDeidentify as exc:
            raise CannotDeidentify(exc.code, f"a member of the ZIP archive: {exc.reason}") from None
        kind = str(res.summary.get("kind", "other"))
        counts[kind] = counts.get(kind, 0) + 1
        members.append((info, res.data))
    for i in dicomdir:
        info, raw = members[i]
        members[i] = (info, _dicomdir(raw, info.filename, members, opts, keys))
        counts["dicomdir"] = counts.get("dicomdir", 0) + 1
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zout:
        for info, body in members:
            new = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            new.compress_type = info.compress_type if info.compress_type in (0, 8) else zipfile.ZIP_DEFLATED
            new.external_attr = info.external_attr
            zout.writestr(new, body)
    summary: dict[str, int | str | list[str]] = {"kind": "zip", "members": len(members)}
    summary.update({f"members_{k}": v for k, v in sorted(counts.items())})
    return DeidResult(buf.getvalue(), "application/zip", summary)


MEDIA_STORAGE_DIRECTORY: Final = b"1.2.840.10008.1.3.10"


def is_dicomdir(data: bytes) -> bool:
    """A Media Storage Directory (DICOMDIR): its class UID sits in the File Meta, within the first bytes."""
    head = data[:1024]
    i = head.find(MEDIA_STORAGE_DIRECTORY)
    after = head[i + len(MEDIA_STORAGE_DIRECTORY) : i + len(MEDIA_STORAGE_DIRECTORY) + 1]
    return data[128:132] == b"DICM" and i != -1 and (not after or after not in b"0123456789.")


def deidentify_dicomdir(raw: bytes, opts: DeidOptionSet, keys: DeidKeys, *, member_dir: Path | None = None) -> bytes:
    """A DICOMDIR: records cleaned in place with each patient's own context (same pseudonyms and UIDs as the
    patient's files), referenced transfer syntaxes taken from the de-identified files under `member_dir` when
    given, then the record offsets re-linked (see `_relink`).

    Raises:
        CannotDeidentify: the DICOMDIR does not parse or its records cannot be re-linked.
    """
    from pydicom import dcmread

    from phiwall.deid.dicom import clean_directory_records

    try:
        ds = dcmread(io.BytesIO(raw))
        before = [int(item.seq_item_tell) for item in ds.get("DirectoryRecordSequence", [])]
        clean_directory_records(ds, opts.dicom, keys)
        if member_dir is not None:
            _sync_transfer_syntaxes(ds, member_dir)
        return _relink(ds, before)
    except CannotDeidentify:
        raise
    except Exception as exc:
        raise CannotDeidentify("unparseable", f"the DICOMDIR could not be rewritten ({type(exc).__name__})") from None


def _dicomdir(
    raw: bytes, name: str, members: list[tuple[zipfile.ZipInfo, bytes]], opts: DeidOptionSet, keys: DeidKeys
) -> bytes:
    """A DICOMDIR inside an archive: the de-identified members are laid out in a temporary folder so the records'
    transfer syntaxes can follow them."""
    root = Path(name).parent
    with tempfile.TemporaryDirectory(prefix="phiwall-dicomdir-") as tmp:
        base = Path(tmp)
        for info, body in members:
            rel = Path(info.filename)
            if info.is_dir() or ".." in rel.parts or rel.is_absolute() or not rel.is_relative_to(root):
                continue
            dest = base / rel.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(body)
        return deidentify_dicomdir(raw, opts, keys, member_dir=base)


_OFFSET_KEYWORDS: Final = (
    "OffsetOfTheNextDirectoryRecord",
    "OffsetOfReferencedLowerLevelDirectoryEntity",
)
_ROOT_OFFSETS: Final = (
    "OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity",
    "OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity",
)


def _relink(ds: Any, before: list[int]) -> bytes:
    """Write the DICOMDIR and point every record offset at where its record now starts.

    Offsets are UL (4 bytes), so changing them changes no length: write once, read where each record landed,
    map old positions to new ones, write again (same length, same positions).
    """
    from pydicom import dcmread

    def write() -> bytes:
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        return buf.getvalue()

    first = write()
    after = [int(item.seq_item_tell) for item in dcmread(io.BytesIO(first)).get("DirectoryRecordSequence", [])]
    if len(after) != len(before):
        raise CannotDeidentify("unparseable", "the DICOMDIR records could not be re-linked")
    moved = dict(zip(before, after, strict=True))
    targets = [(item, kw) for item in ds.get("DirectoryRecordSequence", []) for kw in _OFFSET_KEYWORDS]
    targets += [(ds, kw) for kw in _ROOT_OFFSETS]
    for holder, kw in targets:
        old = holder.get(kw)
        if old:
            holder[kw].value = moved.get(int(old), 0)
    out = write()
    if len(out) != len(first):
        raise CannotDeidentify("unparseable", "the DICOMDIR records could not be re-linked")
    return out


def _sync_transfer_syntaxes(ds: Any, base: Path) -> None:
    """Cleaning can change a member's transfer syntax (a painted JPEG is stored native); its record must say so."""
    from pydicom import dcmread

    for item in ds.get("DirectoryRecordSequence", []):
        fid = item.get("ReferencedFileID")
        if not fid or "ReferencedTransferSyntaxUIDInFile" not in item:
            continue
        parts = [
            str(p) for p in (fid if isinstance(fid, list | tuple) or type(fid).__name__ == "MultiValue" else [fid])
        ]
        path = base.joinpath(*parts)
        if ".." in parts or not path.is_file():
            continue
        try:
            meta = dcmread(path, stop_before_pixels=True).file_meta
            item.ReferencedTransferSyntaxUIDInFile = meta.TransferSyntaxUID
        except Exception:  # an unreadable member was refused earlier; keep the record as it is
            continue


def _is_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a multi-byte character cut at the sample's end
    return True


def _decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CannotDeidentify("unparseable", "the text file is not UTF-8; convert it and try again") from None
