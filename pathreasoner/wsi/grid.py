"""The tile grid at a target resolution: which pyramid level to read, how many pixels, where.

The level is the coarsest one that is still at least as fine as ``target_mpp`` (read it, never
upsample a coarser level). When the level's MPP matches the target within ``MPP_TOLERANCE`` the tile
is read at exactly ``tile_px``; otherwise ``read_px`` pixels are read and resized to ``tile_px``.

The grid covers the whole level: when the level is not a whole number of strides, the last column and the
last row reach past the right and bottom edges, and their tiles are padded with the slide's background
colour (the part of the strip below or right of the last full row/column would otherwise never be tiled).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pathreasoner.config import TilingConfig
from pathreasoner.errors import SlideReadError
from pathreasoner.wsi.reader import SlideInfo

MPP_TOLERANCE = 0.01  # relative MPP difference under which no resampling happens
MAX_UPSAMPLE = 2.0  # a slide coarser than target_mpp * this cannot give meaningful tiles


@dataclass(frozen=True)
class TileGrid:
    """Regular grid over one pyramid level; ``read_px``/``stride_px`` are in that level's pixels."""

    level: int
    downsample: float
    level_mpp: float
    level_width: int
    level_height: int
    tile_px: int
    overlap_px: int
    read_px: int
    stride_px: int
    cols: int
    rows: int
    mpp: float  # effective µm/px of the stored tiles

    @property
    def resample(self) -> bool:
        return self.read_px != self.tile_px

    @property
    def n_tiles(self) -> int:
        return self.cols * self.rows

    @property
    def pad_right_px(self) -> int:
        """Level pixels of the last column that lie beyond the right edge (padded)."""
        return max(0, (self.cols - 1) * self.stride_px + self.read_px - self.level_width) if self.cols else 0

    @property
    def pad_bottom_px(self) -> int:
        """Level pixels of the last row that lie below the bottom edge (padded)."""
        return max(0, (self.rows - 1) * self.stride_px + self.read_px - self.level_height) if self.rows else 0

    def padded(self, level_x: np.ndarray, level_y: np.ndarray) -> np.ndarray:
        """Which tiles (level-px corners) reach past the right or bottom edge of the level."""
        return (np.asarray(level_x) + self.read_px > self.level_width) | (
            np.asarray(level_y) + self.read_px > self.level_height
        )

    def inside_share(self, level_x: np.ndarray, level_y: np.ndarray) -> np.ndarray:
        """Share of each tile's area that lies on the slide (1.0 for every tile that is not padded)."""
        inside_x = np.clip(self.level_width - np.asarray(level_x), 0, self.read_px)
        inside_y = np.clip(self.level_height - np.asarray(level_y), 0, self.read_px)
        return inside_x * inside_y / float(self.read_px * self.read_px)

    @property
    def size0(self) -> float:
        """Tile side in level-0 pixels."""
        return self.read_px * self.downsample

    def level_coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Top-left corners of every grid tile in level pixels, row-major (x varies fastest)."""
        ys, xs = np.divmod(np.arange(self.n_tiles, dtype=np.int64), max(self.cols, 1))
        return xs * self.stride_px, ys * self.stride_px

    def to_level0(self, level_xy: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(level_xy) * self.downsample).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "resample": self.resample,
            "n_tiles": self.n_tiles,
            "pad_right_px": self.pad_right_px,
            "pad_bottom_px": self.pad_bottom_px,
        }


def choose_level(level_mpps: tuple[float, ...] | list[float], target_mpp: float) -> int:
    """Coarsest level whose MPP is <= target (within tolerance); level 0 when all are coarser."""
    fine_enough = [i for i, m in enumerate(level_mpps) if m <= target_mpp * (1 + MPP_TOLERANCE)]
    return max(fine_enough, key=lambda i: level_mpps[i]) if fine_enough else 0


def plan_grid(info: SlideInfo, cfg: TilingConfig) -> TileGrid:
    """Plan the tile grid of a slide for ``cfg.target_mpp``, ``cfg.tile_px`` and ``cfg.overlap_px``."""
    if info.mpp > cfg.target_mpp * MAX_UPSAMPLE:
        raise SlideReadError(
            f"slide {info.path} has {info.mpp:.4g} µm/px (from {info.mpp_source}), more than "
            f"{MAX_UPSAMPLE:g}x coarser than tiling.target_mpp={cfg.target_mpp}; tiles would be upsampled "
            "blur — raise tiling.target_mpp or use a higher-resolution scan"
        )
    level = choose_level(info.level_mpps, cfg.target_mpp)
    level_mpp = info.level_mpps[level]
    ratio = cfg.target_mpp / level_mpp
    exact = abs(ratio - 1.0) <= MPP_TOLERANCE
    read_px = cfg.tile_px if exact else max(1, round(cfg.tile_px * ratio))
    step = cfg.tile_px - cfg.overlap_px
    stride_px = step if exact else max(1, round(step * ratio))
    width, height = info.level_dimensions[level]
    cols = -(-(width - read_px) // stride_px) + 1 if width >= read_px else 0  # the last one may be padded
    rows = -(-(height - read_px) // stride_px) + 1 if height >= read_px else 0
    return TileGrid(
        level=level,
        downsample=info.level_downsamples[level],
        level_mpp=level_mpp,
        level_width=width,
        level_height=height,
        tile_px=cfg.tile_px,
        overlap_px=cfg.overlap_px,
        read_px=read_px,
        stride_px=stride_px,
        cols=cols,
        rows=rows,
        mpp=level_mpp * read_px / cfg.tile_px,
    )
