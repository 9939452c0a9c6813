"""ZIP, TAR and gzip: the usual way a DICOM folder reaches a chatbot ("CD export.zip").

Sizes are checked from the archive's own directory before anything is inflated, and again while inflating (a
directory can lie): members, total expanded bytes and compression ratio. Reading is streamed in chunks with a
running budget, so a 42 KB zip bomb stops after a few megabytes, not after 4 GB. Directory entries, symlinks,
devices and macOS resource forks (`__MACOSX/`, `._*`) are skipped; encrypted members cannot be inspected and
are refused (on_error), never passed.
"""

from __future__ import annotations

import copy
import gzip
import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from phiwall.containers.registry import MAX_EXPANDED_BYTES
from phiwall.containers.registry import MAX_MEMBERS
from phiwall.containers.registry import MAX_RATIO
from phiwall.containers.registry import RATIO_MIN_BYTES
from phiwall.containers.registry import Context
from phiwall.containers.registry import distinct_names
from phiwall.containers.registry import name_lines
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
from phiwall.locators import NameWords
from phiwall.locators import RewriteError
from phiwall.locators import Step
from phiwall.locators import Value
from phiwall.model import Part

CHUNK = 1 << 20


class _Budget:
    def __init__(self) -> None:
        self.used = 0

    def take(self, n: int) -> None:
        self.used += n
        if self.used > MAX_EXPANDED_BYTES:
            raise LimitError(
                f"archive expands to more than {MAX_EXPANDED_BYTES // 1_000_000} MB (a zip bomb or an oversized upload)"
            )


