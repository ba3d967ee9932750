"""B1 + B3: slide tiling throughput, ours vs the common reference practice, on one synthetic slide.

B1 tile export, anchor: per-coordinate ``openslide.read_region`` → RGB → one Pillow PNG file per tile
   (histolab/CLAM-style export); ours: ``tile_slide`` end to end (tissue mask, band decoding of native
   tiles, JPEG into tar shards, index, views, QC, manifest).
B3 pixel iteration, anchor: ``read_region(...).convert("RGB")`` per tile; ours: the band reader the
   tiler uses (native tiles decoded once), numpy out, same tiles.
The anchor runs on a subset of the same tissue tiles (it is slow); rates are tiles/s, best of N.
Prints: `tiling_export ours=<t/s> anchor=<t/s> ratio=<x>` and `tiling_pixels ...`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import openslide

from pathreasoner.config import TilingConfig
from pathreasoner.wsi import load_index, tile_slide, write_synthetic_slide
from pathreasoner.wsi.reader import open_slide
from pathreasoner.wsi.regions import region_reader


def anchor_export(slide_path: Path, rows: list[dict], out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    slide = openslide.OpenSlide(slide_path)
    start = time.perf_counter()
    for row in rows:
        tile = slide.read_region((row["x"], row["y"]), row["level"], (row["size_px"], row["size_px"]))
        tile.convert("RGB").save(out / f"{row['x']}_{row['y']}.png")
    return len(rows) / (time.perf_counter() - start)


def ours_export(slide_path: Path, out: Path, cfg: TilingConfig) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    result = tile_slide(slide_path, out, cfg)
    rate = result.n_tiles / (time.perf_counter() - start)
    return rate, load_index(result.slide_dir).to_dict("records")


def anchor_pixels(slide_path: Path, rows: list[dict]) -> float:
    slide = openslide.OpenSlide(slide_path)
    start = time.perf_counter()
    for row in rows:
        region = slide.read_region((row["x"], row["y"]), row["level"], (row["size_px"], row["size_px"]))
        np.asarray(region.convert("RGB"))
    return len(rows) / (time.perf_counter() - start)


def ours_pixels(slide_path: Path, rows: list[dict]) -> float:
    with open_slide(slide_path) as slide:
        size, level = rows[0]["size_px"], rows[0]["level"]
        downsample = slide.info.level_downsamples[level]
        coords = [(round(r["x"] / downsample), round(r["y"] / downsample)) for r in rows]  # level px
        start = time.perf_counter()
        reader = region_reader(slide, level, probe=(*coords[0], size, size))
        for x, y in coords:  # row-major order, as the tiler reads them
            reader.read(x, y, size, size)
        rate = len(rows) / (time.perf_counter() - start)
        reader.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=8192)
    parser.add_argument("--height", type=int, default=6144)
    parser.add_argument("--anchor-tiles", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cfg = TilingConfig(target_mpp=0.25, tile_px=256, min_tissue_frac=0.25)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        slide = write_synthetic_slide(
            root / "bench.tiff", width_px=args.width, height_px=args.height, seed=11
        )
        ours, anchor, ours_px, anchor_px = [], [], [], []
        for repeat in range(args.repeats):  # interleaved, so machine load hits both alike
            rate, rows = ours_export(slide, root / f"ours-{repeat}", cfg)
            ours.append(rate)
            subset = rows[: args.anchor_tiles]
            anchor.append(anchor_export(slide, subset, root / f"anchor-{repeat}"))
            ours_px.append(ours_pixels(slide, rows))
            anchor_px.append(anchor_pixels(slide, subset))
    o, a = max(ours), max(anchor)
    print(
        f"tiling_export ours={o:,.0f}t/s anchor={a:,.0f}t/s ratio={o / a:.1f}x target>=100x ({len(rows)} tiles)"
    )
    o, a = max(ours_px), max(anchor_px)
    print(f"tiling_pixels ours={o:,.0f}t/s anchor={a:,.0f}t/s ratio={o / a:.1f}x target>=5x")


if __name__ == "__main__":
    main()
