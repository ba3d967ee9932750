"""Tissue detection on a thumbnail, and the mask mapped onto a tile grid (vectorised).

The background colour is estimated from the slide itself (the brightest decile of the thumbnail),
the thumbnail is white-balanced against it, and tissue is what is saturated after balancing:
Otsu on a smoothed saturation map, never below the background's own noise level. Pen ink (green and
blue hues that H&E never has) is excluded when asked; closing + small-object/hole removal clean up the
mask. A dark background (fluorescence scans) is recognised from the thumbnail's border, or forced by
configuration: tissue is then what is brighter than the background (Otsu on the background-subtracted
intensity, again never below the background's noise). A sparse nuclear stain (DAPI-like: scattered
nuclei on black, nothing between them) gives a mask of dots; the section is then recovered at the scale
of the nuclear spacing (median nearest-neighbour distance): dilate by that spacing, fill holes, erode
back to half a spacing beyond the outermost nuclei (the section edge lies about there).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage import filters, morphology

from pathreasoner.wsi.reader import Slide

log = logging.getLogger(__name__)

MIN_SATURATION = 0.05  # after white balance; below this nothing is tissue, whatever Otsu says
MAX_OTSU = 0.25  # Otsu above this split eosin from hematoxylin (no background): cap it
OTSU_FACTOR = 0.5  # Otsu sits between stroma and background; pale tissue lies below it
PEN_HUES = ((0.20, 0.45), (0.50, 0.62))  # green and blue ink (HSV hue in [0, 1)); H&E has neither
PEN_MAX_SHARE = 0.5  # a pen hue band holding more of the stained pixels than this is the stain (odd scans)
DARK_BORDER_LUMINANCE = 80.0  # median border luminance below this: a dark (fluorescence) background
BORDER_SHARE = 0.05  # the border frame used to judge the background is this share of each side
BACKGROUNDS = ("auto", "bright", "dark")
SPARSE_MIN_OBJECTS = 30  # fewer separate signal objects than this: not a scatter of nuclei
SPARSE_OBJECT_SHARE = 5e-4  # an object up to this share of the thumbnail is nucleus-sized
SPARSE_AREA_SHARE = 0.1  # nucleus-sized objects hold at least this share of the signal: a sparse stain
SPARSE_MAX_SPACING = 0.05  # nuclear spacing above this share of the longest side is not one section


@dataclass(frozen=True)
class TissueMask:
    """A boolean mask over ``thumbnail``; ``scale`` = level-0 px per mask px along (x, y)."""

    mask: np.ndarray
    thumbnail: Image.Image
    saturation: np.ndarray  # white-balanced saturation, same shape as the mask (for view scoring)
    scale: tuple[float, float]
    background_rgb: tuple[float, float, float]
    threshold: float
    dark_background: bool = False

    @property
    def tissue_fraction(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0


def estimate_background(rgb: np.ndarray) -> np.ndarray:
    """Background colour = per-channel median of the brightest 10 % of pixels (float RGB)."""
    pixels = rgb.reshape(-1, 3).astype(np.float32)
    luminance = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    bright = pixels[luminance >= np.percentile(luminance, 90)]
    return np.maximum(np.median(bright, axis=0), 64.0)  # a very dark "background" would blow up the ratio


def balanced_saturation(rgb: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(saturation, hue) of the thumbnail after dividing out the background colour."""
    balanced = np.clip(rgb.astype(np.float32) / background.astype(np.float32), 0.0, 1.0)
    red, green, blue = balanced[..., 0], balanced[..., 1], balanced[..., 2]
    value = np.maximum(np.maximum(red, green), blue)  # same as .max(axis=2), ~25x faster on (h, w, 3)
    spread = value - np.minimum(np.minimum(red, green), blue)
    saturation = np.where(value > 0.1, spread / np.maximum(value, 1e-6), 0.0).astype(np.float32)
    # HSV hue in [0, 1): which channel is the maximum decides the sector
    safe = np.maximum(spread, 1e-6)
    hue = np.where(
        value == red,
        ((green - blue) / safe) % 6.0,
        np.where(value == green, (blue - red) / safe + 2.0, (red - green) / safe + 4.0),
    )
    hue = np.where(spread > 0, hue / 6.0, 0.0).astype(np.float32)
    return saturation, hue  # near-black pixels (scanner edge, black ink) get saturation 0


