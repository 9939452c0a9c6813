"""ZIP, TAR and gzip: the usual way a DICOM folder reaches a chatbot ("CD export.zip").

Sizes are checked from the archive's own directory before anything is inflated, and again while inflating (a
directory can lie): members, total expanded bytes and compression ratio. Reading is streamed in chunks with a
running budget, so a 42 KB zip bomb stops after a few megabytes, not after 4 GB. Directory entries, symlinks,
devices and macOS resource forks (`__MACOSX/`, `._*`) are skipped; encrypted members cannot be inspected and
are refused (on_error), never passed.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
import zlib

from phiwall.containers.registry import MAX_EXPANDED_BYTES
from phiwall.containers.registry import MAX_MEMBERS
from phiwall.containers.registry import MAX_RATIO
from phiwall.containers.registry import RATIO_MIN_BYTES
from phiwall.containers.registry import Context
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
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


def zip_children(part: Part, ctx: Context) -> list[Part]:
    """Every regular member of a ZIP as a child file part."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(part.data or b""))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ExtractionError(f"ZIP archive could not be read ({type(exc).__name__}; truncated or damaged?)") from None
    if len(infos) > MAX_MEMBERS:
        raise LimitError(f"archive holds {len(infos)} members, more than the {MAX_MEMBERS} phiwall inspects")
    declared = sum(i.file_size for i in infos)
    if declared > MAX_EXPANDED_BYTES:
        raise LimitError(f"archive declares {declared} expanded bytes, over the {MAX_EXPANDED_BYTES} byte limit")
    budget = _Budget()
    out: list[Part] = []
    for info in infos:
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
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            raise ExtractionError(
                f"archive member {len(out) + 1} could not be inflated ({type(exc).__name__})"
            ) from None
        out.append(ctx.file(bytes(buf), info.filename, filename=info.filename.rsplit("/", 1)[-1]))
    return out


def tar_or_gzip_children(part: Part, ctx: Context) -> list[Part]:
    """A TAR (plain or compressed) as its members; a lone gzip stream as its one decompressed child."""
    data = part.data or b""
    if part.media_type == "application/gzip":
        inner = _gunzip(data)
        if len(inner) > 262 and inner[257:262] == b"ustar":
            return _tar_members(inner, ctx)
        name = (part.filename or "data.gz").removesuffix(".gz").removesuffix(".tgz") or "data"
        return [ctx.file(inner, name, filename=name)]
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


def _tar_members(data: bytes, ctx: Context) -> list[Part]:
    budget = _Budget()
    out: list[Part] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            count = 0
            for member in tf:
                count += 1
                if count > MAX_MEMBERS:
                    raise LimitError(f"archive holds more than the {MAX_MEMBERS} members phiwall inspects")
                if not member.isfile() or _skip(member.name):
                    continue
                budget.take(member.size)
                fh = tf.extractfile(member)
                if fh is None:
                    continue
                out.append(ctx.file(fh.read(), member.name, filename=member.name.rsplit("/", 1)[-1]))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ExtractionError(f"TAR archive could not be read ({type(exc).__name__}; truncated or damaged?)") from None
    return out
