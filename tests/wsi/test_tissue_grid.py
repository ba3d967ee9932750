from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pathreasoner.config import TilingConfig
from pathreasoner.errors import SlideReadError
from pathreasoner.wsi.grid import choose_level, plan_grid
from pathreasoner.wsi.reader import SlideInfo, open_slide
from pathreasoner.wsi.tissue import TissueMask, detect_tissue, tile_tissue_fraction, tissue_mask_from_rgb


def _canvas(background: tuple[int, int, int]) -> np.ndarray:
    rng = np.random.default_rng(0)
    rgb = np.empty((200, 300, 3), dtype=np.float32)
    rgb[:] = background
    rgb += rng.normal(0, 2.0, rgb.shape)
    return rgb


def test_tissue_on_a_grey_background_is_found_and_pen_ink_is_not() -> None:
    rgb = _canvas((214, 212, 218))  # darker than white: the background is estimated, not assumed
    rgb[50:150, 60:160] = (200, 120, 165)  # eosin
    rgb[90:110, 90:110] = (110, 70, 150)  # hematoxylin-rich spot inside
    rgb[20:26, 180:290] = (70, 150, 95)  # green pen stroke
    mask, _, background, threshold = tissue_mask_from_rgb(np.clip(rgb, 0, 255).astype(np.uint8))
    truth = np.zeros(mask.shape, dtype=bool)
    truth[50:150, 60:160] = True
    assert (mask & truth).sum() / (mask | truth).sum() > 0.9
    assert not mask[20:26, 180:290].any()
    assert np.allclose(background, (214, 212, 218), atol=4)
    assert 0.05 <= threshold < 0.4


def test_a_background_only_image_has_no_tissue() -> None:
    mask, *_ = tissue_mask_from_rgb(np.clip(_canvas((236, 233, 239)), 0, 255).astype(np.uint8))
    assert not mask.any()


def test_detect_tissue_on_slides(synthetic_slide: Path, blank_slide: Path) -> None:
    with open_slide(synthetic_slide) as slide:
        tissue = detect_tissue(slide, 512)
    assert tissue.mask.shape == (384, 512) and tissue.thumbnail.size == (512, 384)
    assert 0.1 < tissue.tissue_fraction < 0.7
    assert tissue.scale == pytest.approx((4.0, 4.0))
    assert min(tissue.background_rgb) > 225
    with open_slide(blank_slide) as slide:
        assert detect_tissue(slide, 512).tissue_fraction == 0.0


