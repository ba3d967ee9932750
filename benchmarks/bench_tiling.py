"""Slide tiling throughput against the common practice and against the JPEG-decode limit (issue 3).

On one synthetic JPEG-tiled slide (default 16,384 x 12,288 px, 256-px tiles; also
../shared/data/slides/aperio/CMU-1-Small-Region.svs when present), in one run, interleaved:
- anchor: CLAM/histolab-style loop, one ``openslide.read_region`` per kept tile + Pillow PNG encode
  (on a subset of the same tiles; it is slow);
- limit: pure libjpeg-turbo decode (imagecodecs) of the slide's own stored JPEG tiles that the tiler
  keeps: the per-core ceiling of any path that produces pixels;
- ours: ``tile_slide`` end to end (tissue mask, grid, tiles into tar shards, index, views, QC,
  manifest) with tiles at the slide's native geometry, so the stored JPEG bytes pass straight through;
- ours re-encoding (224-px tiles: native tiles decoded once per row band, cut, JPEG-encoded), the
  band reader alone (pixels out, no encode) — both against the same limit;
- workers2: speed-up of ``tile_slides`` with 2 worker processes over 1 (224-px tiles, CPU-bound), on
  4 copies of the slide, start-up of the spawned workers included.
Then the peak RSS of tiling a 60k x 40k slide in a child process (``RUSAGE_CHILDREN``); the slide is
written by a streaming writer (peak RSS reported too). Then within-slide parallelism on that one slide
with 224-px tiles (re-encoded; ~47k grid tiles > ``tiling.band_tiles``): ``tile_slides`` with 1 worker
against 2 workers encoding row bands for the parent, each run in a fresh child process (the rate times
the ``tile_slides`` call only; peak RSS = the largest of the parent and its workers). Rates are tiles/s,
best of ``--repeats`` (``--band-repeats`` for the band line).

Prints: ``tiling ours=<t/s> anchor=<t/s> limit=<t/s> ratio=<ours/anchor> of_limit=<ours/limit>
workers2=<speed-up>`` and the ``tiling_reencode``, ``tiling_pixels``, ``tiling_rss`` lines, and
``tiling_band workers1=<t/s> workers2=<t/s> speedup=<x>``.
Targets: ratio >= 8, of_limit >= 0.5, workers2 >= 1.8, peak RSS <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import imagecodecs
import openslide
import tifffile

from pathreasoner.config import TilingConfig
from pathreasoner.wsi import load_index, tile_slide, tile_slides
from pathreasoner.wsi.reader import open_slide
from pathreasoner.wsi.regions import region_reader

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the slide writer is test-support code (tests/support), not in the package
from tests.support.large_slides import write_large_synthetic_slide  # noqa: E402

CMU_SMALL = REPO / ".." / "shared" / "data" / "slides" / "aperio" / "CMU-1-Small-Region.svs"


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def ours(slide: Path, out: Path, cfg: TilingConfig) -> tuple[float, list[dict]]:
    shutil.rmtree(out, ignore_errors=True)
    seconds, result = timed(tile_slide, slide, out, cfg)
    return result.n_tiles / seconds, load_index(result.slide_dir).to_dict("records")


def anchor(slide: Path, rows: list[dict], out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    handle = openslide.OpenSlide(slide)
    start = time.perf_counter()
    for row in rows:
        tile = handle.read_region((row["x"], row["y"]), row["level"], (row["read_px"], row["read_px"]))
        tile.convert("RGB").save(out / f"{row['x']}_{row['y']}.png")
    rate = len(rows) / (time.perf_counter() - start)
    handle.close()
    return rate


def native_tile_bytes(slide: Path, rows: list[dict]) -> list[bytes]:
    """The stored JPEG streams (tables spliced in) of the level-0 native tiles under ``rows``."""
    with tifffile.TiffFile(slide) as tif:
        page = tif.pages[0]
        across = -(-page.shape[1] // page.tilewidth)
        tables = page.jpegtables
        out = []
        for row in rows:
            index = (row["y"] // page.tilelength) * across + row["x"] // page.tilewidth
            tif.filehandle.seek(page.dataoffsets[index])
            data = tif.filehandle.read(page.databytecounts[index])
            out.append(bytes(tables[:-2]) + data[2:] if tables else data)
    return out


def limit(streams: list[bytes]) -> float:
    start = time.perf_counter()
    for data in streams:
        imagecodecs.jpeg8_decode(data)
    return len(streams) / (time.perf_counter() - start)


def pixels(slide: Path, rows: list[dict]) -> float:
    """The tiler's band reader alone: native tiles decoded once, tiles cut out as numpy."""
    with open_slide(slide) as handle:
        size, level = rows[0]["read_px"], rows[0]["level"]
        downsample = handle.info.level_downsamples[level]
        coords = [(round(r["x"] / downsample), round(r["y"] / downsample)) for r in rows]
        start = time.perf_counter()
        reader = region_reader(handle, level, probe=(*coords[0], size, size))
        for x, y in coords:
            reader.read(x, y, size, size)
        rate = len(rows) / (time.perf_counter() - start)
        reader.close()
    return rate


