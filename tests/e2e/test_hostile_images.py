"""A legal but huge image (issue 13): a 9999x9999 PNG drove a worker to 1.8-2.6 GB. Decoding is capped by
pixels (MAX_DECODE_PIXELS, a detector option) and an image under the cap is reduced before any mode conversion
copies it, so peak memory is about one decoded frame. Measured in a subprocess with a capped address space."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

MB = 1 << 20
REPO = Path(__file__).resolve().parents[2]


def png(width: int, height: int, color_type: int = 6) -> bytes:
    """A valid PNG of one flat colour, written row by row (the test never holds the raw pixels)."""
    channels = {0: 1, 2: 3, 6: 4}[color_type]
    c = zlib.compressobj(9)
    row = b"\0" + bytes([200, 30, 30, 128][:channels]) * width
    idat = b"".join(c.compress(row) for _ in range(height)) + c.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


_CHILD = """
import json, resource, sys
sys.path.insert(0, {proxy!r})
from phiwall.imaging.load import load_image
from phiwall.errors import LimitError, DetectionError
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
data = open(sys.argv[1], "rb").read()
import numpy, PIL.Image  # loaded before the baseline
before = hwm()
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
try:
    img = load_image(data)
    result = "decoded %dx%d %s" % (img.size[0], img.size[1], img.mode)
except LimitError as e:
    result = "limit: " + str(e)
except (MemoryError, DetectionError) as e:
    result = type(e).__name__ + ": " + str(e)
print(json.dumps({{"result": result, "growth": hwm() - before}}))
"""


def _load_in_child(tmp_path: Path, data: bytes) -> dict[str, object]:
    f = tmp_path / "img.png"
    f.write_bytes(data)
    script = _CHILD.format(proxy=str(REPO / "proxy"), cap=1500 * MB)
    r = subprocess.run([sys.executable, "-c", script, str(f)], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_9999_square_png_is_refused_without_decoding(tmp_path: Path) -> None:
    got = _load_in_child(tmp_path, png(9999, 9999))
    assert str(got["result"]).startswith("limit: ") and "decode limit" in str(got["result"]), got
    assert int(got["growth"]) < 50 * MB, got  # type: ignore[call-overload]


@pytest.mark.parametrize("color_type", [6, 2, 0])
def test_large_png_under_the_cap_costs_about_one_frame(tmp_path: Path, color_type: int) -> None:
    """6000x6000 (36 MP): RGBA was decoded, copied, composited and converted at full size (578 MB measured; now
    291 MB), RGB 290 MB (now 147 MB)."""
    got = _load_in_child(tmp_path, png(6000, 6000, color_type))
    assert str(got["result"]).startswith("decoded 5"), got  # reduced to ~512 px on the long side
    frame = 6000 * 6000 * {0: 1, 2: 3, 6: 4}[color_type]
    # Pillow's RGBA PNG decoder holds the frame twice while it unpacks; before, the conversions doubled that again.
    bound = (2 if color_type == 6 else 1) * frame + 60 * MB
    assert int(got["growth"]) < bound, (got, frame / MB)  # type: ignore[call-overload]


def test_reduced_image_keeps_exif_orientation() -> None:
    import io

    from phiwall.imaging.load import load_image
    from PIL import Image

    img = Image.new("RGB", (2000, 1000), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° to display
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=exif.tobytes())
    out = load_image(buf.getvalue())
    assert out.size[1] > out.size[0], out.size  # portrait after the orientation was applied
