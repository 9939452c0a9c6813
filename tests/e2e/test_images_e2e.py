"""Issue 4 acceptance through a real `phiwall run` process: medical images, documents and archives trigger the
policy on the way to each service; everyday pictures do not; hostile files get a clear answer in time."""

from __future__ import annotations

import base64
import io
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.e2e.test_resumable import google_upload
from tests.e2e.test_web_chatgpt import fixture  # noqa: F401 - pytest fixture (the ChatGPT upload recording)
from tests.e2e.test_web_chatgpt import replay
from tests.e2e.test_web_chatgpt import up  # noqa: F401 - pytest fixture (fake ChatGPT answering it)
from tests.factories import image_bytes
from tests.factories import make_chart
from tests.factories import make_dicom
from tests.factories import make_invoice_scan
from tests.factories import make_loop_pdf
from tests.factories import make_photo
from tests.factories import make_scan
from tests.factories import make_text_pdf
from tests.factories import make_zip
from tests.factories import make_zip_bomb
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.samples import xray_png

pytestmark = pytest.mark.e2e

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
BENIGN = "What does this show?"
_KEEP: list[object] = []


def oai(proxy: ProxyProcess) -> openai.OpenAI:
    http_client = openai.DefaultHttpxClient(proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)))
    return openai.OpenAI(
        api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http_client, max_retries=0
    )


def chat_with_image(proxy: ProxyProcess, data: bytes, mime: str = "image/png") -> Any:
    url = f"data:{mime};base64," + base64.b64encode(data).decode()
    content = [{"type": "text", "text": BENIGN}, {"type": "image_url", "image_url": {"url": url}}]
    return oai(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])


def chat_with_file(proxy: ProxyProcess, data: bytes, filename: str) -> Any:
    file_data = "data:application/pdf;base64," + base64.b64encode(data).decode()
    content = [
        {"type": "text", "text": BENIGN},
        {"type": "file", "file": {"filename": filename, "file_data": file_data}},
    ]
    return oai(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])


def pacs_screenshot() -> bytes:
    """A viewer screenshot: dark UI bars with patient text around an X-ray-like image."""
    from PIL import Image
    from PIL import ImageDraw

    scan = Image.open(io.BytesIO(xray_png(640))).convert("RGB")
    shot = Image.new("RGB", (1000, 760), (28, 30, 34))
    shot.paste(scan, (180, 80))
    d = ImageDraw.Draw(shot)
    d.rectangle((0, 0, 1000, 40), fill=(52, 56, 64))
    d.text((12, 12), "PACS Viewer  File  Study  Series  Tools", fill=(220, 220, 220))
    d.text((190, 88), "DOE, JANE  MRN 4417302  DOB 03/14/1961", fill=(255, 255, 255))
    d.text((190, 700), "CHEST PA  W:1500 L:-600", fill=(255, 255, 255))
    return image_bytes(shot)


