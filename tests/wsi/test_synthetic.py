from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import openslide
import pytest

from pathreasoner.wsi.synthetic import SYNTHETIC_MARK, write_synthetic_slide


def test_synthetic_slide_is_a_pyramid_openslide_reads_with_its_mpp(synthetic_slide: Path) -> None:
    slide = openslide.OpenSlide(synthetic_slide)
    assert slide.properties["openslide.vendor"] == "generic-tiff"
    assert slide.dimensions == (2048, 1536)
    assert slide.level_count > 1
    assert max(slide.level_dimensions[-1]) < 1000
    assert slide.level_downsamples[1] == pytest.approx(2.0)
    assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.25)
    assert float(slide.properties["openslide.mpp-y"]) == pytest.approx(0.25)
    assert SYNTHETIC_MARK in slide.properties["tiff.ImageDescription"]
    assert slide.properties["tiff.ResolutionUnit"] == "centimeter"


def test_synthetic_slide_looks_like_he_on_a_light_background(synthetic_slide: Path) -> None:
    slide = openslide.OpenSlide(synthetic_slide)
    rgb = np.asarray(slide.get_thumbnail((512, 512)).convert("RGB")).astype(int)
    border = np.concatenate([rgb[:8].reshape(-1, 3), rgb[-8:].reshape(-1, 3)])
    assert border.mean(axis=0).min() > 215  # off-white background
    pink = (rgb[..., 0] - rgb[..., 1] > 40) & (rgb[..., 2] > rgb[..., 1])  # eosin: red and blue over green
    purple = (rgb[..., 2] > rgb[..., 0]) & (rgb.sum(axis=2) < 450)  # hematoxylin nuclei
    assert 0.05 < pink.mean() < 0.6
    assert purple.sum() > 20


def test_synthetic_slide_is_deterministic_per_seed(tmp_path: Path) -> None:
    def digest(name: str, seed: int) -> str:
        path = write_synthetic_slide(tmp_path / name, width_px=512, height_px=384, seed=seed)
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert digest("a.tiff", 7) == digest("b.tiff", 7)
    assert digest("a.tiff", 7) != digest("c.tiff", 8)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temp file behind


def test_blank_synthetic_slide_has_no_stain(blank_slide: Path) -> None:
    rgb = np.asarray(openslide.OpenSlide(blank_slide).get_thumbnail((256, 256)).convert("RGB")).astype(int)
    assert (rgb.max(axis=2) - rgb.min(axis=2)).mean() < 12


def test_bad_sizes_are_rejected_with_the_value(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32x400"):
        write_synthetic_slide(tmp_path / "x.tiff", width_px=32, height_px=400)
    with pytest.raises(ValueError, match="tile_px=100"):
        write_synthetic_slide(tmp_path / "x.tiff", width_px=512, height_px=512, tile_px=100)
