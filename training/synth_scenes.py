"""Procedural everyday pictures for the medical-image recognizer's negatives (training only).

The corpus holds about a dozen photographs, one of each kind, so a model cannot learn "a photo" from it. These
generators draw pictures from nothing, with the statistics that separate photographs from scans rather than
their subjects: occluding objects whose sizes follow a power law (the "dead leaves" model of natural images),
1/f texture, lighting gradients, defocus, sensor noise; fur and hair made of oriented strokes; landscapes with
sky, ridges and vegetation; dishes on tables; night scenes with lights and glow; and flat graphics (logos made of
dots, black-and-white op-art patterns, figures with image panels). None is a copy or a trace of a real picture.
"""

from __future__ import annotations

import math
import random

import cv2
import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFilter
from PIL import ImageFont

# Colours of everyday scenes (RGB): sky, foliage, earth, stone, skin, wood, fabric and paint.
NATURAL_PALETTE = np.array(
    [
        (110, 160, 220), (160, 200, 240), (200, 220, 235), (60, 110, 50), (90, 140, 60), (140, 170, 80),
        (40, 70, 35), (120, 90, 60), (160, 120, 80), (200, 170, 120), (90, 80, 70), (150, 150, 145),
        (200, 200, 195), (230, 190, 160), (190, 140, 110), (120, 85, 60), (150, 100, 50), (180, 130, 70),
        (200, 40, 40), (230, 200, 40), (40, 60, 160), (240, 240, 240), (30, 30, 30), (210, 120, 40),
    ],
    dtype=np.float32,
)  # fmt: skip


def _g(rng: random.Random) -> np.random.Generator:
    return np.random.default_rng(rng.randint(0, 2**31))


