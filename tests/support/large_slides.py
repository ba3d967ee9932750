"""Big synthetic H&E-like slides written tile by tile (tiling benchmarks and large-slide tests).

Level 0 is a mosaic of tiles cut from a small `pathreasoner.wsi.synthetic` slide; nothing ever holds a
whole level in memory.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image
from scipy import ndimage

from pathreasoner.wsi.synthetic import MIN_LEVEL_SIDE_PX, SYNTHETIC_MARK, blob_mask, render_level0

log = logging.getLogger(__name__)

POOL_SIDE_TILES = 8  # the tile pool is an 8 x 8-tile synthetic slide, drawn once
LARGE_TISSUE_FRACTION = 0.45  # share of level-0 tiles that are tissue (scanned biopsies: ~40-50 %)


def write_large_synthetic_slide(
    path: Path,
    *,
    width_px: int,
    height_px: int,
    tile_px: int = 256,
    mpp: float = 0.25,
    jpeg_quality: int = 85,
    seed: int = 0,
) -> Path:
    """Write a big H&E-like pyramidal JPEG TIFF without ever holding a whole level in memory.

    Level 0 is a mosaic of tiles cut from a small synthetic slide (the tile pool), laid out by a
    blob-shaped tissue mask on the tile grid; its tiles are JPEG-encoded once and streamed as bytes.
    Lower levels are built one row of tiles at a time from the pool tiles reduced by the level's
    downsample. Memory stays at a few row bands (about 1 GB less than a 60k x 40k array per level);
    the file is written under a temporary name and renamed. Same seed, same bytes.
    """
    if tile_px % 16 or width_px < tile_px or height_px < tile_px:
        raise ValueError(
            f"large synthetic slide {width_px}x{height_px} with tile_px={tile_px}: tile_px must be a multiple "
            "of 16 and no larger than the slide"
        )
    path = Path(path)
    rng = np.random.default_rng(seed)
    pool, is_tissue = _tile_pool(rng, tile_px)
    rows, cols = -(-height_px // tile_px), -(-width_px // tile_px)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    layout = blob_mask(rng, xx, yy)
    while layout.mean() < LARGE_TISSUE_FRACTION:  # grow the blobs to a realistic tissue share
        layout = ndimage.binary_dilation(layout)
    tissue_ids, background_ids = np.flatnonzero(is_tissue), np.flatnonzero(~is_tissue)
    choice = np.where(
        layout,
        tissue_ids[rng.integers(0, tissue_ids.size, (rows, cols))],
        background_ids[rng.integers(0, background_ids.size, (rows, cols))],
    )
    options = {
        "tile": (tile_px, tile_px),
        "photometric": "rgb",
        "compression": "jpeg",
        "compressionargs": {"level": jpeg_quality},
        "software": "pathreasoner",
        "metadata": None,
    }
    encoded = _encode_pool(pool, options)
    description = f"{SYNTHETIC_MARK} (not patient data, tile mosaic); seed={seed}; mpp={mpp}; size={width_px}x{height_px}"
    tmp = path.with_name(f".{path.name}.tmp")
    factor, index = 1, 0
    with tifffile.TiffWriter(tmp, bigtiff=True) as tif:
        while True:
            level_w, level_h = -(-width_px // factor), -(-height_px // factor)
            tiles: Any = (
                (encoded[i] for i in choice.ravel())
                if factor == 1
                else _reduced_level_tiles(pool, choice, factor, tile_px, level_w)
            )
            px_per_cm = 1e4 / (mpp * factor)
            tif.write(
                tiles,
                shape=(level_h, level_w, 3),
                dtype=np.uint8,
                subfiletype=1 if index else 0,
                resolution=(px_per_cm, px_per_cm),
                resolutionunit="CENTIMETER",
                description=description if index == 0 else None,
                **options,
            )
            if max(level_w, level_h) < MIN_LEVEL_SIDE_PX or factor >= tile_px // 4:
                break
            factor, index = factor * 2, index + 1
    tmp.replace(path)
    log.debug("wrote large synthetic slide %s (%dx%d, %d levels)", path, width_px, height_px, index + 1)
    return path


def _tile_pool(rng: np.random.Generator, tile_px: int) -> tuple[np.ndarray, np.ndarray]:
    """(tiles (n, tile, tile, 3), is_tissue (n,)) cut from a small synthetic slide: tiles that are
    mostly tissue or background only (partly covered tiles would make a chequered mosaic)."""
    side = POOL_SIDE_TILES * tile_px
    picture = render_level0(rng, side, side, tissue=True)
    tiles = picture.reshape(POOL_SIDE_TILES, tile_px, POOL_SIDE_TILES, tile_px, 3).swapaxes(1, 2)
    tiles = np.ascontiguousarray(tiles.reshape(-1, tile_px, tile_px, 3))
    stained = (tiles.mean(axis=3) < 222.0).reshape(len(tiles), -1).mean(axis=1)  # per-tile stained fraction
    order = np.argsort(stained)
    tissue = stained >= min(0.8, float(stained[order[-4]]))  # mostly tissue (at least 4 tiles)
    blank = stained <= max(0.02, float(stained[order[3]]))  # background only (at least 4 tiles)
    keep = tissue | blank
    return tiles[keep], tissue[keep]


def _encode_pool(pool: np.ndarray, options: dict[str, Any]) -> list[bytes]:
    """Each pool tile as the JPEG bytes tifffile itself writes (so they can be streamed as-is)."""
    buffer = io.BytesIO()
    mosaic = pool.reshape(len(pool) * pool.shape[1], pool.shape[2], 3)  # tiles stacked vertically
    with tifffile.TiffWriter(buffer) as tif:
        tif.write(mosaic, **options)
    buffer.seek(0)
    with tifffile.TiffFile(buffer) as tif:
        page = tif.pages[0]
        handle = tif.filehandle
        out = []
        for offset, count in zip(page.dataoffsets, page.databytecounts, strict=True):
            handle.seek(offset)
            out.append(handle.read(count))
    return out


def _reduced_level_tiles(
    pool: np.ndarray, choice: np.ndarray, factor: int, tile_px: int, level_w: int
) -> Iterator[np.ndarray]:
    """Tiles of the level with downsample ``factor``, one row band of tiles at a time."""
    small_px = tile_px // factor
    small = np.stack([np.asarray(Image.fromarray(t).reduce(factor)) for t in pool])
    rows, cols = choice.shape
    level_cols = -(-level_w // tile_px)
    for row in range(-(-rows // factor)):
        block = choice[row * factor : (row + 1) * factor]
        band = np.zeros((tile_px, level_cols * tile_px, 3), dtype=np.uint8)
        patches = small[block]  # (m, cols, small, small, 3)
        m = block.shape[0]
        strip = patches.transpose(0, 2, 1, 3, 4).reshape(m * small_px, cols * small_px, 3)
        band[: strip.shape[0], : min(strip.shape[1], band.shape[1])] = strip[:, : band.shape[1]]
        for col in range(level_cols):
            yield band[:, col * tile_px : (col + 1) * tile_px]