def workers_speedup(slide: Path, root: Path, cfg: TilingConfig, copies: int, repeats: int) -> float:
    """Best 2-worker rate over best 1-worker rate (interleaved; includes the workers' start-up)."""
    folder = root / "copies"
    folder.mkdir(exist_ok=True)
    slides = []
    for i in range(copies):
        target = folder / f"copy{i}{slide.suffix}"
        if not target.exists():
            os.link(slide, target)
        slides.append(target)
    rates = {1: 0.0, 2: 0.0}
    for _ in range(repeats):
        for workers in (1, 2):
            out = root / f"workers{workers}"
            shutil.rmtree(out, ignore_errors=True)
            seconds, summary = timed(tile_slides, slides, out, cfg.model_copy(update={"workers": workers}))
            rates[workers] = max(rates[workers], summary.n_tiles / seconds)
    return rates[2] / rates[1]


def peak_rss_mb(code: str) -> float:
    """Peak RSS (MB) of ``code`` run in a child of a fresh interpreter (RUSAGE_CHILDREN there)."""
    wrapper = textwrap.dedent(
        f"""
        import resource, subprocess, sys
        subprocess.run([sys.executable, "-c", {code!r}], check=True)
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        """
    )
    out = subprocess.run([sys.executable, "-c", wrapper], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024  # ru_maxrss is in KiB on Linux


def band_run(slide: Path, out: Path, cfg: TilingConfig) -> tuple[float, int, int, float]:
    """(tiles/s of the ``tile_slides`` call, tiles, bands, peak RSS MB) of one run in a fresh child."""
    code = (
        "import json, shutil, time; from pathlib import Path; from pathreasoner.config import TilingConfig; "
        "from pathreasoner.wsi import tile_slides; "
        f"out = Path({str(out)!r}); shutil.rmtree(out, ignore_errors=True); "
        f"cfg = TilingConfig.model_validate_json({cfg.model_dump_json()!r}); start = time.perf_counter(); "
        f"s = tile_slides([Path({str(slide)!r})], out, cfg).slides[0]; "
        "print(json.dumps([s.n_tiles / (time.perf_counter() - start), s.n_tiles, s.bands]))"
    )
    wrapper = textwrap.dedent(
        f"""
        import resource, subprocess, sys
        out = subprocess.run([sys.executable, "-c", {code!r}], check=True, capture_output=True, text=True)
        print(out.stdout.strip().splitlines()[-1])
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        """
    )
    lines = subprocess.run(
        [sys.executable, "-c", wrapper], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    rate, n_tiles, bands = json.loads(lines[-2])
    return rate, n_tiles, bands, int(lines[-1]) / 1024


def band_speedup(slide: Path, root: Path, repeats: int) -> None:
    """Within-slide speed-up on one large slide: 1 worker against 2 workers encoding row bands."""
    cfg = TilingConfig(target_mpp=0.25, tile_px=224)
    best: dict[int, tuple[float, int, int, float]] = {}
    for _ in range(repeats):  # interleaved, so machine load hits both alike
        for workers in (1, 2):
            run = band_run(slide, root / f"band-w{workers}", cfg.model_copy(update={"workers": workers}))
            if run[0] > best.get(workers, (0.0,))[0]:
                best[workers] = run
    (w1, n_tiles, _, rss1), (w2, _, bands, rss2) = best[1], best[2]
    print(
        f"tiling_band workers1={w1:,.0f} workers2={w2:,.0f} speedup={w2 / w1:.2f}  ({n_tiles:,} tiles of "
        f"224 px re-encoded, {bands} row bands; peak RSS {rss1:,.0f} MB -> {rss2:,.0f} MB, largest process; "
        f"load {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def measure(name: str, slide: Path, root: Path, args: argparse.Namespace, native_px: int, mpp: float) -> None:
    native = TilingConfig(target_mpp=mpp, tile_px=native_px, min_tissue_frac=0.5, top_k_tiles=8)
    reencode = native.model_copy(update={"tile_px": 224})
    best: dict[str, float] = {}

    def keep(key: str, value: float) -> None:
        best[key] = max(best.get(key, 0.0), value)

    for repeat in range(args.repeats):  # interleaved, so machine load hits all alike
        rate, rows = ours(slide, root / f"ours-{repeat}", native)
        keep("ours", rate)
        streams = native_tile_bytes(slide, rows) if rows[0]["level"] == 0 else []
        if streams:
            keep("limit", limit(streams))
        keep("anchor", anchor(slide, rows[: args.anchor_tiles], root / f"anchor-{repeat}"))
        rate_re, rows_re = ours(slide, root / f"re-{repeat}", reencode)
        keep("reencode", rate_re)
        keep("pixels", pixels(slide, rows_re))
    workers2 = (
        workers_speedup(slide, root, reencode, args.copies, args.repeats) if args.copies else float("nan")
    )
    o, a, lim = best["ours"], best["anchor"], best.get("limit", float("nan"))
    tag = "" if name == "synthetic" else f"[{name}]"
    print(
        f"tiling{tag} ours={o:,.0f} anchor={a:,.1f} limit={lim:,.0f} ratio={o / a:.1f} "
        f"of_limit={o / lim:.2f} workers2={workers2:.2f}  ({len(rows)} tiles of {native_px} px, native JPEG)",
        flush=True,
    )
    print(
        f"tiling_reencode{tag} ours={best['reencode']:,.0f} of_limit={best['reencode'] / lim:.2f} "
        f"ratio={best['reencode'] / a:.1f}  ({len(rows_re)} tiles of 224 px: decode once, cut, JPEG q90)",
        flush=True,
    )
    print(f"tiling_pixels{tag} ours={best['pixels']:,.0f} of_limit={best['pixels'] / lim:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--width", type=int, default=16384)
    parser.add_argument("--height", type=int, default=12288)
    parser.add_argument("--anchor-tiles", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--copies", type=int, default=4, help="slides for the workers2 measurement (0: skip)")
    parser.add_argument("--rss-width", type=int, default=60000)
    parser.add_argument("--rss-height", type=int, default=40000)
    parser.add_argument(
        "--band-repeats",
        type=int,
        default=1,
        help="runs of the within-slide line (0: skip; needs --rss-width)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        slide = root / "bench.tiff"
        seconds, _ = timed(
            lambda: write_large_synthetic_slide(slide, width_px=args.width, height_px=args.height, seed=11)
        )
        print(f"# synthetic slide {args.width}x{args.height} written in {seconds:.1f} s", flush=True)
        measure("synthetic", slide, root / "synthetic", args, native_px=256, mpp=0.25)
        if CMU_SMALL.is_file():
            with open_slide(CMU_SMALL) as handle:
                mpp = handle.info.mpp
            measure("cmu-small", CMU_SMALL, root / "cmu", args, native_px=240, mpp=mpp)
        else:
            print(f"# {CMU_SMALL} not present; skipped", flush=True)
        if args.rss_width:
            big = root / "big.tiff"
            write = (
                f"import sys; sys.path.insert(0, {str(REPO)!r}); "
                "from tests.support.large_slides import write_large_synthetic_slide as w; "
                f"w({str(big)!r}, width_px={args.rss_width}, height_px={args.rss_height}, seed=3)"
            )
            tile = (
                "from pathreasoner.config import TilingConfig; from pathreasoner.wsi import tile_slide; "
                f"r = tile_slide({str(big)!r}, {str(root / 'big-out')!r}, TilingConfig(target_mpp=0.25)); "
                "print(r.n_tiles)"
            )
            start = time.perf_counter()
            write_mb = peak_rss_mb(write)
            write_s = time.perf_counter() - start
            start = time.perf_counter()
            tile_mb = peak_rss_mb(tile)
            tile_s = time.perf_counter() - start
            n_tiles = len(load_index(root / "big-out" / "big"))
            print(
                f"tiling_rss slide={args.rss_width}x{args.rss_height} peak_rss_tile={tile_mb:,.0f}MB "
                f"({n_tiles:,} tiles in {tile_s:.1f} s) peak_rss_write={write_mb:,.0f}MB ({write_s:.1f} s) "
                f"file={big.stat().st_size / 2**30:.2f}GiB",
                flush=True,
            )
            if args.band_repeats:
                band_speedup(big, root, args.band_repeats)


if __name__ == "__main__":
    main()
