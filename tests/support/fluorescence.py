"""Synthetic sparse nuclear-stain (DAPI-like) fluorescence slides with a known section outline.

Scattered bright nuclei on black glass, nothing between them: the hard case for a tissue mask, which
must recover the section (the truth outline), not only the dense clusters of nuclei.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from scipy import ndimage

from pathreasoner.wsi.paint import smooth_noise, stamp_disks

GLASS_RGB = np.array([6.0, 5.0, 9.0], dtype=np.float32)
DAPI_RGB = np.array([40.0, 70.0, 235.0], dtype=np.float32)


@dataclass(frozen=True)
class SparseNuclei:
    """A drawn slide: ``rgb`` (h, w, 3) uint8 and ``section`` (h, w) bool, the true section outline."""

    rgb: np.ndarray
    section: np.ndarray
    n_nuclei: int


def section_outline(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """An irregular section: an off-centre tilted ellipse whose radius wobbles smoothly with the angle."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width * rng.uniform(0.42, 0.58), height * rng.uniform(0.42, 0.58)
    ax, ay = width * rng.uniform(0.30, 0.38), height * rng.uniform(0.28, 0.36)
    theta = rng.uniform(0, np.pi)
    dx, dy = xx - cx, yy - cy
    u = (dx * np.cos(theta) + dy * np.sin(theta)) / ax
    v = (-dx * np.sin(theta) + dy * np.cos(theta)) / ay
    angle = np.arctan2(v, u)
    wobble = 1.0 + sum(
        rng.uniform(0.03, 0.08) * np.cos(k * angle + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5)
    )
    return np.hypot(u, v) <= wobble


def draw_sparse_nuclei(
    width: int,
    height: int,
    *,
    seed: int = 0,
    spacing_px: float = 36.0,
    nucleus_px: tuple[float, float] = (3.5, 6.0),
    clusters: int = 4,
) -> SparseNuclei:
    """Nuclei on a jittered grid of ``spacing_px`` inside the section (some dim, some missing), plus a few
    dense clusters (lymphoid aggregates); black glass with faint noise everywhere else."""
    rng = np.random.default_rng(seed)
    section = section_outline(width, height, rng)
    gy, gx = np.mgrid[spacing_px / 2 : height : spacing_px, spacing_px / 2 : width : spacing_px]
    ys = (gy + rng.uniform(-0.45, 0.45, gy.shape) * spacing_px).ravel()
    xs = (gx + rng.uniform(-0.45, 0.45, gx.shape) * spacing_px).ravel()
    inside = section[np.clip(ys.astype(int), 0, height - 1), np.clip(xs.astype(int), 0, width - 1)]
    keep = inside & (rng.uniform(size=ys.size) > 0.15)  # gaps: not every grid cell holds a nucleus
    ys, xs = ys[keep], xs[keep]
    points = np.flatnonzero(section)
    for centre in rng.choice(points, size=clusters):
        cy, cx = divmod(int(centre), width)
        count = int(rng.integers(60, 120))
        ys = np.concatenate([ys, cy + rng.normal(0, 2.5 * spacing_px / 3, count)])
        xs = np.concatenate([xs, cx + rng.normal(0, 2.5 * spacing_px / 3, count)])
    inside = section[np.clip(ys.astype(int), 0, height - 1), np.clip(xs.astype(int), 0, width - 1)]
    ys, xs = ys[inside], xs[inside]
    radii = rng.uniform(*nucleus_px, size=ys.size)
    alpha = stamp_disks((height, width), ys, xs, radii)
    seeds = np.zeros((height, width), dtype=bool)
    seeds[np.clip(ys.round().astype(int), 0, height - 1), np.clip(xs.round().astype(int), 0, width - 1)] = (
        True
    )
    _, (iy, ix) = ndimage.distance_transform_edt(~seeds, return_indices=True)
    level = np.zeros((height, width), dtype=np.float32)
    level[seeds] = rng.uniform(0.45, 1.0, size=int(seeds.sum()))  # dim and bright nuclei
    brightness = alpha * level[iy, ix]
    img = GLASS_RGB + smooth_noise(rng, (height, width), sigma=2.0, amplitude=1.5)[..., None]
    img = img + brightness[..., None] * (DAPI_RGB - GLASS_RGB)
    img = img + rng.normal(0, 2.0, (height, width, 1))
    rgb = np.clip(img, 0, 255).astype(np.uint8)
    return SparseNuclei(rgb=rgb, section=section, n_nuclei=int(ys.size))


def write_sparse_nuclei_slide(
    path: Path, width: int, height: int, *, seed: int = 0, mpp: float = 0.5, tile: int = 256, **draw: float
) -> SparseNuclei:
    """Write the drawing as a pyramidal tiled TIFF (generic-tiff for OpenSlide); returns the drawing."""
    drawn = draw_sparse_nuclei(width, height, seed=seed, **draw)  # type: ignore[arg-type]
    levels = [drawn.rgb]
    while max(levels[-1].shape[:2]) > 1024:
        levels.append(np.asarray(Image.fromarray(levels[-1]).reduce(2)))
    with tifffile.TiffWriter(path) as tif:
        for index, pixels in enumerate(levels):
            px_per_cm = 1e4 / (mpp * width / pixels.shape[1])
            tif.write(
                pixels,
                tile=(tile, tile),
                photometric="rgb",
                compression="jpeg",
                compressionargs={"level": 90},
                subfiletype=1 if index else 0,
                resolution=(px_per_cm, px_per_cm),
                resolutionunit="CENTIMETER",
                metadata=None,
            )
    return drawn
