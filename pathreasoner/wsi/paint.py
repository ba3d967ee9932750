"""Small numpy painting helpers shared by the synthetic-slide drawers."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], sigma: float, amplitude: float
) -> np.ndarray:
    """Gaussian-smoothed noise; wide kernels are computed on a coarser grid and upsampled (same look)."""
    factor = max(1, int(sigma // 3))
    coarse = (max(2, -(-shape[0] // factor)), max(2, -(-shape[1] // factor)))
    field = ndimage.gaussian_filter(rng.standard_normal(coarse).astype(np.float32), sigma / factor)
    if factor > 1:
        image = Image.fromarray(field.astype(np.float32)).resize(
            (shape[1], shape[0]), Image.Resampling.BILINEAR
        )
        field = np.asarray(image)
    return field * (amplitude / (field.std() + 1e-6))


def blend(img: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """`img` painted with `colour` at per-pixel opacity `alpha` (clipped to [0, 1])."""
    a = np.clip(alpha, 0.0, 1.0)[..., None]
    return img * (1.0 - a) + colour * a


def disk(radius: int) -> np.ndarray:
    """Boolean disk structuring element of `radius`."""
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius * radius


def soft(mask: np.ndarray, sigma: float = 0.8) -> np.ndarray:
    """A boolean mask as a slightly blurred float opacity (anti-aliased edges)."""
    return ndimage.gaussian_filter(mask.astype(np.float32), sigma)


def stamp_disks(shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Opacity of filled disks centred at (ys, xs) with per-disk radii: one distance transform, no loops."""
    h, w = shape
    seeds = np.zeros((h, w), dtype=bool)
    yi = np.clip(np.round(ys).astype(int), 0, h - 1)
    xi = np.clip(np.round(xs).astype(int), 0, w - 1)
    seeds[yi, xi] = True
    if not seeds.any():
        return np.zeros((h, w), dtype=np.float32)
    radius_map = np.zeros((h, w), dtype=np.float32)
    radius_map[yi, xi] = radii.astype(np.float32)
    distance, (iy, ix) = ndimage.distance_transform_edt(~seeds, return_indices=True)
    return np.clip(radius_map[iy, ix] - distance.astype(np.float32), 0.0, 1.0)


def strokes(
    rng: np.random.Generator, shape: tuple[int, int], starts: np.ndarray, length: float, curl: float
) -> np.ndarray:
    """Boolean mask of random-walk strokes (one per start point) of `length` px with turning `curl`."""
    h, w = shape
    mask = np.zeros((h, w), dtype=bool)
    n = len(starts)
    if n == 0:
        return mask
    y, x = starts[:, 0].astype(np.float32), starts[:, 1].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    for _ in range(int(length)):
        mask[np.clip(y.round().astype(int), 0, h - 1), np.clip(x.round().astype(int), 0, w - 1)] = True
        angle += rng.normal(0, curl, n).astype(np.float32)
        y += np.sin(angle)
        x += np.cos(angle)
    return mask
