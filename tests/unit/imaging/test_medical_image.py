"""Unit tests for the medical-image recognizer: safe loading, rendering, the backbone session, the head file and
the detector contract.

Images are generated in the test; nothing is read from the corpus.
"""

from __future__ import annotations

import importlib.util
import io
import struct
import subprocess
import sys
import time
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from phiwall.detectors import medical_image as mi
from phiwall.errors import DetectionError
from phiwall.errors import LimitError
from phiwall.errors import PolicyError
from phiwall.imaging import backbone
from phiwall.imaging import features
from phiwall.imaging.load import load_image
from phiwall.imaging.load import to_display_mode
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from PIL import Image

from tests.support.samples import xray_png


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _jpeg_bytes(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _png_header_bomb(width: int, height: int) -> bytes:
    """A valid-looking PNG whose IHDR claims width x height but carries almost no data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def _xray_like(size: int = 512) -> Image.Image:
    """The drawn chest film of tests/support/samples.py (ribs, spine, lungs, clavicles, diaphragm, grain)."""
    return Image.open(io.BytesIO(xray_png(size))).convert("L")


def _photo_like(size: int = 512) -> Image.Image:
    rng = np.random.default_rng(2)
    arr = rng.integers(0, 255, (size // 16, size // 16, 3), dtype=np.uint8)
    return Image.fromarray(arr).resize((size, size), Image.Resampling.BICUBIC)


def _part(data: bytes, media_type: str = "image/png") -> Part:
    return Part(id="p1", kind=PartKind.FILE, locator=Locator("body"), data=data, media_type=media_type)


# ------------------------------------------------------------------------------------------------ loading
def test_header_bomb_raises_limit_error_fast() -> None:
    data = _png_header_bomb(50_000, 50_000)
    t = time.perf_counter()
    with pytest.raises(LimitError) as err:
        load_image(data)
    assert time.perf_counter() - t < 1.0
    assert "pixel limit" in str(err.value)


def test_limit_is_configurable_and_checked_before_decoding() -> None:
    data = _png_bytes(Image.new("L", (200, 200)))
    with pytest.raises(LimitError):
        load_image(data, max_pixels=100 * 100)
    assert load_image(data, max_pixels=200 * 200).size == (200, 200)


def test_truncated_png_raises_detection_error() -> None:
    data = _png_bytes(_photo_like(256))
    with pytest.raises(DetectionError):
        load_image(data[: len(data) // 2])


def test_garbage_raises_detection_error() -> None:
    with pytest.raises(DetectionError):
        load_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


def test_jpeg_is_downscaled_and_exif_transposed() -> None:
    img = Image.new("RGB", (1600, 800), (10, 200, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    out = load_image(buf.getvalue(), max_side=256)
    assert out.mode == "RGB"
    assert max(out.size) <= 256
    assert out.size[1] > out.size[0]  # portrait after the EXIF rotation


def test_modes_are_normalised() -> None:
    sixteen = Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16))
    assert to_display_mode(sixteen).mode == "L"
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert to_display_mode(rgba).getpixel((0, 0)) == (255, 255, 255)  # transparent shows as white
    gif = io.BytesIO()
    frames = [Image.new("P", (32, 32), i) for i in range(3)]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    assert load_image(gif.getvalue()).size == (32, 32)


# ------------------------------------------------------------------------------------------------ features
def test_feature_vector_shape_and_finite() -> None:
    for img in (_xray_like(), _photo_like(), Image.new("RGB", (3, 700), (0, 0, 0))):
        x = features.extract(img)
        assert x.shape == (features.N_FEATURES,)
        assert np.isfinite(x).all()


def test_grayscale_features_ignore_tint_of_gray_images() -> None:
    gray = features.extract(_xray_like())
    names = features.FEATURE_NAMES
    assert gray[names.index("frac_gray_pixels")] > 0.99
    assert gray[names.index("sat_mean")] < 0.01


# ------------------------------------------------------------------------------------------------ detector
def test_scores_are_probabilities_and_modality_known() -> None:
    det = mi.MedicalImageDetector()
    for img in (_xray_like(), _photo_like()):
        score, modality = det.score_bytes(_jpeg_bytes(img))
        assert 0.0 <= score <= 1.0
        assert modality in mi.MODALITIES


def test_xray_like_scores_above_photo_like() -> None:
    det = mi.MedicalImageDetector()
    xray, _ = det.score_bytes(_png_bytes(_xray_like()))
    photo, _ = det.score_bytes(_png_bytes(_photo_like()))
    assert xray > photo


def test_detect_emits_finding_only_above_threshold() -> None:
    data = _png_bytes(_xray_like())
    always = mi.build({"threshold": 0.0}).detect(_part(data))
    assert len(always) == 1
    f = always[0]
    assert f.entity == "MEDICAL_IMAGE" and f.detector == "medical_image" and f.modality in mi.MODALITIES
    assert 0.0 <= f.score <= 1.0
    never = mi.MedicalImageDetector(threshold=1.0)
    score, _ = never.score_bytes(data)
    assert (never.detect(_part(data)) == []) == (score < 1.0)


@pytest.mark.parametrize("size", [(14, 25), (31, 400), (8, 8)])
def test_images_too_small_to_show_a_scan_are_not_medical(size: tuple[int, int]) -> None:
    tiny = _xray_like(512).resize(size)
    det = mi.build({"threshold": 0.0})  # even a policy that reports every score gets nothing
    assert det.score_bytes(_png_bytes(tiny)) == (0.0, None)
    assert det.detect(_part(_png_bytes(tiny))) == []


def test_a_long_strip_is_judged_on_its_full_size_not_its_thumbnail() -> None:
    """A 4000 x 100 banner shrinks to a 256 x 6 thumbnail, but 100 px is enough to show anatomy."""
    strip = _xray_like(512).resize((4000, 100))
    det = mi.build({"threshold": 0.0})
    assert len(det.detect(_part(_png_bytes(strip)))) == 1


def test_detect_errors_are_typed() -> None:
    det = mi.MedicalImageDetector()
    with pytest.raises(LimitError):
        det.detect(_part(_png_header_bomb(50_000, 50_000)))
    good = _png_bytes(_photo_like(128))
    with pytest.raises(DetectionError):
        det.detect(_part(good[:-40]))


def test_build_validates_options() -> None:
    assert mi.build({}).threshold == mi.default_model().default_threshold
    assert mi.build({"threshold": 0.7}).threshold == 0.7
    for bad in ({"threshold": 2}, {"threshold": "high"}, {"nope": 1}, {"max_pixels": 0}):
        with pytest.raises(PolicyError):
            mi.build(bad)


def test_handles_only_raster_images() -> None:
    assert "image/png" in mi.MedicalImageDetector.handles
    assert "image/heic" in mi.MedicalImageDetector.handles
    assert "application/dicom" not in mi.MedicalImageDetector.handles


def test_model_file_matches_backbone() -> None:
    model = mi.default_model()
    assert set(model.modality_classes) <= set(mi.MODALITIES)
    assert model.default_threshold == 0.5  # the CV operating point is shifted to 0.5 in training
    assert model.backbone_sha256 == backbone.backbone_sha256()
    assert model.mean.shape == (backbone.N_FEATURES,)


def test_head_trained_on_another_backbone_is_refused(tmp_path: Path) -> None:
    ref = resources.files("phiwall") / "data" / mi.MODEL_FILE
    with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["backbone_sha256"] = np.array("0" * 64)
    path = tmp_path / "head.npz"
    np.savez(path, **arrays)
    with pytest.raises(DetectionError, match="another backbone"):
        mi.load_model_file(path)
    assert mi.load_model_file(path, check_backbone=False).version == mi.default_model().version


def test_one_single_threaded_session_per_process() -> None:
    det = mi.MedicalImageDetector()
    for img in (_xray_like(), _photo_like(), _xray_like(300)):
        det.score_bytes(_jpeg_bytes(img))
    mi.MedicalImageDetector().score_bytes(_png_bytes(_photo_like(200)))  # a second detector shares the session
    assert backbone.sessions_created() == 1
    opts = backbone.session().get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1


def test_runs_offline_without_torch_or_sklearn() -> None:
    """The detector needs only the package data and onnxruntime: no network, no torch, no scikit-learn."""
    code = (
        "import socket, sys\n"
        "def _no_net(*a, **k): raise OSError('network disabled in this test')\n"
        "socket.socket.connect = _no_net; socket.create_connection = _no_net\n"
        "from PIL import Image; import io\n"
        "from phiwall.detectors.medical_image import MedicalImageDetector\n"
        "buf = io.BytesIO(); Image.new('RGB', (300, 300), (20, 120, 200)).save(buf, 'PNG')\n"
        "score, _ = MedicalImageDetector().score_bytes(buf.getvalue())\n"
        "assert 0.0 <= score <= 1.0\n"
        "assert 'torch' not in sys.modules and 'sklearn' not in sys.modules, sorted(sys.modules)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_backbone_input_is_the_squashed_whole_picture() -> None:
    wide = Image.new("RGB", (1000, 250), (255, 0, 0))
    wide.paste((0, 0, 255), (900, 0, 1000, 250))  # the right edge must stay in view (no centre crop)
    px = backbone.prepare(wide)
    assert px.shape == (backbone.SIDE, backbone.SIDE, 3) and px.dtype == np.uint8
    assert px[112, -2, 2] > 200 and px[112, 2, 0] > 200


def test_backbone_views_are_the_whole_picture_and_its_centre() -> None:
    img = Image.new("RGB", (400, 200), (0, 0, 255))
    img.paste((255, 0, 0), (40, 20, 360, 180))  # red in the central 80 %, a blue frame around it
    px = backbone.views(img)
    assert px.shape == (2, backbone.SIDE, backbone.SIDE, 3) and px.dtype == np.uint8
    assert px[0, 2, 2, 2] > 200 and px[0, 112, 112, 0] > 200  # the whole picture keeps the blue frame in view
    assert px[1, 2, 2, 0] > 200 and px[1, 2, 2, 2] < 50  # the centre view is all red: 10 % cut on each side


def test_shipped_head_scores_the_mean_of_both_views() -> None:
    """mi-5 was trained and cross-validated on the mean features of the whole picture and its centre; scoring
    one view with it would move every score away from the validated operating point."""
    model = mi.default_model()
    assert model.n_views == 2
    img = _xray_like(400).convert("RGB")
    img.paste((250, 250, 250), (0, 0, 400, 30))  # a white viewer bar that only the whole view sees
    data = _png_bytes(img)
    got = mi.MedicalImageDetector().features_of(data)
    decoded = load_image(data, max_side=mi.THUMB_SIDE)
    want = backbone.embed_pixels(backbone.views(decoded)).mean(axis=0)
    assert got is not None and np.allclose(got, want, atol=1e-5)
    assert not np.allclose(got, backbone.embed(decoded), atol=1e-3)


def test_head_file_asking_for_unknown_views_is_refused(tmp_path: Path) -> None:
    ref = resources.files("phiwall") / "data" / mi.MODEL_FILE
    with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["n_views"] = np.array(3)
    np.savez(tmp_path / "three.npz", **arrays)
    with pytest.raises(DetectionError, match="3 views"):
        mi.load_model_file(tmp_path / "three.npz")
    del arrays["n_views"]  # a head file from before mi-5 scores one view
    np.savez(tmp_path / "old.npz", **arrays)
    assert mi.load_model_file(tmp_path / "old.npz").n_views == 1


def test_runtime_head_matches_training_head() -> None:
    """The exported arrays (with the bias shift that puts the operating point at 0.5) reproduce the training
    code's head: an MLP and a logistic regression, both ways through save() and load_model_file()."""
    pytest.importorskip("sklearn")
    training = Path(__file__).resolve().parents[3] / "training"
    sys.path.insert(0, str(training))
    spec = importlib.util.spec_from_file_location("train_backbone_head", training / "train_backbone_head.py")
    assert spec is not None and spec.loader is not None
    tb = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("train_backbone_head", tb)  # its dataclasses look their module up
    spec.loader.exec_module(tb)  # loaded by path: training/ is not an installed package

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, backbone.N_FEATURES)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 3] > 0).astype(int)
    w = np.ones(len(y))
    mods = np.where(y == 1, "ct", "mr")
    for kind in ("lr", "mlp"):
        head = tb.fit_head(X, y, w, kind)
        mod = tb.fit_modality(X, mods, head.mean, head.scale)
        buf = io.BytesIO()
        tb.save(buf, head, 0.2, mod)  # type: ignore[arg-type]
        buf.seek(0)
        model = mi.load_model_file(buf)
        assert model.n_views == tb.N_VIEWS
        want = head.score(X[:20])
        shifted = 1 / (1 + np.exp(-(np.log(want / (1 - want)) - np.log(0.2 / 0.8))))
        got = np.array([model.score(x) for x in X[:20]])
        assert np.allclose(got, shifted, atol=1e-4), kind
        assert [model.modality_of(x) for x in X[:5]] == list(np.where(y[:5] == 1, "ct", "mr"))


