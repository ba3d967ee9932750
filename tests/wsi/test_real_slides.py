"""Every real slide in ../shared/data/slides is tiled or quarantined with the right reason, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openslide
import pytest

from pathreasoner.config import TilingConfig
from pathreasoner.wsi import TilingSummary, inspect_slide, load_index, read_tile, tile_pixels, tile_slides

TINY_FIXTURES = {"small", "boxes"}  # openslide-python's format fixtures: 16x16 / 300x250 px, not tissue


@pytest.fixture(scope="module")
def real_run(shared_slides: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TilingSummary, Path]:
    slides = sorted(shared_slides.glob("aperio/*.svs")) + sorted(shared_slides.glob("generic-tiff/*.tif*"))
    slides += sorted(d for d in (shared_slides / "dicom").iterdir() if d.is_dir() and d.name != "boxes")
    out = tmp_path_factory.mktemp("real-tiles")
    return tile_slides(slides, out, TilingConfig()), out


def _outcome(summary: TilingSummary, slide_id: str) -> tuple[str, dict]:
    for result in summary.slides:
        if result.slide_id == slide_id:
            return "tiled", result.to_dict()
    for entry in summary.quarantine:
        if entry["slide_id"] == slide_id:
            return entry["error_type"], entry
    raise AssertionError(f"{slide_id} is missing from the summary")


def test_every_real_slide_is_accounted_for(real_run: tuple[TilingSummary, Path]) -> None:
    summary, out = real_run
    ids = {s.slide_id for s in summary.slides} | {q["slide_id"] for q in summary.quarantine}
    assert {"CMU-1-Small-Region", "TCGA-CR-7395-01A-01-TS1", "small", "boxes", "cmu-1-small-region"} <= ids
    for slide_id in TINY_FIXTURES:  # too small / not tissue: handled, not crashed
        status, _ = _outcome(summary, slide_id)
        assert status in {"tiled", "EmptyTissueError"}
    if "camelyon-multiframe" in ids:  # a 29 µm/px overview: far too coarse for 0.5 µm/px tiles
        status, entry = _outcome(summary, "camelyon-multiframe")
        assert status == "SlideReadError" and "target_mpp" in entry["message"]
    written = json.loads((out / "summary.json").read_text())
    assert written["n_slides"] == len(ids)


def test_aperio_slide_is_tiled_with_its_own_mpp(
    real_run: tuple[TilingSummary, Path], shared_slides: Path
) -> None:
    summary, out = real_run
    status, result = _outcome(summary, "CMU-1-Small-Region")
    assert status == "tiled" and result["mpp_source"] == "openslide.mpp" and result["n_tiles"] > 10
    assert result["reader"] == "tifffile"  # direct decoding of the SVS tiles matched OpenSlide
    slide_dir = out / "CMU-1-Small-Region"
    index = load_index(slide_dir)
    path = shared_slides / "aperio" / "CMU-1-Small-Region.svs"
    reference = openslide.OpenSlide(path)
    for _, row in index.sample(n=3, random_state=1).iterrows():
        expected = np.asarray(reference.read_region((int(row.x), int(row.y)), 0, (256, 256)).convert("RGB"))
        assert np.array_equal(tile_pixels(path, row), expected)
        assert np.abs(np.asarray(read_tile(slide_dir, row)).astype(int) - expected).mean() < 3.0


def test_slide_without_mpp_is_tiled_with_the_recorded_fallback(real_run: tuple[TilingSummary, Path]) -> None:
    summary, out = real_run
    status, result = _outcome(summary, "TCGA-CR-7395-01A-01-TS1")
    assert status == "tiled" and result["mpp_source"] == "default" and result["n_tiles"] > 50
    manifest = json.loads((out / "TCGA-CR-7395-01A-01-TS1" / "manifest.json").read_text())
    assert manifest["mpp_source"] == "default" and manifest["slide"]["mpp"] == 0.5
    assert manifest["synthetic"] is False


def test_dicom_slide_is_tiled_through_openslide(real_run: tuple[TilingSummary, Path]) -> None:
    summary, out = real_run
    status, result = _outcome(summary, "cmu-1-small-region")
    assert status == "tiled" and result["reader"] == "openslide" and result["n_tiles"] > 10
    views = json.loads((out / "cmu-1-small-region" / "views.json").read_text())
    assert all((out / "cmu-1-small-region" / v).is_file() for v in views)


def test_dicom_boxes_fixture_is_handled(shared_slides: Path, tmp_path: Path) -> None:
    summary = tile_slides([shared_slides / "dicom" / "boxes" / "boxes_0.dcm"], tmp_path, TilingConfig())
    status, _ = _outcome(summary, "boxes")
    assert status in {"tiled", "EmptyTissueError"}


def test_inspect_every_real_slide(shared_slides: Path) -> None:
    slides = sorted(shared_slides.glob("aperio/*.svs")) + sorted(shared_slides.glob("generic-tiff/*.tif*"))
    slides += sorted(d for d in (shared_slides / "dicom").iterdir() if d.is_dir())
    for slide in slides:
        report = inspect_slide(slide, TilingConfig())
        assert report["mpp_source"] in {"openslide.mpp", "tiff-resolution", "objective-power", "default"}
        assert 0.0 <= report["tissue_fraction"] <= 1.0
        assert "grid" in report
