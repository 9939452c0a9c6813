"""Test-data factories: files generated in memory, so unit tests never depend on the shared corpus.

Each factory owns a small section; add yours below with its own docstring.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from collections.abc import Sequence as SequenceABC
from typing import Any
from typing import Literal

# --- DICOM (owner: dicom detector) -----------------------------------------------------------------------------

DicomEncoding = Literal["implicit", "explicit", "big"]

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


def make_dicom(
    *,
    encoding: DicomEncoding = "explicit",
    preamble: bool = True,
    file_meta: bool = True,
    patient_name: str | None = "Testpatient^Alice",
    patient_id: str | None = "MRN-000123",
    modality: str = "CT",
    elements: Mapping[str, Any] | None = None,
    referenced_patient_name: str | None = None,
    request_attributes: Mapping[str, Any] | None = None,
    private: bool = False,
    burned_in: str | None = None,
    pixels: bool = True,
    directory_records: SequenceABC[Mapping[str, Any]] | None = None,
) -> bytes:
    """Build a small, valid DICOM file (or raw data set) with pydicom and return its bytes.

    Args:
        encoding: implicit VR little endian, explicit VR little endian, or explicit VR big endian.
        preamble: write the 128-byte preamble and "DICM" (PS3.10 file). False with file_meta=True gives File Meta
            without a preamble; False with file_meta=False gives a bare data set.
        file_meta: write the File Meta group (0002). A bare data set requires preamble=False.
        patient_name, patient_id: top-level values (None leaves the element out, "" writes it empty).
        modality: Modality (0008,0060).
        elements: further top-level attributes by keyword (e.g. {"StudyDate": "20240102"}).
        referenced_patient_name: adds ReferencedPatientSequence with one item holding this PatientName.
        request_attributes: adds RequestAttributesSequence with one item holding these attributes.
        private: adds a private creator and one private element in group 0x0009.
        burned_in: BurnedInAnnotation value ("YES"/"NO"), None leaves it out.
        pixels: add a 4x4 8-bit monochrome Pixel Data.
        directory_records: makes a DICOMDIR: one directory record per mapping (keyword -> value, plus
            "DirectoryRecordType"), with the Media Storage Directory SOP class.
    """
    from pydicom.dataset import Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import CTImageStorage
    from pydicom.uid import ExplicitVRBigEndian
    from pydicom.uid import ExplicitVRLittleEndian
    from pydicom.uid import ImplicitVRLittleEndian
    from pydicom.uid import generate_uid

    if preamble and not file_meta:
        raise ValueError("a PS3.10 file with a preamble always has File Meta")
    ts = {"implicit": ImplicitVRLittleEndian, "explicit": ExplicitVRLittleEndian, "big": ExplicitVRBigEndian}[encoding]
    ds = Dataset()
    is_dir = directory_records is not None
    sop_class = MEDIA_STORAGE_DIRECTORY if is_dir else CTImageStorage
    if not is_dir:
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.Modality = modality
    if patient_name is not None:
        ds.PatientName = patient_name
    if patient_id is not None:
        ds.PatientID = patient_id
    for keyword, value in (elements or {}).items():
        setattr(ds, keyword, value)
    if referenced_patient_name is not None:
        item = Dataset()
        item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.1.1"
        item.ReferencedSOPInstanceUID = generate_uid()
        item.PatientName = referenced_patient_name
        ds.ReferencedPatientSequence = Sequence([item])
    if request_attributes is not None:
        item = Dataset()
        for keyword, value in request_attributes.items():
            setattr(item, keyword, value)
        ds.RequestAttributesSequence = Sequence([item])
    if private:
        ds.add_new(0x00090010, "LO", "PHIWALL TEST")
        ds.add_new(0x00091001, "LO", "private payload")
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    if is_dir:
        ds.FileSetID = "TESTSET"
        records = []
        for spec in directory_records or ():
            rec = Dataset()
            rec.OffsetOfTheNextDirectoryRecord = 0
            rec.RecordInUseFlag = 0xFFFF
            rec.OffsetOfReferencedLowerLevelDirectoryEntity = 0
            for keyword, value in spec.items():
                setattr(rec, keyword, value)
            records.append(rec)
        ds.DirectoryRecordSequence = Sequence(records)
    elif pixels:
        ds.Rows = 4
        ds.Columns = 4
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 8
        ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.PixelData = bytes(range(16))

    buf = io.BytesIO()
    if file_meta:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", generate_uid())
        meta.TransferSyntaxUID = ts
        ds.file_meta = meta
        ds.save_as(buf, enforce_file_format=True)
        data = buf.getvalue()
        return data if preamble else data[132:]
    ds.save_as(buf, implicit_vr=encoding == "implicit", little_endian=encoding != "big", enforce_file_format=False)
    return buf.getvalue()


# --- Images, documents and archives (owner: burned_in_text / face / image_metadata / containers) ----------------

_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.truetype(_FONT, size)
    except OSError:  # pragma: no cover - fonts-dejavu is a dependency of tesseract's Debian package chain
        return ImageFont.load_default(size)


def make_scan(
    lines: SequenceABC[tuple[int, int, str]] = ((24, 20, "DOE, JOHN  MRN 4417302"), (24, 60, "DOB: 03/14/1961")),
    *,
    size: tuple[int, int] = (1024, 1024),
    text_size: int = 30,
    dark: bool = True,
    seed: int = 7,
) -> Any:
    """A synthetic X-ray-like picture (dark background, bright elliptic "body" with noise) with text drawn in.

    Args:
        lines: (x, y, text) triples, drawn white on a dark scan (or black on a light one with dark=False).
        size: width, height.
        text_size: font size in pixels.
        dark: dark film with light text (modality style) or light background with dark text (document style).
        seed: noise seed, so fixtures are reproducible.

    Returns a Pillow "L" image; use `image_bytes` to encode it.
    """
    import numpy as np
    from PIL import Image
    from PIL import ImageDraw

    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    body = (((xx - w / 2) / (w * 0.35)) ** 2 + ((yy - h / 2) / (h * 0.42)) ** 2) < 1.0
    base = np.where(body, 150.0, 20.0) if dark else np.where(body, 200.0, 245.0)
    arr = np.clip(base + rng.normal(0, 12, size=(h, w)), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "L")
    draw = ImageDraw.Draw(img)
    for x, y, text in lines:
        draw.text((x, y), text, fill=255 if dark else 0, font=_font(text_size))
    return img


def image_bytes(img: Any, fmt: str = "PNG", **save: Any) -> bytes:
    """Encode a Pillow image (PNG by default; pass exif=..., pnginfo=... through `save`)."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def make_photo(size: tuple[int, int] = (800, 600), seed: int = 3) -> Any:
    """A "holiday photo": blue sky gradient, green ground, a few coloured blobs, no text and no face."""
    import numpy as np
    from PIL import Image
    from PIL import ImageDraw

    w, h = size
    rng = np.random.default_rng(seed)
    arr = np.zeros((h, w, 3), np.float32)
    t = np.linspace(0, 1, h // 2)[:, None]
    arr[: h // 2] = np.stack([90 + 80 * t, 150 + 60 * t, 235 - 20 * t], -1).repeat(w, 1)
    arr[h // 2 :] = (60, 140, 50)
    arr += rng.normal(0, 6, arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    d.ellipse((w * 0.7, h * 0.08, w * 0.8, h * 0.21), fill=(250, 230, 120))
    for i in range(5):
        x = int(rng.integers(0, w - 120))
        colour = tuple(int(c) for c in rng.integers(60, 200, 3))
        d.rectangle((x, h // 2 - 60 - 10 * i, x + 100, h // 2 + 20), fill=colour)
    return img


def make_chart(size: tuple[int, int] = (900, 600), seed: int = 5) -> Any:
    """A bar chart as a spreadsheet or slide exports it: white page, axes, gridlines, coloured bars, labels."""
    import numpy as np
    from PIL import Image
    from PIL import ImageDraw

    w, h = size
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    left, bottom, top = 90, h - 70, 60
    d.text((w // 3, 18), "Quarterly revenue by region", fill=(30, 30, 30), font=_font(24))
    for i in range(6):
        y = bottom - i * (bottom - top) // 5
        d.line((left, y, w - 30, y), fill=(220, 220, 220))
        d.text((20, y - 10), f"{i * 20}k", fill=(60, 60, 60), font=_font(16))
    d.line((left, top, left, bottom), fill=(0, 0, 0), width=2)
    d.line((left, bottom, w - 30, bottom), fill=(0, 0, 0), width=2)
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44)]
    slot = (w - 30 - left) // 8
    for q in range(8):
        for k, colour in enumerate(colours):
            value = float(rng.uniform(0.2, 0.95))
            x0 = left + q * slot + 8 + k * (slot - 16) // 3
            d.rectangle((x0, bottom - value * (bottom - top), x0 + (slot - 16) // 3 - 2, bottom), fill=colour)
        d.text((left + q * slot + slot // 3, bottom + 12), f"Q{q % 4 + 1}", fill=(60, 60, 60), font=_font(16))
    return img


def make_invoice_scan(size: tuple[int, int] = (1240, 1754), seed: int = 11) -> Any:
    """A scanned invoice: off-white paper, slight rotation, a letterhead, an address block and a price table."""
    import numpy as np
    from PIL import Image
    from PIL import ImageDraw

    w, h = size
    rng = np.random.default_rng(seed)
    page = Image.new("L", size, 246)
    d = ImageDraw.Draw(page)
    d.text((90, 80), "NORTHWIND OFFICE SUPPLIES", fill=20, font=_font(44))
    d.text((90, 140), "12 Harbour Road, Unit 4  -  Invoice no. 2024-0117", fill=40, font=_font(24))
    for i, line in enumerate(("Bill to:", "Accounts payable", "Contoso Ltd.", "Date: 2024-03-02")):
        d.text((90, 240 + 36 * i), line, fill=30, font=_font(26))
    y = 460
    d.rectangle((90, y, w - 90, y + 44), fill=210)
    for x, head in ((100, "Item"), (700, "Qty"), (850, "Unit"), (1020, "Total")):
        d.text((x, y + 8), head, fill=10, font=_font(24))
    for r in range(14):
        y += 56
        d.line((90, y + 50, w - 90, y + 50), fill=190)
        qty = int(rng.integers(1, 20))
        price = float(rng.uniform(1, 90))
        for x, cell in ((100, f"Paper, toner and folders lot {r + 1}"), (700, str(qty)), (850, f"{price:.2f}"),
                        (1020, f"{qty * price:.2f}")):  # fmt: skip
            d.text((x, y + 10), cell, fill=25, font=_font(24))
    d.text((850, y + 90), "Amount due   1,284.50", fill=10, font=_font(30))
    scan = page.rotate(float(rng.uniform(-1.5, 1.5)), resample=Image.Resampling.BICUBIC, fillcolor=235)
    arr = np.asarray(scan, np.float32) + rng.normal(0, 5, (h, w))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")


def make_exif_jpeg(*, gps: bool = True, owner: str | None = "Jane Q Example", description: str | None = None) -> bytes:
    """A JPEG photo with EXIF: GPS position, camera owner name and an optional image description."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0110] = "Phone X"
    if description:
        exif[0x010E] = description
    if owner:
        exif[0x013B] = owner
    if gps:
        exif[0x8825] = {1: "N", 2: (40.0, 44.0, 54.36), 3: "W", 4: (73.0, 59.0, 8.5)}
    return image_bytes(make_photo(), "JPEG", exif=exif.tobytes(), quality=85)


def make_png_with_text(chunks: Mapping[str, str], *, compressed: bool = False, itxt: bool = False) -> bytes:
    """A small PNG with tEXt (or zTXt/iTXt) chunks."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for k, v in chunks.items():
        if itxt:
            info.add_itxt(k, v, zip=compressed)
        else:
            info.add_text(k, v, zip=compressed)
    return image_bytes(make_photo((200, 150)), "PNG", pnginfo=info)


def make_text_pdf(pages: SequenceABC[SequenceABC[str]], *, info: Mapping[str, str] | None = None) -> bytes:
    """A valid PDF with a real text layer (Helvetica), one list of lines per page, written by hand.

    Hand-written so a test controls every byte: the same writer makes the hostile variants below.
    """
    objs: list[bytes] = []
    n = len(pages)
    # 1 catalog, 2 pages, 3 font, then per page: page object, content stream
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, lines in enumerate(pages):
        ops = ["BT /F1 12 Tf 72 740 Td 14 TL"]
        for line in lines:
            esc = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({esc}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info_ref = b""
    if info:
        fields = " ".join(f"/{k} ({v})" for k, v in info.items())
        objs.append(f"<< {fields} >>".encode("latin-1"))
        info_ref = f" /Info {len(objs)} 0 R".encode()
    return _pdf_file(objs, info_ref)


def _pdf_file(objs: SequenceABC[bytes], trailer_extra: bytes = b"") -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R".encode() + trailer_extra + b" >>\n"
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def make_loop_pdf() -> bytes:
    """A PDF whose page tree contains itself (/Kids of the Pages node points back at the Pages node)."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    return _pdf_file(objs)


def make_scanned_pdf(images: SequenceABC[Any]) -> bytes:
    """A PDF of page images without any text layer (what a scanner produces)."""
    buf = io.BytesIO()
    rgb = [im.convert("RGB") for im in images]
    rgb[0].save(buf, format="PDF", save_all=True, append_images=rgb[1:], resolution=150.0)
    return buf.getvalue()


def make_zip(members: Mapping[str, bytes], *, compression: int | None = None) -> bytes:
    """A ZIP archive of the given members (deflated by default)."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression if compression is not None else zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_zip_bomb(expanded_mb: int = 600) -> bytes:
    """A small ZIP whose one member inflates to `expanded_mb` MB of zeros (written in streamed chunks)."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("zeros.bin", "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(expanded_mb):
                fh.write(chunk)
    return buf.getvalue()


def make_tar_gz(members: Mapping[str, bytes]) -> bytes:
    """A gzip-compressed TAR of the given members."""
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_nifti(descrip: str = "", *, gz: bool = False, shape: tuple[int, int, int] = (64, 64, 9)) -> bytes:
    """A NIfTI-1 volume (a bright ellipse per slice) with `descrip` in its header; gzip-compressed if `gz`."""
    import gzip

    import nibabel as nib
    import numpy as np

    x, y, z = shape
    yy, xx = np.mgrid[0:x, 0:y]
    sl = ((((xx - y / 2) / (y * 0.4)) ** 2 + ((yy - x / 2) / (x * 0.3)) ** 2) < 1).astype(np.int16) * 800
    vol = np.repeat(sl[:, :, None], z, axis=2)
    img = nib.Nifti1Image(vol, np.eye(4))
    img.header["descrip"] = descrip.encode("latin-1")[:79]
    data = img.to_bytes()
    return gzip.compress(data) if gz else data


def make_dicom_scan(text_lines: SequenceABC[tuple[int, int, str]], **kwargs: Any) -> bytes:
    """A DICOM file (via make_dicom) whose 512x512 pixels carry the given burned-in text lines."""
    import numpy as np

    img = make_scan(text_lines, size=(512, 512), text_size=22)
    arr = np.asarray(img, dtype=np.uint8)
    elements = {
        "Rows": 512,
        "Columns": 512,
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "BitsAllocated": 8,
        "BitsStored": 8,
        "HighBit": 7,
        "PixelRepresentation": 0,
        "PixelData": arr.tobytes(),
        **dict(kwargs.pop("elements", {}) or {}),
    }
    return make_dicom(pixels=False, elements=elements, **kwargs)
