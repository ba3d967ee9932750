from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import numpy as np
import openslide
import pandas as pd
import pytest
from PIL import Image

from pathreasoner.config import TilingConfig
from pathreasoner.errors import EmptyTissueError
from pathreasoner.wsi import (
    inspect_slide,
    iter_tiles,
    load_index,
    read_tile,
    thumbnails,
    tile_pixels,
    tile_slide,
    tile_slides,
)
from pathreasoner.wsi.reader import open_slide
from pathreasoner.wsi.regions import OpenSlideRegions, TiffTileRegions
from pathreasoner.wsi.thumbnails import fast_thumbnail

INDEX_COLUMNS = {
    "x",
    "y",
    "level",
    "size_px",
    "read_px",
    "mpp",
    "tissue_frac",
    "padded",
    "shard",
    "offset",
    "length",
}


@pytest.fixture(scope="module")
def tiled(tmp_path_factory: pytest.TempPathFactory, synthetic_slide: Path) -> tuple[Path, TilingConfig]:
    cfg = TilingConfig(
        target_mpp=0.5, tile_px=128, min_tissue_frac=0.4, top_k_tiles=4, view_px=112, shard_max_tiles=8
    )
    out = tmp_path_factory.mktemp("tiles")
    tile_slide(synthetic_slide, out, cfg)
    return out / "synthetic-a", cfg


