"""The strip below the last full grid row (and right of the last full column) is tiled: padded tiles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pathreasoner.config import TilingConfig
from pathreasoner.wsi import load_index, open_slide, read_tile, tile_pixels, tile_slides
from pathreasoner.wsi.regions import OpenSlideRegions, TiffTileRegions

WIDTH, HEIGHT, STRIP = 1000, 740, 100  # 740 = 5 rows of 128 px + a 100-px strip
PINK = (205, 120, 165)


@pytest.fixture(scope="module")
def bottom_strip_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """White glass with tissue only in the bottom strip and a pink column at the right edge."""
    rng = np.random.default_rng(0)
    rgb = np.full((HEIGHT, WIDTH, 3), 240.0) + rng.normal(0, 2.0, (HEIGHT, WIDTH, 3))
    rgb[HEIGHT - STRIP :] = PINK
    rgb[:, WIDTH - 90 :] = PINK  # 1000 = 7 columns of 128 px + a 104-px strip, 90 px of it tissue
    rgb[HEIGHT - STRIP :] += rng.normal(0, 4.0, (STRIP, WIDTH, 3))
    path = tmp_path_factory.mktemp("edge") / "edge.tiff"
    px_per_cm = 1e4 / 0.5
    tifffile.imwrite(
        path,
        np.clip(rgb, 0, 255).astype(np.uint8),
        tile=(128, 128),
        photometric="rgb",
        compression="jpeg",
        resolution=(px_per_cm, px_per_cm),
        resolutionunit="CENTIMETER",
        metadata=None,
    )
    return path


def test_tissue_in_the_bottom_and_right_strips_is_tiled_and_padded(
    bottom_strip_slide: Path, tmp_path: Path
) -> None:
    cfg = TilingConfig(target_mpp=0.5, tile_px=128, min_tissue_frac=0.4, top_k_tiles=2, view_px=96)
    summary = tile_slides([bottom_strip_slide], tmp_path, cfg)
    assert summary.n_quarantined == 0
    slide_dir = tmp_path / "edge"
    index = load_index(slide_dir)
    manifest = json.loads((slide_dir / "manifest.json").read_text())
    assert (manifest["grid"]["cols"], manifest["grid"]["rows"]) == (8, 6)
    assert (manifest["padding"]["right_px"], manifest["padding"]["bottom_px"]) == (
        8 * 128 - WIDTH,
        6 * 128 - HEIGHT,
    )
    bottom = index[index["y"] == 5 * 128]
    assert len(bottom) == 8 and bottom["padded"].all()  # the whole strip, which the old grid never reached
    right = index[index["x"] == 7 * 128]
    assert len(right) == 6 and right["padded"].all()
    assert manifest["counts"]["padded_tiles"] == int(index["padded"].sum()) == 8 + 6 - 1
    assert not index.loc[~index["padded"], "x"].ge(7 * 128).any()
    # tissue share is over the whole tile: the strip is 100 of 128 rows
    assert bottom["tissue_frac"].iloc[0] == pytest.approx(STRIP / 128, abs=0.06)
    corner = bottom[bottom["x"] == 7 * 128].iloc[0]
    with open_slide(bottom_strip_slide) as slide:
        pixels = tile_pixels(slide, corner)
        background = slide.background
    inside_w = WIDTH - 7 * 128
    assert np.array_equal(pixels[STRIP:], np.broadcast_to(background.astype(np.uint8), pixels[STRIP:].shape))
    assert np.array_equal(
        pixels[:, inside_w:], np.broadcast_to(background.astype(np.uint8), pixels[:, inside_w:].shape)
    )
    assert np.abs(pixels[:STRIP, :inside_w].astype(int) - PINK).mean() < 12  # the tissue itself
    decoded = np.asarray(read_tile(slide_dir, corner)).astype(int)
    assert np.abs(decoded - pixels.astype(int)).mean() < 4  # what was stored is that padded tile


def test_both_readers_pad_past_the_edge_with_the_slide_background(bottom_strip_slide: Path) -> None:
    with open_slide(bottom_strip_slide) as slide:
        tiff = TiffTileRegions.for_level(slide, 0)
        assert tiff is not None
        try:
            direct = tiff.read(900, 600, 128, 200)
        finally:
            tiff.close()
        through_openslide = OpenSlideRegions(slide, 0).read(900, 600, 128, 200)
    assert np.array_equal(direct, through_openslide)
    assert (direct[HEIGHT - 600 :] == 255).all() and (direct[:, WIDTH - 900 :] == 255).all()
    with pytest.raises(ValueError, match="outside the level"):
        TiffTileRegions(bottom_strip_slide, 0).read(WIDTH, 0, 16, 16)
