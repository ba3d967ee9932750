"""Pixel readers for rectangular regions of one pyramid level.

Two readers give the same pixels: ``TiffTileRegions`` decodes the TIFF's native tiles directly with
tifffile/imagecodecs (libjpeg-turbo, JPEG-2000...) once each and cuts regions from them; it is several
times faster than ``OpenSlideRegions``, which calls ``read_region``. ``region_reader`` only uses the
TIFF path after checking that it decodes a probe region bit-identically to OpenSlide; any other slide
(DICOM, MRXS, odd TIFF layouts) is read through OpenSlide.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import numpy as np
import tifffile

from pathreasoner.errors import SlideReadError
from pathreasoner.wsi.reader import Slide

log = logging.getLogger(__name__)

TILE_CACHE_BYTES = 96 * 2**20  # decoded native tiles kept for neighbouring reads
JPEG_COMPRESSION = 7  # TIFF Compression tag value of (new-style) JPEG


class RegionReader(Protocol):
    name: str

    def read(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        """RGB uint8 (height, width, 3) at the reader's level; x, y in that level's pixels."""
        ...

    def close(self) -> None: ...


class OpenSlideRegions:
    """Regions through ``openslide.read_region`` (level-0 location = round(level xy * downsample))."""

    name = "openslide"

    def __init__(self, slide: Slide, level: int) -> None:
        self.slide, self.level = slide, level
        self.downsample = slide.info.level_downsamples[level]

    def read(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        location = (round(x * self.downsample), round(y * self.downsample))
        return self.slide.read_region(location, self.level, (width, height))

    def close(self) -> None:
        """Nothing to release: the slide handle belongs to the caller."""


# OpenSlide places these vendors' tiles itself (overlaps, position buffers, joint offsets)
STITCHED_VENDORS = frozenset({"trestle", "ventana", "mirax", "hamamatsu", "leica"})


class TiffTileRegions:
    """Regions cut from a TIFF page's decoded native tiles (each decoded once, LRU-cached)."""

    name = "tifffile"

    def __init__(self, file: Path, page_index: int, fill: np.ndarray | None = None) -> None:
        self.file = file
        self.fill = np.full(3, 255, dtype=np.uint8) if fill is None else np.rint(fill).astype(np.uint8)
        self._tif = tifffile.TiffFile(file)
        self.page = self._tif.pages[page_index]
        self.tile_h, self.tile_w = self.page.tilelength, self.page.tilewidth
        self.height, self.width = self.page.shape[:2]
        self.tiles_across = -(-self.width // self.tile_w)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_max = max(4, TILE_CACHE_BYTES // (self.tile_h * self.tile_w * 3))

    @classmethod
    def for_level(cls, slide: Slide, level: int) -> TiffTileRegions | None:
        """The reader for ``level`` of ``slide`` if it is a tiled RGB uint8 TIFF page, else None. Vendors
        whose stored tiles overlap or are stitched by OpenSlide are never read directly: a probe window
        inside one tile could match while the seams elsewhere would not."""
        if slide.info.vendor in STITCHED_VENDORS:
            return None
        width, height = slide.info.level_dimensions[level]
        try:
            with tifffile.TiffFile(slide.file) as tif:
                for index, page in enumerate(tif.pages):
                    if (
                        page.is_tiled
                        and page.shape[:2] == (height, width)
                        and page.samplesperpixel == 3
                        and page.planarconfig == 1
                        and page.dtype == np.uint8
                        and page.imagedepth == 1
                    ):
                        return cls(slide.file, index, slide.background)
        except (tifffile.TiffFileError, OSError, ValueError, KeyError, IndexError):
            return None
        return None

    def _tile(self, index: int) -> np.ndarray:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        handle = self._tif.filehandle
        try:
            handle.seek(self.page.dataoffsets[index])
            data = handle.read(self.page.databytecounts[index])
            segment, _, _ = self.page.decode(data, index, jpegtables=self.page.jpegtables)
        except Exception as exc:  # imagecodecs raises its own error classes per codec
            raise SlideReadError(
                f"slide {self.file}: native tile {index} cannot be decoded ({exc}); the file is probably "
                "truncated or corrupt — re-copy it from the source or re-export it"
            ) from None
        if segment is None:  # tile missing from the file (sparse TIFF): OpenSlide shows it transparent
            raise SlideReadError(f"slide {self.file}: native tile {index} has no data; re-export the slide")
        tile = segment[0]
        self._cache[index] = tile
        if len(self._cache) > self._cache_max:
            self._cache.popitem(last=False)
        return tile

    def native_jpeg(self, x: int, y: int, size: int) -> bytes | None:
        """The stored JPEG stream of the native tile at (x, y) if the square (x, y, size) is exactly
        one JPEG tile of the page (shared JPEGTables merged in), else None."""
        if (
            self.page.compression != JPEG_COMPRESSION
            or size != self.tile_w
            or size != self.tile_h
            or x % self.tile_w
            or y % self.tile_h
            or x + size > self.width
            or y + size > self.height
        ):
            return None
        index = (y // self.tile_h) * self.tiles_across + x // self.tile_w
        handle = self._tif.filehandle
        handle.seek(self.page.dataoffsets[index])
        data = handle.read(self.page.databytecounts[index])
        tables = self.page.jpegtables
        if tables:  # abbreviated stream: splice the tables in (tables SOI..EOI, tile SOI..EOI)
            data = bytes(tables[:-2]) + data[2:]
        return data

    def read(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        """Pixels past the right or bottom edge are the slide's background colour (as OpenSlide's)."""
        if x < 0 or y < 0 or x >= self.width or y >= self.height:
            raise ValueError(
                f"region {x},{y} {width}x{height} is outside the level ({self.width}x{self.height})"
            )
        out = np.empty((height, width, 3), dtype=np.uint8)
        inside_w, inside_h = min(width, self.width - x), min(height, self.height - y)
        if inside_w < width or inside_h < height:
            out[:] = self.fill
        for row in range(y // self.tile_h, (y + inside_h - 1) // self.tile_h + 1):
            for col in range(x // self.tile_w, (x + inside_w - 1) // self.tile_w + 1):
                tile = self._tile(row * self.tiles_across + col)
                tx, ty = col * self.tile_w, row * self.tile_h
                x0, x1 = max(x, tx), min(x + inside_w, tx + self.tile_w)
                y0, y1 = max(y, ty), min(y + inside_h, ty + self.tile_h)
                out[y0 - y : y1 - y, x0 - x : x1 - x] = tile[y0 - ty : y1 - ty, x0 - tx : x1 - tx, :3]
        return out

    def close(self) -> None:
        self._tif.close()


def region_reader(slide: Slide, level: int, probe: tuple[int, int, int, int] | None = None) -> RegionReader:
    """The fastest reader that reproduces OpenSlide's pixels for ``probe`` = (x, y, w, h) at ``level``."""
    openslide_reader = OpenSlideRegions(slide, level)
    tiff = TiffTileRegions.for_level(slide, level)
    if tiff is None or probe is None:
        return openslide_reader
    try:
        reference = openslide_reader.read(*probe)
    except SlideReadError:
        tiff.close()
        raise
    try:
        same = np.array_equal(tiff.read(*probe), reference)
    except Exception as exc:  # any decode problem: OpenSlide is the reference reader
        log.info("%s: direct TIFF decoding failed (%s); reading through OpenSlide", slide.file, exc)
        tiff.close()
        return openslide_reader
    if not same:
        log.info("%s: direct TIFF decoding differs from OpenSlide; reading through OpenSlide", slide.file)
        tiff.close()
        return openslide_reader
    return tiff
