"""What a person or the model sees of a slide: thumbnail, top-K tissue tiles, and the QC overlay."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from pathreasoner.wsi.tissue import TissueMask

MASK_TINT = (0, 170, 80)
GRID_COLOUR = (255, 200, 0)
SELECTED_COLOUR = (220, 20, 60)


def select_view_tiles(
    xs: np.ndarray, ys: np.ndarray, scores: np.ndarray, k: int, min_distance: float
) -> np.ndarray:
    """Greedy top-``k`` by score, skipping tiles closer than ``min_distance`` to one already chosen.

    If fewer than ``k`` tiles are that far apart, the distance is halved until ``k`` are found or
    every tile is used. Returns indices into the inputs, best first.
    """
    xs, ys, scores = (np.asarray(a, dtype=np.float64) for a in (xs, ys, scores))
    chosen: list[int] = []
    available = np.ones(len(scores), dtype=bool)
    distance = float(min_distance)
    while len(chosen) < min(k, len(scores)):
        allowed = available.copy()
        for index in chosen:
            allowed &= np.hypot(xs - xs[index], ys - ys[index]) >= distance
        if not allowed.any():
            distance /= 2.0
            if distance < 1.0:
                allowed = available
            else:
                continue
        best = int(np.flatnonzero(allowed)[np.argmax(scores[allowed])])
        chosen.append(best)
        available[best] = False
    return np.asarray(chosen, dtype=np.int64)


def fit_within(image: Image.Image, max_px: int) -> Image.Image:
    """A copy whose longest side is at most ``max_px`` (never upsampled)."""
    out = image.copy()
    out.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    return out


def jpeg_bytes(image: Image.Image | np.ndarray, quality: int) -> bytes:
    """JPEG-encode RGB pixels (4:4:4 chroma, so small nuclei keep their colour)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def draw_qc(
    tissue: TissueMask,
    tiles_xy: np.ndarray,
    selected_xy: np.ndarray,
    size0: float,
    caption: str,
) -> Image.Image:
    """Thumbnail with the tissue mask outlined and tinted, kept tiles boxed and the view tiles numbered."""
    base = tissue.thumbnail.convert("RGB")
    outline = tissue.mask & ~ndimage.binary_erosion(tissue.mask, iterations=2)
    alpha = np.where(outline, 255, np.where(tissue.mask, 45, 0)).astype(np.uint8)
    image = Image.composite(Image.new("RGB", base.size, MASK_TINT), base, Image.fromarray(alpha))
    draw = ImageDraw.Draw(image)
    sx, sy = tissue.scale
    side_x, side_y = size0 / sx, size0 / sy
    if min(side_x, side_y) >= 4:  # outlines only where a tile is big enough on the thumbnail to see
        for x, y in np.asarray(tiles_xy, dtype=np.float64):
            draw.rectangle((x / sx, y / sy, x / sx + side_x, y / sy + side_y), outline=GRID_COLOUR, width=1)
    for rank, (x, y) in enumerate(np.asarray(selected_xy, dtype=np.float64)):
        box = (x / sx, y / sy, x / sx + side_x, y / sy + side_y)
        draw.rectangle(box, outline=SELECTED_COLOUR, width=2)
        draw.text((box[0] + 3, box[1] + 2), str(rank), fill=SELECTED_COLOUR)
    band = 18
    framed = Image.new("RGB", (image.width, image.height + band), (255, 255, 255))
    framed.paste(image, (0, band))
    ImageDraw.Draw(framed).text((4, 3), caption, fill=(0, 0, 0))
    return framed
