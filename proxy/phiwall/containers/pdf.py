"""PDF: the text layer per page, embedded images, attachments, document info, and scanned pages for OCR.

pypdfium2 (Google's PDFium, the engine in Chrome) reads the PDF: it is maintained, fast (a 20-page text PDF in
well under the 300 ms budget, measured in bench/) and copes with the broken and hostile files Chrome meets on the
web (cross-reference loops, truncated streams). Each page becomes:

* a text part with the page's text layer ("archive:report.pdf.page.3.text"), for the text PHI detector;
* a file part per embedded image ("...page.3.image.0"), re-encoded as PNG, for the image detectors;
* for a page with (almost) no text layer but with images, a rendering of the whole page ("...page.3.scan"),
  which the burned-in-text detector OCRs. The page's own images are then not emitted again.

Limits: MAX_PDF_PAGES pages, MAX_OCR_PAGES scanned pages, 50 images, each image under the raster pixel limit.
"""

from __future__ import annotations

import io

from phiwall.containers.registry import MAX_OCR_PAGES
from phiwall.containers.registry import MAX_PDF_PAGES
from phiwall.containers.registry import Context
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
from phiwall.locators import NotRewritable
from phiwall.model import Part

MAX_IMAGES = 50
MIN_IMAGE_SIDE = 48  # icons, bullets and rules are not evidence
MAX_IMAGE_PIXELS = 100_000_000
SCAN_TEXT_CHARS = 20  # a page with fewer text-layer characters than this and an image is treated as a scan
SCAN_RENDER_SIDE = 1700  # ~200 dpi for a letter page: tesseract's sweet spot for body text
META_KEYS = ("Title", "Author", "Subject", "Keywords")


# pypdfium2 reads PDFs but phiwall has no writer that could replace a page's text or images in place.
NO_PDF_WRITER = (
    "phiwall cannot rewrite PDF files; remove the identifying content from the PDF (or send the pages as images) "
    "and send it again"
)
_NO_WRITE = (NotRewritable(NO_PDF_WRITER),)


def children(part: Part, ctx: Context) -> list[Part]:
    """Child parts of a PDF (see the module docstring). None of them can be written back (`NO_PDF_WRITER`)."""
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(part.data or b"")
    except pdfium.PdfiumError as exc:
        msg = str(exc).lower()
        if "password" in msg:
            raise ExtractionError("PDF is password-protected; phiwall cannot inspect it") from None
        raise ExtractionError("PDF could not be opened (damaged, truncated or not a PDF)") from None
    try:
        return _walk(doc, ctx)
    finally:
        doc.close()


def _walk(doc: object, ctx: Context) -> list[Part]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    assert isinstance(doc, pdfium.PdfDocument)
    n_pages = len(doc)
    if n_pages > MAX_PDF_PAGES:
        raise LimitError(f"PDF has {n_pages} pages, more than the {MAX_PDF_PAGES} phiwall inspects")
    out: list[Part] = []
    try:
        meta = doc.get_metadata_dict(skip_empty=True)
    except Exception:  # broken Info dictionary: the pages still count
        meta = {}
    info = "\n".join(f"{k}: {meta[k]}" for k in META_KEYS if meta.get(k))
    if (p := ctx.text(info, "info", steps=_NO_WRITE)) is not None:
        out.append(p)
    n_images = 0
    n_scans = 0
    for i in range(n_pages):
        try:
            page = doc[i]
        except pdfium.PdfiumError:
            raise ExtractionError(f"PDF page {i + 1} could not be read") from None
        try:
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            textpage.close()
            if (p := ctx.text(text, "page", i + 1, "text", steps=_NO_WRITE)) is not None:
                out.append(p)
            images = list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3))
            if images and len(text.strip()) < SCAN_TEXT_CHARS:
                n_scans += 1
                if n_scans > MAX_OCR_PAGES:
                    raise LimitError(f"PDF has more than {MAX_OCR_PAGES} scanned pages to OCR; phiwall stops there")
                out.append(
                    ctx.file(_render(page), "page", i + 1, "scan", filename=f"page-{i + 1}.png", steps=_NO_WRITE)
                )
                continue
            for j, obj in enumerate(images):
                png = _image_png(obj)
                if png is None:
                    continue
                n_images += 1
                if n_images > MAX_IMAGES:
                    raise LimitError(f"PDF holds more than {MAX_IMAGES} images; phiwall stops there")
                out.append(
                    ctx.file(png, "page", i + 1, "image", j, filename=f"page-{i + 1}-image-{j}.png", steps=_NO_WRITE)
                )
        finally:
            page.close()
    for k in range(_count_attachments(doc)):
        try:
            att = doc.get_attachment(k)
            data = bytes(att.get_data())
            name = str(att.get_name())
        except Exception:
            raise ExtractionError(f"PDF attachment {k + 1} could not be read") from None
        out.append(ctx.file(data, "attachment", k + 1, filename=name, steps=_NO_WRITE))
    return out


def _count_attachments(doc: object) -> int:
    try:
        return int(doc.count_attachments())  # type: ignore[attr-defined]
    except Exception:
        return 0


def _render(page: object) -> bytes:
    w, h = page.get_size()  # type: ignore[attr-defined]
    scale = min(SCAN_RENDER_SIDE / max(w, h, 1.0), 4.0)
    pil = page.render(scale=scale, grayscale=True).to_pil()  # type: ignore[attr-defined]
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _image_png(obj: object) -> bytes | None:
    try:
        w, h = obj.get_px_size()  # type: ignore[attr-defined]
    except Exception:
        return None
    if w < MIN_IMAGE_SIDE or h < MIN_IMAGE_SIDE:
        return None
    if w * h > MAX_IMAGE_PIXELS:
        raise LimitError(f"PDF image of {w}x{h} pixels exceeds the {MAX_IMAGE_PIXELS} pixel limit")
    try:
        pil = obj.get_bitmap(render=False).to_pil()  # type: ignore[attr-defined]
    except Exception:
        return None  # an undecodable image stream: PDFium would not display it either
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
