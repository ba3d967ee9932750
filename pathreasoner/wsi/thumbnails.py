"""Slide thumbnails with OpenSlide's exact pixels, decoded faster.

``Slide.thumbnail`` (OpenSlide ``get_thumbnail``) reads the best pyramid level for the downsample
through ``read_region`` and shrinks it with Lanczos. ``fast_thumbnail`` reads the same level with the
direct TIFF tile decoder when that decoder reproduces OpenSlide's pixels (checked on a probe region
at the level's centre) and shrinks it the same way: the same image, about twice as fast on a small
single-level slide. Any other slide is read by OpenSlide as before.
"""

from __future__ import annotations

import logging

from PIL import Image

from pathreasoner.errors import SlideReadError
from pathreasoner.wsi.reader import Slide
from pathreasoner.wsi.regions import TiffTileRegions, region_reader

log = logging.getLogger(__name__)

PROBE_PX = 512  # side of the centre region on which the direct decoder is checked against OpenSlide
# a level larger than this is never read whole (a non-pyramidal 100k x 100k slide would need 30 GB):
# the thumbnail is then built strip by strip, box-reduced, in bounded memory
MAX_WHOLE_LEVEL_PX = 64 * 2**20
STRIP_BYTES = 64 * 2**20  # memory of one strip read for the bounded thumbnail


def fits_whole(slide: Slide, level: int) -> bool:
    """Whether ``level`` is small enough to read whole for a thumbnail (else: `bounded_thumbnail`)."""
    width, height = slide.info.level_dimensions[level]
    return width * height <= MAX_WHOLE_LEVEL_PX


def fast_thumbnail(slide: Slide, max_px: int) -> Image.Image:
    """RGB thumbnail whose longest side is at most ``max_px``: the same pixels as ``slide.thumbnail``."""
    level = slide.thumbnail_level(max_px)
    if not fits_whole(slide, level):
        return bounded_thumbnail(slide, level, max_px)
    width, height = slide.info.level_dimensions[level]
    probe_w, probe_h = min(width, PROBE_PX), min(height, PROBE_PX)
    probe = ((width - probe_w) // 2, (height - probe_h) // 2, probe_w, probe_h)
    reader = region_reader(slide, level, probe=probe)
    try:
        if reader.name != TiffTileRegions.name:
            return slide.thumbnail(max_px)
        strip_px = getattr(reader, "tile_h", PROBE_PX)
        image = Image.new("RGB", (width, height))  # filled one strip of native tiles at a time
        for y in range(0, height, strip_px):
            image.paste(Image.fromarray(reader.read(0, y, width, min(strip_px, height - y))), (0, y))
    except SlideReadError as exc:  # e.g. a missing native tile, which OpenSlide shows as background
        log.info("%s: direct thumbnail read failed (%s); reading through OpenSlide", slide.file, exc)
        return slide.thumbnail(max_px)
    finally:
        reader.close()
    image.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)  # as OpenSlide's get_thumbnail
    profile = getattr(slide.handle, "_profile", None)  # OpenSlide attaches the slide's ICC profile
    if profile is not None:
        image.info["icc_profile"] = profile
    return image


def bounded_thumbnail(slide: Slide, level: int, max_px: int) -> Image.Image:
    """The thumbnail of a level too large to hold: strips of whole rows are read (OpenSlide, or the
    direct decoder where it matches), box-reduced by the integer factor that keeps at least ``max_px``,
    stacked, then shrunk to size with Lanczos. Close to OpenSlide's thumbnail (the same area average
    before the final resize), with memory bounded by ``STRIP_BYTES``."""
    width, height = slide.info.level_dimensions[level]
    factor = max(1, int(max(width, height) / max_px))
    rows = max(factor, (STRIP_BYTES // (width * 3)) // factor * factor)  # a multiple of the factor
    reader = region_reader(slide, level, probe=(0, 0, min(width, PROBE_PX), min(height, PROBE_PX)))
    reduced = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    try:
        for y in range(0, height, rows):
            strip = Image.fromarray(reader.read(0, y, width, min(rows, height - y)))
            reduced.paste(strip.reduce(factor), (0, y // factor))
    finally:
        reader.close()
    log.info(
        "%s: level %d (%dx%d px) is too large to read whole; thumbnail built from %d-row strips",
        slide.file,
        level,
        width,
        height,
        rows,
    )
    reduced.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    return reduced


class FastThumbnailSlide:
    """A ``Slide`` whose ``thumbnail`` is ``fast_thumbnail`` (everything else is the slide's own), to
    hand to ``detect_tissue``."""

    def __init__(self, slide: Slide) -> None:
        self._slide = slide

    def thumbnail(self, max_px: int) -> Image.Image:
        return fast_thumbnail(self._slide, max_px)

    def __getattr__(self, name: str) -> object:
        return getattr(self._slide, name)
