"""tile-slides: slides → per-slide tile index, JPEG tile shards, views, QC overlay and manifest.

Per slide the output folder is written under a temporary name and renamed when complete, so a
folder with a ``manifest.json`` is always whole; a re-run skips such slides (resume). Bad slides
(unreadable, no tissue) are recorded in the summary's ``quarantine`` list and the run goes on.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
import json
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from pathreasoner.config import TilingConfig
from pathreasoner.errors import EmptyTissueError, PathReasonerError, SlideReadError
from pathreasoner.io_utils import atomic_dir, atomic_write_json
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
MANIFEST_VERSION = 1
RUNTIME_KEYS = frozenset({"workers", "s3_cache_dir", "s3_cache_max_bytes"})  # do not change the outputs
MAX_EXIT_CODE = 100  # exit status = number quarantined, capped (shells keep 8 bits; >125 is special)
MASK_MIN_PX_PER_TILE = 4  # the tissue mask is read large enough for a tile to span this many pixels
MASK_MAX_PX = 4096
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
    ``cfg.workers > 1`` tiles slides in parallel processes. ``s3://bucket/key`` items (a DICOM slide:
    ``s3://bucket/folder/``) are fetched into the S3 cache (``cfg.s3_cache_dir``) when they need tiling.
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

    if cfg.workers > 1 and len(jobs) > 1:
        with concurrent.futures.ProcessPoolExecutor(
            min(cfg.workers, len(jobs)), mp_context=_pool_context(), initializer=_one_thread_per_worker
        ) as pool:
            futures = {pool.submit(tile_slide, slide, out_dir, cfg): (pos, slide) for pos, slide in jobs}
            for future in concurrent.futures.as_completed(futures):
                position, slide = futures[future]
                exc = future.exception()
                finish(position, slide, None if exc else future.result(), exc)
    else:
        for position, slide in jobs:
            try:
                result = tile_slide(slide, out_dir, cfg)
            except Exception as exc:  # one bad slide must not stop the run; quarantined below
                finish(position, slide, None, exc)
            else:
                finish(position, slide, result, None)

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


def tile_slide(slide: Path | str, out_dir: Path, cfg: TilingConfig) -> SlideTilingResult:
    """Tile one slide into ``out_dir/<slide_id>/``; a complete folder with the same config is kept.

    An ``s3://`` slide is checked against the finished folder by its object size before any download,
    then fetched into the S3 cache; the manifest names the URI as the slide's ``source``.
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
            manifest = _write_slide(handle, plan, tmp, cfg, start, str(slide), source_bytes(local))
            _make_readable(tmp)
    log.info(
        "%s: %d tiles (of %d grid tiles) at %.3f µm/px, level %d, %.1f s",
        slide_id,
        manifest["counts"]["tiles"],
        plan.grid.n_tiles,
        plan.grid.mpp,
        plan.grid.level,
        manifest["seconds"],
    )
    return _result(slide, slide_dir, manifest, time.perf_counter() - start, resumed=False)


def source_bytes(slide: Path) -> int:
    """Size of a slide's data on disk (DICOM: all .dcm files of its folder); 0 if it is missing."""
    try:
        file, _ = resolve_slide_path(slide)
    except SlideReadError:
        return 0
    files = sorted(file.parent.glob("*.dcm")) if file.suffix.lower() == ".dcm" else [file]
    return sum(f.stat().st_size for f in files)


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
    slide: Path | str, slide_dir: Path, manifest: dict[str, Any], seconds: float, resumed: bool
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
    tissue = detect_tissue(
        slide, mask_size_px(slide, grid, cfg), remove_pen=cfg.remove_pen, background=cfg.tissue_background
    )
    level_x, level_y = grid.level_coords()
    x0, y0 = grid.to_level0(level_x), grid.to_level0(level_y)
    fraction = tile_tissue_fraction(tissue, x0, y0, grid.size0)
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


