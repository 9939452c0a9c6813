"""Reading DICOM bytes from memory, the way phiwall needs it: tolerant of what users actually upload.

Files reach the proxy without the 128-byte preamble, without File Meta, in big endian, cut off by a size limit
or half broken. pydicom reads most of these with `force=True`, but (1) it silently accepts a value cut short by the
end of the data, so truncation is checked here from element offsets, (2) a dataset without File Meta has no
transfer syntax, so its pixels cannot be decoded later (the OT-PAL-8-face.dcm case) until one is set from the
encoding pydicom detected, and (3) when pydicom gives up part-way, the elements read so far are still evidence,
so they are salvaged element by element.

Nothing here logs or raises with element values: messages name offsets, sizes and encodings only.
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from pydicom import config as pydicom_config
from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.filereader import data_element_generator
from pydicom.tag import BaseTag
from pydicom.uid import UID
from pydicom.uid import DeflatedExplicitVRLittleEndian
from pydicom.uid import ExplicitVRBigEndian
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.uid import ImplicitVRLittleEndian

from phiwall import sniff

PREAMBLE_LENGTH: Final = 128
MAGIC: Final = b"DICM"
PIXEL_DATA_TAGS: Final = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})  # Pixel, Float Pixel, Double Float Pixel
DEFAULT_DEFER_SIZE: Final = 16 * 1024
"""Header values above this size are skipped, not read: a header scan must not copy overlay planes or vendor
blobs of megabytes. Their offsets stay known (`value_tell`), so a caller can still digest the raw bytes."""

_SEQ_DELIMITER_LE: Final = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_SEQ_DELIMITER_BE: Final = b"\xff\xfe\xe0\xdd\x00\x00\x00\x00"
_UNDEFINED: Final = 0xFFFFFFFF
_LONG_VRS: Final = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)  # explicit VRs with a 4-byte length


class DicomReadError(Exception):
    """The bytes could not be read as DICOM at all. The message is PHI-free (offsets and kinds only)."""


@dataclass(frozen=True, slots=True)
class DicomRead:
    """A dataset plus what the reader noticed about the file, for the detector's explanation."""

    dataset: Dataset
    has_preamble: bool
    has_file_meta: bool
    truncated: bool
    salvaged: bool  # pydicom failed part-way; `dataset` holds the elements read before the failure
    deflated: bool  # element offsets refer to the inflated stream, not to the input bytes


def has_dicm_magic(data: bytes) -> bool:
    """Whether the bytes carry the PS3.10 preamble and 'DICM' prefix (the only certain DICOM signature); a cut or
    shifted preamble with 'DICM' and File Meta kept counts too (`read_dicom` restores the preamble)."""
    if len(data) >= PREAMBLE_LENGTH + 4 and data[PREAMBLE_LENGTH : PREAMBLE_LENGTH + 4] == MAGIC:
        return True
    return sniff.dicm_offset(data) is not None


def read_dataset(data: bytes, *, with_pixels: bool, defer_size: int | None = None) -> Dataset:
    """Read DICOM bytes into a pydicom Dataset that later code can decode pixels from.

    Args:
        data: the file's bytes, with or without preamble and File Meta.
        with_pixels: read Pixel Data too (for rendering/OCR); False stops at Pixel Data for speed.
        defer_size: values larger than this many bytes are not loaded (None loads everything).

    Returns:
        The dataset. When the input had no File Meta, `file_meta.TransferSyntaxUID` is set from the encoding
        pydicom detected, so `pixel_array` works.

    Raises:
        DicomReadError: nothing could be parsed.
    """
    return read_dicom(data, with_pixels=with_pixels, defer_size=defer_size).dataset