def test_tile_slide_writes_the_contracted_layout(tiled: tuple[Path, TilingConfig]) -> None:
    slide_dir, cfg = tiled
    index = load_index(slide_dir)
    assert set(index.columns) >= INDEX_COLUMNS
    assert len(index) >= 8
    assert (index["tissue_frac"] >= cfg.min_tissue_frac).all()
    assert (index["level"] == 1).all() and (index["size_px"] == 128).all() and (index["mpp"] == 0.5).all()
    assert not index.duplicated(["x", "y"]).any()
    assert ((index["x"] % 256) == 0).all()  # 128 px at level 1 = 256 level-0 px
    shards = sorted((slide_dir / "shards").glob("shard-*.tar"))
    assert len(shards) == -(-len(index) // cfg.shard_max_tiles)
    for shard in shards:  # plain (webdataset-style) tars: <key>.jpg members, <= shard_max_tiles each
        with tarfile.open(shard) as tar:
            names = tar.getnames()
        assert 0 < len(names) <= cfg.shard_max_tiles
        assert all(n.endswith(".jpg") and n.count(".") == 1 for n in names)

    views = json.loads((slide_dir / "views.json").read_text())
    rois = [f"views/roi_{i:02d}.jpg" for i in range(len(views) - 1 - cfg.top_k_tiles)]
    tiles = [f"views/tile_{i:02d}.jpg" for i in range(cfg.top_k_tiles)]
    assert views == ["views/thumbnail.jpg", *rois, *tiles]  # coarse to fine: slide, regions, cells
    assert 1 <= len(rois) <= cfg.roi_views
    with Image.open(slide_dir / views[0]) as thumb:
        assert max(thumb.size) == cfg.view_px
    for name in rois:
        with Image.open(slide_dir / name) as roi:
            assert max(roi.size) == cfg.view_px
    for name in tiles:
        with Image.open(slide_dir / name) as tile:
            assert tile.size == (112, 112)
    with Image.open(slide_dir / "qc.png") as qc:
        assert qc.format == "PNG" and qc.width >= 512

    manifest = json.loads((slide_dir / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["synthetic"] is True
    assert manifest["tile_encoding"] == "jpeg-q90"  # 128-px tiles are cut from the 256-px native ones
    assert manifest["slide"]["mpp_source"] == manifest["mpp_source"] == "openslide.mpp"
    assert manifest["counts"]["tiles"] == len(index) and manifest["counts"]["shards"] == len(shards)
    assert manifest["tiling_config"]["tile_px"] == 128
    on_disk = {p.relative_to(slide_dir).as_posix() for p in slide_dir.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == on_disk - {"manifest.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((slide_dir / name).read_bytes()).hexdigest() == digest


def test_view_tiles_are_tissue_rich_and_distinct(tiled: tuple[Path, TilingConfig]) -> None:
    slide_dir, cfg = tiled
    index = load_index(slide_dir)
    views = [v for v in json.loads((slide_dir / "views.json").read_text()) if v.startswith("views/tile_")]
    stored = [
        (row, img.resize((cfg.view_px, cfg.view_px), Image.Resampling.LANCZOS))
        for row, img in iter_tiles(slide_dir)
    ]
    assert len(stored) == len(index)
    chosen = []
    for name in views:  # each view is one of the stored tiles (resized), with a high tissue fraction
        with Image.open(slide_dir / name) as view:
            pixels = np.asarray(view.convert("RGB")).astype(int)
        errors = [np.abs(np.asarray(img).astype(int) - pixels).mean() for _, img in stored]
        assert min(errors) < 3.0
        chosen.append(stored[int(np.argmin(errors))][0])
    assert np.mean([row["tissue_frac"] for row in chosen]) > index["tissue_frac"].mean()
    assert chosen[0]["tissue_frac"] >= index["tissue_frac"].quantile(0.75)
    assert len({(row["x"], row["y"]) for row in chosen}) == len(views)


def test_stored_tiles_match_openslide_read_region(
    tiled: tuple[Path, TilingConfig], synthetic_slide: Path
) -> None:
    slide_dir, _ = tiled
    index = load_index(slide_dir)
    reference = openslide.OpenSlide(synthetic_slide)
    rows = index.sample(n=min(6, len(index)), random_state=0)
    for _, row in rows.iterrows():
        expected = np.asarray(
            reference.read_region((int(row.x), int(row.y)), int(row.level), (int(row.size_px),) * 2).convert(
                "RGB"
            )
        )
        assert np.array_equal(tile_pixels(synthetic_slide, row), expected)  # exact, before JPEG
        decoded = np.asarray(read_tile(slide_dir, row)).astype(int)
        assert np.abs(decoded - expected).mean() < 2.0  # JPEG q90 4:4:4 re-encode
        assert np.abs(decoded - expected).max() < 48


def test_native_jpeg_tiles_are_copied_byte_exact(tmp_path: Path, synthetic_slide: Path) -> None:
    """Grid = the slide's own 256-px JPEG tiles at level 1: tiles are stored as-is, decoding exactly."""
    cfg = TilingConfig(target_mpp=0.5, tile_px=256, min_tissue_frac=0.3, top_k_tiles=2)
    result = tile_slide(synthetic_slide, tmp_path, cfg)
    manifest = json.loads((Path(result.slide_dir) / "manifest.json").read_text())
    assert manifest["tile_encoding"] == "native-jpeg" and result.reader == "tifffile"
    index = load_index(result.slide_dir)
    reference = openslide.OpenSlide(synthetic_slide)
    for _, row in index.iterrows():
        expected = np.asarray(reference.read_region((int(row.x), int(row.y)), 1, (256, 256)).convert("RGB"))
        assert np.array_equal(np.asarray(read_tile(result.slide_dir, row)), expected)
    views = json.loads((Path(result.slide_dir) / "views.json").read_text())
    assert len([v for v in views if v.startswith("views/tile_")]) == min(2, len(index))


def test_tiff_decoder_and_openslide_give_identical_regions(synthetic_slide: Path) -> None:
    rng = np.random.default_rng(0)
    with open_slide(synthetic_slide) as slide:
        for level in range(slide.info.level_count):
            direct = TiffTileRegions.for_level(slide, level)
            assert direct is not None
            width, height = slide.info.level_dimensions[level]
            for _ in range(3):  # unaligned regions spanning several native tiles
                w, h = int(rng.integers(50, min(400, width))), int(rng.integers(50, min(300, height)))
                x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
                assert np.array_equal(
                    direct.read(x, y, w, h), OpenSlideRegions(slide, level).read(x, y, w, h)
                )
            direct.close()


def test_resampled_tiles_equal_resized_read_region(tmp_path: Path, synthetic_slide: Path) -> None:
    cfg = TilingConfig(target_mpp=0.6, tile_px=128, overlap_px=16, min_tissue_frac=0.4, top_k_tiles=2)
    result = tile_slide(synthetic_slide, tmp_path, cfg)
    index = load_index(result.slide_dir)
    assert result.level == 1 and (index["read_px"] == 154).all() and (index["size_px"] == 128).all()
    assert index["mpp"].iloc[0] == pytest.approx(0.5 * 154 / 128)
    stride0 = round(112 * 1.2) * 2  # (tile - overlap) at level 1, in level-0 px
    assert set(np.diff(np.unique(index["x"]))) >= {stride0}
    row = index.iloc[len(index) // 2]
    region = openslide.OpenSlide(synthetic_slide).read_region((int(row.x), int(row.y)), 1, (154, 154))
    expected = np.asarray(region.convert("RGB").resize((128, 128), Image.Resampling.LANCZOS))
    assert np.array_equal(tile_pixels(synthetic_slide, row), expected)


def test_bad_slides_are_quarantined_and_the_run_goes_on(
    tmp_path: Path,
    synthetic_slide: Path,
    not_a_slide: Path,
    truncated_slide: Path,
    blank_slide: Path,
    tiling_cfg: TilingConfig,
) -> None:
    seen: list[tuple[str, int]] = []
    summary = tile_slides(
        [not_a_slide, synthetic_slide, truncated_slide, blank_slide],
        tmp_path,
        tiling_cfg,
        progress=lambda slide_id, n: seen.append((slide_id, n)),
    )
    assert [s.slide_id for s in summary.slides] == ["synthetic-a"]
    assert summary.n_tiles == summary.slides[0].n_tiles > 0
    problems = {q["slide_id"]: q for q in summary.quarantine}
    assert problems["notes"]["error_type"] == "SlideReadError" and "notes.svs" in problems["notes"]["message"]
    assert problems["truncated"]["error_type"] == "SlideReadError"
    assert (
        "truncated" in problems["truncated"]["message"]
        and "truncated.tiff" in problems["truncated"]["message"]
    )
    assert problems["blank"]["error_type"] == "EmptyTissueError"
    assert "min_tissue_frac" in problems["blank"]["message"]
    assert sorted(d.name for d in tmp_path.iterdir()) == [
        "summary.json",
        "synthetic-a",
    ]  # nothing half-written
    assert sorted(seen) == sorted(
        [("notes", 0), ("synthetic-a", summary.n_tiles), ("truncated", 0), ("blank", 0)]
    )
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["n_quarantined"] == 3 and written["n_tiles"] == summary.n_tiles
    assert [q["slide_id"] for q in written["quarantine"]] == ["notes", "truncated", "blank"]
    line = summary.line()
    assert line.startswith(f"tiled {summary.n_tiles:,} tiles from 1 slides in ") and "tiles/s" in line
    assert line.endswith("quarantined 3")


def test_blank_slide_raises_empty_tissue(tmp_path: Path, blank_slide: Path, tiling_cfg: TilingConfig) -> None:
    with pytest.raises(EmptyTissueError, match=r"blank\.tiff.*none of its \d+ grid tiles"):
        tile_slide(blank_slide, tmp_path, tiling_cfg)
    assert not (tmp_path / "blank").exists()


def test_resume_skips_finished_slides_and_redoes_changed_settings(
    tmp_path: Path, synthetic_slide: Path, second_slide: Path, tiling_cfg: TilingConfig
) -> None:
    first = tile_slides([synthetic_slide], tmp_path, tiling_cfg)
    manifest = tmp_path / "synthetic-a" / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    again = tile_slides([synthetic_slide, second_slide], tmp_path, tiling_cfg)
    assert [s.resumed for s in again.slides] == [True, False]
    assert again.slides[0].n_tiles == first.slides[0].n_tiles
    assert manifest.stat().st_mtime_ns == stamp
    assert "skipped 1 already tiled" in again.line() and again.n_tiles == again.slides[1].n_tiles
    # the worker count and the band size do not change outputs; the JPEG quality does
    runtime = tiling_cfg.model_copy(update={"workers": 3, "band_tiles": 5})
    assert tile_slides([synthetic_slide], tmp_path, runtime).slides[0].resumed
    redo = tile_slides([synthetic_slide], tmp_path, tiling_cfg.model_copy(update={"jpeg_quality": 80}))
    assert not redo.slides[0].resumed and manifest.stat().st_mtime_ns != stamp
    # a folder without a complete manifest (interrupted run) is redone
    manifest.unlink()
    assert not tile_slides([synthetic_slide], tmp_path, tiling_cfg).slides[0].resumed
    # a slide replaced by a different file of the same name is redone
    replaced = tmp_path / "replaced" / "synthetic-a.tiff"
    replaced.parent.mkdir()
    replaced.write_bytes(second_slide.read_bytes())
    assert not tile_slides([replaced], tmp_path, tiling_cfg).slides[0].resumed
    assert tile_slides([replaced], tmp_path, tiling_cfg).slides[0].resumed


def test_worker_processes_give_the_same_tiles(
    tmp_path: Path, synthetic_slide: Path, second_slide: Path, not_a_slide: Path, tiling_cfg: TilingConfig
) -> None:
    serial = tile_slides([synthetic_slide, second_slide], tmp_path / "serial", tiling_cfg)
    parallel = tile_slides(
        [synthetic_slide, not_a_slide, second_slide],
        tmp_path / "parallel",
        tiling_cfg.model_copy(update={"workers": 2}),
    )
    assert [s.slide_id for s in parallel.slides] == ["synthetic-a", "synthetic-b"]
    assert [q["slide_id"] for q in parallel.quarantine] == ["notes"]
    for result in serial.slides:
        a = pd.read_parquet(Path(result.slide_dir) / "index.parquet")
        b = pd.read_parquet(tmp_path / "parallel" / result.slide_id / "index.parquet")
        pd.testing.assert_frame_equal(a, b)


def test_inspect_slide_reports_resolution_and_tissue(synthetic_slide: Path, tiling_cfg: TilingConfig) -> None:
    report = inspect_slide(synthetic_slide, tiling_cfg)
    assert report["vendor"] == "generic-tiff" and report["slide_id"] == "synthetic-a"
    assert report["mpp"] == pytest.approx(0.25) and report["mpp_source"] == "openslide.mpp"
    assert report["level_count"] >= 2
    assert 0.1 < report["tissue_fraction"] < 0.7
    assert report["grid"]["level"] == 1 and report["grid"]["tissue_tiles"] > 0


@pytest.mark.parametrize("max_px", [300, 1024])
def test_fast_thumbnail_has_openslides_pixels(synthetic_slide: Path, max_px: int) -> None:
    with open_slide(synthetic_slide) as slide:
        expected, fast = slide.thumbnail(max_px), fast_thumbnail(slide, max_px)
    assert fast.mode == "RGB" and max(fast.size) == max_px and fast.size == expected.size
    assert np.array_equal(np.asarray(fast), np.asarray(expected))


def test_thumbnail_of_a_level_too_large_to_hold_is_built_in_strips(
    synthetic_slide: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A level above MAX_WHOLE_LEVEL_PX (e.g. a non-pyramidal gigapixel TIFF) is never read whole."""
    with open_slide(synthetic_slide) as slide:
        expected = slide.thumbnail(300)  # OpenSlide's, read whole
    monkeypatch.setattr(thumbnails, "MAX_WHOLE_LEVEL_PX", 1000)
    monkeypatch.setattr(thumbnails, "STRIP_BYTES", 200_000)  # many strips
    reads: list[tuple[int, int]] = []
    make_reader = thumbnails.region_reader

    def spying_reader(*args: object, **kwargs: object) -> object:
        reader = make_reader(*args, **kwargs)
        read = reader.read

        def spy(x: int, y: int, width: int, height: int) -> np.ndarray:
            reads.append((width, height))
            return read(x, y, width, height)

        reader.read = spy
        return reader

    monkeypatch.setattr(thumbnails, "region_reader", spying_reader)
    with open_slide(synthetic_slide) as slide:
        strips = fast_thumbnail(slide, 300)
        assert np.array_equal(np.asarray(slide.thumbnail(300)), np.asarray(strips))  # both bounded
    assert max(strips.size) == 300 and abs(strips.size[1] - expected.size[1]) <= 1
    common = tuple(min(a, b) for a, b in zip(strips.size, expected.size, strict=True))
    diff = np.abs(
        np.asarray(strips.crop((0, 0, *common)), dtype=float) - np.asarray(expected.crop((0, 0, *common)))
    )
    assert diff.mean() < 4.0, diff.mean()
    level_px = max(w * h for w, h in slide.info.level_dimensions if w * h > 1000)
    assert len(reads) >= 3 and all(w * h < level_px for w, h in reads)  # strips, never the whole level


def test_fast_thumbnail_of_real_slides(shared_slides: Path) -> None:
    """Aperio SVS (one level, and with an ICC profile) and a DICOM folder (read through OpenSlide)."""
    paths = [
        shared_slides / "aperio" / "CMU-1-Small-Region.svs",
        shared_slides / "aperio" / "TCGA-CR-7395-01A-01-TS1.svs",
        shared_slides / "dicom" / "cmu-1-small-region",
    ]
    for path in [p for p in paths if p.exists()]:
        with open_slide(path) as slide:
            expected, fast = slide.thumbnail(512), fast_thumbnail(slide, 512)
        assert np.array_equal(np.asarray(fast), np.asarray(expected)), path
        assert fast.info.get("icc_profile") == expected.info.get("icc_profile"), path
