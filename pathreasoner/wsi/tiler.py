"""tile-slides: slides → per-slide tile index, JPEG tile shards, views, QC overlay and manifest.

Per slide the output folder is written under a temporary name and renamed when complete, so a
folder with a ``manifest.json`` is always whole; a re-run skips such slides (resume). Bad slides
(unreadable, no tissue) are recorded in the summary's ``quarantine`` list and the run goes on.

With ``tiling.workers > 1`` slides are tiled in parallel processes; a slide with more candidate (grid)
tiles than ``tiling.band_tiles`` is planned and written by the parent process while the workers of the
same pool read and encode its tiles in row bands (``pathreasoner.wsi.bands``): the same bytes as one
process writes, a few bands in memory at a time.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import glob
import hashlib
import io
import itertools
import json
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from pathreasoner.config import TilingConfig
from pathreasoner.errors import EmptyTissueError, PathReasonerError, SlideReadError
from pathreasoner.io_utils import atomic_dir, atomic_write_json
from pathreasoner.wsi.bands import (
    Band,
    EncodedTile,
    banded_tiles,
    decode_jpeg,
    encoded_tiles,
    plan_bands,
    to_tile,
)
from pathreasoner.wsi.grid import TileGrid, plan_grid
from pathreasoner.wsi.reader import Slide, open_slide, resolve_slide_path
from pathreasoner.wsi.regions import RegionReader, region_reader
from pathreasoner.wsi.s3_cache import (
    S3SlideCache,
    default_cache_dir,
    describe,
    is_s3_uri,
    normalize_uri,
    slide_id_of,
)
from pathreasoner.wsi.shards import INDEX_FILE, ShardWriter
from pathreasoner.wsi.synthetic import SYNTHETIC_MARK
from pathreasoner.wsi.thumbnails import FastThumbnailSlide
from pathreasoner.wsi.tissue import TissueMask, box_means, detect_tissue, tile_tissue_fraction
from pathreasoner.wsi.views import (
    diverse_view_tiles,
    draw_qc,
    fit_within,
    jpeg_bytes,
    roi_boxes,
    tile_features,
)

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
SUMMARY_FILE = "summary.json"
MANIFEST_VERSION = 2  # 2: the last row and column are padded (earlier outputs lack the edge strips)
RUNTIME_KEYS = frozenset({"workers", "band_tiles", "s3_cache_dir", "s3_cache_max_bytes"})  # outputs unchanged
MAX_EXIT_CODE = 100  # exit status = number quarantined, capped (shells keep 8 bits; >125 is special)
MASK_MIN_PX_PER_TILE = 4  # the tissue mask is read large enough for a tile to span this many pixels
MASK_MAX_PX = 4096
QC_PNG_ZLIB_STRATEGY = 3  # Z_RLE: faster than the default strategy and smaller on QC overlays
ROI_MAX_READ_FACTOR = 6  # an ROI is read at a level only if that is at most this many view_px wide
VIEW_SATURATION_WEIGHT = 0.25  # view ranking: tissue fraction first, then stain (nuclei-rich) density


@dataclass(frozen=True)
class SlideTilingResult:
    slide_id: str
    slide: str
    slide_dir: str
    n_tiles: int
    n_grid_tiles: int
    level: int
    mpp: float
    mpp_source: str
    reader: str
    tissue_fraction: float
    seconds: float
    resumed: bool = False
    bands: int = 0  # row bands its tiles were encoded in by pool workers (0: by one process)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TilingSummary:
    """Outcome of one tile-slides run; ``quarantine`` = [{slide, slide_id, error_type, message}]."""

    slides: list[SlideTilingResult] = field(default_factory=list)
    quarantine: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def tiled(self) -> list[SlideTilingResult]:
        return [s for s in self.slides if not s.resumed]

    @property
    def resumed(self) -> list[SlideTilingResult]:
        return [s for s in self.slides if s.resumed]

    @property
    def n_tiles(self) -> int:
        """Tiles written by this run (resumed slides not counted)."""
        return sum(s.n_tiles for s in self.tiled)

    @property
    def n_quarantined(self) -> int:
        return len(self.quarantine)

    @property
    def exit_code(self) -> int:
        """Process exit status for the CLI: how many slides were quarantined (0 = all fine), capped."""
        return min(self.n_quarantined, MAX_EXIT_CODE)

    @property
    def tiles_per_s(self) -> float:
        return self.n_tiles / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        text = (
            f"tiled {self.n_tiles:,} tiles from {len(self.tiled)} slides in {self.seconds:.1f} s "
            f"({self.tiles_per_s:,.0f} tiles/s)"
        )
        if self.resumed:
            text += f"; skipped {len(self.resumed)} already tiled"
        return text + f"; quarantined {len(self.quarantine)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line(),
            "n_slides": len(self.slides) + len(self.quarantine),
            "n_tiled": len(self.tiled),
            "n_resumed": len(self.resumed),
            "n_quarantined": self.n_quarantined,
            "exit_code": self.exit_code,
            "n_tiles": self.n_tiles,
            "n_tiles_total": sum(s.n_tiles for s in self.slides),
            "seconds": round(self.seconds, 3),
            "tiles_per_s": round(self.tiles_per_s, 1),
            "slides": [s.to_dict() for s in self.slides],
            "quarantine": self.quarantine,
        }


# ---- many slides -----------------------------------------------------------------------------


def _pool_context() -> multiprocessing.context.BaseContext:
    """fork (workers start in ms, nothing re-imported) unless a threaded runtime such as torch is loaded
    in this process, where forking is unsafe; then spawn (~1 s of imports per worker)."""
    if sys.platform.startswith("linux") and "torch" not in sys.modules:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _one_thread_per_worker() -> None:
    """Worker processes already use every core between them: keep BLAS/OpenMP pools at one thread."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def tile_slides(
    slides: list[Path | str],
    out_dir: Path,
    cfg: TilingConfig,
    progress: Callable[[str, int], None] | None = None,
) -> TilingSummary:
    """Tile every slide into ``out_dir/<slide_id>/`` and write ``out_dir/summary.json``.

    ``progress(slide_id, n_tiles)`` is called once per slide as it finishes (0 tiles if quarantined).
    ``cfg.workers > 1`` tiles slides in parallel processes; a local slide with more grid tiles than
    ``cfg.band_tiles`` is written by this process from row bands that the pool's workers encode (same
    bytes). ``s3://bucket/key`` items (a DICOM slide: ``s3://bucket/folder/``) are fetched into the S3
    cache (``cfg.s3_cache_dir``) when they need tiling; each is tiled by one worker.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outcomes: dict[int, SlideTilingResult | dict[str, str]] = {}
    jobs: list[tuple[int, Path | str]] = []
    owners: dict[str, Path | str] = {}
    for position, item in enumerate(slides):
        slide = _as_source(item)
        try:
            slide_id = _slide_id(slide)
        except SlideReadError as exc:
            outcomes[position] = _quarantine_entry(slide, _stem(slide), exc)
            continue
        if slide_id in owners:
            exc = SlideReadError(
                f"slide {slide} has slide id '{slide_id}', already used by {owners[slide_id]}; outputs are "
                "keyed by file name (DICOM: folder name) — rename one of them"
            )
            outcomes[position] = _quarantine_entry(slide, slide_id, exc)
            continue
        owners[slide_id] = slide
        jobs.append((position, slide))

    def finish(
        position: int, slide: Path | str, result: SlideTilingResult | None, exc: BaseException | None
    ) -> None:
        if result is not None:
            outcomes[position] = result
            _notify(progress, result.slide_id, result.n_tiles)
            return
        assert exc is not None
        slide_id = _slide_id(slide)
        outcomes[position] = _quarantine_entry(slide, slide_id, exc)
        _notify(progress, slide_id, 0)

    def run_here(position: int, slide: Path | str, pool: concurrent.futures.Executor | None) -> None:
        try:
            result = tile_slide(slide, out_dir, cfg, pool=pool)
        except Exception as exc:  # one bad slide must not stop the run; quarantined in finish
            finish(position, slide, None, exc)
        else:
            finish(position, slide, result, None)

    def collect(future: concurrent.futures.Future) -> None:
        position, slide = whole.pop(future)
        exc = future.exception()
        finish(position, slide, None if exc else future.result(), exc)

    wants: dict[int, bool] = {}  # position -> more grid tiles than cfg.band_tiles (asked once per slide)

    def banded(position: int, slide: Path | str) -> bool:
        if position not in wants:
            wants[position] = _wants_bands(slide, cfg)
        return wants[position]

    whole: dict[concurrent.futures.Future, tuple[int, Path | str]] = {}
    if cfg.workers > 1 and (len(jobs) > 1 or any(banded(*job) for job in jobs)):
        size = cfg.workers if len(jobs) >= cfg.workers or any(banded(*job) for job in jobs) else len(jobs)
        with concurrent.futures.ProcessPoolExecutor(
            size, mp_context=_pool_context(), initializer=_one_thread_per_worker
        ) as pool:
            large = []
            for position, slide in jobs:  # whole slides go to the workers now; large ones queue their bands
                if banded(position, slide):  # behind them, so no worker idles while this process plans
                    large.append((position, slide))
                else:
                    whole[pool.submit(tile_slide, slide, out_dir, cfg)] = (position, slide)
            for position, slide in large:
                run_here(position, slide, pool)
                for future in [f for f in whole if f.done()]:
                    collect(future)
            for future in concurrent.futures.as_completed(list(whole)):
                collect(future)
    else:
        for position, slide in jobs:
            run_here(position, slide, None)

    ordered = [outcomes[i] for i in sorted(outcomes)]
    summary = TilingSummary(
        slides=[o for o in ordered if isinstance(o, SlideTilingResult)],
        quarantine=[o for o in ordered if isinstance(o, dict)],
        seconds=time.perf_counter() - start,
    )
    atomic_write_json(out_dir / SUMMARY_FILE, summary.to_dict())
    log.info(summary.line())
    return summary


def _as_source(item: Path | str) -> Path | str:
    """s3 URIs stay strings (normalised: a Path collapses ``s3://`` to ``s3:/``); the rest are Paths."""
    return normalize_uri(item) if is_s3_uri(item) else Path(item)


def _slide_id(slide: Path | str) -> str:
    return slide_id_of(str(slide)) if is_s3_uri(slide) else resolve_slide_path(slide)[1]


def _wants_bands(slide: Path | str, cfg: TilingConfig) -> bool:
    """True for a local slide with more grid tiles than ``cfg.band_tiles`` (its bands then go to the pool).

    An s3:// slide is tiled whole by one worker: its grid is known only once it is fetched.
    """
    if is_s3_uri(slide):
        return False
    try:
        with open_slide(slide, cfg.default_mpp) as handle:
            return _band_sized(plan_grid(handle.info, cfg), cfg)
    except Exception:  # the slide is then tiled (and quarantined, with its reason) by a worker
        return False


def _band_sized(grid: TileGrid, cfg: TilingConfig) -> bool:
    """Whether a slide's grid is large enough to be encoded in row bands by several workers."""
    return cfg.workers > 1 and grid.n_tiles > cfg.band_tiles


def _stem(slide: Path | str) -> str:
    return Path(str(slide)).stem


def s3_cache(cfg: TilingConfig) -> S3SlideCache:
    """The local cache that s3:// slides are fetched into."""
    root = Path(cfg.s3_cache_dir).expanduser() if cfg.s3_cache_dir else default_cache_dir()
    return S3SlideCache(root, cfg.s3_cache_max_bytes)


def _notify(progress: Callable[[str, int], None] | None, slide_id: str, n_tiles: int) -> None:
    if progress is not None:
        progress(slide_id, n_tiles)


def _quarantine_entry(slide: Path | str, slide_id: str, exc: BaseException) -> dict[str, str]:
    if isinstance(exc, PathReasonerError):
        log.warning("quarantined %s: %s", slide, exc)
    else:  # not an anticipated failure: keep the traceback in the log
        log.error("quarantined %s after an unexpected %s", slide, type(exc).__name__, exc_info=exc)
    return {"slide": str(slide), "slide_id": slide_id, "error_type": type(exc).__name__, "message": str(exc)}


# ---- one slide -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    grid: TileGrid
    tissue: TissueMask
    level_x: np.ndarray  # every grid tile, level px
    level_y: np.ndarray
    fraction: np.ndarray  # every grid tile
    keep: np.ndarray  # indices of the tiles to store, row-major
    views: np.ndarray  # indices into ``keep`` of the view tiles, best first
    rois: np.ndarray  # level-0 (x, y, w, h) of the ROI crops, largest region first


def tile_slide(
    slide: Path | str,
    out_dir: Path,
    cfg: TilingConfig,
    *,
    pool: concurrent.futures.Executor | None = None,
) -> SlideTilingResult:
    """Tile one slide into ``out_dir/<slide_id>/``; a complete folder with the same config is kept.

    An ``s3://`` slide is checked against the finished folder by its object size before any download,
    then fetched into the S3 cache; the manifest names the URI as the slide's ``source``. Given a process
    ``pool`` and ``cfg.workers > 1``, a slide with more grid tiles than ``cfg.band_tiles`` whose tiles are
    re-encoded is encoded in row bands by the pool's workers; the outputs are byte-identical.
    """
    start = time.perf_counter()
    slide = _as_source(slide)
    slide_id = _slide_id(slide)
    slide_dir = Path(out_dir) / slide_id
    remote = describe(str(slide)) if isinstance(slide, str) else None
    size = remote.source_bytes if remote is not None else source_bytes(Path(slide))
    manifest = finished_manifest(slide_dir, cfg, size)
    if manifest is not None:
        log.info("%s: already tiled (%s), skipping", slide_id, slide_dir / MANIFEST_FILE)
        return _result(slide, slide_dir, manifest, time.perf_counter() - start, resumed=True)
    with contextlib.ExitStack() as stack:
        local = stack.enter_context(s3_cache(cfg).use(remote)) if remote is not None else Path(slide)
        handle = stack.enter_context(open_slide(local, cfg.default_mpp))
        plan = _plan(handle, cfg)
        with atomic_dir(slide_dir) as tmp:
            manifest, bands = _write_slide(
                handle, local, plan, tmp, cfg, pool, source=str(slide), start=start
            )
            _make_readable(tmp)
    log.info(
        "%s: %d tiles (of %d grid tiles) at %.3f µm/px, level %d, %.1f s%s",
        slide_id,
        manifest["counts"]["tiles"],
        plan.grid.n_tiles,
        plan.grid.mpp,
        plan.grid.level,
        manifest["seconds"],
        f", encoded in {bands} row bands by {cfg.workers} workers" if bands else "",
    )
    return _result(slide, slide_dir, manifest, time.perf_counter() - start, resumed=False, bands=bands)


def slide_files(file: Path) -> list[Path]:
    """Every file a slide's pixels live in: DICOM all .dcm of its folder; MIRAX the .mrxs plus its data
    folder; Hamamatsu VMS/VMU the key file plus every file it names; Trestle the .tif plus its .Full and
    .tif-N companions; otherwise the file itself."""
    suffix = file.suffix.lower()
    if suffix == ".dcm":
        return sorted(file.parent.glob("*.dcm"))
    if suffix == ".mrxs":
        data = file.parent / file.stem
        return [file, *sorted(p for p in data.rglob("*") if p.is_file())]
    if suffix in (".vms", ".vmu"):
        named = set()
        for line in file.read_text(errors="replace").splitlines():
            _, sep, value = line.partition("=")
            candidate = file.parent / value.strip()
            if sep and value.strip() and candidate.is_file():
                named.add(candidate)
        return [file, *sorted(named)]
    if suffix in (".tif", ".tiff"):
        companions = [*file.parent.glob(glob.escape(file.name) + "-*"), file.with_suffix(".Full")]
        return [file, *sorted(p for p in companions if p.is_file())]
    return [file]


def source_bytes(slide: Path) -> int:
    """Size of a slide's data on disk, over all of its files (see `slide_files`); 0 if it is missing."""
    try:
        file, _ = resolve_slide_path(slide)
        return sum(f.stat().st_size for f in slide_files(file))
    except (SlideReadError, OSError):
        return 0


def finished_manifest(
    slide_dir: Path, cfg: TilingConfig, size_bytes: int | None = None
) -> dict[str, Any] | None:
    """The manifest of a complete earlier run with the same tiling settings (and, when given, the
    same source size in bytes), else None."""
    path = Path(slide_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (
        manifest.get("complete") is not True
        or manifest.get("manifest_version") != MANIFEST_VERSION
        or (size_bytes is not None and manifest.get("source_bytes") != size_bytes)
        or _output_settings(manifest.get("tiling_config", {}))
        != _output_settings(cfg.model_dump(mode="json"))
        or not all((slide_dir / name).is_file() for name in manifest.get("files", {}))
    ):
        return None
    return manifest


def _output_settings(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in RUNTIME_KEYS}


def _result(
    slide: Path | str,
    slide_dir: Path,
    manifest: dict[str, Any],
    seconds: float,
    resumed: bool,
    bands: int = 0,
) -> SlideTilingResult:
    return SlideTilingResult(
        slide_id=manifest["slide_id"],
        slide=str(slide),
        slide_dir=str(slide_dir),
        n_tiles=int(manifest["counts"]["tiles"]),
        n_grid_tiles=int(manifest["counts"]["grid_tiles"]),
        level=int(manifest["grid"]["level"]),
        mpp=float(manifest["grid"]["mpp"]),
        mpp_source=manifest["slide"]["mpp_source"],
        reader=manifest["reader"],
        tissue_fraction=float(manifest["tissue"]["thumbnail_fraction"]),
        seconds=round(seconds, 3),
        resumed=resumed,
        bands=bands,
    )


def mask_size_px(slide: Slide, grid: TileGrid, cfg: TilingConfig) -> int:
    """Longest side of the tissue-mask thumbnail: cfg.thumbnail_px, enlarged so a tile spans >= 4 px."""
    longest0 = max(slide.info.dimensions)
    stride0 = max(grid.stride_px * grid.downsample, 1.0)
    needed = int(np.ceil(MASK_MIN_PX_PER_TILE * longest0 / stride0))
    return int(min(max(cfg.thumbnail_px, needed), MASK_MAX_PX, longest0))


def _plan(slide: Slide, cfg: TilingConfig) -> _Plan:
    info = slide.info
    grid = plan_grid(info, cfg)
    if grid.n_tiles == 0:
        raise EmptyTissueError(
            f"slide {info.path}: level {grid.level} ({grid.level_width}x{grid.level_height} px) is smaller "
            f"than one {grid.read_px}-px tile at {grid.mpp:.3g} µm/px, so there is nothing to tile; lower "
            "tiling.tile_px or raise tiling.target_mpp"
        )
    tissue = detect_tissue(  # OpenSlide's thumbnail pixels, decoded ~2x faster where the TIFF allows
        FastThumbnailSlide(slide),  # type: ignore[arg-type]
        mask_size_px(slide, grid, cfg),
        remove_pen=cfg.remove_pen,
        background=cfg.tissue_background,
    )
    level_x, level_y = grid.level_coords()
    x0, y0 = grid.to_level0(level_x), grid.to_level0(level_y)
    # a padded tile's tissue share is over its whole area: the padding is background
    fraction = tile_tissue_fraction(tissue, x0, y0, grid.size0) * grid.inside_share(level_x, level_y)
    keep = np.flatnonzero(fraction >= cfg.min_tissue_frac)
    if keep.size == 0:
        raise EmptyTissueError(
            f"slide {info.path}: none of its {grid.n_tiles} grid tiles has tissue_frac >= "
            f"tiling.min_tissue_frac={cfg.min_tissue_frac} (tissue covers {tissue.tissue_fraction:.1%} of "
            f"the thumbnail, best tile {fraction.max():.2f}); check that the slide is not blank, or lower "
            "tiling.min_tissue_frac"
        )
    stain = box_means(tissue.saturation, tissue.scale, x0[keep], y0[keep], grid.size0, grid.size0)
    score = fraction[keep] + VIEW_SATURATION_WEIGHT * np.clip(stain, 0.0, 1.0)
    features = tile_features(tissue, x0[keep], y0[keep], grid.size0)
    views = diverse_view_tiles(features, score, cfg.top_k_tiles)
    return _Plan(grid, tissue, level_x, level_y, fraction, keep, views, roi_boxes(tissue, cfg.roi_views))


def _can_pass_through(reader: RegionReader, plan: _Plan) -> bool:
    """True when every stored tile can be the slide's own JPEG tile, byte for byte: the grid is the
    native tile grid (no resampling, no overlap) and that JPEG decodes to exactly the pixels read."""
    grid = plan.grid
    native_jpeg = getattr(reader, "native_jpeg", None)
    if native_jpeg is None or grid.resample or grid.stride_px != grid.read_px:
        return False
    first = int(plan.keep[0])
    x, y = int(plan.level_x[first]), int(plan.level_y[first])
    data = native_jpeg(x, y, grid.read_px)
    if data is None:
        return False
    try:
        decoded = decode_jpeg(data)
    except OSError:  # e.g. RGB-coded JPEG that needs the TIFF's colour-space tag
        return False
    return np.array_equal(decoded, reader.read(x, y, grid.read_px, grid.read_px))


@dataclass
class _Tiles:
    """What writing the tiles produced: the index, the view tiles' pixels by rank, how it was read."""

    index: pd.DataFrame
    views: dict[int, Image.Image]
    n_shards: int
    reader: str
    passthrough: bool
    n_bands: int


def _write_tiles(
    slide: Slide,
    local: Path,
    plan: _Plan,
    tmp: Path,
    cfg: TilingConfig,
    pool: concurrent.futures.Executor | None,
) -> _Tiles:
    """Every kept tile into the shards, in row-major order, encoded here or by ``pool`` in row bands."""
    grid, keep = plan.grid, plan.keep
    first = int(keep[0])
    reader = region_reader(
        slide,
        grid.level,
        probe=(int(plan.level_x[first]), int(plan.level_y[first]), grid.read_px, grid.read_px),
    )
    view_rank = {int(keep[i]): rank for rank, i in enumerate(plan.views)}
    xs0, ys0 = grid.to_level0(plan.level_x[keep]), grid.to_level0(plan.level_y[keep])
    offsets, lengths = np.zeros(keep.size, dtype=np.int64), np.zeros(keep.size, dtype=np.int64)
    shards: list[str] = []
    views: dict[int, Image.Image] = {}
    writer = ShardWriter(tmp, cfg.shard_max_tiles)
    tiles: Iterator[EncodedTile] | None = None
    try:
        passthrough = _can_pass_through(reader, plan)
        bands = (
            _bands(local, plan, cfg, reader.name, frozenset(view_rank))
            if pool is not None and _band_sized(grid, cfg) and not passthrough
            else []  # pass-through only copies bytes: bands would not make it faster
        )
        tiles = (
            banded_tiles(pool, bands, cfg.workers)
            if pool is not None and bands
            else encoded_tiles(reader, grid, keep, cfg.jpeg_quality, passthrough, set(view_rank))
        )
        for position, (index, data, pixels), x, y in zip(
            itertools.count(), tiles, xs0.tolist(), ys0.tolist(), strict=False
        ):
            shard, offsets[position], lengths[position] = writer.add(f"x{x:07d}_y{y:07d}", data)
            shards.append(shard)
            if pixels is not None:
                views[view_rank[index]] = Image.fromarray(pixels)
    finally:
        if isinstance(tiles, Generator):
            tiles.close()  # on an error: cancels the bands not started yet
        writer.close()
        reader.close()
    if len(shards) != keep.size:  # the tile sources yield every kept tile; never write a short index
        raise PathReasonerError(f"slide {slide.info.path}: {len(shards)} of {keep.size} tiles were written")
    index = pd.DataFrame(
        {
            "x": xs0,
            "y": ys0,
            "level": np.full(keep.size, grid.level, dtype=np.int64),
            "size_px": np.full(keep.size, grid.tile_px, dtype=np.int64),
            "read_px": np.full(keep.size, grid.read_px, dtype=np.int64),
            "mpp": np.full(keep.size, grid.mpp, dtype=np.float64),
            "tissue_frac": plan.fraction[keep].astype(np.float64),
            "padded": grid.padded(plan.level_x[keep], plan.level_y[keep]),
            "shard": shards,
            "offset": offsets,
            "length": lengths,
        }
    )
    return _Tiles(index, views, len(writer.shards), reader.name, passthrough, len(bands))


def _bands(local: Path, plan: _Plan, cfg: TilingConfig, reader: str, want: frozenset[int]) -> list[Band]:
    return [
        Band(
            slide_file=str(local),
            default_mpp=cfg.default_mpp,
            reader=reader,
            grid=plan.grid,
            keep=rows,
            want_pixels=frozenset(int(i) for i in rows.tolist() if i in want),
            jpeg_quality=cfg.jpeg_quality,
        )
        for rows in plan_bands(plan.keep, plan.grid.cols, cfg.workers)
    ]


def _write_views(
    slide: Slide, plan: _Plan, tmp: Path, cfg: TilingConfig, tiles: dict[int, Image.Image]
) -> list[str]:
    """thumbnail, ROI crops, view tiles (best first) as JPEGs under ``views/``, listed in ``views.json``."""
    (tmp / "views").mkdir()
    images = [("views/thumbnail.jpg", fit_within(plan.tissue.thumbnail, cfg.view_px))]
    images += [
        (f"views/roi_{rank:02d}.jpg", read_roi(slide, plan.tissue, box, cfg.view_px))
        for rank, box in enumerate(plan.rois)
    ]
    images += [(f"views/tile_{rank:02d}.jpg", fit_within(tiles[rank], cfg.view_px)) for rank in sorted(tiles)]
    for name, image in images:
        (tmp / name).write_bytes(jpeg_bytes(image, cfg.jpeg_quality))
    view_paths = [name for name, _ in images]
    (tmp / "views.json").write_text(json.dumps(view_paths, indent=2) + "\n")
    return view_paths


def _write_qc(slide: Slide, plan: _Plan, tmp: Path, tiles: _Tiles) -> None:
    grid = plan.grid
    kept_xy = tiles.index[["x", "y"]].to_numpy()
    caption = (
        f"{slide.info.slide_id}: {len(tiles.index):,} tiles of {grid.tile_px} px at {grid.mpp:.3g} um/px "
        f"(level {grid.level}, {tiles.reader}{', native JPEG' if tiles.passthrough else ''}); "
        f"tissue {plan.tissue.tissue_fraction:.0%}"
    )
    qc = draw_qc(plan.tissue, kept_xy, kept_xy[plan.views], grid.size0, caption, plan.rois)
    buffer = io.BytesIO()  # fast; QC pictures are looked at, not archived
    qc.save(buffer, format="PNG", compress_level=1, compress_type=QC_PNG_ZLIB_STRATEGY)
    (tmp / "qc.png").write_bytes(buffer.getvalue())


def _write_slide(
    slide: Slide,
    local: Path,
    plan: _Plan,
    tmp: Path,
    cfg: TilingConfig,
    pool: concurrent.futures.Executor | None,
    *,
    source: str,
    start: float,
) -> tuple[dict[str, Any], int]:
    """All outputs of one slide into ``tmp``; returns the manifest and the number of row bands used."""
    info, grid = slide.info, plan.grid
    tiles = _write_tiles(slide, local, plan, tmp, cfg, pool)
    tiles.index.to_parquet(tmp / INDEX_FILE, index=False)
    view_paths = _write_views(slide, plan, tmp, cfg, tiles.views)
    _write_qc(slide, plan, tmp, tiles)
    files = {
        path.relative_to(tmp).as_posix(): _sha256(path) for path in sorted(tmp.rglob("*")) if path.is_file()
    }
    description = slide.properties.get("tiff.ImageDescription", "")
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "complete": True,
        "slide_id": info.slide_id,
        "source": source,
        "slide": info.to_dict(),
        "mpp_source": info.mpp_source,
        "synthetic": SYNTHETIC_MARK in description,
        "source_bytes": source_bytes(local),
        "grid": grid.to_dict(),
        "reader": tiles.reader,
        "tile_encoding": "native-jpeg" if tiles.passthrough else f"jpeg-q{cfg.jpeg_quality}",
        "counts": {
            "grid_tiles": grid.n_tiles,
            "tiles": len(tiles.index),
            "shards": tiles.n_shards,
            "views": len(view_paths),
            "padded_tiles": int(tiles.index["padded"].sum()),
        },
        "padding": {
            "rgb": [round(float(v), 1) for v in slide.background],
            "right_px": grid.pad_right_px,
            "bottom_px": grid.pad_bottom_px,
        },
        "tissue": {
            "thumbnail_fraction": round(plan.tissue.tissue_fraction, 4),
            "thumbnail_px": list(plan.tissue.thumbnail.size),
            "background_rgb": [round(v, 1) for v in plan.tissue.background_rgb],
            "saturation_threshold": round(plan.tissue.threshold, 4),
            "dark_background": plan.tissue.dark_background,
            "min_tissue_frac": cfg.min_tissue_frac,
        },
        "views": view_paths,
        "tiling_config": cfg.model_dump(mode="json"),
        "files": files,
        "seconds": round(time.perf_counter() - start, 3),
    }
    atomic_write_json(tmp / MANIFEST_FILE, manifest)
    return manifest, tiles.n_bands


def read_roi(slide: Slide, tissue: TissueMask, box: np.ndarray, view_px: int) -> Image.Image:
    """The level-0 box (x, y, w, h) as an image whose longest side is at most ``view_px``, read at the
    coarsest level that still has ``view_px`` pixels across it (the thumbnail if none is that small)."""
    x, y, width, height = (int(v) for v in box)
    longest = max(width, height)
    downsamples = slide.info.level_downsamples
    level = max((i for i, d in enumerate(downsamples) if longest / d >= view_px), default=0)
    size = (max(1, round(width / downsamples[level])), max(1, round(height / downsamples[level])))
    if max(size) > ROI_MAX_READ_FACTOR * view_px:  # no level near the wanted scale: cut the thumbnail
        sx, sy = tissue.scale
        crop = tissue.thumbnail.crop(
            (round(x / sx), round(y / sy), round((x + width) / sx), round((y + height) / sy))
        )
        return fit_within(crop, view_px)
    return fit_within(Image.fromarray(slide.read_region((x, y), level, size)), view_px)


def _make_readable(folder: Path) -> None:
    """Temp files/folders are created private (0600/0700); outputs are shared (pipelines, DVC)."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- reading pixels back ---------------------------------------------------------------------


def tile_pixels(slide: Path | str | Slide, row: Mapping[str, Any]) -> np.ndarray:
    """The exact RGB pixels the tiler encoded for an index row (before JPEG), read afresh from the slide."""
    if not isinstance(slide, Slide):
        with open_slide(slide) as handle:
            return tile_pixels(handle, row)
    level, read_px = int(row["level"]), int(row["read_px"])
    downsample = slide.info.level_downsamples[level]
    x, y = round(int(row["x"]) / downsample), round(int(row["y"]) / downsample)
    reader = region_reader(slide, level, probe=(x, y, read_px, read_px))
    try:
        return to_tile(reader.read(x, y, read_px, read_px), int(row["size_px"]))
    finally:
        reader.close()