def read_dicom(data: bytes, *, with_pixels: bool = False, defer_size: int | None = DEFAULT_DEFER_SIZE) -> DicomRead:
    """Read DICOM bytes tolerantly and report preamble, File Meta and truncation.

    Raises:
        DicomReadError: neither pydicom nor the element-by-element salvage could read a single element.
    """
    data = sniff.with_standard_preamble(data)  # preamble cut or shifted, 'DICM' kept
    has_preamble = has_dicm_magic(data)
    if not has_preamble and not looks_like_dataset_start(data[:16]):
        # force=True would happily "parse" any bytes; only try when the start looks like a DICOM element.
        raise DicomReadError("no DICM prefix and no plausible first data element")
    fp = io.BytesIO(data)
    with quiet_pydicom():
        try:
            ds = dcmread(fp, force=True, stop_before_pixels=not with_pixels, defer_size=defer_size)
        except Exception as exc:  # pydicom raises many types on malformed input; all mean "salvage"
            return _salvage(data, has_preamble, with_pixels, defer_size, type(exc).__name__)
        file_meta = getattr(ds, "file_meta", None)
        has_file_meta = bool(file_meta is not None and len(file_meta))
        if len(ds) == 0 and not has_file_meta:
            raise DicomReadError("no DICOM data elements could be read")
        deflated = _transfer_syntax(ds) == DeflatedExplicitVRLittleEndian
        if deflated:
            truncated = _deflate_stream_cut(data, ds, has_preamble)  # offsets refer to the inflated stream
        elif len(ds) == 0:
            truncated = True  # File Meta and nothing after it: the data set was cut off
        else:
            truncated = _is_truncated(data, ds, fp.tell())
        _ensure_transfer_syntax(ds)
    return DicomRead(ds, has_preamble, has_file_meta, truncated, False, deflated)


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's value validation while reading or converting untrusted elements.

    pydicom warns and logs about invalid values *with the value in the message* ("Invalid value for VR UI:
    '1.2.'"): that would put PHI into logs. Validation is switched off (IGNORE) and its warnings and log records
    dropped for the duration. Workers are single-threaded processes, so the global switch is safe there.
    """
    settings = pydicom_config.settings
    saved_mode = settings.reading_validation_mode
    logger = logging.getLogger("pydicom")
    saved_disabled = logger.disabled
    settings.reading_validation_mode = pydicom_config.IGNORE
    logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        settings.reading_validation_mode = saved_mode
        logger.disabled = saved_disabled


def looks_like_dataset_start(head: bytes) -> bool:
    """Whether `head` starts with a File Meta element or a plausible first dataset element (no preamble)."""
    if head[:2] == b"\x02\x00" and head[4:6].isalpha():
        return True
    return guess_encoding(head) is not None


def guess_encoding(head: bytes) -> tuple[bool, bool] | None:
    """Guess (is_implicit_vr, is_little_endian) of a dataset that starts at `head` with no File Meta.

    Returns None when the first element does not look like a DICOM element in any encoding.
    """
    if len(head) < 8:
        return None
    vr = head[4:6]
    explicit = vr.isalpha() and vr.isupper()
    for little in (True, False):
        end = "<" if little else ">"
        group = struct.unpack_from(f"{end}H", head, 0)[0]
        if not (0x0002 <= group <= 0x0030 and group % 2 == 0):
            continue
        if explicit:
            return (False, little)
        length = struct.unpack_from(f"{end}I", head, 4)[0]
        if length < 0x10000 or length == _UNDEFINED:
            return (True, little)
    return None


def _transfer_syntax(ds: Dataset) -> UID | None:
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return None
    try:
        ts = meta.get("TransferSyntaxUID")
    except Exception:  # noqa: BLE001 - a damaged File Meta value counts as missing
        return None
    return UID(str(ts).strip("\x00 ")) if ts else None


def _ensure_transfer_syntax(ds: Dataset) -> None:
    """Give a dataset without File Meta (or without a transfer syntax in it) the syntax it was encoded in."""
    if _transfer_syntax(ds) is not None:
        return
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit is None:
        implicit = True
    if little is None:
        little = True
    if implicit:
        ts = ImplicitVRLittleEndian
    else:
        ts = ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts


def _deflate_stream_cut(data: bytes, ds: Dataset, has_preamble: bool) -> bool:
    """Whether a Deflated Explicit VR data set's zlib stream ends before its end marker."""
    try:
        group_length = int(ds.file_meta.FileMetaInformationGroupLength)
    except Exception:  # noqa: BLE001 - no usable group length: cannot locate the stream, assume intact
        return False
    start = (PREAMBLE_LENGTH + 4 if has_preamble else 0) + 12 + group_length
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        inflater.decompress(data[start:])
    except zlib.error:
        return True
    return not inflater.eof


def _is_truncated(data: bytes, ds: Dataset, stop: int) -> bool:
    """Whether the data ends inside an element: pydicom reads a short value without complaint.

    `stop` is where parsing ended: at Pixel Data when it stopped there, else at the end of the data. Checks the
    element header found at `stop` (its length must fit) or the last top-level element read.
    """
    implicit, little = getattr(ds, "original_encoding", (True, True))
    little = True if little is None else little
    implicit = True if implicit is None else implicit
    delimiter = _SEQ_DELIMITER_LE if little else _SEQ_DELIMITER_BE
    size = len(data)
    if stop < size:
        header = _element_header(data, stop, bool(implicit), bool(little))
        if header is None:
            return size - stop < 8  # a few stray bytes: a cut element header
        value_start, length = header
        if length == _UNDEFINED:
            return not data.endswith(delimiter)
        return value_start + length > size
    last = _last_top_level(ds)
    if last is None:
        return 0 < size - stop < 8
    value_tell, length = last
    if length == _UNDEFINED:
        return not data.endswith(delimiter)
    end_of_last = value_tell + length
    # Past the end: the value was cut. Short of the end by less than an element header: the header was cut
    # (pydicom treats a short header read as end of file).
    return end_of_last > size or 0 < size - end_of_last < 12


def _last_top_level(ds: Dataset) -> tuple[int, int] | None:
    """(value offset, length) of the top-level element that starts last in the file."""
    best: tuple[int, int] | None = None
    for tag in ds.keys():
        elem = ds.get_item(tag, keep_deferred=True)
        if isinstance(elem, RawDataElement):
            tell, length = elem.value_tell, elem.length
        elif elem is not None and elem.is_undefined_length:
            tell, length = elem.file_tell, _UNDEFINED
        else:
            continue  # an element built in memory has no file position
        if tell is not None and (best is None or tell > best[0]):
            best = (int(tell), int(length))
    return best


def _element_header(data: bytes, pos: int, implicit: bool, little: bool) -> tuple[int, int] | None:
    """Parse one element header at `pos`: (value offset, value length), or None when it does not fit."""
    end = "<" if little else ">"
    if pos + 8 > len(data):
        return None
    if implicit:
        return pos + 8, struct.unpack_from(f"{end}I", data, pos + 4)[0]
    vr = data[pos + 4 : pos + 6]
    if vr in _LONG_VRS:
        if pos + 12 > len(data):
            return None
        return pos + 12, struct.unpack_from(f"{end}I", data, pos + 8)[0]
    return pos + 8, struct.unpack_from(f"{end}H", data, pos + 6)[0]


def _salvage(data: bytes, has_preamble: bool, with_pixels: bool, defer_size: int | None, why: str) -> DicomRead:
    """Read elements one by one until the first one that fails, after pydicom gave up on the whole file.

    A DICOM whose tail is damaged still shows its patient in the first few hundred bytes; that is evidence worth
    reporting. File Meta (group 0002) is always explicit VR little endian; the dataset's encoding comes from the
    transfer syntax in it, or is guessed from the first element.
    """
    pos = PREAMBLE_LENGTH + 4 if has_preamble else 0
    fp = io.BytesIO(data)
    fp.seek(pos)
    meta = FileMetaDataset()
    if data[pos : pos + 2] == b"\x02\x00":
        try:
            for raw in data_element_generator(
                fp, False, True, stop_when=lambda tag, vr, length: tag.group != 2, defer_size=None
            ):
                meta[raw.tag] = raw
        except Exception:  # noqa: BLE001 - the meta is best effort; the dataset below is what matters
            pass
        pos = fp.tell()
    holder = Dataset()
    holder.file_meta = meta
    ts = _transfer_syntax(holder)
    body = data[pos:]
    deflated = ts == DeflatedExplicitVRLittleEndian
    cut_stream = False
    if deflated:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body)
            cut_stream = not inflater.eof
        except zlib.error:
            body, cut_stream = b"", True
    if ts is not None and ts.is_transfer_syntax:
        implicit, little = ts.is_implicit_VR, ts.is_little_endian
    else:
        guess = guess_encoding(body[:16])
        if guess is None:
            raise DicomReadError(f"unreadable DICOM ({why}); the dataset encoding could not be recognised")
        implicit, little = guess
    ds = Dataset()
    truncated = False
    stream = io.BytesIO(body)
    stop_at_pixels = None if with_pixels else (lambda tag, vr, length: tag in PIXEL_DATA_TAGS)
    try:
        for raw in data_element_generator(stream, implicit, little, stop_when=stop_at_pixels, defer_size=defer_size):
            ds[BaseTag(raw.tag)] = raw
    except Exception:  # noqa: BLE001 - the first failing element ends the salvage
        truncated = True
    ds.set_original_encoding(implicit, little, None)
    if (len(ds) == 0 and len(meta)) or cut_stream:
        truncated = True
    if not truncated and not deflated and len(ds):
        truncated = _is_truncated(body, ds, stream.tell())
    if len(meta):
        ds.file_meta = meta
    if len(ds) == 0 and not len(meta):
        raise DicomReadError(f"unreadable DICOM ({why}); no data element could be read")
    _ensure_transfer_syntax(ds)
    return DicomRead(ds, has_preamble, bool(len(meta)), truncated, True, deflated)