def _runs(keep: np.ndarray, cols: int) -> Iterator[np.ndarray]:
    """Split row-major tile indices into runs of horizontally adjacent tiles in one grid row."""
    breaks = np.flatnonzero((np.diff(keep) != 1) | (np.diff(keep // cols) != 0)) + 1
    yield from np.split(keep, breaks)


def _to_tile(pixels: np.ndarray, tile_px: int) -> np.ndarray:
    if pixels.shape[0] == tile_px and pixels.shape[1] == tile_px:
        return pixels
    resized = Image.fromarray(pixels).resize((tile_px, tile_px), Image.Resampling.LANCZOS)
    return np.asarray(resized)


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
        decoded = _decode_jpeg(data)
    except OSError:  # e.g. RGB-coded JPEG that needs the TIFF's colour-space tag
        return False
    return np.array_equal(decoded, reader.read(x, y, grid.read_px, grid.read_px))


def _decode_jpeg(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _encoded_tiles(
    reader: RegionReader, plan: _Plan, cfg: TilingConfig, passthrough: bool, want_pixels: set[int]
) -> Iterator[tuple[int, bytes, np.ndarray | None]]:
    """(grid index, JPEG bytes, pixels if in ``want_pixels``) for every kept tile, row-major.

    Pass-through copies the native JPEG tiles (no decode, no generation loss); otherwise each run of
    adjacent tiles is read as one band (native tiles decoded once), cut, resized if needed, encoded.
    """
    grid = plan.grid
    if passthrough:
        native_jpeg = reader.native_jpeg  # type: ignore[attr-defined]
        for index in plan.keep.tolist():
            x, y = int(plan.level_x[index]), int(plan.level_y[index])
            data = native_jpeg(x, y, grid.read_px)
            if data is None:  # cannot happen on an aligned grid; stay correct regardless
                data = jpeg_bytes(reader.read(x, y, grid.read_px, grid.read_px), cfg.jpeg_quality)
            yield index, data, _decode_jpeg(data) if index in want_pixels else None
        return
    for run in _runs(plan.keep, grid.cols):
        run_x, run_y = int(plan.level_x[run[0]]), int(plan.level_y[run[0]])
        width = int(plan.level_x[run[-1]]) - run_x + grid.read_px
        band = reader.read(run_x, run_y, width, grid.read_px)
        for index in run.tolist():
            offset_x = int(plan.level_x[index]) - run_x
            pixels = _to_tile(band[:, offset_x : offset_x + grid.read_px], grid.tile_px)
            yield index, jpeg_bytes(pixels, cfg.jpeg_quality), pixels if index in want_pixels else None


def _write_slide(
    slide: Slide, plan: _Plan, tmp: Path, cfg: TilingConfig, start: float, source: str, size_bytes: int
) -> dict[str, Any]:
    info, grid = slide.info, plan.grid
    first = int(plan.keep[0])
    reader = region_reader(
        slide,
        grid.level,
        probe=(int(plan.level_x[first]), int(plan.level_y[first]), grid.read_px, grid.read_px),
    )
    view_rank = {int(plan.keep[i]): rank for rank, i in enumerate(plan.views)}
    view_tiles: dict[int, Image.Image] = {}
    records: list[dict[str, Any]] = []
    passthrough = _can_pass_through(reader, plan)
    writer = ShardWriter(tmp, cfg.shard_max_tiles)
    try:
        for index, data, pixels in _encoded_tiles(reader, plan, cfg, passthrough, set(view_rank)):
            x, y = (int(v) for v in grid.to_level0(np.array([plan.level_x[index], plan.level_y[index]])))
            shard, offset, length = writer.add(f"x{x:07d}_y{y:07d}", data)
            records.append(
                {
                    "x": x,
                    "y": y,
                    "level": grid.level,
                    "size_px": grid.tile_px,
                    "read_px": grid.read_px,
                    "mpp": grid.mpp,
                    "tissue_frac": float(plan.fraction[index]),
                    "shard": shard,
                    "offset": offset,
                    "length": length,
                }
            )
            if pixels is not None:
                view_tiles[view_rank[index]] = Image.fromarray(pixels)
    finally:
        writer.close()
        reader.close()
    pd.DataFrame.from_records(records).to_parquet(tmp / INDEX_FILE, index=False)

    views_dir = tmp / "views"
    views_dir.mkdir()
    view_paths = ["views/thumbnail.jpg"]
    (tmp / view_paths[0]).write_bytes(
        jpeg_bytes(fit_within(plan.tissue.thumbnail, cfg.view_px), cfg.jpeg_quality)
    )
    for rank, box in enumerate(plan.rois):
        name = f"views/roi_{rank:02d}.jpg"
        (tmp / name).write_bytes(jpeg_bytes(read_roi(slide, plan.tissue, box, cfg.view_px), cfg.jpeg_quality))
        view_paths.append(name)
    for rank in sorted(view_tiles):
        name = f"views/tile_{rank:02d}.jpg"
        (tmp / name).write_bytes(jpeg_bytes(fit_within(view_tiles[rank], cfg.view_px), cfg.jpeg_quality))
        view_paths.append(name)
    (tmp / "views.json").write_text(json.dumps(view_paths, indent=2) + "\n")

    kept_xy = np.column_stack(
        [grid.to_level0(plan.level_x[plan.keep]), grid.to_level0(plan.level_y[plan.keep])]
    )
    caption = (
        f"{info.slide_id}: {len(records):,} tiles of {grid.tile_px} px at {grid.mpp:.3g} um/px "
        f"(level {grid.level}, {reader.name}{', native JPEG' if passthrough else ''}); "
        f"tissue {plan.tissue.tissue_fraction:.0%}"
    )
    qc = draw_qc(plan.tissue, kept_xy, kept_xy[plan.views], grid.size0, caption, plan.rois)
    buffer = io.BytesIO()
    qc.save(buffer, format="PNG", compress_level=1)  # fast; QC pictures are looked at, not archived
    (tmp / "qc.png").write_bytes(buffer.getvalue())

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
        "source_bytes": size_bytes,
        "grid": grid.to_dict(),
        "reader": reader.name,
        "tile_encoding": "native-jpeg" if passthrough else f"jpeg-q{cfg.jpeg_quality}",
        "counts": {
            "grid_tiles": grid.n_tiles,
            "tiles": len(records),
            "shards": len(writer.shards),
            "views": len(view_paths),
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
    return manifest


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
        return _to_tile(reader.read(x, y, read_px, read_px), int(row["size_px"]))
    finally:
        reader.close()
