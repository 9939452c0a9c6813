"""Training pictures from Debian data packages (training only; the run time never reads them).

    apt-get install openclipart-png tuxpaint-stamps-default mate-backgrounds invesalius-examples mricron-data

- positives: the head CT inside `invesalius-examples` (`Cranium.inv3`, a tar.gz holding an int16 108x256x256
  volume, GPL-2) and the T1 MRI templates of `mricron-data` (Colin-27 `ch2`/`ch2bet`/`ch2better`, one subject, so
  one group; the macaque `inia19-t1-brain`; `jhu189`; BSD-3), sliced in all three axes with several windows and
  some with mricron's colour lookup tables;
- negatives: `openclipart-png` (public-domain clip art, a deterministic sample across its folders),
  `tuxpaint-stamps-default` (object stamps, about half of them photos on transparent backgrounds, pasted on
  plain, gradient and generated-scene backgrounds; GPL-2), `mate-backgrounds` (nature photos and abstract
  wallpapers, GPL-2+).

Each function returns `DebItem`s: a key, a CV group (a volume, or a file), the label, a negative "kind" for the
per-kind tables, and one or more rendered views. Missing packages give empty lists (the caller says so).
"""

from __future__ import annotations

import hashlib
import io
import plistlib
import random
import tarfile
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import numpy as np
from PIL import Image
from PIL import ImageOps

INV3 = Path("/usr/share/doc/invesalius-examples/examples/Cranium.inv3")
MRICRON = Path("/usr/share/mricron")
OPENCLIPART = Path("/usr/share/openclipart/png")
TUXPAINT = Path("/usr/share/tuxpaint/stamps")
MATE = Path("/usr/share/backgrounds/mate")
MAX_SIDE = 1024


@dataclass
class DebItem:
    key: str
    group: str
    label: int
    kind: str  # negatives: portraits, pets, food, buildings, landscapes, clip art, ...; positives: ct, mr
    views: list[Image.Image] = field(default_factory=list)


def _rng(key: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(f"deb:{key}".encode()).digest()[:8], "little"))


def _cap(img: Image.Image, side: int = MAX_SIDE) -> Image.Image:
    if max(img.size) > side:
        img = img.copy()
        img.thumbnail((side, side), Image.Resampling.LANCZOS)
    return img


# ---------------------------------------------------------------------------------------------- volumes
def _window(a: np.ndarray, centre: float, width: float) -> np.ndarray:
    lo = centre - width / 2
    return (np.clip((a - lo) / max(width, 1e-6), 0, 1) * 255).astype(np.uint8)


