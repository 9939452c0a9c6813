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
    """A drawn chest film as a grayscale PNG: torso, two dark lung fields, spine and mediastinum, heart shadow,
    nine pairs of curved ribs, clavicles, diaphragm domes, blur and grain; what a person uploads after exporting
    a study from a viewer. No identifiers in it. (Ribs and spine matter: mi-4's pretrained backbone does not take
    the earlier blob caricature for an X-ray, and neither would a person.)"""
    import cv2
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c = 0.5
    a = 0.08 + 0.55 * np.exp(-(((xx - c) / 0.44) ** 4 + ((yy - 0.6) / 0.55) ** 4))  # soft tissue
    for sx in (-1, 1):  # lungs
        a -= 0.38 * np.exp(-((((xx - c - sx * 0.19) / 0.13) ** 2 + ((yy - 0.5) / 0.27) ** 2) ** 1.5))
    a += 0.25 * np.exp(-(((xx - c) / 0.06) ** 2)) * (yy > 0.15)  # spine and mediastinum
    a += 0.3 * np.exp(-(((xx - c - 0.05) / 0.11) ** 2 + ((yy - 0.64) / 0.11) ** 2))  # heart
    img = np.clip(a, 0, 1)
    side = np.abs(xx - c)
    for k in range(9):  # ribs
        curve = 0.22 + k * 0.065 + 0.09 * (side / 0.32) ** 2 - 0.02 * side / 0.32
        img += 0.18 * np.exp(-(((yy - curve) / 0.012) ** 2)) * (side > 0.04) * (side < 0.34)
    img += 0.25 * np.exp(-(((yy - (0.17 + 0.05 * side)) / 0.012) ** 2)) * (side < 0.27) * (side > 0.02)  # clavicles
    for sx in (-1, 1):  # diaphragm
        dome = 0.74 - 0.08 * np.exp(-(((xx - c - sx * 0.19) / 0.12) ** 2))
        img += 0.3 / (1 + np.exp(-(yy - dome) / 0.01)) * (np.abs(xx - c - sx * 0.19) < 0.16)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), size / 200)
    img = cv2.GaussianBlur((img + rng.normal(0, 0.02, img.shape)).astype(np.float32), (0, 0), 0.7)
    buf = io.BytesIO()
    Image.fromarray(np.clip(img * 235, 0, 255).astype(np.uint8), "L").save(buf, "PNG")
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
