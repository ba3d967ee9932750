"""Model views: ROI boxes around the largest tissue regions, diverse top-K tiles, QC overlay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from pathreasoner.config import TilingConfig
from pathreasoner.wsi.tiler import tile_slide
from pathreasoner.wsi.tissue import TissueMask
from pathreasoner.wsi.views import ROI_COLOUR, diverse_view_tiles, draw_qc, roi_boxes


def _mask_with_two_regions() -> TissueMask:
    mask = np.zeros((100, 200), dtype=bool)
    mask[10:50, 20:100] = True  # 3200 px: the largest region
    mask[60:90, 150:180] = True  # 900 px
    mask[95, 5] = True  # a speck (< 1 % of the largest): never an ROI
    thumbnail = Image.new("RGB", (200, 100), (240, 240, 240))
    return TissueMask(mask, thumbnail, mask.astype(np.float32), (10.0, 10.0), (240.0, 240.0, 240.0), 0.1)


def test_roi_boxes_cover_the_largest_regions_first() -> None:
    tissue = _mask_with_two_regions()
    boxes = roi_boxes(tissue, k=5, pad=0.0)
    assert boxes.tolist() == [[200, 100, 800, 400], [1500, 600, 300, 300]]  # level-0 x, y, w, h
    padded = roi_boxes(tissue, k=1, pad=0.25)
    assert padded.tolist() == [[0, 0, 1200, 600]]  # padded by a quarter each side, clipped at 0
    assert roi_boxes(tissue, k=0).shape == (0, 4)


def test_diverse_tiles_take_one_per_colour_group_best_first() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(4), 30)  # four colour/texture groups of 30 tiles
    features = np.eye(4)[groups] * 10 + rng.normal(0, 0.1, (120, 4))
    low = np.array([0.9, 0.85, 0.8, 0.1])[groups]  # group 3 is poor tissue: never a view
    scores = low + rng.uniform(0, 0.1, 120)
    chosen = diverse_view_tiles(features, scores, k=3)
    assert sorted(groups[chosen].tolist()) == [0, 1, 2]  # plain top-3 would all be group 0
    assert chosen[0] == int(np.argmax(scores))  # best first
    for index in chosen:  # each is the best of its group
        assert scores[index] == scores[groups == groups[index]].max()
    assert np.array_equal(diverse_view_tiles(features, scores, k=3), chosen)  # reproducible
    flat = diverse_view_tiles(np.zeros((5, 3)), np.arange(5.0), k=3)  # no diversity to find
    assert flat.tolist() == [4, 3, 2]


def test_qc_frames_the_rois() -> None:
    tissue = _mask_with_two_regions()
    qc = np.asarray(
        draw_qc(tissue, np.zeros((0, 2)), np.zeros((0, 2)), 10.0, "x", roi_boxes(tissue, 2, pad=0.0))
    )
    band = 18  # caption band above the thumbnail
    assert tuple(qc[band + 10, 40]) == ROI_COLOUR  # top edge of the first ROI frame (x 20..99, y 10..49)


def test_slide_views_include_roi_crops(
    synthetic_slide: Path, tiling_cfg: TilingConfig, tmp_path: Path
) -> None:
    result = tile_slide(synthetic_slide, tmp_path, tiling_cfg.model_copy(update={"roi_views": 1}))
    slide_dir = Path(result.slide_dir)
    views = json.loads((slide_dir / "views.json").read_text())
    assert views[:2] == ["views/thumbnail.jpg", "views/roi_00.jpg"]
    with Image.open(slide_dir / "views/roi_00.jpg") as roi, Image.open(slide_dir / views[0]) as thumb:
        roi_rgb = np.asarray(roi.convert("RGB")).astype(float)
        thumb_rgb = np.asarray(thumb.convert("RGB")).astype(float)

    # the largest tissue region is stained: the crop is more saturated than the whole slide
    def saturation(rgb: np.ndarray) -> float:
        return float(((rgb.max(axis=2) - rgb.min(axis=2)) / np.maximum(rgb.max(axis=2), 1)).mean())

    assert saturation(roi_rgb) > saturation(thumb_rgb)
    manifest = json.loads((slide_dir / "manifest.json").read_text())
    assert manifest["views"] == views