def is_dark_background(rgb: np.ndarray) -> bool:
    """True when the thumbnail's border frame (mostly glass) is dark: a fluorescence scan."""
    height, width = rgb.shape[:2]
    by, bx = max(1, int(BORDER_SHARE * height)), max(1, int(BORDER_SHARE * width))
    luminance = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    frame = np.concatenate(
        [
            luminance[:by].ravel(),
            luminance[-by:].ravel(),
            luminance[:, :bx].ravel(),
            luminance[:, -bx:].ravel(),
        ]
    )
    return float(np.median(frame)) < DARK_BORDER_LUMINANCE


def tissue_mask_from_rgb(
    rgb: np.ndarray,
    min_object_px: int | None = None,
    *,
    remove_pen: bool = True,
    background: str = "auto",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Tissue mask of an RGB thumbnail → (mask, signal, background_rgb, threshold).

    ``signal`` is the white-balanced saturation on a bright background, or the background-subtracted
    intensity on a dark one (``background``: "auto" decides from the border, "bright", "dark").
    """
    if background not in BACKGROUNDS:
        raise ValueError(f"background={background!r}; use one of {BACKGROUNDS}")
    dark = is_dark_background(rgb) if background == "auto" else background == "dark"
    if dark:
        background_rgb, signal, smooth, threshold, floor = _dark_signal(rgb)
        mask = smooth > threshold
        # nuclei are looked for above the glass's noise alone: Otsu may sit above dim nuclei when bright
        # aggregates are present
        section = section_from_sparse_nuclei(smooth > floor)
        if section is not None:
            mask |= section
    else:
        background_rgb = estimate_background(rgb)
        signal, hue = balanced_saturation(rgb, background_rgb)
        smooth = ndimage.gaussian_filter(signal, 1.0)
        bright = _channel_mean(rgb, np.float32) >= np.percentile(_channel_mean(rgb, np.float64), 90)
        noise_floor = _noise_floor(smooth[bright]) if bright.any() else 0.0
        otsu = float(filters.threshold_otsu(smooth)) if smooth.max() > smooth.min() else 1.0
        threshold = max(OTSU_FACTOR * min(otsu, MAX_OTSU), noise_floor, MIN_SATURATION)
        mask = smooth > threshold
        if remove_pen:
            stained = signal > threshold
            pen = np.zeros(mask.shape, dtype=bool)
            for low, high in PEN_HUES:
                band = stained & (hue >= low) & (hue <= high)
                if band.sum() <= PEN_MAX_SHARE * stained.sum():  # a hue most stain has is the stain itself
                    pen |= band
            mask &= ~ndimage.binary_dilation(pen, iterations=2)
    mask = ndimage.binary_closing(mask, structure=morphology.disk(2), border_value=0)
    if min_object_px is None:
        min_object_px = max(16, int(2e-4 * mask.size))
    mask = morphology.remove_small_holes(mask, max_size=min_object_px)
    mask = morphology.remove_small_objects(mask, max_size=min_object_px)
    return mask, signal, background_rgb, threshold


def _channel_mean(rgb: np.ndarray, dtype: type) -> np.ndarray:
    """``rgb.astype(dtype).mean(axis=2)`` bit for bit (uint8 channel sums are exact), ~4x faster."""
    red, green, blue = (rgb[..., i].astype(dtype) for i in range(3))
    return (red + green + blue) / 3


def _dark_signal(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Dark background: (background_rgb, intensity above background in [0, 1], smoothed, threshold,
    floor), where floor is the least signal that is not glass noise (the threshold is never below it).

    Background = per-channel median of the darkest 10 % of pixels; the signal is the brightest
    channel's excess over it (any fluorophore counts), scaled to the remaining range.
    """
    pixels = rgb.reshape(-1, 3).astype(np.float32)
    luminance = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    background = np.median(pixels[luminance <= np.percentile(luminance, 10)], axis=0)
    excess = (rgb.astype(np.float32) - background).max(axis=2)
    signal = np.clip(excess / max(255.0 - float(background.max()), 1.0), 0.0, 1.0).astype(np.float32)
    smooth = ndimage.gaussian_filter(signal, 1.0)
    dim = luminance.reshape(rgb.shape[:2]) <= np.percentile(luminance, 10)
    noise_floor = _noise_floor(smooth[dim]) if dim.any() else 0.0
    otsu = float(filters.threshold_otsu(smooth)) if smooth.max() > smooth.min() else 1.0
    threshold = max(OTSU_FACTOR * otsu, noise_floor, MIN_SATURATION)
    return background, signal, smooth, threshold, max(noise_floor, MIN_SATURATION)


def nuclear_spacing(mask: np.ndarray) -> float | None:
    """Median nearest-neighbour distance (mask px) between nucleus-sized objects, or None when the mask is
    not a scatter of such objects (dense tissue: few objects, or most signal in large ones)."""
    labels, n = ndimage.label(mask)
    if n < SPARSE_MIN_OBJECTS:
        return None
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    small = np.flatnonzero(sizes <= max(4, SPARSE_OBJECT_SHARE * mask.size)) + 1
    if small.size < SPARSE_MIN_OBJECTS or sizes[small - 1].sum() < SPARSE_AREA_SHARE * sizes.sum():
        return None
    centres = np.asarray(ndimage.center_of_mass(mask, labels, small), dtype=np.float64)
    distance, _ = cKDTree(centres).query(centres, k=2)
    return float(np.median(distance[:, 1]))


def section_from_sparse_nuclei(mask: np.ndarray) -> np.ndarray | None:
    """The section outline around a scatter of nuclei, or None when the mask is not such a scatter.

    Closing at the nuclear spacing joins neighbouring nuclei (gaps up to two spacings: a missing nucleus)
    without joining sections that lie further apart; holes are filled; the outline ends half a spacing
    beyond the outermost nuclei. Distance transforms keep it linear in the mask size at any spacing.
    """
    spacing = nuclear_spacing(mask)
    if spacing is None or spacing > SPARSE_MAX_SPACING * max(mask.shape):
        return None
    grown = ndimage.distance_transform_edt(~mask) <= spacing
    filled = ndimage.binary_fill_holes(grown)
    section = ndimage.distance_transform_edt(filled) > spacing / 2  # the slide edge does not erode
    log.debug("sparse nuclear stain: spacing %.1f px, section %.1f%%", spacing, 100 * section.mean())
    return section | mask


def _noise_floor(background_saturation: np.ndarray) -> float:
    """Saturation the background itself reaches: median + 4 robust sigmas (MAD) + a margin."""
    median = float(np.median(background_saturation))
    mad = float(np.median(np.abs(background_saturation - median)))
    return median + 4 * 1.4826 * mad + 0.02


def detect_tissue(
    slide: Slide,
    max_px: int,
    min_object_px: int | None = None,
    *,
    remove_pen: bool = True,
    background: str = "auto",
) -> TissueMask:
    """Read a thumbnail (longest side ``max_px``) and detect tissue on it (see ``tissue_mask_from_rgb``)."""
    thumbnail = slide.thumbnail(max_px)
    rgb = np.asarray(thumbnail)
    dark = is_dark_background(rgb) if background == "auto" else background == "dark"
    mask, saturation, background_rgb, threshold = tissue_mask_from_rgb(
        rgb, min_object_px, remove_pen=remove_pen, background="dark" if dark else "bright"
    )
    width0, height0 = slide.info.dimensions
    scale = (width0 / rgb.shape[1], height0 / rgb.shape[0])
    log.debug(
        "%s: tissue %.1f%% of thumbnail %s, background %s, threshold %.3f",
        slide.info.slide_id,
        100 * mask.mean(),
        rgb.shape[:2],
        background_rgb.round(1),
        threshold,
    )
    return TissueMask(
        mask=mask,
        thumbnail=thumbnail,
        saturation=saturation,
        scale=scale,
        background_rgb=tuple(float(v) for v in background_rgb),
        threshold=threshold,
        dark_background=dark,
    )


def box_means(
    values: np.ndarray,
    scale: tuple[float, float],
    xs: np.ndarray,
    ys: np.ndarray,
    size_x: float,
    size_y: float,
) -> np.ndarray:
    """Mean of ``values`` (a map at thumbnail scale) over level-0 boxes (xs, ys, size), all at once.

    Uses an integral image: four lookups per box, no per-box Python loop.
    """
    height, width = values.shape
    integral = np.zeros((height + 1, width + 1), dtype=np.float64)
    integral[1:, 1:] = values.astype(np.float64).cumsum(axis=0).cumsum(axis=1)
    sx, sy = scale
    x0 = np.clip(np.round(np.asarray(xs) / sx).astype(np.int64), 0, width - 1)
    y0 = np.clip(np.round(np.asarray(ys) / sy).astype(np.int64), 0, height - 1)
    x1 = np.clip(np.round((np.asarray(xs) + size_x) / sx).astype(np.int64), x0 + 1, width)
    y1 = np.clip(np.round((np.asarray(ys) + size_y) / sy).astype(np.int64), y0 + 1, height)
    total = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return total / ((x1 - x0) * (y1 - y0))


def tile_tissue_fraction(tissue: TissueMask, xs: np.ndarray, ys: np.ndarray, size0: float) -> np.ndarray:
    """Fraction of tissue in each square tile (level-0 corner xs, ys; level-0 side ``size0``)."""
    return box_means(tissue.mask, tissue.scale, xs, ys, size0, size0)