def fbm(g: np.random.Generator, h: int, w: int, beta: float = 2.0) -> np.ndarray:
    """Noise with a 1/f^beta power spectrum (natural images have beta near 2), scaled to zero mean, unit std."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    spec = (g.normal(size=(h, fx.shape[1])) + 1j * g.normal(size=(h, fx.shape[1]))) / f ** (beta / 2)
    spec[0, 0] = 0
    n = np.fft.irfft2(spec, s=(h, w)).astype(np.float32)
    return n / (n.std() + 1e-6)


def _size(rng: random.Random) -> tuple[int, int]:
    return rng.choice([(640, 480), (480, 640), (800, 533), (512, 512), (600, 800), (768, 512)])


def _colour(rng: random.Random, g: np.random.Generator, natural: float = 0.75) -> np.ndarray:
    if rng.random() < natural:
        c = NATURAL_PALETTE[rng.randrange(len(NATURAL_PALETTE))]
        return np.clip(c + g.normal(0, 18, 3), 0, 255).astype(np.float32)
    return np.array([rng.randint(0, 255) for _ in range(3)], np.float32)


def _finish(a: np.ndarray, rng: random.Random, g: np.random.Generator, gray_p: float = 0.25) -> Image.Image:
    """Lighting, vignette, defocus and sensor noise: what a camera adds to any scene."""
    h, w = a.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1 + rng.uniform(-0.25, 0.25) * (xx / w - 0.5) + rng.uniform(-0.25, 0.25) * (yy / h - 0.5)
    if rng.random() < 0.5:
        light *= 1 - rng.uniform(0.1, 0.45) * (((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 2)
    a = a * light[..., None]
    if rng.random() < 0.5:
        a = cv2.GaussianBlur(a, (0, 0), rng.uniform(0.6, 2.5))
    a = a + g.normal(0, rng.uniform(1, 8), a.shape).astype(np.float32)
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if rng.random() < gray_p:
        img = img.convert("L").convert("RGB")
    return img


def dead_leaves(rng: random.Random) -> Image.Image:
    """Occluding shaded, textured objects with power-law sizes: the classic model of natural image statistics."""
    w, h = _size(rng)
    g = _g(rng)
    n = rng.randint(1500, 4000)
    labels = Image.new("I", (w, h), 0)
    d = ImageDraw.Draw(labels)
    rmin, rmax = max(w, h) * rng.uniform(0.004, 0.015), max(w, h) / rng.uniform(2, 5)
    for i in range(1, n + 1):
        u = rng.random()  # inverse CDF of p(r) ~ r^-3 between rmin and rmax
        r = 1 / math.sqrt(u / rmax**2 + (1 - u) / rmin**2)
        x, y = rng.uniform(-r, w + r), rng.uniform(-r, h + r)
        kind = rng.random()
        if kind < 0.5:
            d.ellipse([x - r, y - r * rng.uniform(0.4, 1.0), x + r, y + r * rng.uniform(0.4, 1.0)], fill=i)
        elif kind < 0.8:
            pts = [
                (x + r * math.cos(t) * rng.uniform(0.5, 1.2), y + r * math.sin(t) * rng.uniform(0.5, 1.2))
                for t in sorted(rng.uniform(0, 2 * math.pi) for _ in range(rng.randint(3, 8)))
            ]
            d.polygon(pts, fill=i)
        else:
            d.rectangle([x - r, y - r * rng.uniform(0.1, 1), x + r, y + r * rng.uniform(0.1, 1)], fill=i)
    lab = np.asarray(labels, dtype=np.int32)
    cols = np.stack([_colour(rng, g) for _ in range(n + 1)])
    cols[0] = _colour(rng, g)
    gx = g.uniform(-0.6, 0.6, n + 1).astype(np.float32)
    gy = g.uniform(-0.6, 0.6, n + 1).astype(np.float32)
    tex_amp = (g.uniform(0, 1, n + 1) ** 2 * 40).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = xx / w - 0.5, yy / h - 0.5
    shade = 1 + gx[lab] * cx + gy[lab] * cy
    tex = fbm(g, h, w, rng.uniform(1.2, 2.2))
    fine = fbm(g, h, w, 0.5)
    a = cols[lab] * shade[..., None] + (tex * tex_amp[lab])[..., None] + (fine * tex_amp[lab] * 0.4)[..., None]
    return _finish(a, rng, g)


def fur(rng: random.Random) -> Image.Image:
    """A close-up of fur or hair: thousands of short strokes along a smooth flow field over coat patches."""
    w, h = _size(rng)
    g = _g(rng)
    base = fbm(g, h // 4 + 1, w // 4 + 1, 3.0)
    coat = [_colour(rng, g, natural=1.0) for _ in range(3)]
    levels = np.quantile(base, [0.4, 0.75])
    idx = np.digitize(base, levels)
    small = np.stack(coat)[idx]
    col = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    angle = cv2.resize(fbm(g, h // 16 + 1, w // 16 + 1, 3.0), (w, h)) * rng.uniform(0.6, 1.5) + rng.uniform(0, 6.3)
    img = Image.fromarray(np.clip(col * 0.8, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    length = rng.uniform(6, 25)
    for _ in range(int(w * h / rng.uniform(25, 60))):
        x, y = rng.randrange(w), rng.randrange(h)
        t = float(angle[y, x])
        c = col[y, x] * rng.uniform(0.6, 1.35)
        ln = length * rng.uniform(0.5, 1.5)
        d.line(
            [(x, y), (x + ln * math.cos(t), y + ln * math.sin(t))],
            fill=tuple(int(v) for v in np.clip(c, 0, 255)),
            width=rng.choice([1, 1, 2]),
        )
    a = np.asarray(img).astype(np.float32)
    if rng.random() < 0.5:  # blurred background behind the subject
        mask = cv2.GaussianBlur((fbm(g, h, w, 3.0) > 0.3).astype(np.float32), (0, 0), 15)[..., None]
        bg = cv2.GaussianBlur(np.full_like(a, _colour(rng, g)) + fbm(g, h, w, 2.5)[..., None] * 25, (0, 0), 8)
        a = a * (1 - mask) + bg * mask
    return _finish(a, rng, g)


def landscape(rng: random.Random) -> Image.Image:
    """Sky with clouds, one to three ridges from 1D fractal noise, vegetation or snow; sometimes at night."""
    w, h = _size(rng)
    g = _g(rng)
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    night = rng.random() < 0.2
    top = np.array([20, 25, 45] if night else [rng.randint(60, 140), rng.randint(120, 190), rng.randint(200, 255)])
    bottom = np.array([50, 50, 70] if night else [rng.randint(170, 230), rng.randint(200, 235), rng.randint(225, 255)])
    a = np.repeat(top * (1 - yy) + bottom * yy, w, axis=1).astype(np.float32)
    if not night:
        clouds = np.clip(fbm(g, h, w, 2.4) - rng.uniform(0.0, 1.0), 0, None)
        a = a + clouds[..., None] * rng.uniform(30, 90)
    xs = np.arange(w)
    n_ridges = rng.randint(1, 3)
    for k in range(n_ridges):
        prof = fbm(g, 1, w, 2.2)[0] * rng.uniform(0.05, 0.2) * h
        base = h * (0.35 + 0.5 * (k + 1) / (n_ridges + 1)) + prof
        col = _colour(rng, g) * (0.5 + 0.5 * (k + 1) / n_ridges)
        mask = np.arange(h)[:, None] > base[None, :]
        tex = fbm(g, h, w, rng.uniform(1.0, 2.0))[..., None] * rng.uniform(8, 35)
        a = np.where(mask[..., None], col + tex, a)
        if rng.random() < 0.3:  # snow caps
            snow = mask & (np.arange(h)[:, None] < base[None, :] + h * 0.06) & (fbm(g, h, w, 1.5) > 0)
            a[snow] = 235
    if night:
        for _ in range(rng.randint(3, 30)):
            x, y = rng.randrange(w), rng.randrange(h)
            r = rng.uniform(1, 6)
            yy2, xx2 = np.ogrid[0:h, 0:w]
            glow = np.exp(-((xx2 - x) ** 2 + (yy2 - y) ** 2) / (2 * (r * 4) ** 2)).astype(np.float32)
            a = a + glow[..., None] * np.array([255, 230, 180], np.float32) * rng.uniform(0.4, 1)
    _ = xs
    return _finish(a, rng, g, gray_p=0.15)


def tabletop(rng: random.Random) -> Image.Image:
    """A dish, plate or object on a table: wood grain or cloth around a shaded, textured round subject."""
    w, h = _size(rng)
    g = _g(rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:  # wood grain
        grain = np.sin((xx * rng.uniform(0.02, 0.08)) + fbm(g, h, w, 2.5) * rng.uniform(1, 4))
        wood = np.array([rng.randint(120, 200), rng.randint(80, 140), rng.randint(40, 90)], np.float32)
        a = wood * (0.85 + 0.15 * grain[..., None])
    else:
        a = np.full((h, w, 3), _colour(rng, g)) + fbm(g, h, w, 1.0)[..., None] * rng.uniform(3, 12)
    cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.35, 0.65)
    rx, ry = min(w, h) * rng.uniform(0.25, 0.48), min(w, h) * rng.uniform(0.2, 0.45)
    dist = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    shadow = np.clip(1 - np.exp(-np.clip(dist - 1, 0, None) * 3), 0.55, 1)
    a = a * shadow[..., None]
    rim = (dist < 1) & (dist > rng.uniform(0.6, 0.85))
    a[rim] = np.array([rng.randint(200, 255)] * 3, np.float32) * (0.8 + 0.2 * fbm(g, h, w, 2.0)[rim][:, None] / 3)
    inner = dist <= 0.85
    food = _colour(rng, g) + fbm(g, h, w, rng.uniform(0.8, 1.8))[..., None] * rng.uniform(15, 40)
    a = np.where((inner & ~rim)[..., None], food, a)
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(0, 25)):  # pieces on top: nuts, berries, slices
        r = rng.uniform(4, min(w, h) * 0.05)
        t = rng.uniform(0, 2 * math.pi)
        k = rng.uniform(0, 0.6)
        x, y = cx + math.cos(t) * rx * k, cy + math.sin(t) * ry * k
        c = tuple(int(v) for v in _colour(rng, g))
        d.ellipse([x - r, y - r * 0.6, x + r, y + r * 0.6], fill=c)
    return _finish(np.asarray(img).astype(np.float32), rng, g, gray_p=0.15)


def dot_logo(rng: random.Random) -> Image.Image:
    """A flat logo: dots, rings or a network of circles in one to three colours, with a word beside it."""
    w, h = rng.choice([(800, 400), (600, 300), (400, 400), (1000, 500)])
    bg = rng.choice([(255, 255, 255), (255, 255, 255), (245, 245, 245), (0, 0, 0)])
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    cols = [tuple(rng.randint(0, 230) for _ in range(3)) for _ in range(rng.randint(1, 3))]
    cx, cy = rng.uniform(0.15, 0.5) * w, h / 2
    size = min(w, h) * rng.uniform(0.2, 0.4)
    pts = []
    for _ in range(rng.randint(5, 30)):
        x, y = cx + rng.uniform(-size, size), cy + rng.uniform(-size, size)
        r = rng.uniform(size * 0.05, size * 0.25)
        pts.append((x, y))
        c = rng.choice(cols)
        if rng.random() < 0.8:
            d.ellipse([x - r, y - r, x + r, y + r], fill=c)
        else:
            d.ellipse([x - r, y - r, x + r, y + r], outline=c, width=max(1, int(r / 4)))
    for _ in range(rng.randint(0, 15)):
        a, b = rng.choice(pts), rng.choice(pts)
        d.line([a, b], fill=rng.choice(cols), width=rng.randint(1, 4))
    try:
        font = ImageFont.load_default(size=int(h * rng.uniform(0.15, 0.35)))
    except Exception:  # pragma: no cover - Pillow without FreeType
        font = ImageFont.load_default()
    word = "".join(rng.choice("abcdefghijklmnoprstuvwxyz") for _ in range(rng.randint(3, 8))).capitalize()
    d.text((cx + size * 1.2, cy - h * 0.15), word, fill=rng.choice(cols), font=font)
    return img


def op_art(rng: random.Random) -> Image.Image:
    """Black-and-white (or two-colour) geometric patterns: warped checkerboards, radial stars, stripes."""
    s = rng.choice([256, 384, 512])
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s - 0.5
    r = np.hypot(xx, yy) + 1e-3
    t = np.arctan2(yy, xx)
    kind = rng.randrange(4)
    k = rng.randint(6, 40)
    if kind == 0:
        v = np.sin(t * k) * np.sin(np.log(r) * rng.uniform(4, 20))
    elif kind == 1:
        v = np.sin(t * k + np.sin(r * rng.uniform(5, 30)) * rng.uniform(0.5, 3))
    elif kind == 2:
        v = np.sin((xx + np.sin(yy * rng.uniform(3, 15)) * 0.05) * k * 6) * np.sin(yy * k * 6)
    else:
        v = np.sin(r * k * 8 + t * rng.randint(1, 6))
    bw = v > 0
    c0 = np.array(rng.choice([(0, 0, 0), (0, 0, 0), tuple(rng.randint(0, 255) for _ in range(3))]), np.float32)
    c1 = np.array(
        rng.choice([(255, 255, 255), (255, 255, 255), tuple(rng.randint(0, 255) for _ in range(3))]), np.float32
    )
    a = np.where(bw[..., None], c1, c0)
    if rng.random() < 0.4:
        a[r < rng.uniform(0.05, 0.3)] = c1
    img = Image.fromarray(a.astype(np.uint8))
    if rng.random() < 0.3:
        d = ImageDraw.Draw(img)
        for _ in range(rng.randint(1, 6)):
            ang = rng.uniform(0, math.pi)
            d.line([(s / 2 - s * math.cos(ang), s / 2 - s * math.sin(ang)),
                    (s / 2 + s * math.cos(ang), s / 2 + s * math.sin(ang))], fill=(128, 128, 128), width=1)  # fmt: skip
    return img


def panel_figure(rng: random.Random) -> Image.Image:
    """A figure from a paper or notebook: a white page with a line plot and small panels of noise or texture."""
    w, h = rng.choice([(1000, 500), (1200, 600), (900, 700)])
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    g = _g(rng)
    top = int(h * rng.uniform(0.2, 0.4))
    d.rectangle([40, 20, w - 20, top], outline=(0, 0, 0))
    xs = np.linspace(40, w - 20, 50)
    ys = 20 + (top - 20) * (0.2 + 0.6 * np.cumsum(g.normal(0, 0.1, 50)).clip(-1, 1) / 2 + 0.3)
    d.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=(31, 119, 180), width=1)
    d.text((w // 3, 4), "".join(rng.choice("abcdefgh ") for _ in range(30)), fill=(0, 0, 0))
    n = rng.randint(2, 6)
    side = min((w - 60) // n - 20, h - top - 60)
    for i in range(n):
        x0 = 40 + i * (side + 20)
        y0 = top + 40
        cells = rng.choice([8, 12, 16, 32])
        panel = g.uniform(0, 255, (cells, cells)) if rng.random() < 0.6 else (fbm(g, cells, cells, 1.5) * 50 + 128)
        tile = Image.fromarray(np.clip(panel, 0, 255).astype(np.uint8)).resize((side, side), Image.Resampling.NEAREST)
        if rng.random() < 0.3:
            tile = tile.filter(ImageFilter.GaussianBlur(1.5))
        img.paste(tile.convert("RGB"), (x0, y0))
        d.text((x0 + side // 3, y0 - 14), f"img {i}", fill=(0, 0, 0))
    return img


SCENES = {
    "dead_leaves": dead_leaves,
    "fur": fur,
    "landscape": landscape,
    "tabletop": tabletop,
    "dot_logo": dot_logo,
    "op_art": op_art,
    "panel_figure": panel_figure,
}
