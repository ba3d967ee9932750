"""Sparse nuclear stains (DAPI-like): the tissue mask covers the section, not only clusters of nuclei."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from pathreasoner.wsi.reader import open_slide
from pathreasoner.wsi.tissue import detect_tissue, nuclear_spacing, tissue_mask_from_rgb
from tests.support.fluorescence import GLASS_RGB, draw_sparse_nuclei, write_sparse_nuclei_slide


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _nuclei_only(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 2] > 2 * GLASS_RGB[2] + 20


def test_a_sparse_dapi_slide_is_masked_as_its_section(tmp_path: Path) -> None:
    drawn = write_sparse_nuclei_slide(tmp_path / "dapi.tiff", 2048, 1536, seed=0, spacing_px=36.0)
    assert _nuclei_only(drawn.rgb).sum() < 0.3 * drawn.section.sum()  # the nuclei alone are not the section
    with open_slide(tmp_path / "dapi.tiff", 0.5) as slide:
        tissue = detect_tissue(slide, 512)
    truth = np.asarray(
        Image.fromarray(drawn.section).resize(tissue.mask.shape[::-1], Image.Resampling.NEAREST)
    )
    assert tissue.dark_background
    assert _iou(tissue.mask, truth) >= 0.8


@pytest.mark.parametrize(("seed", "spacing"), [(1, 7.0), (2, 10.0), (3, 14.0)])
def test_the_section_is_recovered_at_any_nuclear_spacing(seed: int, spacing: float) -> None:
    drawn = draw_sparse_nuclei(640, 480, seed=seed, spacing_px=spacing, nucleus_px=(1.0, 1.8))
    mask, *_ = tissue_mask_from_rgb(drawn.rgb)
    assert _iou(_nuclei_only(drawn.rgb), drawn.section) < 0.5  # what the mask would be without the fix
    assert _iou(mask, drawn.section) >= 0.8
    measured = nuclear_spacing(_nuclei_only(drawn.rgb))
    assert measured is not None and 0.5 * spacing <= measured <= 1.2 * spacing


def test_two_sparse_sections_stay_two() -> None:
    left = draw_sparse_nuclei(320, 480, seed=4, spacing_px=9.0, nucleus_px=(1.0, 1.8))
    right = draw_sparse_nuclei(320, 480, seed=5, spacing_px=9.0, nucleus_px=(1.0, 1.8))
    gap = np.broadcast_to(left.rgb[:, :1], (480, 120, 3))  # glass between the two sections
    rgb = np.concatenate([left.rgb, gap, right.rgb], axis=1)
    truth = np.concatenate([left.section, np.zeros((480, 120), dtype=bool), right.section], axis=1)
    mask, *_ = tissue_mask_from_rgb(rgb)
    assert ndimage.label(mask)[1] == 2
    assert _iou(mask, truth) >= 0.8


def test_dense_fluorescence_and_empty_glass_are_not_spread() -> None:
    rng = np.random.default_rng(0)
    glass = np.clip(GLASS_RGB + rng.normal(0, 2.0, (300, 400, 3)), 0, 255)
    dense = glass.copy()
    dense[60:240, 80:320] = (25, 70, 30)  # contiguous autofluorescent tissue
    mask, *_ = tissue_mask_from_rgb(dense.astype(np.uint8))
    truth = np.zeros((300, 400), dtype=bool)
    truth[60:240, 80:320] = True
    assert nuclear_spacing(mask) is None and _iou(mask, truth) > 0.95
    specks = glass.copy()
    ys, xs = rng.integers(0, 300, 12), rng.integers(0, 400, 12)
    specks[ys, xs] = (40, 70, 235)  # a few bright dust specks on empty glass
    empty, *_ = tissue_mask_from_rgb(specks.astype(np.uint8), background="dark")
    assert empty.mean() < 0.01


def test_a_bright_aggregate_does_not_hide_the_dim_scattered_nuclei() -> None:
    """A bright solid aggregate raises Otsu above the dim nuclei; the section is still recovered."""
    drawn = draw_sparse_nuclei(640, 480, seed=2, spacing_px=10.0, nucleus_px=(1.0, 1.8))
    ys, xs = np.nonzero(drawn.section)
    yy, xx = np.mgrid[0:480, 0:640]
    aggregate = ((yy - ys.mean()) ** 2 + (xx - xs.mean()) ** 2 < 80**2) & drawn.section
    rgb = drawn.rgb.copy()
    rgb[aggregate] = (32, 56, 188)
    mask, _, _, threshold = tissue_mask_from_rgb(rgb)
    assert threshold > 0.1  # Otsu now sits between the aggregate and everything else
    assert _iou(mask, drawn.section) >= 0.8 and mask[aggregate].all()
