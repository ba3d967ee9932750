"""Tile encoding, and the row bands that let several worker processes encode one large slide.

``encoded_tiles`` turns a slide's kept grid tiles into JPEG bytes in row-major order. A slide with more
candidate (grid) tiles than ``tiling.band_tiles`` is split by ``plan_bands`` into bands of whole grid
rows; ``banded_tiles`` has the workers of a process pool encode one band each (``encode_band``) and
yields the tiles in band order, so whoever writes them (the tiler's parent process) produces the same
bytes as one process would. At most ``BANDS_IN_FLIGHT_PER_WORKER`` bands per worker are queued, running
or waiting to be written, which bounds memory to a few bands' JPEG bytes; no level is read whole.
"""

from __future__ import annotations

import collections
import concurrent.futures
import io
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pathreasoner.errors import SlideReadError
from pathreasoner.wsi.grid import TileGrid
from pathreasoner.wsi.reader import Slide, open_slide
from pathreasoner.wsi.regions import OpenSlideRegions, RegionReader, TiffTileRegions
from pathreasoner.wsi.views import jpeg_bytes

BAND_MAX_TILES = 1024  # kept tiles per band at most (~25 MB of 224-px JPEG q90): bounds memory
BANDS_PER_WORKER = 4  # smaller bands when a slide has few tiles, so that every worker gets several
BANDS_IN_FLIGHT_PER_WORKER = 2  # bands submitted but not yet written, per worker

EncodedTile = tuple[int, bytes, np.ndarray | None]  # grid index, JPEG bytes, pixels if asked for