def _pct(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    p0, p1 = np.percentile(a, (lo, hi))
    return _window(a, (p0 + p1) / 2, max(p1 - p0, 1e-6))


def _slice(vol: np.ndarray, axis: int, frac: float, spacing: tuple[float, float, float]) -> np.ndarray:
    """A 2-D slice (z, y, x volume) shown the radiological way up, resampled to square pixels."""
    i = int(round(frac * (vol.shape[axis] - 1)))
    s = np.take(vol, i, axis=axis).astype(np.float32)
    sp = [sp for k, sp in enumerate(spacing) if k != axis]  # row, column spacing
    if axis != 0:
        s = s[::-1]  # superior at the top for coronal and sagittal slices
    h = max(8, int(round(s.shape[0] * sp[0] / sp[1])))
    if h != s.shape[0]:
        s = np.asarray(Image.fromarray(s).resize((s.shape[1], h), Image.Resampling.BILINEAR))
    return s


def _lut(name: str) -> np.ndarray | None:
    """A mricron .lut colour table (768 bytes: 256 R, then G, then B) as a (256, 3) uint8 array."""
    p = MRICRON / "lut" / f"{name}.lut"
    if not p.exists():
        return None
    raw = p.read_bytes()
    if len(raw) < 768:
        return None
    return np.frombuffer(raw[-768:], np.uint8).reshape(3, 256).T.copy()


def _views_of(
    vol: np.ndarray,
    spacing: tuple[float, float, float],
    windows: list[tuple[str, tuple[float, float]]],
    key: str,
    fracs: tuple[float, ...],
    luts: tuple[str, ...] = (),
) -> list[DebItem]:
    out: list[DebItem] = []
    rng = _rng(key)
    fg = vol > np.percentile(vol, 30)
    for axis, axis_name in ((0, "ax"), (1, "cor"), (2, "sag")):
        for frac in fracs:
            s = _slice(vol, axis, frac, spacing)
            if (s > np.percentile(vol, 30)).mean() < 0.08 and fg.any():
                continue  # an almost empty edge slice
            views = []
            for kind, (a, b) in windows:
                views.append(_window(s, a, b) if kind == "w" else _pct(s, a, b))
            imgs = [Image.fromarray(v) for v in views]
            if luts and rng.random() < 0.4:
                lut = _lut(rng.choice(luts))
                if lut is not None:
                    imgs.append(Image.fromarray(lut[np.asarray(imgs[0])]))
            out.append(DebItem(f"{key}_{axis_name}{frac:.2f}", key, 1, "", [_cap(i) for i in imgs]))
    return out


def ct_items() -> list[DebItem]:
    """The InVesalius head CT: axial, coronal and sagittal slices, file/brain/bone/soft-tissue/wide windows."""
    if not INV3.exists():
        return []
    with tarfile.open(INV3, "r:gz") as tf:
        members = {Path(m.name).name: m for m in tf.getmembers() if m.isfile()}
        meta = plistlib.loads(tf.extractfile(members["main.plist"]).read())  # type: ignore[union-attr]
        raw = tf.extractfile(members[meta["matrix"]["filename"]]).read()  # type: ignore[union-attr]
    shape = tuple(meta["matrix"]["shape"])
    vol = np.frombuffer(raw, dtype=np.dtype(meta["matrix"]["dtype"]).newbyteorder("<")).reshape(shape)
    sx, sy, sz = (float(v) for v in meta["spacing"])
    wl, ww = float(meta.get("window_level", 40)), float(meta.get("window_width", 400))
    windows = [("w", (wl, ww)), ("w", (40, 80)), ("w", (500, 2000)), ("w", (50, 400)), ("p", (1, 99.5))]
    items = _views_of(vol.astype(np.float32), (sz, sy, sx), windows, "deb_ct_cranium", (0.3, 0.42, 0.5, 0.58, 0.7))
    for it in items:
        it.kind = "ct"
    return items


def mr_items() -> list[DebItem]:
    """T1 MRI templates of mricron-data, several percentile windows and colour maps."""
    items: list[DebItem] = []
    try:
        import nibabel as nib
    except ImportError:  # pragma: no cover - nibabel is a project dependency
        return items
    volumes = {
        "deb_mr_colin27": ["ch2", "ch2bet", "ch2better"],  # one subject: one CV group
        "deb_mr_inia19": ["inia19-t1-brain"],
        "deb_mr_jhu189": ["jhu189"],
    }
    windows = [("p", (1, 99.5)), ("p", (5, 99)), ("p", (0, 100)), ("p", (20, 99.9))]
    luts = ("bone", "HOTIRON", "NIH", "gold", "bluegray", "actc", "x_hot")
    for group, names in volumes.items():
        for name in names:
            p = MRICRON / "templates" / f"{name}.nii.gz"
            if not p.exists():
                continue
            img = nib.as_closest_canonical(nib.load(str(p)))  # RAS: x left-right, y back-front, z up
            data = np.asarray(img.dataobj, dtype=np.float32)
            zooms = img.header.get_zooms()[:3]
            vol = np.transpose(data, (2, 1, 0))[:, ::-1, :]  # (z, y, x), anterior at the top of axial slices
            spacing = (float(zooms[2]), float(zooms[1]), float(zooms[0]))
            for it in _views_of(vol, spacing, windows, f"{group}_{name}", (0.35, 0.5, 0.62), luts):
                it.group = group
                it.kind = "mr"
                items.append(it)
    return items


# ---------------------------------------------------------------------------------------------- everyday
def _open_rgba(path: Path, max_pixels: int = 12_000_000) -> Image.Image | None:
    try:
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > max_pixels:  # a few clip-art PNGs are 100+ MP posters
                return None
            im.load()
            return im.convert("RGBA")
    except Exception:
        return None


def _on_white(im: Image.Image) -> Image.Image:
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    bg.alpha_composite(im)
    return bg.convert("RGB")


def openclipart_items(n: int = 900) -> list[DebItem]:
    """A deterministic sample of clip art, spread over the top-level folders (stars and icons are many)."""
    if not OPENCLIPART.exists():
        return []
    files = sorted(OPENCLIPART.rglob("*.png"))
    by_top: dict[str, list[Path]] = {}
    for f in files:
        by_top.setdefault(f.relative_to(OPENCLIPART).parts[0], []).append(f)
    for fs in by_top.values():
        fs.sort(key=lambda p: hashlib.sha256(str(p).encode()).hexdigest())
    picked: list[Path] = []
    while len(picked) < n and any(by_top.values()):
        for top in sorted(by_top):
            if by_top[top] and len(picked) < n:
                picked.append(by_top[top].pop())
    items = []
    for f in picked:
        im = _open_rgba(f)
        if im is None or min(im.size) < 24:
            continue
        key = "deb_clipart_" + str(f.relative_to(OPENCLIPART))
        rng = _rng(key)
        views = [_on_white(_cap(im))]
        if rng.random() < 0.3:  # on a coloured background
            bg = Image.new("RGBA", im.size, tuple(rng.randint(0, 255) for _ in range(3)) + (255,))
            bg.alpha_composite(_cap(im) if max(im.size) <= MAX_SIDE else _cap(im).resize(im.size))
            views.append(bg.convert("RGB"))
        items.append(DebItem(key, key, 0, "clip art", views))
    return items


_STAMP_KIND = {
    "animals": "pets and animals",
    "food": "food",
    "town": "buildings",
    "people": "portraits and people",
    "plants": "landscapes and plants",
    "naturalforces": "landscapes and plants",
}


def _background(rng: random.Random, size: tuple[int, int], scene_bg: list[Image.Image]) -> Image.Image:
    w, h = size
    r = rng.random()
    if r < 0.35 or not scene_bg:
        c = rng.choice([(255, 255, 255), (245, 245, 240), (230, 230, 230)])
        return Image.new("RGB", size, c)
    if r < 0.65:
        c0 = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
        c1 = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        return Image.fromarray(np.repeat(c0 * (1 - t) + c1 * t, w, axis=1).astype(np.uint8))
    bg = rng.choice(scene_bg)
    return ImageOps.fit(bg.convert("RGB"), size, Image.Resampling.BILINEAR)


def tuxpaint_items(scene_bg: list[Image.Image] | None = None) -> list[DebItem]:
    """Every PNG stamp, pasted at 45-95 % of a canvas on a plain, gradient or generated-scene background."""
    if not TUXPAINT.exists():
        return []
    scene_bg = scene_bg or []
    items = []
    for f in sorted(TUXPAINT.rglob("*.png")):
        rel = f.relative_to(TUXPAINT)
        if rel.parts[0] == "medical":  # a stethoscope or a tooth is not a medical image, but keep the test clean
            continue
        im = _open_rgba(f)
        if im is None or min(im.size) < 24:
            continue
        key = "deb_stamp_" + str(rel)
        rng = _rng(key)
        im = _cap(im, 768)
        views = []
        for _ in range(2):
            w, h = im.size
            s = rng.uniform(1.05, 2.2)
            cw, ch = max(w, int(w * s * rng.uniform(0.9, 1.3))), int(h * s)
            canvas = _background(rng, (cw, ch), scene_bg).convert("RGBA")
            canvas.alpha_composite(im, (rng.randint(0, cw - w), rng.randint(0, ch - h)))
            views.append(_cap(canvas.convert("RGB")))
        items.append(DebItem(key, key, 0, _STAMP_KIND.get(rel.parts[0], "objects"), views))
    return items


def mate_items() -> list[DebItem]:
    """Wallpapers: nature photos (landscapes) and abstract/desktop art; the three sizes of one picture are one group."""
    if not MATE.exists():
        return []
    items = []
    for f in sorted(MATE.rglob("*")):
        if f.suffix.lower() not in (".jpg", ".png"):
            continue
        with Image.open(f) as im:
            im.draft("RGB", (MAX_SIDE, MAX_SIDE))
            img = _cap(im.convert("RGB"))
        stem = f.stem.split("_")[0]
        kind = "landscapes and plants" if f.parent.name == "nature" else "wallpapers"
        key = "deb_mate_" + str(f.relative_to(MATE))
        items.append(DebItem(key, f"deb_mate_{stem}", 0, kind, [img]))
    return items


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()
