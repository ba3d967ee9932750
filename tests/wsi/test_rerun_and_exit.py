"""Reruns are byte-identical (manifest checksums), and the run's exit status counts quarantined slides."""

from __future__ import annotations

import json
from pathlib import Path

from pathreasoner.config import TilingConfig
from pathreasoner.wsi.tiler import MAX_EXIT_CODE, TilingSummary, tile_slides


def _files(slide_dir: Path) -> dict[str, str]:
    return json.loads((slide_dir / "manifest.json").read_text())["files"]


def test_rerun_gives_identical_outputs(
    synthetic_slide: Path, tiling_cfg: TilingConfig, tmp_path: Path
) -> None:
    first = tile_slides([synthetic_slide], tmp_path / "one", tiling_cfg)
    second = tile_slides([synthetic_slide], tmp_path / "two", tiling_cfg)
    one, two = Path(first.slides[0].slide_dir), Path(second.slides[0].slide_dir)
    files = _files(one)
    assert {"index.parquet", "qc.png", "views.json", "views/thumbnail.jpg"} <= set(files)
    assert files == _files(two)
    for name in files:  # the checksums describe the bytes on disk
        assert (one / name).read_bytes() == (two / name).read_bytes()


def test_exit_code_counts_quarantined_slides(
    synthetic_slide: Path, blank_slide: Path, not_a_slide: Path, tiling_cfg: TilingConfig, tmp_path: Path
) -> None:
    summary = tile_slides([synthetic_slide, blank_slide, not_a_slide], tmp_path, tiling_cfg)
    assert summary.n_quarantined == 2 and summary.exit_code == 2
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["exit_code"] == 2 and written["n_quarantined"] == 2
    assert tile_slides([synthetic_slide], tmp_path, tiling_cfg).exit_code == 0
    many = TilingSummary(quarantine=[{"slide": str(i)} for i in range(MAX_EXIT_CODE + 50)])
    assert many.exit_code == MAX_EXIT_CODE
