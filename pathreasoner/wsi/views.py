"""What a person or the model sees of a slide: thumbnail, ROI crops of the largest tissue regions,
top-K tiles chosen for tissue content and diversity (k-means on colour/texture), and the QC overlay."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from pathreasoner.wsi.tissue import TissueMask, box_means

MASK_TINT = (0, 170, 80)
GRID_COLOUR = (255, 200, 0)
SELECTED_COLOUR = (220, 20, 60)
ROI_COLOUR = (30, 90, 230)
ROI_PAD = 0.05  # ROI crops extend this share of the region's size beyond its bounding box
ROI_MIN_SHARE = 0.01  # regions smaller than this share of the largest are not ROIs
DIVERSITY_MAX_CANDIDATES = 4096  # k-means runs on at most this many best-scoring tiles


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
    rois: np.ndarray | None = None,
) -> Image.Image:
    """Thumbnail with the tissue mask outlined and tinted, kept tiles boxed, the view tiles numbered
    and the ROI crops (level-0 x, y, w, h) framed as R0, R1..."""
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
    for rank, (x, y, w, h) in enumerate(np.zeros((0, 4)) if rois is None else np.asarray(rois, dtype=float)):
        box = (x / sx, y / sy, (x + w) / sx - 1, (y + h) / sy - 1)
        draw.rectangle(box, outline=ROI_COLOUR, width=2)
        draw.text((box[0] + 3, box[3] - 12), f"R{rank}", fill=ROI_COLOUR)
    band = 18
    framed = Image.new("RGB", (image.width, image.height + band), (255, 255, 255))
    framed.paste(image, (0, band))
    ImageDraw.Draw(framed).text((4, 3), caption, fill=(0, 0, 0))
    return framed


def roi_boxes(tissue: TissueMask, k: int, pad: float = ROI_PAD) -> np.ndarray:
    """Level-0 boxes (x, y, w, h) around the ``k`` largest connected tissue regions, largest first.

    Each box is the region's bounding box on the mask, padded by ``pad`` of its size on each side
    and clipped to the slide. Regions under 1 % of the largest one are ignored (specks).
    """
    if k <= 0 or not tissue.mask.any():
        return np.zeros((0, 4), dtype=np.int64)
    labels, count = ndimage.label(tissue.mask)
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    order = np.argsort(-areas, kind="stable")
    order = order[areas[order] >= ROI_MIN_SHARE * areas[order[0]]][:k]
    slices = ndimage.find_objects(labels)
    height, width = tissue.mask.shape
    sx, sy = tissue.scale
    boxes = []
    for label in order:
        rows, cols = slices[label]
        pad_y, pad_x = pad * (rows.stop - rows.start), pad * (cols.stop - cols.start)
        x0, x1 = max(0.0, cols.start - pad_x), min(float(width), cols.stop + pad_x)
        y0, y1 = max(0.0, rows.start - pad_y), min(float(height), rows.stop + pad_y)
        boxes.append([round(x0 * sx), round(y0 * sy), round((x1 - x0) * sx), round((y1 - y0) * sy)])
    return np.asarray(boxes, dtype=np.int64)


FEATURE_PX_PER_TILE = 8  # thumbnail pixels per tile side the colour/texture features are measured at


def _block_mean(values: np.ndarray, step: int) -> np.ndarray:
    """Mean over non-overlapping ``step`` x ``step`` blocks (the ragged right/bottom edge is dropped)."""
    if step == 1:
        return values.astype(np.float64)
    rows, cols = values.shape[0] // step * step, values.shape[1] // step * step
    blocks = values[:rows, :cols].reshape(rows // step, step, cols // step, step, *values.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float64)


def tile_features(tissue: TissueMask, xs: np.ndarray, ys: np.ndarray, size0: float) -> np.ndarray:
    """Colour and texture of each tile from the thumbnail, vectorised: mean R, G, B, saturation,
    and the standard deviation of luminance inside the tile's footprint. Shape (n, 5).

    Measured on the thumbnail block-averaged to about ``FEATURE_PX_PER_TILE`` pixels per tile side
    (enough to tell tiles apart, and 4-100x fewer pixels to integrate than the full thumbnail)."""
    rgb = np.asarray(tissue.thumbnail.convert("RGB"))
    if rgb.shape[:2] != tissue.mask.shape:  # the QC thumbnail and mask share a shape; stay safe
        rgb = np.asarray(tissue.thumbnail.resize(tissue.mask.shape[::-1]))
    footprint = size0 / max(tissue.scale)  # thumbnail pixels per tile side
    step = max(1, min(int(footprint // FEATURE_PX_PER_TILE), min(rgb.shape[:2]) // 2))
    rgb = _block_mean(rgb, step)
    saturation = _block_mean(tissue.saturation, step)
    scale = (tissue.scale[0] * step, tissue.scale[1] * step)
    luminance = rgb @ np.array([0.299, 0.587, 0.114])
    columns = [box_means(rgb[..., c], scale, xs, ys, size0, size0) for c in range(3)]
    columns.append(box_means(saturation, scale, xs, ys, size0, size0))
    mean = box_means(luminance, scale, xs, ys, size0, size0)
    square = box_means(luminance**2, scale, xs, ys, size0, size0)
    columns.append(np.sqrt(np.maximum(square - mean**2, 0.0)))
    return np.column_stack(columns)


def diverse_view_tiles(features: np.ndarray, scores: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Top-``k`` tiles for tissue content and diversity: the best-scoring tiles (at least ``4k``, the
    upper half) are clustered by k-means on standardised ``features`` into ``k`` groups and the
    best-scoring tile of each group is taken. Returns indices into the inputs, best first."""
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    by_score = np.argsort(-scores, kind="stable")
    candidates = by_score[: min(n, max(4 * k, n // 2), DIVERSITY_MAX_CANDIDATES)]
    feats = np.asarray(features, dtype=np.float64)[candidates]
    spread = feats.std(axis=0)
    feats = (feats - feats.mean(axis=0)) / np.where(spread > 1e-9, spread, 1.0)
    unique = len(np.unique(feats.round(6), axis=0))
    if unique < k:  # not enough distinct tiles to form k groups: plain top-k
        return by_score[:k].astype(np.int64)
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # one thread: same clusters on every run (reproducible outputs)
        labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(feats)
    best = {}
    for position, label in enumerate(labels):  # candidates are in score order: first seen = best
        best.setdefault(int(label), int(candidates[position]))
    chosen = np.asarray(sorted(best.values(), key=lambda i: (-scores[i], i)), dtype=np.int64)
    return chosen
