"""Synthetic H&E-like whole-slide images: pyramidal, tiled, JPEG-compressed TIFFs that OpenSlide opens.

The picture is drawn at 1/4 of level-0 resolution (numpy, vectorised), upsampled, given pixel noise
and written level by level (each level half the previous one) as one main-IFD chain, which OpenSlide
reads as a ``generic-tiff`` pyramid. The MPP goes into the TIFF resolution tags (pixels per cm), so
OpenSlide reports ``openslide.mpp-x``. Everything is drawn from one seed: same seed, same bytes.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from scipy import ndimage

from pathreasoner.io_utils import atomic_write_bytes
from pathreasoner.wsi.morphology import Morphology, draw_morphology
from pathreasoner.wsi.paint import blend as _blend
from pathreasoner.wsi.paint import disk as _disk
from pathreasoner.wsi.paint import smooth_noise as _smooth_noise

log = logging.getLogger(__name__)

SYNTHETIC_MARK = "PathReasoner synthetic slide"
WORK_SCALE = 4  # the picture is drawn at 1/WORK_SCALE of level-0 resolution
MIN_LEVEL_SIDE_PX = 1000  # stop adding pyramid levels once the longest side is below this

BACKGROUND_RGB = np.array([238.0, 235.0, 240.0], dtype=np.float32)
EOSIN_RGB = np.array([228.0, 146.0, 186.0], dtype=np.float32)
EOSIN_DENSE_RGB = np.array([206.0, 110.0, 160.0], dtype=np.float32)
HEMATOXYLIN_RGB = np.array([92.0, 56.0, 138.0], dtype=np.float32)
LUMEN_RGB = np.array([244.0, 236.0, 242.0], dtype=np.float32)
PEN_RGB = np.array([70.0, 150.0, 95.0], dtype=np.float32)
DUST_RGB = np.array([120.0, 115.0, 118.0], dtype=np.float32)


def write_synthetic_slide(
    path: Path,
    *,
    width_px: int,
    height_px: int,
    tile_px: int = 256,
    mpp: float = 0.25,
    jpeg_quality: int = 85,
    seed: int = 0,
    tissue: bool = True,
    morphology: Morphology | None = None,
) -> Path:
    """Write an H&E-like pyramidal JPEG TIFF of ``width_px`` x ``height_px`` at ``mpp`` µm/px.

    ``tissue=False`` writes a blank (background-only) slide, e.g. to test empty-tissue handling.
    ``morphology`` draws a diagnosis-specific architecture (`pathreasoner.wsi.morphology`), jittered per
    slide; without it the tissue is a generic gland-forming pattern.
    The file is written atomically (temporary name, then rename) and its ImageDescription says
    it is synthetic. Returns ``path``.
    """
    if width_px < 64 or height_px < 64:
        raise ValueError(f"synthetic slide size {width_px}x{height_px} px is too small; use >= 64 px a side")
    if tile_px % 16:
        raise ValueError(f"tile_px={tile_px} must be a multiple of 16 (TIFF tiles); e.g. 256")
    path = Path(path)
    rng = np.random.default_rng(seed)
    level0 = render_level0(rng, width_px, height_px, tissue, morphology)
    levels = [level0]
    while max(levels[-1].shape[:2]) >= MIN_LEVEL_SIDE_PX:
        levels.append(np.asarray(Image.fromarray(levels[-1]).reduce(2)))
    description = (
        f"{SYNTHETIC_MARK} (not patient data); seed={seed}; mpp={mpp}; size={width_px}x{height_px}; "
        f"tissue={'yes' if tissue else 'no'}"
    )
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as tif:
        for index, pixels in enumerate(levels):
            level_mpp = mpp * level0.shape[1] / pixels.shape[1]
            px_per_cm = 1e4 / level_mpp
            tif.write(
                pixels,
                tile=(tile_px, tile_px),
                photometric="rgb",
                compression="jpeg",
                compressionargs={"level": jpeg_quality},
                subfiletype=1 if index else 0,
                resolution=(px_per_cm, px_per_cm),
                resolutionunit="CENTIMETER",
                description=description if index == 0 else None,
                software="pathreasoner",
                metadata=None,
            )
    atomic_write_bytes(path, buffer.getvalue())
    log.debug("wrote synthetic slide %s (%dx%d, %d levels)", path, width_px, height_px, len(levels))
    return path


# ---- drawing ---------------------------------------------------------------------------------


def render_level0(
    rng: np.random.Generator, width: int, height: int, tissue: bool, morphology: Morphology | None = None
) -> np.ndarray:
    """Draw the slide at 1/WORK_SCALE resolution, upsample to level 0 and add fine pixel noise."""
    w, h = max(16, -(-width // WORK_SCALE)), max(16, -(-height // WORK_SCALE))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # background: off-white with a faint illumination gradient and slight noise
    gradient = 3.0 * ((xx / w - 0.5) + 0.6 * (yy / h - 0.5))
    img = np.broadcast_to(BACKGROUND_RGB, (h, w, 3)) + gradient[..., None]
    img = img + _smooth_noise(rng, (h, w), sigma=3.0, amplitude=1.5)[..., None]
    if tissue and morphology is not None:
        img = draw_morphology(rng, img, blob_mask(rng, xx, yy), morphology.jittered(rng))
        img = _draw_pen_mark(rng, img)
    elif tissue:
        img = _draw_tissue(rng, img, xx, yy)
        img = _draw_pen_mark(rng, img)
    img = _draw_dust(rng, img)
    img = np.clip(img, 0, 246).astype(np.uint8)
    level0 = np.asarray(Image.fromarray(img).resize((width, height), Image.Resampling.BICUBIC))
    noise = rng.integers(0, 8, size=(height, width, 1), dtype=np.uint8)
    return np.clip(level0, 0, 246) + noise  # <= 253: no uint8 overflow


def blob_mask(rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """A few irregular blobs: anisotropic Gaussian bumps perturbed by smooth noise, thresholded."""
    h, w = xx.shape
    field = np.zeros((h, w), dtype=np.float32)
    for _ in range(int(rng.integers(3, 6))):
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        ax, ay = rng.uniform(0.12, 0.26) * w, rng.uniform(0.12, 0.26) * h
        theta = rng.uniform(0, np.pi)
        dx, dy = xx - cx, yy - cy
        u = (dx * np.cos(theta) + dy * np.sin(theta)) / ax
        v = (-dx * np.sin(theta) + dy * np.cos(theta)) / ay
        field = np.maximum(field, np.exp(-(u * u + v * v)))
    field += _smooth_noise(rng, (h, w), sigma=max(h, w) / 40.0, amplitude=0.18)
    field += _smooth_noise(rng, (h, w), sigma=max(h, w) / 150.0, amplitude=0.06)
    return field > 0.45


def _draw_tissue(rng: np.random.Generator, img: np.ndarray, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    h, w = xx.shape
    tissue = blob_mask(rng, xx, yy)
    edge = ndimage.gaussian_filter(tissue.astype(np.float32), 1.2)
    # stroma: pink eosin with fibrous (anisotropic) texture and denser patches
    fibres = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), (0.8, 4.0))
    fibres /= fibres.std() + 1e-6
    dense = np.clip(_smooth_noise(rng, (h, w), sigma=max(h, w) / 60.0, amplitude=1.0), 0, None)
    stroma = _blend(np.broadcast_to(EOSIN_RGB, (h, w, 3)), 0.45 * dense, EOSIN_DENSE_RGB)
    stroma = stroma + 7.0 * fibres[..., None]
    img = img * (1.0 - edge[..., None]) + stroma * edge[..., None]

    nuclei = np.zeros((h, w), dtype=bool)
    inside = np.flatnonzero(ndimage.binary_erosion(tissue, iterations=3))
    if inside.size == 0:
        return img
    # glands: a pale lumen ringed by nuclei, in clusters
    n_glands = max(1, int(inside.size / 5000))
    lumen = np.zeros((h, w), dtype=bool)
    centres = rng.choice(inside, size=n_glands)
    radii = rng.uniform(7, 16, size=n_glands)
    ring_y, ring_x = [], []
    for centre, radius in zip(centres, radii, strict=True):
        cy, cx = divmod(int(centre), w)
        aspect = rng.uniform(0.6, 1.0)
        y0, y1 = max(0, int(cy - radius) - 1), min(h, int(cy + radius) + 2)
        x0, x1 = max(0, int(cx - radius) - 1), min(w, int(cx + radius) + 2)
        dy, dx = yy[y0:y1, x0:x1] - cy, (xx[y0:y1, x0:x1] - cx) * aspect
        lumen[y0:y1, x0:x1] |= (dx * dx + dy * dy) < (0.7 * radius) ** 2
        angles = rng.uniform(0, 2 * np.pi, size=int(radius * 2.5))
        ring_y.append(cy + 0.85 * radius * np.sin(angles))
        ring_x.append(cx + 0.85 * radius * np.cos(angles) / aspect)
    lumen &= tissue
    img = _blend(img, ndimage.gaussian_filter(lumen.astype(np.float32), 0.8) * 0.9, LUMEN_RGB)
    ys = np.clip(np.concatenate(ring_y).round().astype(int), 0, h - 1)
    xs = np.clip(np.concatenate(ring_x).round().astype(int), 0, w - 1)
    nuclei[ys, xs] = True
    # stromal nuclei scattered through the tissue, and a few dense lymphocyte-like clusters
    scattered = rng.choice(inside, size=int(inside.size / 220))
    nuclei.flat[scattered] = True
    for centre in rng.choice(inside, size=max(1, n_glands // 6)):
        cy, cx = divmod(int(centre), w)
        count = int(rng.integers(20, 60))
        py = np.clip((cy + rng.normal(0, 6, count)).round().astype(int), 0, h - 1)
        px = np.clip((cx + rng.normal(0, 6, count)).round().astype(int), 0, w - 1)
        nuclei[py, px] = True
    nuclei &= tissue & ~lumen
    # round nuclei of varied size: distance to the nearest seed against that seed's own radius
    distance, (iy, ix) = ndimage.distance_transform_edt(~nuclei, return_indices=True)
    radius = rng.uniform(1.6, 3.2, size=(h, w)).astype(np.float32)[iy, ix]
    alpha = 0.85 * np.clip(radius - distance.astype(np.float32), 0.0, 1.0)
    return _blend(img, alpha, HEMATOXYLIN_RGB + 10.0 * fibres[..., None])


def _draw_pen_mark(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """A faint green pen stroke near one edge of the slide."""
    h, w = img.shape[:2]
    t = np.linspace(0.0, 1.0, 4 * w)
    y_base = rng.uniform(0.05, 0.12) * h
    ys = y_base + 0.03 * h * np.sin(2 * np.pi * (t * rng.uniform(1, 2) + rng.uniform(0, 1)))
    xs = (0.1 + 0.5 * t) * w
    stroke = np.zeros((h, w), dtype=bool)
    stroke[np.clip(ys.round().astype(int), 0, h - 1), np.clip(xs.round().astype(int), 0, w - 1)] = True
    stroke = ndimage.binary_dilation(stroke, structure=_disk(2))
    return _blend(img, 0.55 * ndimage.gaussian_filter(stroke.astype(np.float32), 1.0), PEN_RGB)


def _draw_dust(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    specks = np.zeros((h, w), dtype=bool)
    n = int(rng.integers(5, 15))
    specks[rng.integers(0, h, n), rng.integers(0, w, n)] = True
    specks = ndimage.binary_dilation(specks, structure=_disk(1))
    return _blend(img, 0.6 * specks.astype(np.float32), DUST_RGB)