def runs(keep: np.ndarray, cols: int) -> Iterator[np.ndarray]:
    """Split row-major tile indices into runs of horizontally adjacent tiles in one grid row."""
    breaks = np.flatnonzero((np.diff(keep) != 1) | (np.diff(keep // cols) != 0)) + 1
    yield from np.split(keep, breaks)


def to_tile(pixels: np.ndarray, tile_px: int) -> np.ndarray:
    """``read_px`` pixels resized (Lanczos) to the stored ``tile_px`` when they differ."""
    if pixels.shape[0] == tile_px and pixels.shape[1] == tile_px:
        return pixels
    resized = Image.fromarray(pixels).resize((tile_px, tile_px), Image.Resampling.LANCZOS)
    return np.asarray(resized)


def decode_jpeg(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def level_xy(grid: TileGrid, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners (level px) of the grid tiles ``indices`` (same values as ``grid.level_coords``)."""
    rows, cols = np.divmod(np.asarray(indices, dtype=np.int64), max(grid.cols, 1))
    return cols * grid.stride_px, rows * grid.stride_px


def encoded_tiles(
    reader: RegionReader,
    grid: TileGrid,
    keep: np.ndarray,
    jpeg_quality: int,
    passthrough: bool,
    want_pixels: set[int] | frozenset[int],
) -> Iterator[EncodedTile]:
    """(grid index, JPEG bytes, pixels if in ``want_pixels``) for every tile of ``keep``, in its order.

    Pass-through copies the native JPEG tiles (no decode, no generation loss); otherwise each run of
    adjacent tiles is read as one strip (native tiles decoded once), cut, resized if needed, encoded.
    """
    xs, ys = level_xy(grid, keep)
    if passthrough:
        native_jpeg = reader.native_jpeg  # type: ignore[attr-defined]
        for index, x, y in zip(keep.tolist(), xs.tolist(), ys.tolist(), strict=True):
            data = native_jpeg(x, y, grid.read_px)
            if data is None:  # cannot happen on an aligned grid; stay correct regardless
                data = jpeg_bytes(reader.read(x, y, grid.read_px, grid.read_px), jpeg_quality)
            yield index, data, decode_jpeg(data) if index in want_pixels else None
        return
    corner = dict(zip(keep.tolist(), zip(xs.tolist(), ys.tolist(), strict=True), strict=True))
    for run in runs(keep, grid.cols):
        (run_x, run_y), (last_x, _) = corner[int(run[0])], corner[int(run[-1])]
        strip = reader.read(run_x, run_y, last_x - run_x + grid.read_px, grid.read_px)
        for index in run.tolist():
            offset_x = corner[index][0] - run_x
            pixels = to_tile(strip[:, offset_x : offset_x + grid.read_px], grid.tile_px)
            yield index, jpeg_bytes(pixels, jpeg_quality), pixels if index in want_pixels else None


# ---- bands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """One worker job: the kept tiles of consecutive grid rows of one slide, to read and JPEG-encode."""

    slide_file: str  # local path that ``open_slide`` takes (DICOM: the folder)
    default_mpp: float
    reader: str  # "tifffile" or "openslide": what the parent chose after checking it against OpenSlide
    grid: TileGrid
    keep: np.ndarray  # row-major grid indices
    want_pixels: frozenset[int]  # grid indices whose pixels the parent needs (view tiles)
    jpeg_quality: int


def plan_bands(keep: np.ndarray, cols: int, workers: int) -> list[np.ndarray]:
    """Split the kept (row-major) tile indices into bands of whole grid rows, in order.

    A band closes at the first row end where it holds at least ``min(BAND_MAX_TILES, n / (BANDS_PER_WORKER
    * workers))`` tiles, so a slide gives several bands per worker and no band is much larger than that.
    """
    keep = np.asarray(keep, dtype=np.int64)
    if keep.size == 0:
        return []
    target = max(1, min(BAND_MAX_TILES, -(-keep.size // (BANDS_PER_WORKER * max(workers, 1)))))
    row_ends = np.flatnonzero(np.diff(keep // max(cols, 1)) != 0) + 1  # first tile of each next row
    cuts, start = [], 0
    for end in row_ends.tolist():
        if end - start >= target:
            cuts.append(end)
            start = end
    return np.split(keep, cuts)


def encode_band(band: Band) -> tuple[list[bytes], dict[int, np.ndarray]]:
    """Worker side: JPEG bytes of the band's tiles (in order) and the pixels of its view tiles."""
    with open_slide(band.slide_file, band.default_mpp) as slide:
        reader = _band_reader(slide, band)
        try:
            data, pixels = [], {}
            for index, blob, tile in encoded_tiles(
                reader, band.grid, band.keep, band.jpeg_quality, False, band.want_pixels
            ):
                data.append(blob)
                if tile is not None:
                    pixels[index] = tile
        finally:
            reader.close()
    return data, pixels


def _band_reader(slide: Slide, band: Band) -> RegionReader:
    if band.reader == TiffTileRegions.name:
        reader = TiffTileRegions.for_level(slide, band.grid.level)
        if reader is None:
            raise SlideReadError(
                f"slide {band.slide_file} changed while it was being tiled (level {band.grid.level} is no "
                "longer a tiled TIFF page); re-run tile-slides once the file is complete"
            )
        return reader
    return OpenSlideRegions(slide, band.grid.level)


def banded_tiles(
    pool: concurrent.futures.Executor, bands: Iterable[Band], workers: int
) -> Iterator[EncodedTile]:
    """Encode ``bands`` on ``pool`` and yield their tiles in band order (as ``encoded_tiles`` would).

    At most ``BANDS_IN_FLIGHT_PER_WORKER * workers`` bands are submitted and not yet consumed. A band
    that fails raises its error here; bands not started yet are cancelled.
    """
    pending: collections.deque[tuple[Band, concurrent.futures.Future]] = collections.deque()
    todo = iter(bands)
    try:
        for band in itertools.islice(todo, BANDS_IN_FLIGHT_PER_WORKER * max(workers, 1)):
            pending.append((band, pool.submit(encode_band, band)))
        while pending:
            band, future = pending.popleft()
            data, pixels = future.result()
            del future
            following = next(todo, None)
            if following is not None:  # keep the workers busy while this band is written
                pending.append((following, pool.submit(encode_band, following)))
            for index, blob in zip(band.keep.tolist(), data, strict=True):
                yield index, blob, pixels.get(index)
    finally:
        for _, future in pending:
            future.cancel()
