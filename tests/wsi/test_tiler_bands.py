"""Within-slide parallelism: row bands encoded by pool workers give byte-identical outputs, a killed
banded run restarts cleanly, and a band that fails quarantines its slide without leaving anything behind."""

from __future__ import annotations

import itertools
import json
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pathreasoner.config import TilingConfig
from pathreasoner.wsi import load_index, tile_slides
from pathreasoner.wsi.bands import BAND_MAX_TILES, plan_bands

BANDED = {"workers": 2, "band_tiles": 10}  # the 2048x1536 test slides have 48 grid tiles at 128 px


def _files(slide_dir: Path) -> dict[str, str]:
    return json.loads((slide_dir / "manifest.json").read_text())["files"]


def _same_outputs(one: Path, two: Path) -> None:
    files = _files(one)
    assert files == _files(two)
    for name in files:  # the checksums describe the bytes on disk
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_bands_are_whole_rows_covering_the_kept_tiles_in_order(workers: int) -> None:
    rng = np.random.default_rng(workers)
    cols = 37
    keep = np.flatnonzero(rng.random(cols * 60) < 0.6)
    bands = plan_bands(keep, cols, workers)
    assert np.array_equal(np.concatenate(bands), keep)
    rows = [set((band // cols).tolist()) for band in bands]
    assert all(not (a & b) for a, b in itertools.pairwise(rows))  # no grid row split across bands
    target = -(-keep.size // (4 * workers))
    assert len(bands) >= 2 * workers
    assert all(band.size >= target for band in bands[:-1])
    assert all(band.size < target + cols for band in bands)
    big = np.arange(300 * 200)  # a large slide: bands capped at BAND_MAX_TILES (+ less than a row)
    assert max(band.size for band in plan_bands(big, 300, 2)) < BAND_MAX_TILES + 300


@pytest.mark.parametrize(
    ("update", "expect_bands"),
    [({}, True), ({"target_mpp": 0.5, "tile_px": 256, "min_tissue_frac": 0.3}, False)],
    ids=["reencoded", "native-jpeg"],
)
def test_banded_outputs_are_byte_identical(
    synthetic_slide: Path,
    second_slide: Path,
    not_a_slide: Path,
    tiling_cfg: TilingConfig,
    tmp_path: Path,
    update: dict[str, object],
    expect_bands: bool,
) -> None:
    cfg = tiling_cfg.model_copy(update={"shard_max_tiles": 5, **update})
    serial = tile_slides([synthetic_slide, second_slide], tmp_path / "serial", cfg)
    banded = tile_slides(
        [synthetic_slide, not_a_slide, second_slide],
        tmp_path / "banded",
        cfg.model_copy(update=BANDED),
    )
    assert [s.slide_id for s in banded.slides] == ["synthetic-a", "synthetic-b"]
    assert [q["slide_id"] for q in banded.quarantine] == ["notes"]  # a bad slide still goes to a worker
    assert all(s.bands == 0 for s in serial.slides)
    # pass-through tiles are copied bytes: not worth bands; re-encoded ones are split into several
    assert all((s.bands >= 2) == expect_bands for s in banded.slides)
    for result in serial.slides:
        one, two = Path(result.slide_dir), tmp_path / "banded" / result.slide_id
        _same_outputs(one, two)
        assert len(load_index(two)) == result.n_tiles
        assert len(list((two / "shards").glob("*.tar"))) == -(-result.n_tiles // 5)


def test_killed_banded_run_restarts_and_skips_finished_slides(
    synthetic_slide: Path, second_slide: Path, tiling_cfg: TilingConfig, tmp_path: Path
) -> None:
    """SIGKILL of the whole run (parent and workers) in the middle of the second slide's bands."""
    reference = tile_slides([synthetic_slide, second_slide], tmp_path / "reference", tiling_cfg)
    first_tiles = reference.slides[0].n_tiles
    out, cfg = tmp_path / "run", tiling_cfg.model_copy(update=BANDED)
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from pathreasoner.config import TilingConfig
        from pathreasoner.wsi import shards, tiler

        written = 0
        add = shards.ShardWriter.add

        def add_then_die(self, key, data):  # the parent writes the tiles: die mid-way through slide 2
            global written
            written += 1
            if written == {first_tiles + 3}:
                os.killpg(0, signal.SIGKILL)
            return add(self, key, data)

        shards.ShardWriter.add = add_then_die
        cfg = TilingConfig.model_validate_json({cfg.model_dump_json()!r})
        tiler.tile_slides([Path({str(synthetic_slide)!r}), Path({str(second_slide)!r})], Path({str(out)!r}), cfg)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], start_new_session=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    names = sorted(p.name for p in out.iterdir())
    assert "synthetic-a" in names and "synthetic-b" not in names and "summary.json" not in names
    assert any(n.startswith(".synthetic-b.") for n in names)  # the interrupted slide stayed a temp folder
    _same_outputs(tmp_path / "reference" / "synthetic-a", out / "synthetic-a")

    again = tile_slides([synthetic_slide, second_slide], out, cfg)
    assert [s.resumed for s in again.slides] == [True, False] and again.slides[1].bands >= 2
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]  # the killed run's leftovers
    for result in reference.slides:
        _same_outputs(Path(result.slide_dir), out / result.slide_id)
    assert all(s.resumed for s in tile_slides([synthetic_slide, second_slide], out, cfg).slides)
    # bands and workers are runtime settings: a serial rerun keeps the banded outputs
    assert all(s.resumed for s in tile_slides([synthetic_slide, second_slide], out, tiling_cfg).slides)


def _corrupt_native_tile(slide: Path, copy: Path, x0: int, y0: int) -> None:
    """Copy ``slide`` with the level-0 native JPEG tile under (x0, y0) made undecodable."""
    shutil.copyfile(slide, copy)
    with tifffile.TiffFile(copy) as tif:
        page = tif.pages[0]
        across = -(-page.shape[1] // page.tilewidth)
        index = (y0 // page.tilelength) * across + x0 // page.tilewidth
        offset, count = page.dataoffsets[index], page.databytecounts[index]
    with open(copy, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\0" * count)


def test_a_failing_band_quarantines_its_slide_and_leaves_nothing(
    synthetic_slide: Path, second_slide: Path, tiling_cfg: TilingConfig, tmp_path: Path
) -> None:
    # level-0 tiles of 224 px are cut from the 256-px native tiles: a broken native tile near the end
    # of the grid fails in a later band, after earlier bands were written to the temp folder
    cfg = tiling_cfg.model_copy(update={"target_mpp": 0.25, "tile_px": 224, "workers": 2, "band_tiles": 10})
    clean = tile_slides([synthetic_slide], tmp_path / "clean", cfg.model_copy(update={"workers": 1}))
    last = load_index(clean.slides[0].slide_dir).iloc[-1]
    broken = tmp_path / "slides" / "broken.tiff"
    broken.parent.mkdir()
    _corrupt_native_tile(synthetic_slide, broken, int(last.x), int(last.y))

    summary = tile_slides([broken, second_slide], tmp_path / "out", cfg)
    assert [s.slide_id for s in summary.slides] == ["synthetic-b"] and summary.slides[0].bands >= 2
    (problem,) = summary.quarantine
    assert problem["slide_id"] == "broken" and problem["error_type"] == "SlideReadError"
    assert "broken.tiff" in problem["message"] and "cannot be decoded" in problem["message"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["summary.json", "synthetic-b"]
