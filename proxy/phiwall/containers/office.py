"""DOCX and XLSX: text (body, tables, headers, footers, comments; cell values) and embedded media.

Both are ZIP files, so the archive limits (members, expanded size, ratio) are checked from the ZIP directory
before python-docx or openpyxl inflate anything. openpyxl runs read-only with values only (no formulas
evaluated, no external links followed).
"""

from __future__ import annotations

import io
import zipfile

from phiwall.containers.registry import MAX_RATIO
from phiwall.containers.registry import MAX_TEXT_CHARS
from phiwall.containers.registry import RATIO_MIN_BYTES
from phiwall.containers.registry import Context
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
from phiwall.locators import NotRewritable
from phiwall.model import Part

MAX_CELLS = 2_000_000
MEDIA_PREFIXES = ("word/media/", "xl/media/")


def office_kind(data: bytes) -> str | None:
    """ "docx", "xlsx" or None, from the ZIP's member names (cheap: the central directory only)."""
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except Exception:
        return None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return None


def _check_zip(data: bytes) -> zipfile.ZipFile:
    """The archive limits (archive.open_zip), and the compression ratio of each part from the directory alone:
    python-docx and openpyxl inflate whole parts, so a bomb must be refused before they start."""
    from phiwall.containers.archive import open_zip

    zf = open_zip(data, "Office file", "parts")
    for i in zf.infolist():
        if i.file_size > RATIO_MIN_BYTES and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise LimitError(f"Office file part expands more than {MAX_RATIO}:1: a zip bomb")
    return zf


# Text is gathered from many XML runs into one part, so it has no single place to go back to.
DOCX_TEXT = (
    "phiwall cannot rewrite the text of a Word document; remove the identifying text, or paste it into the chat, "
    "and send it again"
)
XLSX_TEXT = (
    "phiwall cannot rewrite the cells of a spreadsheet; remove the identifying columns, or export them as CSV, "
    "and send it again"
)


def _media(zf: zipfile.ZipFile, ctx: Context) -> list[Part]:
    """Embedded images, each written back as the ZIP member it is (the document's XML is left as it was)."""
    from phiwall.containers.archive import ZipMember

    out = []
    for index, info in enumerate(zf.infolist()):
        if info.filename.startswith(MEDIA_PREFIXES) and not info.is_dir():
            data = zf.read(info)
            name = info.filename.rsplit("/", 1)[-1]
            out.append(ctx.file(data, info.filename, filename=name, steps=(ZipMember(index, info.filename),)))
    return out


def docx_children(part: Part, ctx: Context) -> list[Part]:
    """Text of a Word document (one text part) plus its embedded images."""
    import docx

    data = part.data or b""
    zf = _check_zip(data)
    try:
        doc = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise ExtractionError(f"Word document could not be read ({type(exc).__name__})") from None
    lines: list[str] = []
    props = doc.core_properties
    for label, val in (("Title", props.title), ("Author", props.author), ("Subject", props.subject),
                       ("Last modified by", props.last_modified_by), ("Comments", props.comments)):  # fmt: skip
        if val:
            lines.append(f"{label}: {val}")
    for section in doc.sections:
        for hf in (section.header, section.footer):
            lines.extend(p.text for p in hf.paragraphs if p.text)
    lines.extend(p.text for p in doc.paragraphs if p.text)
    for table in doc.tables:
        for row in table.rows:
            lines.append("\t".join(c.text for c in row.cells))
    out = []
    if (p := ctx.text("\n".join(lines), "text", steps=(NotRewritable(DOCX_TEXT),))) is not None:
        out.append(p)
    return out + _media(zf, ctx)


def xlsx_children(part: Part, ctx: Context) -> list[Part]:
    """One text part per worksheet (tab-separated rows) plus embedded images."""
    import openpyxl

    data = part.data or b""
    zf = _check_zip(data)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise ExtractionError(f"spreadsheet could not be read ({type(exc).__name__})") from None
    out = []
    cells = 0
    try:
        for ws in wb.worksheets:
            rows = []
            size = 0
            for row in ws.iter_rows(values_only=True):
                cells += len(row)
                if cells > MAX_CELLS:
                    raise LimitError(f"spreadsheet has more than {MAX_CELLS} cells; phiwall stops there")
                line = "\t".join("" if v is None else str(v) for v in row).rstrip("\t")
                if line:
                    rows.append(line)
                    size += len(line) + 1
                    if size > MAX_TEXT_CHARS:
                        break
            sheet = ctx.text("\n".join(rows), "sheet", str(ws.title), steps=(NotRewritable(XLSX_TEXT),))
            if (p := sheet) is not None:
                out.append(p)
    finally:
        wb.close()
    return out + _media(zf, ctx)
