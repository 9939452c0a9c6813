"""Engineered features that describe how a picture "looks medical", computed on a <=256 px thumbnail.

Why engineered features and not a CNN: the runtime must stay light (numpy + OpenCV, no torch, no downloads) and
the labelled data is tiny (about a hundred public images), so the model has to be told what a radiologist or a
lay person sees: grayscale with a dark background, a symmetric body, a round field of view (endoscopy, fundus),
an ultrasound fan, speckle texture, pink/purple stain (pathology), small text in the corners (viewer overlays) -
and, for the negatives, what documents, charts, UIs and photos look like (flat colour areas, axis-aligned edges,
many distinct colours, sky-to-ground gradients).

The vector is order-stable: `FEATURE_NAMES[i]` names column i. The trained model file stores these names and the
detector refuses a model whose names differ, so a feature change forces a retrain instead of silent garbage.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from PIL import Image

THUMB_SIDE = 256
_GRID = 4

FEATURE_NAMES: tuple[str, ...] = (
    # colour
    "sat_mean",
    "sat_p90",
    "frac_sat_gt_020",
    "frac_gray_pixels",
    "colourfulness",
    "hue_red",
    "hue_yellow",
    "hue_green",
    "hue_blue",
    "hue_purple",
    "log_unique_colours",
    "top4_colour_mass",
    "top1_colour_mass",
    # intensity on the content area
    "g_mean",
    "g_std",
    "g_p01",
    "g_p05",
    "g_p25",
    "g_p50",
    "g_p75",
    "g_p95",
    "g_p99",
    "frac_dark",
    "frac_black",
    "frac_bright",
    "frac_white",
    *(f"hist8_{i}" for i in range(8)),
    "hist_entropy",
    "levels_used",
    # background, borders, letterbox
    "ring_dark",
    "ring_white",
    "ring_std",
    "trim_frac",
    "content_aspect",
    "corner_mean",
    "center_mean",
    "center_minus_corner",
    # field of view shapes
    "ellipse_in_mean",
    "ellipse_out_mean",
    "ellipse_out_dark",
    "ellipse_in_dark",
    "fan_top_dark",
    "fan_contrast",
    # edges and texture
    "grad_mean",
    "grad_p90",
    "frac_strong_edges",
    "hv_edge_ratio",
    "edge_in_dark",
    "lap_mean",
    "hf_ratio",
    "flat_frac",
    "flat_mid_frac",
    "local_std_mean",
    "local_std_p10",
    "smooth_mid_frac",
    "row_col_step",
    # symmetry
    "sym_lr",
    "sym_lr_coarse",
    "sym_tb_coarse",
    # text overlays
    "text_strip_density",
    "text_center_density",
    "text_corner_density",
    # layout
    *(f"grid_{r}{c}" for r in range(_GRID) for c in range(_GRID)),
    *(f"ring_profile_{i}" for i in range(4)),
    "vert_gradient",
    "blue_top",
    # tint-robust colour: a tinted or gamma-shifted gray picture still has perfectly dependent channels
    "chan_corr_min",
    "chan_pca_ratio",
    "greyworld_chroma_mean",
    "greyworld_frac_gray",
    # local binary patterns (uniform, 8 neighbours) at radius 1 and on a half-size copy
    *(f"lbp1_{i}" for i in range(10)),
    *(f"lbp2_{i}" for i in range(10)),
    # gradient orientation histogram (magnitude weighted, 8 bins over 180 degrees) and its entropy
    *(f"gori_{i}" for i in range(8)),
    "gori_entropy",
    # grey-level co-occurrence (8 levels, horizontal + vertical neighbours)
    "glcm_contrast",
    "glcm_homogeneity",
    "glcm_energy",
    "glcm_correlation",
    # frequency domain: radial power spectrum slope and band energies
    "fft_slope",
    *(f"fft_band_{i}" for i in range(5)),
    # noise: Immerkaer sigma overall and relative to contrast; speckle (local std grows with local mean)
    "noise_sigma",
    "noise_rel",
    "speckle_corr",
    "noise_dark_sigma",
    # multi-scale smoothness: fraction of energy kept after blurring
    "blur_keep_1",
    "blur_keep_3",
    # body/foreground region (Otsu): size, compactness, contrast inside and outside
    "fg_frac",
    "fg_n_components",
    "fg_largest_frac",
    "fg_solidity",
    "fg_touch_border",
    "fg_std",
    "bg_std",
    "fg_bg_contrast",
    # mosaic / slice grid: periodicity of dark gutters
    "gutter_rows",
    "gutter_cols",
)
N_FEATURES = len(FEATURE_NAMES)


def thumbnail(img: Image.Image, side: int = THUMB_SIDE) -> np.ndarray:
    """An RGB uint8 array whose longest side is at most `side` (area interpolation: keeps speckle statistics)."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    arr = np.asarray(img)
    h, w = arr.shape[:2]
    scale = side / max(h, w)
    if scale < 1.0:
        arr = cv2.resize(arr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(arr)


def _content_box(gray: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box of what differs from the border colour: strips letterboxes, white page margins, frames."""
    h, w = gray.shape
    ring = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    bg = float(np.median(ring))
    diff = np.abs(gray.astype(np.int16) - int(bg)) > 16
    rows = np.flatnonzero(diff.mean(axis=1) > 0.02)
    cols = np.flatnonzero(diff.mean(axis=0) > 0.02)
    if rows.size == 0 or cols.size == 0:
        return 0, 0, w, h
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (y1 - y0) < 8 or (x1 - x0) < 8:
        return 0, 0, w, h
    return x0, y0, x1, y1


def _hist_percentiles(values_u8: np.ndarray, pcts: tuple[float, ...]) -> list[float]:
    """Percentiles of a uint8 array from its histogram: ~10x faster than np.percentile's partition."""
    cdf = np.cumsum(np.bincount(values_u8.ravel(), minlength=256)).astype(np.float64)
    cdf /= cdf[-1]
    return [float(np.searchsorted(cdf, p / 100.0)) for p in pcts]


@functools.lru_cache(maxsize=64)
def _masks(h: int, w: int) -> tuple[np.ndarray, ...]:
    """Geometry masks depend only on the content size; cached because thumbnails repeat sizes a lot."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ell = ((xx - (w - 1) / 2) / (w / 2)) ** 2 + ((yy - (h - 1) / 2) / (h / 2)) ** 2
    inside = ell <= 0.8
    outside = ell > 1.05
    top = yy < h * 0.45
    fan_side = top & (np.abs(xx - (w - 1) / 2) > (yy / max(h, 1)) * w * 0.9 + w * 0.12)
    fan_mid = (yy > h * 0.35) & (np.abs(xx - (w - 1) / 2) < w * 0.2)
    ring_edges = (0.0, 0.15, 0.4, 0.75, 10.0)
    rings = tuple((ell >= ring_edges[i]) & (ell < ring_edges[i + 1]) for i in range(4))
    return (inside, outside, fan_side, fan_mid, *rings)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float32).ravel()
    b = b.astype(np.float32).ravel()
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-6 else 1.0


def extract(img: Image.Image) -> np.ndarray:
    """Feature vector (float32, length N_FEATURES) for a decoded "L"/"RGB" image of any size."""
    return extract_array(thumbnail(img))


def extract_array(rgb: np.ndarray) -> np.ndarray:
    """Feature vector for an RGB uint8 array already at thumbnail size."""
    if rgb.shape[0] < 4 or rgb.shape[1] < 4:
        rgb = cv2.resize(rgb, (max(4, rgb.shape[1]), max(4, rgb.shape[0])), interpolation=cv2.INTER_NEAREST)
    f: list[float] = []
    rgbf = rgb.astype(np.float32)
    gray_full: np.ndarray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    H, W = gray_full.shape

    # --- border ring of the whole picture (letterbox / page / dark viewer background)
    ring_w = max(1, min(H, W) // 20)
    ring = np.concatenate(
        [
            gray_full[:ring_w].ravel(),
            gray_full[-ring_w:].ravel(),
            gray_full[:, :ring_w].ravel(),
            gray_full[:, -ring_w:].ravel(),
        ]
    ).astype(np.float32)

    x0, y0, x1, y1 = _content_box(gray_full)
    trim_frac = 1.0 - ((x1 - x0) * (y1 - y0)) / float(H * W)
    rgb_c = rgb[y0:y1, x0:x1]
    rgbf_c = rgbf[y0:y1, x0:x1]
    gray = gray_full[y0:y1, x0:x1]
    h, w = gray.shape
    g = gray.astype(np.float32)

    # --- colour
    hsv = cv2.cvtColor(rgb_c, cv2.COLOR_RGB2HSV)
    sat = hsv[..., 1].astype(np.float32) / 255.0
    val = hsv[..., 2].astype(np.float32) / 255.0
    sat_eff = sat * (val > 0.12)
    r, gg, b = rgbf_c[..., 0], rgbf_c[..., 1], rgbf_c[..., 2]  # saturation of near-black pixels is noise
    chroma = np.maximum(np.maximum(r, gg), b) - np.minimum(np.minimum(r, gg), b)
    rg = r - gg
    yb = 0.5 * (r + gg) - b
    colourfulness = float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))
    sat_u8 = (sat_eff * 255.0).astype(np.uint8)
    f += [
        float(sat_eff.mean()),
        _hist_percentiles(sat_u8, (90,))[0] / 255.0,
        float((sat_eff > 0.2).mean()),
        float((chroma < 12).mean()),
        colourfulness / 100.0,
    ]
    hue = hsv[..., 0].astype(np.float32) * 2.0  # degrees
    satmask = sat_eff > 0.2
    n_sat = max(int(satmask.sum()), 1)
    hs = hue[satmask]
    f += [
        float(((hs < 20) | (hs >= 340)).sum() / n_sat),
        float(((hs >= 20) & (hs < 70)).sum() / n_sat),
        float(((hs >= 70) & (hs < 170)).sum() / n_sat),
        float(((hs >= 170) & (hs < 260)).sum() / n_sat),
        float(((hs >= 260) & (hs < 340)).sum() / n_sat),
    ]
    q = (rgb_c >> 4).astype(np.int32)
    codes = (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]
    counts = np.bincount(codes.ravel(), minlength=4096)
    counts_sorted = np.sort(counts)[::-1]
    npx = float(codes.size)
    f += [float(np.log1p((counts > 0).sum())), float(counts_sorted[:4].sum() / npx), float(counts_sorted[0] / npx)]

    # --- intensity
    pct = _hist_percentiles(gray, (1, 5, 25, 50, 75, 95, 99))
    f += [float(g.mean()) / 255.0, float(g.std()) / 255.0, *(float(p) / 255.0 for p in pct)]
    f += [float((g < 25).mean()), float((g < 8).mean()), float((g > 230).mean()), float((g > 250).mean())]
    hist8 = np.bincount((gray >> 5).ravel(), minlength=8).astype(np.float32) / npx
    f += [float(v) for v in hist8]
    hist64 = np.bincount((gray >> 2).ravel(), minlength=64).astype(np.float32) / npx
    nz = hist64[hist64 > 0]
    f += [float(-(nz * np.log2(nz)).sum()) / 6.0, float((np.bincount(gray.ravel(), minlength=256) > 0).mean())]

    # --- background / layout
    cw, ch = max(1, w // 6), max(1, h // 6)
    corners = np.concatenate([g[:ch, :cw].ravel(), g[:ch, -cw:].ravel(), g[-ch:, :cw].ravel(), g[-ch:, -cw:].ravel()])
    center = g[h // 3 : max(h // 3 + 1, 2 * h // 3), w // 3 : max(w // 3 + 1, 2 * w // 3)]
    f += [
        float((ring < 25).mean()),
        float((ring > 230).mean()),
        float(ring.std()) / 255.0,
        trim_frac,
        float(np.log(w / h)),
        float(corners.mean()) / 255.0,
        float(center.mean()) / 255.0,
        float(center.mean() - corners.mean()) / 255.0,
    ]

    # --- round field of view (endoscopy, fundus, dermoscopy) and ultrasound fan
    inside, outside, fan_side, fan_mid, *rings = _masks(h, w)
    gin = g[inside] if inside.any() else g.ravel()
    gout = g[outside] if outside.any() else g.ravel()
    f += [float(gin.mean()) / 255.0, float(gout.mean()) / 255.0, float((gout < 25).mean()), float((gin < 25).mean())]
    fs = g[fan_side] if fan_side.any() else g.ravel()
    fm = g[fan_mid] if fan_mid.any() else g.ravel()
    f += [float((fs < 25).mean()), float(fm.mean() - fs.mean()) / 255.0]

    # --- edges and texture
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    strong = mag > 160.0
    n_strong = max(int(strong.sum()), 1)
    axis_aligned = (np.abs(gx) < 0.1 * np.abs(gy)) | (np.abs(gy) < 0.1 * np.abs(gx))
    dark_local = cv2.blur(g, (9, 9)) < 40
    mag_p90 = _hist_percentiles(np.minimum(mag * 0.25, 255).astype(np.uint8), (90,))[0] * 4.0
    f += [
        float(mag.mean()) / 255.0,
        mag_p90 / 255.0,
        float(strong.mean()),
        float((strong & axis_aligned).sum() / n_strong),
        float((strong & dark_local).sum() / n_strong),
    ]
    lap = np.abs(cv2.Laplacian(g, cv2.CV_32F, ksize=1))
    blur3 = cv2.GaussianBlur(g, (0, 0), 2.0)
    hf = np.abs(g - blur3)
    lf = np.abs(blur3 - cv2.GaussianBlur(g, (0, 0), 6.0))
    f += [float(lap.mean()) / 255.0, float(hf.mean() / (lf.mean() + 1.0))]
    dxs = np.abs(np.diff(g, axis=1))[:-1, :]
    dys = np.abs(np.diff(g, axis=0))[:, :-1]
    flat = (dxs <= 1) & (dys <= 1)
    mid = (g[:-1, :-1] > 30) & (g[:-1, :-1] < 225)
    f += [float(flat.mean()), float((flat & mid).sum() / max(int(mid.sum()), 1))]
    mu = cv2.blur(g, (5, 5))
    var = np.maximum(cv2.blur(g * g, (5, 5)) - mu * mu, 0)
    lstd = np.sqrt(var)
    midmask = (mu > 30) & (mu < 225)
    lstd_p10 = _hist_percentiles(np.minimum(lstd * 4.0, 255).astype(np.uint8), (10,))[0] / 4.0
    f += [
        float(lstd.mean()) / 255.0,
        lstd_p10 / 255.0,
        float(((lstd < 2.0) & midmask).sum() / max(int(midmask.sum()), 1)),
    ]
    # long straight steps (UI panels, tables, page edges): rows/cols whose mean jumps sharply
    rm = g.mean(axis=1)
    cm = g.mean(axis=0)
    steps = (np.abs(np.diff(rm)) > 12).sum() + (np.abs(np.diff(cm)) > 12).sum()
    f += [float(steps) / float(h + w)]

    # --- symmetry (bodies are left-right symmetric; scenes and pages rarely are)
    f += [_corr(g, g[:, ::-1])]
    small = cv2.resize(g, (32, 32), interpolation=cv2.INTER_AREA)
    f += [_corr(small, small[:, ::-1]), _corr(small, small[::-1, :])]

    # --- text overlays: small high-contrast blobs (top-hat), where they are
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    tophat = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel).astype(np.float32)
    blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel).astype(np.float32)
    textish = np.maximum(tophat, blackhat) > 60
    sh = max(1, h // 7)
    strips = np.concatenate([textish[:sh].ravel(), textish[-sh:].ravel()])
    cen = textish[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    cwin, chin = max(1, w // 4), max(1, h // 5)
    corner_t = np.concatenate(
        [
            textish[:chin, :cwin].ravel(),
            textish[:chin, -cwin:].ravel(),
            textish[-chin:, :cwin].ravel(),
            textish[-chin:, -cwin:].ravel(),
        ]
    )
    f += [float(strips.mean()), float(cen.mean()) if cen.size else 0.0, float(corner_t.mean())]

    # --- coarse layout, normalised so brightness and contrast changes do not move it
    gm, gs = float(g.mean()), float(g.std()) + 1e-3
    grid = cv2.resize(g, (_GRID, _GRID), interpolation=cv2.INTER_AREA)
    f += [float(v) for v in ((grid - gm) / gs).ravel()]
    for m in rings:
        f.append(float((g[m].mean() - gm) / gs) if m.any() else 0.0)
    third = max(1, h // 3)
    f.append(float((g[:third].mean() - g[-third:].mean()) / gs))
    topb = rgbf_c[:third]
    f.append(float((topb[..., 2] - topb[..., 0]).mean()) / 255.0)

    f += _colour_invariants(rgbf_c)
    f += _texture(gray, g, gx, gy, mag)
    f += _foreground(gray, g)
    f += _gutters(g)

    out = np.asarray(f, dtype=np.float32)
    if out.shape[0] != N_FEATURES:  # pragma: no cover - guards edits of this file
        raise AssertionError(f"feature length {out.shape[0]} != {N_FEATURES}")
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


_LBP_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
# map each 8-bit LBP code to 0..8 (number of ones, "uniform" codes with at most 2 transitions) or 9 (non-uniform)
_LBP_MAP = np.array(
    [(bin(c).count("1") if bin(c ^ (((c << 1) | (c >> 7)) & 0xFF)).count("1") <= 2 else 9) for c in range(256)],
    dtype=np.int64,
)


def _lbp_hist(g: np.ndarray, tol: float) -> list[float]:
    h, w = g.shape
    if h < 4 or w < 4:
        return [0.0] * 10
    c = g[1:-1, 1:-1]
    ct = c + tol
    code = np.zeros(c.shape, np.uint8)
    for bit, (dy, dx) in enumerate(_LBP_OFFSETS):
        nb = g[1 + dy : h - 1 + dy, 1 + dx : w - 1 + dx]
        code |= (nb >= ct).view(np.uint8) << np.uint8(bit)
    hist = np.bincount(_LBP_MAP[code].ravel(), minlength=10).astype(np.float64)
    shares: list[float] = (hist / max(hist.sum(), 1.0)).tolist()
    return shares


def _colour_invariants(rgbf: np.ndarray) -> list[float]:
    px = rgbf.reshape(-1, 3)
    if px.shape[0] > 4096:
        px = px[:: px.shape[0] // 4096]
    std = px.std(axis=0)
    if (std < 1e-3).any():
        corr_min = 1.0
    else:
        c = np.corrcoef(px.T)
        corr_min = float(min(c[0, 1], c[0, 2], c[1, 2]))
    ev = np.linalg.eigvalsh(np.cov(px.T) + np.eye(3) * 1e-3)
    pca_ratio = float(ev[1] / max(ev[2], 1e-3))
    mean = px.mean(axis=0)
    gw = px * (mean.mean() / np.maximum(mean, 1.0))
    chroma = gw.max(axis=1) - gw.min(axis=1)
    return [corr_min, pca_ratio, float(chroma.mean()) / 255.0, float((chroma < 12).mean())]


def _texture(gray: np.ndarray, g: np.ndarray, gx: np.ndarray, gy: np.ndarray, mag: np.ndarray) -> list[float]:
    f: list[float] = []
    f += _lbp_hist(g, 2.0)
    half = cv2.resize(g, (max(4, g.shape[1] // 2), max(4, g.shape[0] // 2)), interpolation=cv2.INTER_AREA)
    f += _lbp_hist(half, 2.0)
    # orientation histogram over the clearly textured pixels
    m2 = mag[::2, ::2]
    sel = m2 > 20.0
    if sel.sum() > 16:
        ang = cv2.phase(gx[::2, ::2][sel], gy[::2, ::2][sel], angleInDegrees=True).ravel() % 180.0
        hist = np.bincount(np.minimum((ang / 22.5).astype(np.int64), 7), weights=m2[sel].ravel(), minlength=8)
        hist = hist / max(hist.sum(), 1e-6)
    else:
        hist = np.full(8, 1 / 8.0)
    nz = hist[hist > 0]
    f += [float(v) for v in hist] + [float(-(nz * np.log2(nz)).sum() / 3.0)]
    # co-occurrence on 8 levels
    q = gray >> 5
    p: np.ndarray = np.zeros(64, np.float64)  # reshaped to 8x8 below
    for pairs in (q[:, :-1] * np.uint8(8) + q[:, 1:], q[:-1] * np.uint8(8) + q[1:]):
        p += cv2.calcHist([np.ascontiguousarray(pairs)], [0], None, [64], [0, 64]).ravel()
    p = p.reshape(8, 8)
    p = p + p.T
    p /= max(p.sum(), 1.0)
    i, j = np.mgrid[0:8, 0:8]
    mu = float((i * p).sum())
    var = float((((i - mu) ** 2) * p).sum())
    f += [
        float(((i - j) ** 2 * p).sum()) / 49.0,
        float((p / (1.0 + np.abs(i - j))).sum()),
        float((p * p).sum()),
        float(((i - mu) * (j - mu) * p).sum() / var) if var > 1e-6 else 1.0,
    ]
    # radial power spectrum of a 128 px copy
    s = cv2.resize(g, (128, 128), interpolation=cv2.INTER_AREA)
    s = (s - s.mean()) * _hann128()
    pw = np.abs(np.fft.fftshift(np.fft.fft2(s))) ** 2
    rad = _radius128()
    radial = np.bincount(rad.ravel(), weights=pw.ravel(), minlength=91)[:64] / np.maximum(
        np.bincount(rad.ravel(), minlength=91)[:64], 1
    )
    fr = np.arange(2, 60)
    lp = np.log(radial[2:60] + 1e-3)
    slope = float(np.polyfit(np.log(fr), lp, 1)[0]) if np.isfinite(lp).all() else 0.0
    bands = [radial[1:4].sum(), radial[4:8].sum(), radial[8:16].sum(), radial[16:32].sum(), radial[32:64].sum()]
    tot = float(sum(bands)) + 1e-6
    f += [slope / 4.0] + [float(np.log10(b / tot + 1e-9)) / 9.0 for b in bands]
    # noise (Immerkaer 1996): a Laplacian-difference kernel cancels smooth structure
    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    n = np.abs(cv2.filter2D(g, cv2.CV_32F, k))[1:-1, 1:-1]
    sigma = float(n.mean()) * float(np.sqrt(np.pi / 2) / 6.0)
    dark = g[1:-1, 1:-1] < 30
    mu5 = cv2.blur(g, (7, 7))
    sd5 = np.sqrt(np.maximum(cv2.blur(g * g, (7, 7)) - mu5 * mu5, 0))
    smid = (mu5 > 20) & (mu5 < 235)
    sp = _corr(mu5[smid], sd5[smid]) if smid.sum() > 32 else 0.0
    f += [
        sigma / 32.0,
        sigma / (float(g.std()) + 1.0),
        sp,
        float(n[dark].mean()) * float(np.sqrt(np.pi / 2) / 6.0) / 32.0 if dark.sum() > 16 else 0.0,
    ]
    # multi-scale smoothness
    d0 = float(g.var()) + 1e-3
    f += [float(cv2.GaussianBlur(g, (0, 0), 1.0).var()) / d0, float(cv2.GaussianBlur(g, (0, 0), 3.0).var()) / d0]
    return f


@functools.lru_cache(maxsize=1)
def _hann128() -> np.ndarray:
    w = np.hanning(128).astype(np.float32)
    return np.outer(w, w)


@functools.lru_cache(maxsize=1)
def _radius128() -> np.ndarray:
    yy, xx = np.mgrid[0:128, 0:128]
    radius: np.ndarray = np.hypot(yy - 64, xx - 64).astype(np.int64)
    return radius


def _foreground(gray: np.ndarray, g: np.ndarray) -> list[float]:
    h, w = gray.shape
    small = cv2.resize(gray, (max(8, w // 2), max(8, h // 2)), interpolation=cv2.INTER_AREA)
    thr, fg = cv2.threshold(cv2.GaussianBlur(small, (5, 5), 0), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    fg = fg.astype(np.uint8)
    fg_frac = float(fg.mean())
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    area = stats[1:, cv2.CC_STAT_AREA] if n > 1 else np.zeros(0)
    big = int(np.argmax(area)) + 1 if area.size else 0
    largest = float(area.max()) / fg.size if area.size else 0.0
    solidity = 0.0
    touch = 0.0
    if big:
        comp = (labels == big).astype(np.uint8)
        cnts, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if cnts:
            c = max(cnts, key=cv2.contourArea)
            hull = cv2.contourArea(cv2.convexHull(c))
            solidity = float(area.max()) / hull if hull > 0 else 0.0
        border = np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]])
        touch = float(border.mean())
    sf = small.astype(np.float32)
    fgv = sf[fg > 0]
    bgv = sf[fg == 0]
    fs = float(fgv.std()) / 255.0 if fgv.size > 4 else 0.0
    bs = float(bgv.std()) / 255.0 if bgv.size > 4 else 0.0
    cont = (float(fgv.mean()) - float(bgv.mean())) / 255.0 if fgv.size > 4 and bgv.size > 4 else 0.0
    return [fg_frac, float(np.log1p(max(n - 1, 0))), largest, min(solidity, 1.0), touch, fs, bs, cont]


def _gutters(g: np.ndarray) -> list[float]:
    """Fraction of rows/columns that are uniform lines inside the picture (slice grids, print previews, panels)."""
    h, w = g.shape
    if h < 16 or w < 16:
        return [0.0, 0.0]
    core = g[h // 10 : h - h // 10, w // 10 : w - w // 10]
    rs = core.std(axis=1)
    cs = core.std(axis=0)
    return [float((rs < 3.0).mean()), float((cs < 3.0).mean())]
