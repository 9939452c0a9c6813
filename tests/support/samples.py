"""Synthetic test payloads shared by the adapter unit tests and the SDK / web e2e tests: a DICOM file, an
X-ray-like PNG, PHI and benign prompts. All PHI here is invented."""

from __future__ import annotations

import io
from functools import cache

from tests.factories import make_dicom

PHI_PROMPT = "Patient John Smith, DOB 03/14/1961, MRN 48213977, has a cough. What could it be?"
BENIGN = "What does a TSH of 6.2 mIU/L usually mean?"
PHI_NOTE = "Discharge summary for Jane Roe, MRN 55120934, DOB 1970-01-01, 12 Elm Street, Springfield."


@cache
def dicom_bytes() -> bytes:
    return make_dicom(patient_name="Smith^John", patient_id="48213977")


@cache
def xray_png(size: int = 512) -> bytes:
    """A chest-film caricature (dark background, bright body, two darker lung fields, grain) as a grayscale PNG:
    what a person uploads after exporting a study from a viewer. No identifiers in it."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = size / 2
    body = np.exp(-(((xx - c) / (0.38 * size)) ** 6 + ((yy - c) / (0.48 * size)) ** 6))
    lungs = sum(
        np.exp(-(((xx - c + s * 0.17 * size) / (0.11 * size)) ** 2 + ((yy - c) / (0.25 * size)) ** 2)) for s in (-1, 1)
    )
    arr = 30 + 190 * body - 90 * lungs + rng.normal(0, 6, (size, size))
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L").save(buf, "PNG")
    return buf.getvalue()


def multipart(
    fields: list[tuple[str, str | None, str | None, bytes]], boundary: str = "----phiwallTestB7x"
) -> tuple[bytes, str]:
    """A multipart/form-data body from (name, filename, content type, data) fields, and its Content-Type."""
    out = bytearray()
    for name, filename, ctype, data in fields:
        out += f"--{boundary}\r\n".encode()
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"Content-Disposition: {disp}\r\n".encode()
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def request(
    method: str,
    host: str,
    path: str,
    body: bytes = b"",
    content_type: str = "application/json",
    headers: tuple[tuple[str, str], ...] = (),
    websocket: bool = False,
):  # noqa: ANN201 - RequestData
    """A RequestData as the addon would build it (no proxy needed)."""
    from phiwall.request import RequestData

    hs = (("content-type", content_type),) + headers if content_type else headers
    return RequestData(
        method=method, scheme="https", host=host, port=443, path=path, headers=hs, raw_body=body, websocket=websocket
    )