def test_tile_fraction_matches_a_per_tile_loop() -> None:
    rng = np.random.default_rng(1)
    mask = rng.random((120, 160)) > 0.6
    tissue = TissueMask(mask, None, mask.astype(np.float32), (8.0, 8.0), (255.0, 255.0, 255.0), 0.1)  # type: ignore[arg-type]
    ys, xs = np.divmod(np.arange(12 * 16), 16)
    xs, ys = xs * 80, ys * 80  # level-0 corners, tiles of 80 px = 10 mask px
    got = tile_tissue_fraction(tissue, xs, ys, 80.0)
    expected = [mask[y // 8 : y // 8 + 10, x // 8 : x // 8 + 10].mean() for x, y in zip(xs, ys, strict=True)]
    assert np.allclose(got, expected)


def test_choose_level_never_upsamples() -> None:
    mpps = (0.25, 0.5, 1.0, 2.0)
    assert choose_level(mpps, 0.5) == 1
    assert choose_level(mpps, 0.6) == 1
    assert choose_level(mpps, 0.498) == 1  # within 1 %: use the level as is
    assert choose_level(mpps, 0.2) == 0  # finer than level 0: level 0 (upsampled)
    assert choose_level(mpps, 5.0) == 3


def _info(mpp: float, dims: tuple[tuple[int, int], ...], downsamples: tuple[float, ...]) -> SlideInfo:
    return SlideInfo(
        "s", "s.tiff", "generic-tiff", dims[0], len(dims), dims, downsamples, mpp, "openslide.mpp"
    )


def test_plan_grid_reads_exact_or_resamples() -> None:
    info = _info(0.25, ((4096, 3072), (2048, 1536), (1024, 768)), (1.0, 2.0, 4.0))
    exact = plan_grid(info, TilingConfig(target_mpp=0.5, tile_px=256))
    assert (exact.level, exact.read_px, exact.stride_px, exact.resample) == (1, 256, 256, False)
    assert (exact.cols, exact.rows, exact.mpp, exact.size0) == (8, 6, 0.5, 512.0)
    xs, ys = exact.level_coords()
    assert list(exact.to_level0(xs[:3])) == [0, 512, 1024] and ys[8] == 256

    resampled = plan_grid(info, TilingConfig(target_mpp=0.6, tile_px=256, overlap_px=32))
    assert (resampled.level, resampled.read_px, resampled.resample) == (1, 307, True)
    assert resampled.stride_px == round(224 * 1.2)
    assert resampled.mpp == pytest.approx(0.6, rel=0.01)
    assert resampled.cols == -(-(2048 - 307) // resampled.stride_px) + 1  # the last column is padded
    assert exact.pad_right_px == exact.pad_bottom_px == 0  # a level of whole tiles needs no padding


def test_the_last_row_and_column_reach_the_slide_edges() -> None:
    info = _info(0.5, ((1000, 700),), (1.0,))
    grid = plan_grid(info, TilingConfig(target_mpp=0.5, tile_px=256))
    assert (grid.cols, grid.rows) == (4, 3)  # 3 x 2 full tiles, plus the right and bottom strips
    assert (grid.pad_right_px, grid.pad_bottom_px) == (4 * 256 - 1000, 3 * 256 - 700)
    xs, ys = grid.level_coords()
    covered = np.zeros((700, 1000), dtype=bool)
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        covered[y : y + 256, x : x + 256] = True
    assert covered.all()  # every slide pixel lies in a tile
    padded = grid.padded(xs, ys)
    assert padded.sum() == grid.cols + grid.rows - 1  # the last column and the last row
    share = grid.inside_share(xs, ys)
    assert share[~padded].min() == 1.0 and share[-1] == pytest.approx((1000 - 768) * (700 - 512) / 256**2)
    assert grid.to_dict()["pad_right_px"] == 24


def test_plan_grid_refuses_slides_far_coarser_than_the_target() -> None:
    info = _info(28.97, ((1152, 700),), (1.0,))
    with pytest.raises(SlideReadError, match=r"28\.97 µm/px.*target_mpp=0\.5"):
        plan_grid(info, TilingConfig(target_mpp=0.5))


def _he_with_pens() -> np.ndarray:
    rgb = _canvas((236, 233, 239))
    rgb[50:150, 60:160] = (200, 120, 165)  # eosin
    rgb[90:110, 90:110] = (110, 70, 150)  # hematoxylin-rich spot inside
    rgb[20:26, 180:290] = (70, 150, 95)  # green pen stroke
    rgb[170:176, 180:290] = (40, 90, 170)  # blue pen stroke
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_pen_removal_is_a_switch() -> None:
    rgb = _he_with_pens()
    cleaned, *_ = tissue_mask_from_rgb(rgb, remove_pen=True)
    kept, *_ = tissue_mask_from_rgb(rgb, remove_pen=False)
    for rows in (slice(20, 26), slice(170, 176)):
        assert not cleaned[rows, 185:285].any()
        assert kept[rows, 185:285].mean() > 0.9
    assert cleaned[55:145, 65:155].all() and kept[55:145, 65:155].all()  # tissue stays either way


def test_dark_background_fluorescence_is_detected_automatically() -> None:
    rgb = _canvas((12, 10, 14))  # near-black glass
    rgb[40:120, 30:150] = (25, 70, 30)  # dim green autofluorescent tissue
    rgb[60:80, 60:80] = (40, 60, 200)  # bright DAPI (blue) nuclei cluster inside
    rgb[130:180, 200:280] = (20, 55, 25)  # a second, dimmer tissue piece
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    mask, signal, background, threshold = tissue_mask_from_rgb(rgb)  # auto
    truth = np.zeros(mask.shape, dtype=bool)
    truth[40:120, 30:150] = truth[130:180, 200:280] = True
    assert (mask & truth).sum() / (mask | truth).sum() > 0.9
    assert np.allclose(background, (12, 10, 14), atol=4) and 0.05 <= threshold < 0.5
    assert signal[70, 70] > signal[100, 100] > signal[5, 5]  # nuclei > tissue > glass
    forced, *_ = tissue_mask_from_rgb(rgb, background="dark")
    assert np.array_equal(forced, mask)
    as_brightfield, *_ = tissue_mask_from_rgb(rgb, background="bright")
    assert (as_brightfield & truth).sum() / (as_brightfield | truth).sum() < 0.9  # the wrong polarity fails
    with pytest.raises(ValueError, match="background"):
        tissue_mask_from_rgb(rgb, background="grey")


def test_a_stain_with_a_pen_hue_is_kept() -> None:
    """Scans in odd colour spaces can give the stain itself a 'pen' hue: it is then not ink."""
    rgb = _canvas((236, 233, 239))
    rgb[50:150, 60:160] = (60, 150, 200)  # all tissue in the blue-ink hue band
    mask, *_ = tissue_mask_from_rgb(np.clip(rgb, 0, 255).astype(np.uint8), remove_pen=True)
    assert mask[55:145, 65:155].all()