def test_xray_png_as_data_url_to_openai_is_blocked(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        chat_with_image(proxy, xray_png())
    assert "medical image" in str(ei.value)
    assert fresh_upstream.requests == []
    assert "MEDICAL_IMAGE" in proxy.audit_events()[-1]["entity_counts"]


def test_pacs_screenshot_uploaded_to_chatgpt_web_is_blocked(
    proxy: ProxyProcess,
    up: FakeUpstream,  # noqa: F811 - the imported fixture
    fixture: list[dict[str, Any]],  # noqa: F811
) -> None:
    register, put, *_ = replay(proxy, fixture, pacs_screenshot(), BENIGN)
    assert register.status_code == 200
    assert put.status_code == 403
    assert [r.method for r in up.requests] == ["POST"]  # the bytes never reached the blob store
    put_event = next(e for e in reversed(proxy.audit_events()) if e["host"].endswith("blob.core.windows.net"))
    assert put_event["verdict"] == "block" and put_event["rule_ids"] != ["on_error"], put_event
    counts = put_event["entity_counts"]
    assert "MEDICAL_IMAGE" in counts or any(k.startswith("BURNED_IN:") for k in counts)


def test_zipped_dicom_folder_to_gemini_file_api_is_blocked(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    fresh_upstream.route("POST", r"^/upload/v1(?:beta)?/files$", google_upload)
    series = make_zip({f"DICOM/SE1/IM{i:04d}": make_dicom(patient_name="Roe^Jane") for i in range(3)})
    ctx = ssl.create_default_context(cafile=str(proxy.ca))
    client = genai.Client(
        api_key="test-key",
        http_options=types.HttpOptions(client_args={"proxy": proxy.url, "verify": ctx}, timeout=60_000),
    )
    _KEEP.append(client)
    with pytest.raises(genai_errors.ClientError) as ei:
        client.files.upload(file=io.BytesIO(series), config={"mime_type": "application/zip"})
    assert ei.value.code == 403 and "DICOM" in (ei.value.message or "")
    assert "Roe" not in (ei.value.message or "")
    assert [r.headers.get("x-goog-upload-command") for r in fresh_upstream.requests] == ["start"]


def test_pdf_with_a_patient_name_is_blocked(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    pdf = make_text_pdf(
        [["Discharge summary", "Patient: Margaret Holloway", "Diagnosis: community-acquired pneumonia"]]
    )
    with pytest.raises(openai.PermissionDeniedError) as ei:
        chat_with_file(proxy, pdf, "summary.pdf")
    assert "person name" in str(ei.value) and "Holloway" not in str(ei.value)
    assert fresh_upstream.requests == []


def _corpus_image(rel: str) -> bytes:
    p = CORPUS / rel
    if not p.is_file():
        pytest.skip(f"shared corpus image {rel} not found under {CORPUS}")
    return p.read_bytes()


@pytest.mark.parametrize(
    "name,make",
    [
        # generated here, never seen in training: the honest cases
        ("generated holiday photo", lambda: image_bytes(make_photo(), "JPEG", quality=85)),
        ("generated chart", lambda: image_bytes(make_chart())),
        ("generated scanned invoice", lambda: image_bytes(make_invoice_scan(), "JPEG", quality=80)),
        # corpus files: the shipped model was trained on them, so these guard against regressions only
        ("holiday photo (corpus landscape)", lambda: _corpus_image("nonmedical_images/pillow/exif-72dpi-int.jpg")),
        ("chart (corpus plot)", lambda: _corpus_image("nonmedical_images/monai/threadcontainer_plot_test.png")),
        ("scanned invoice (corpus document scan)", lambda: _corpus_image("nonmedical_images/pillow/pport_g4.png")),
    ],
)
def test_everyday_pictures_pass(proxy: ProxyProcess, fresh_upstream: FakeUpstream, name: str, make: Any) -> None:
    data = make()
    r = chat_with_image(proxy, data, "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png")
    assert r.choices[0].message.content == "Fake answer.", name
    assert len(fresh_upstream.requests) == 1


def _bomb_png() -> bytes:
    """A valid PNG header declaring 50 000 × 50 000 pixels, with a tiny compressed body."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 100_000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "name,body,expect",
    [
        ("truncated png", lambda: image_bytes(make_scan(()))[:400], "could not inspect"),
        ("pixel bomb", _bomb_png, "could not inspect"),
        ("zip bomb", make_zip_bomb, "could not inspect"),
        ("pdf with a loop", make_loop_pdf, "could not inspect"),
    ],
)
def test_hostile_files_get_a_clear_answer_in_time(
    proxy: ProxyProcess, fresh_upstream: FakeUpstream, name: str, body: Any, expect: str
) -> None:
    data = body()
    t0 = time.perf_counter()
    with httpx.Client(proxy=proxy.url, verify=str(proxy.ca), timeout=120) as c:
        r = c.post(
            "https://api.openai.com/v1/files",
            files={"file": ("upload.bin", data)},
            data={"purpose": "user_data"},
        )
    elapsed = time.perf_counter() - t0
    assert r.status_code in (403, 413, 422), (name, r.status_code, r.text[:300])
    assert expect in r.json()["error"]["message"] or r.status_code == 403, (name, r.text[:300])
    assert elapsed < 30, f"{name} took {elapsed:.1f} s"
    assert fresh_upstream.requests == []
    # the proxy stays up and serves the next request
    assert oai(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": BENIGN}])


# ------------------------------------------------------------------------------------------------ issue 11
# Everyday pictures and medical images through the real proxy, to both the ChatGPT web upload and the OpenAI API.
# Pictures come from ../shared/corpus (in the medical_image head's training set: these guard against regressions)
# or are generated here; none comes from the images bundled in scikit-image, Pillow, matplotlib or pydicom.


def _spreadsheet_screenshot() -> bytes:
    """A spreadsheet window: toolbar, column letters, a grid of numbers, one highlighted cell."""
    from PIL import Image
    from PIL import ImageDraw

    shot = Image.new("RGB", (1100, 700), (255, 255, 255))
    d = ImageDraw.Draw(shot)
    d.rectangle((0, 0, 1100, 64), fill=(33, 115, 70))
    d.text((12, 10), "Budget 2026.xlsx  File  Home  Insert  Formulas  Data", fill=(255, 255, 255))
    d.rectangle((0, 64, 1100, 92), fill=(240, 240, 240))
    for c in range(11):
        x = 50 + c * 96
        d.text((x + 40, 72), chr(65 + c), fill=(60, 60, 60))
        d.line((x, 92, x, 700), fill=(210, 210, 210))
    for r in range(26):
        y = 92 + r * 23
        d.line((0, y, 1100, y), fill=(210, 210, 210))
        d.text((14, y + 5), str(r + 1), fill=(60, 60, 60))
        for c in range(10):
            d.text((58 + c * 96, y + 5), f"{(r * 37 + c * 113) % 9000 / 7:.2f}", fill=(0, 0, 0))
    d.rectangle((242, 184, 338, 207), outline=(33, 115, 70), width=2)
    return image_bytes(shot)


def _phone_photo_of_film(rel: str) -> bytes:
    """A phone photo of a film on a light box: perspective, a dark room around it, glare, blur, noise, JPEG."""
    import numpy as np
    from PIL import Image
    from PIL import ImageFilter

    film = Image.open(io.BytesIO(_corpus_image(rel))).convert("L").resize((700, 820))
    film = Image.eval(film, lambda v: 40 + v * 0.8)  # the light box lifts the blacks
    room = Image.new("L", (1200, 1000), 35)
    quad = (120, 60, 130, 940, 1060, 900, 1000, 110)  # corners of the film in the photo
    warped = film.transform(room.size, Image.Transform.QUAD, quad, Image.Resampling.BILINEAR, fillcolor=None)
    mask = Image.new("L", film.size, 255).transform(room.size, Image.Transform.QUAD, quad, fillcolor=0)
    room.paste(warped, (0, 0), mask)
    rgb = np.asarray(room.convert("RGB")).astype(np.float32) * np.array([0.95, 1.0, 1.08])  # cold light
    yy, xx = np.mgrid[0:1000, 0:1200]
    rgb += (np.exp(-((xx - 800) ** 2 + (yy - 300) ** 2) / (2 * 220.0**2)) * 60)[..., None]  # glare
    rgb += np.random.default_rng(7).normal(0, 4, rgb.shape)
    photo = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    return image_bytes(photo, "JPEG", quality=82)


def _pacs_window(rel: str) -> bytes:
    """A dark PACS viewer window around a corpus CT slice: toolbar, series thumbnails, corner overlays."""
    from PIL import Image
    from PIL import ImageDraw

    scan = Image.open(io.BytesIO(_corpus_image(rel))).convert("RGB").resize((620, 620))
    shot = Image.new("RGB", (1280, 800), (24, 26, 30))
    d = ImageDraw.Draw(shot)
    d.rectangle((0, 0, 1280, 44), fill=(45, 48, 55))
    for i in range(9):
        d.rectangle((10 + i * 40, 8, 40 + i * 40, 36), fill=(90, 94, 100))
    for i in range(5):
        shot.paste(scan.resize((120, 120)), (12, 60 + i * 140))
    shot.paste(scan, (330, 90))
    d.text((340, 98), "ROE, JANE  ID 8812044", fill=(230, 230, 230))
    d.text((340, 116), "CT ABDOMEN W/ CONTRAST", fill=(230, 230, 230))
    d.text((780, 690), "W 400 L 40   Se 3 Im 45/120", fill=(230, 230, 230))
    return image_bytes(shot)


EVERYDAY = [
    ("portrait (colour)", lambda: _corpus_image("nonmedical_images/pillow/hopper.png")),
    (
        "portrait (grayscale, blocked as 'MR' by the old trees)",
        lambda: _corpus_image("nonmedical_images/pillow/hopper_gray.jpg"),
    ),
    ("a cat", lambda: _corpus_image("nonmedical_images/monai/kitty_test.jpg")),
    ("food", lambda: _corpus_image("nonmedical_images/presidio/no_ocr.jpg")),
    ("a building", lambda: _corpus_image("nonmedical_images/pillow/iptc.jpg")),
    ("a landscape", lambda: _corpus_image("nonmedical_images/pillow/exif-72dpi-int.jpg")),
    ("a chart (generated)", lambda: image_bytes(make_chart())),
    ("an invoice scan (generated)", lambda: image_bytes(make_invoice_scan(), "JPEG", quality=80)),
    ("a spreadsheet screenshot (corpus)", lambda: _corpus_image("nonmedical_images/pillow/tiff_adobe_deflate.png")),
    ("a spreadsheet screenshot (generated)", _spreadsheet_screenshot),
]
MEDICAL = [
    ("chest X-ray", lambda: _corpus_image("medical_images/nih_cxr14/00000404_000.png")),
    ("CT slice", lambda: _corpus_image("medical_images/sam-med2d/amos_0006_90.png")),
    ("MR slice", lambda: _corpus_image("medical_images/carpentries/t1_vT3_large.jpg")),
    ("ultrasound", lambda: _corpus_image("medical_images/monai/us_femur_input.png")),
    ("PACS screenshot (generated around a corpus CT)", lambda: _pacs_window("medical_images/sam-med2d/s0619_32.png")),
    (
        "phone photo of a film (generated from a corpus X-ray)",
        lambda: _phone_photo_of_film("medical_images/nih_cxr14/00005224_000.png"),
    ),
]


def _mime(data: bytes) -> str:
    return "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"


@pytest.mark.parametrize("name,make", EVERYDAY, ids=[n for n, _ in EVERYDAY])
def test_everyday_picture_passes_to_the_openai_api(
    proxy: ProxyProcess, fresh_upstream: FakeUpstream, name: str, make: Any
) -> None:
    data = make()
    r = chat_with_image(proxy, data, _mime(data))
    assert r.choices[0].message.content == "Fake answer.", name
    assert len(fresh_upstream.requests) == 1


@pytest.mark.parametrize("name,make", EVERYDAY, ids=[n for n, _ in EVERYDAY])
def test_everyday_picture_passes_to_chatgpt_web(
    proxy: ProxyProcess,
    up: FakeUpstream,  # noqa: F811 - the imported fixture
    fixture: list[dict[str, Any]],  # noqa: F811
    name: str,
    make: Any,
) -> None:
    data = make()
    replies = replay(proxy, fixture, data, BENIGN)
    assert [r.status_code for r in replies] == [200, 201, 200, 200], name
    put = next(r for r in up.requests if r.method == "PUT")
    assert put.body == data


@pytest.mark.parametrize("name,make", MEDICAL, ids=[n for n, _ in MEDICAL])
def test_medical_image_is_stopped_on_the_openai_api(
    proxy: ProxyProcess, fresh_upstream: FakeUpstream, name: str, make: Any
) -> None:
    data = make()
    with pytest.raises(openai.PermissionDeniedError) as ei:
        chat_with_image(proxy, data, _mime(data))
    assert fresh_upstream.requests == [], name
    counts = proxy.audit_events()[-1]["entity_counts"]
    assert "MEDICAL_IMAGE" in counts, (name, counts)
    assert "ROE" not in str(ei.value)


@pytest.mark.parametrize("name,make", MEDICAL, ids=[n for n, _ in MEDICAL])
def test_medical_image_is_stopped_at_the_chatgpt_web_upload(
    proxy: ProxyProcess,
    up: FakeUpstream,  # noqa: F811
    fixture: list[dict[str, Any]],  # noqa: F811
    name: str,
    make: Any,
) -> None:
    register, put, *_ = replay(proxy, fixture, make(), BENIGN)
    assert register.status_code == 200 and put.status_code == 403, name
    assert [r.method for r in up.requests] == ["POST"]  # the picture never reached the blob store
    put_event = next(e for e in reversed(proxy.audit_events()) if e["host"].endswith("blob.core.windows.net"))
    assert put_event["verdict"] == "block" and "MEDICAL_IMAGE" in put_event["entity_counts"], (name, put_event)