def test_render_dicom_without_file_meta() -> None:
    pydicom = pytest.importorskip("pydicom")
    from phiwall.imaging.render import render_dicom
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.Rows, ds.Columns = 16, 16
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelData = (np.arange(256, dtype=np.uint16) * 8).tobytes()
    fp = pydicom.filebase.DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    pydicom.filewriter.write_dataset(fp, ds)  # a bare dataset: no preamble, no File Meta
    img = render_dicom(fp.getvalue())
    assert img.mode == "L" and img.size == (16, 16)
    arr = np.asarray(img)
    assert arr[0, 0] > arr[-1, -1]  # MONOCHROME1: low values display bright


def test_tint_robust_colour_features_see_a_tinted_gray_picture_as_gray() -> None:
    arr = np.asarray(_xray_like().convert("RGB")).astype(np.float32)
    tinted = Image.fromarray(np.clip(arr * np.array([1.0, 0.88, 0.7]) + 10, 0, 255).astype(np.uint8))
    names = features.FEATURE_NAMES
    x = features.extract(tinted)
    assert x[names.index("chan_corr_min")] > 0.98
    assert x[names.index("greyworld_frac_gray")] > 0.9
    photo = features.extract(_photo_like())
    assert photo[names.index("chan_corr_min")] < 0.9