def _skip(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return name.startswith("__MACOSX/") or base.startswith("._") or base in ("", ".DS_Store", "Thumbs.db")


def _check_ratio(compressed: int, expanded: int) -> None:
    if expanded > RATIO_MIN_BYTES and expanded > MAX_RATIO * max(compressed, 1):
        raise LimitError(
            f"archive member expands more than {MAX_RATIO}:1 ({expanded} bytes from {compressed}): a zip bomb"
        )


def open_zip(data: bytes, what: str = "archive", members: str = "members") -> zipfile.ZipFile:
    """A ZIP whose directory is within the limits (member count, declared expanded size), checked before anything
    is inflated; `what`/`members` name it in the messages ("Office file", "parts")."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception as exc:  # zipfile raises many kinds on a damaged directory
        name = "ZIP archive" if what == "archive" else what
        raise ExtractionError(f"{name} could not be read ({type(exc).__name__}; truncated or damaged?)") from None
    if len(infos) > MAX_MEMBERS:
        raise LimitError(f"{what} holds {len(infos)} {members}, more than the {MAX_MEMBERS} phiwall inspects")
    declared = sum(i.file_size for i in infos)
    if declared > MAX_EXPANDED_BYTES:
        raise LimitError(f"{what} declares {declared} expanded bytes, over the {MAX_EXPANDED_BYTES} byte limit")
    return zf


def zip_children(part: Part, ctx: Context) -> list[Part]:
    """Every regular member of a ZIP as a child file part."""
    zf = open_zip(part.data or b"")
    infos = zf.infolist()
    budget = _Budget()
    out: list[Part] = []
    for index, info in enumerate(infos):
        if info.is_dir() or _skip(info.filename):
            continue
        if info.flag_bits & 0x1:
            raise ExtractionError("archive member is encrypted; phiwall cannot inspect it")
        _check_ratio(info.compress_size, info.file_size)
        buf = bytearray()
        try:
            with zf.open(info) as fh:
                while True:
                    chunk = fh.read(CHUNK)
                    if not chunk:
                        break
                    budget.take(len(chunk))
                    buf += chunk
                    _check_ratio(info.compress_size, len(buf))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, ValueError) as exc:
            raise ExtractionError(
                f"archive member {len(out) + 1} could not be inflated ({type(exc).__name__})"
            ) from None
        out.append(
            ctx.file(
                bytes(buf),
                info.filename,
                filename=info.filename.rsplit("/", 1)[-1],
                steps=(ZipMember(index, info.filename),),
            )
        )
    paths = [str(p.locator.path[-1]) for p in out]
    _names(ctx, paths, out, (ZipNames(distinct_names(paths)),))
    return out


def _names(ctx: Context, paths: list[str], out: list[Part], steps: tuple[Step, ...] | None = None) -> None:
    """The member names (folders and files) as one last text part: they name patients too."""
    names = ctx.names(paths, steps)
    if names is not None:
        out.append(names)


def tar_or_gzip_children(part: Part, ctx: Context) -> list[Part]:
    """A TAR (plain or compressed) as its members; a lone gzip stream as its one decompressed child."""
    data = part.data or b""
    if part.media_type == "application/gzip":
        inner = _gunzip(data)
        if len(inner) > 262 and inner[257:262] == b"ustar":
            return _tar_members(inner, ctx, (Gunzip(),))
        name = (part.filename or "data.gz").removesuffix(".gz").removesuffix(".tgz") or "data"
        return [ctx.file(inner, name, filename=name, steps=(Gunzip(),))]
    return _tar_members(data, ctx)


def _gunzip(data: bytes) -> bytes:
    budget = _Budget()
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            while True:
                chunk = gz.read(CHUNK)
                if not chunk:
                    break
                budget.take(len(chunk))
                out += chunk
                _check_ratio(len(data), len(out))
    except (OSError, EOFError, zlib.error) as exc:
        raise ExtractionError(f"gzip data could not be decompressed ({type(exc).__name__}; truncated?)") from None
    return bytes(out)


def _tar_members(data: bytes, ctx: Context, outer: tuple[Step, ...] = ()) -> list[Part]:
    budget = _Budget()
    out: list[Part] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            count = 0
            for member in tf:
                index = count
                count += 1
                if count > MAX_MEMBERS:
                    raise LimitError(f"archive holds more than the {MAX_MEMBERS} members phiwall inspects")
                if not member.isfile() or _skip(member.name):
                    continue
                budget.take(member.size)
                fh = tf.extractfile(member)
                if fh is None:
                    continue
                name = member.name.rsplit("/", 1)[-1]
                out.append(
                    ctx.file(fh.read(), member.name, filename=name, steps=(*outer, TarMember(index, member.name)))
                )
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ExtractionError(f"TAR archive could not be read ({type(exc).__name__}; truncated or damaged?)") from None
    _names(ctx, [str(p.locator.path[-1]) for p in out], out)
    return out


# ---------------------------------------------------------------------------------------------------------------
# write-back: members of ZIP and TAR archives, and gzip streams


def _no_rebuild() -> RewriteError:
    return RewriteError("not_rewritable", "phiwall could not rebuild this archive; send its files one by one")


def _bytes(v: Value) -> bytes:
    if isinstance(v, bytes):
        return v
    raise RewriteError("bad_edit", "an archive member takes bytes, not text")


@dataclass(frozen=True, slots=True)
class ZipMember(Step):
    """Member `index` (named `name`) of a ZIP archive. Writing rebuilds the archive once for all edited members:
    same member order, names, timestamps, permissions, comments and compression method; unedited members hold
    the same bytes (recompressed, so the archive reads identically but is not byte-identical)."""

    index: int
    name: str

    def label(self) -> str:
        return "ZipMember"  # never the member name: the user chose it

    def _info(self, zf: zipfile.ZipFile) -> zipfile.ZipInfo:
        infos = zf.infolist()
        if self.index >= len(infos) or infos[self.index].filename != self.name:
            raise RewriteError("stale", "the archive no longer holds the recorded member")
        return infos[self.index]

    def read(self, outer: Value) -> Value:
        try:
            zf = zipfile.ZipFile(io.BytesIO(_bytes(outer)))
            return zf.read(self._info(zf))
        except (zipfile.BadZipFile, OSError, ValueError, zlib.error):
            raise RewriteError("stale", "the archive can no longer be read") from None

    def write(self, outer: Value, inner: Value) -> Value:
        return ZipMember.write_many(outer, [(self, inner)])

    @staticmethod
    def write_many(outer: Value, items: Sequence[tuple[Step, Value]]) -> Value:
        return _rebuild_zip(outer, {s.index: _bytes(v) for s, v in items if isinstance(s, ZipMember)})


def _rebuild_zip(outer: Value, new: dict[int, bytes], rename: dict[str, str] | None = None) -> bytes:
    """The archive again: members `new` (by index) with new bytes, folder and file names in `rename` replaced,
    everything else as it was (order, timestamps, permissions, comments, compression method)."""
    try:
        src = zipfile.ZipFile(io.BytesIO(_bytes(outer)))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as dst:
            for i, info in enumerate(src.infolist()):
                data = new[i] if i in new else src.read(info)
                name = info.filename
                if rename:
                    name = "/".join(rename.get(c, c) for c in name.split("/"))
                zi = zipfile.ZipInfo(name, info.date_time)
                zi.compress_type = info.compress_type
                zi.comment = info.comment
                zi.extra = info.extra
                zi.create_system = info.create_system
                zi.external_attr = info.external_attr
                zi.internal_attr = info.internal_attr
                if info.is_dir():
                    dst.writestr(zi, b"")
                else:
                    dst.writestr(zi, data)
            dst.comment = src.comment
    except (zipfile.BadZipFile, OSError, ValueError, zlib.error, NotImplementedError, RuntimeError):
        raise _no_rebuild() from None
    return buf.getvalue()


@dataclass(frozen=True, slots=True)
class ZipNames(Step):
    """The folder and file names of a ZIP's members, as the names part reads them (`registry.name_lines`: each
    distinct name once, as words, a line each). Writing renames every member path that holds a changed name;
    names keep their separator style and extension (`NameWords`)."""

    components: tuple[str, ...]

    def label(self) -> str:
        return "ZipNames"  # never the names themselves

    def read(self, outer: Value) -> Value:
        return name_lines(self.components)

    def write(self, outer: Value, inner: Value) -> Value:
        return ZipNames.write_many(outer, [(self, inner)])

    @staticmethod
    def write_many(outer: Value, items: Sequence[tuple[Step, Value]]) -> Value:
        rename: dict[str, str] = {}
        for step, inner in items:
            assert isinstance(step, ZipNames)
            lines = inner.split("\n") if isinstance(inner, str) else []
            if len(lines) != len(step.components):
                raise RewriteError("bad_edit", "the archive's names must stay one per line")
            for old, line in zip(step.components, lines, strict=True):
                new = str(NameWords.of(old)[0].write(old, line)) if NameWords.of(old) else line
                if not new.strip() or "/" in new or "\\" in new:
                    raise RewriteError("bad_edit", "a new name inside the archive must be a plain name")
                if new != old:
                    rename[old] = new
        return _rebuild_zip(outer, {}, rename) if rename else outer


@dataclass(frozen=True, slots=True)
class TarMember(Step):
    """Member `index` (named `name`) of a TAR archive; rebuilt in the same format with each header kept (the
    size updated)."""

    index: int
    name: str

    def label(self) -> str:
        return "TarMember"

    def read(self, outer: Value) -> Value:
        try:
            with tarfile.open(fileobj=io.BytesIO(_bytes(outer)), mode="r:") as tf:
                members = tf.getmembers()
                if self.index >= len(members) or members[self.index].name != self.name:
                    raise RewriteError("stale", "the archive no longer holds the recorded member")
                fh = tf.extractfile(members[self.index])
                if fh is None:
                    raise RewriteError("stale", "the archive member is not a regular file")
                return fh.read()
        except (tarfile.TarError, OSError, EOFError):
            raise RewriteError("stale", "the archive can no longer be read") from None

    def write(self, outer: Value, inner: Value) -> Value:
        return TarMember.write_many(outer, [(self, inner)])

    @staticmethod
    def write_many(outer: Value, items: Sequence[tuple[Step, Value]]) -> Value:
        new = {s.index: _bytes(v) for s, v in items if isinstance(s, TarMember)}
        buf = io.BytesIO()
        try:
            with tarfile.open(fileobj=io.BytesIO(_bytes(outer)), mode="r:") as src:
                with tarfile.open(fileobj=buf, mode="w", format=src.format) as dst:
                    for i, member in enumerate(src.getmembers()):
                        if i in new:
                            ti = copy.copy(member)
                            ti.size = len(new[i])
                            dst.addfile(ti, io.BytesIO(new[i]))
                        elif member.isfile():
                            dst.addfile(member, src.extractfile(member))
                        else:
                            dst.addfile(member)
        except (tarfile.TarError, OSError, EOFError):
            raise _no_rebuild() from None
        return buf.getvalue()


@dataclass(frozen=True, slots=True)
class Gunzip(Step):
    """The decompressed content of a gzip stream; written back gzip-compressed with the original header's file
    name and modification time."""

    def read(self, outer: Value) -> Value:
        try:
            return _gunzip(_bytes(outer))
        except (ExtractionError, LimitError):
            raise RewriteError("stale", "the gzip data can no longer be decompressed") from None

    def write(self, outer: Value, inner: Value) -> Value:
        raw = _bytes(outer)
        mtime = struct.unpack("<I", raw[4:8])[0] if len(raw) >= 10 else 0
        fname = ""
        if len(raw) >= 10 and raw[3] & 0x08:
            pos = 10
            if raw[3] & 0x04:  # FEXTRA comes first
                (xlen,) = struct.unpack("<H", raw[10:12])
                pos = 12 + xlen
            end = raw.find(b"\x00", pos)
            if end > 0:
                fname = raw[pos:end].decode("latin-1")
        buf = io.BytesIO()
        with gzip.GzipFile(filename=fname, mode="wb", fileobj=buf, mtime=mtime) as gz:
            gz.write(_bytes(inner))
        return buf.getvalue()
