"""The streaming writer of large synthetic slides: a pyramid OpenSlide reads, tissue the tiler finds."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import openslide
import pytest

from pathreasoner.config import TilingConfig
from pathreasoner.wsi.synthetic import SYNTHETIC_MARK
from pathreasoner.wsi.tiler import tile_slide
from tests.support.large_slides import write_large_synthetic_slide


@pytest.fixture(scope="module")
def large_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("large")
    return write_large_synthetic_slide(folder / "mosaic.tiff", width_px=5000, height_px=3000, seed=4)


def test_streamed_slide_is_a_readable_pyramid(large_slide: Path, tmp_path: Path) -> None:
    slide = openslide.OpenSlide(large_slide)
    assert slide.dimensions == (5000, 3000)
    assert slide.level_downsamples[1] == pytest.approx(2.0) and max(slide.level_dimensions[-1]) < 1000
    assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.25)
    assert SYNTHETIC_MARK in slide.properties["tiff.ImageDescription"]
    # level 1 is level 0 reduced 2x (box filter of the same tiles): compare a tissue-rich region
    level0 = np.asarray(slide.read_region((0, 0), 0, (2048, 2048)).convert("RGB")).astype(np.float32)
    level1 = np.asarray(slide.read_region((0, 0), 1, (1024, 1024)).convert("RGB")).astype(np.float32)
    reduced = level0.reshape(1024, 2, 1024, 2, 3).mean(axis=(1, 3))
    assert np.abs(reduced - level1).mean() < 6.0  # JPEG noise only
    again = write_large_synthetic_slide(tmp_path / "again.tiff", width_px=5000, height_px=3000, seed=4)
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(large_slide.read_bytes()).digest()
    assert not list(tmp_path.glob(".*.tmp"))


def test_streamed_slide_tiles_with_native_jpeg_pass_through(large_slide: Path, tmp_path: Path) -> None:
    result = tile_slide(large_slide, tmp_path, TilingConfig(target_mpp=0.25, tile_px=256, top_k_tiles=2))
    grid_tiles = 20 * 12
    assert 0.3 * grid_tiles < result.n_tiles < 0.8 * grid_tiles  # ~45 % of the tiles are tissue
    manifest = (Path(result.slide_dir) / "manifest.json").read_text()
    assert '"tile_encoding": "native-jpeg"' in manifest
