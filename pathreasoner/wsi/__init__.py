"""Whole-slide images: reading, tissue detection, tile grid, tiling into shards, views and QC."""

from __future__ import annotations

from pathreasoner.wsi.grid import TileGrid, choose_level, plan_grid
from pathreasoner.wsi.inspect import inspect_slide
from pathreasoner.wsi.reader import Slide, SlideInfo, mpp_from_properties, open_slide, read_slide_info
from pathreasoner.wsi.shards import iter_tiles, load_index, read_tile, read_tile_bytes
from pathreasoner.wsi.synthetic import SYNTHETIC_MARK, write_synthetic_slide
from pathreasoner.wsi.tiler import SlideTilingResult, TilingSummary, tile_pixels, tile_slide, tile_slides
from pathreasoner.wsi.tissue import TissueMask, detect_tissue, tile_tissue_fraction, tissue_mask_from_rgb

__all__ = [
    "SYNTHETIC_MARK",
    "Slide",
    "SlideInfo",
    "SlideTilingResult",
    "TileGrid",
    "TilingSummary",
    "TissueMask",
    "choose_level",
    "detect_tissue",
    "inspect_slide",
    "iter_tiles",
    "load_index",
    "mpp_from_properties",
    "open_slide",
    "plan_grid",
    "read_slide_info",
    "read_tile",
    "read_tile_bytes",
    "tile_pixels",
    "tile_slide",
    "tile_slides",
    "tile_tissue_fraction",
    "tissue_mask_from_rgb",
    "write_synthetic_slide",
]
