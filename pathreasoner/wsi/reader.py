"""Open a whole-slide image with OpenSlide and describe it (levels, MPP and where the MPP came from).

A DICOM slide is a folder of .dcm files (one per level); pass the folder or any one file of it. A
multi-file slide (MIRAX, Hamamatsu VMS/VMU, Trestle) may be passed as its file or as a folder holding it.
Every OpenSlide failure is turned into a ``SlideReadError`` that names the file, the reason and a fix.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openslide
from PIL import Image

from pathreasoner.errors import SlideReadError

log = logging.getLogger(__name__)

# the file OpenSlide opens for a slide passed as its folder (besides DICOM's .dcm)
FOLDER_SLIDE_SUFFIXES = frozenset(
    {".mrxs", ".vms", ".vmu", ".svs", ".ndpi", ".tif", ".tiff", ".scn", ".bif", ".svslide"}
)
MPP_SOURCES = ("openslide.mpp", "tiff-resolution", "objective-power", "default")
PLAUSIBLE_MPP = (0.01, 100.0)  # µm/px; outside this range a resolution tag is a placeholder (e.g. 72 dpi)
_UM_PER_UNIT = {"centimeter": 1e4, "inch": 25400.0, "millimeter": 1e3, "micrometer": 1.0}


@dataclass(frozen=True)
class SlideInfo:
    """What the tiler needs to know about a slide; ``mpp`` is level 0's µm per pixel."""

    slide_id: str
    path: str
    vendor: str
    dimensions: tuple[int, int]
    level_count: int
    level_dimensions: tuple[tuple[int, int], ...]
    level_downsamples: tuple[float, ...]
    mpp: float
    mpp_source: str

    @property
    def level_mpps(self) -> tuple[float, ...]:
        return tuple(self.mpp * d for d in self.level_downsamples)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["level_mpps"] = list(self.level_mpps)
        return out


def resolve_slide_path(path: Path | str) -> tuple[Path, str]:
    """Return (file OpenSlide should open, slide_id). DICOM: a folder or any .dcm → id = folder name."""
    path = Path(path)
    if not path.exists():
        raise SlideReadError(f"slide {path} does not exist; check the path (or the slides list)")
    if path.is_dir():
        dcm = sorted(path.glob("*.dcm"))
        if dcm:
            return dcm[0], path.name
        main = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FOLDER_SLIDE_SUFFIXES)
        if len(main) == 1:  # a multi-file slide's folder (MIRAX .mrxs, Hamamatsu .vms/.vmu, Trestle .tif)
            return main[0], main[0].stem
        found = ", ".join(p.name for p in main) or "none"
        raise SlideReadError(
            f"slide {path} is a folder, but not a DICOM slide (no .dcm) nor the folder of one multi-file slide "
            f"(slide files in it: {found}); pass the slide file itself (e.g. the .mrxs or .vms)"
        )
    if path.suffix.lower() == ".dcm":
        return path, path.parent.name
    return path, path.stem


def mpp_from_properties(props: dict[str, str], default_mpp: float) -> tuple[float, str]:
    """Level-0 µm/px and its source: openslide.mpp-x → TIFF resolution tags → objective power → default.

    Values outside a plausible microscopy range (``PLAUSIBLE_MPP``) are skipped: a 72 dpi resolution tag
    is an image editor's placeholder, not a scan resolution.
    """
    candidates: list[tuple[float | None, str]] = [
        (_number(props.get("openslide.mpp-x")), "openslide.mpp"),
        (_tiff_resolution_mpp(props), "tiff-resolution"),
    ]
    power = _number(props.get("openslide.objective-power"))
    candidates.append((10.0 / power if power else None, "objective-power"))
    for value, source in candidates:
        if value is None:
            continue
        if PLAUSIBLE_MPP[0] <= value <= PLAUSIBLE_MPP[1]:
            return value, source
        log.warning("ignoring implausible MPP %.4g µm/px from %s", value, source)
    return float(default_mpp), "default"


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


def _tiff_resolution_mpp(props: dict[str, str]) -> float | None:
    resolution = _number(props.get("tiff.XResolution"))
    unit = _UM_PER_UNIT.get(str(props.get("tiff.ResolutionUnit", "")).lower())
    return unit / resolution if resolution and unit else None


class Slide:
    """An open slide: ``info`` plus region/thumbnail reads that raise ``SlideReadError`` on failure."""

    def __init__(self, path: Path | str, default_mpp: float = 0.5) -> None:
        self.source = Path(path)
        self.file, slide_id = resolve_slide_path(path)
        self.handle = _open(self.file)
        try:
            props = dict(self.handle.properties)
            mpp, source = mpp_from_properties(props, default_mpp)
            self.info = SlideInfo(
                slide_id=slide_id,
                path=str(self.source),
                vendor=props.get("openslide.vendor", "unknown"),
                dimensions=tuple(self.handle.dimensions),
                level_count=self.handle.level_count,
                level_dimensions=tuple(tuple(d) for d in self.handle.level_dimensions),
                level_downsamples=tuple(float(d) for d in self.handle.level_downsamples),
                mpp=float(mpp),
                mpp_source=source,
            )
        except openslide.OpenSlideError as exc:
            self.close()
            raise _read_error(self.file, exc) from None
        if min(self.info.dimensions) < 1:
            self.close()
            raise SlideReadError(
                f"slide {self.file} has empty dimensions {self.info.dimensions}; re-export it"
            )

    @property
    def properties(self) -> dict[str, str]:
        return dict(self.handle.properties)

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """RGB uint8 pixels of ``size`` at ``level``; ``location`` is in level-0 pixels. Pixels outside the
        scanned area (transparent in OpenSlide: Leica/Ventana margins, MIRAX/VMS gaps) are the slide's
        background colour, as in the thumbnail, not black."""
        try:
            region = self.handle.read_region(location, level, size)
        except openslide.OpenSlideError as exc:
            raise _read_error(self.file, exc) from None
        rgba = np.asarray(region)
        alpha = rgba[..., 3]
        if alpha.min() == 255:
            return np.ascontiguousarray(rgba[..., :3])
        weight = alpha[..., None].astype(np.float32) / 255.0
        blended = rgba[..., :3] * weight + self.background * (1.0 - weight)
        return np.rint(blended).astype(np.uint8)

    @property
    def background(self) -> np.ndarray:
        """The slide's background colour (``openslide.background-color``, white when absent) as RGB."""
        hex_colour = self.handle.properties.get("openslide.background-color", "ffffff")
        try:
            return np.array([int(hex_colour[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float32)
        except ValueError:
            return np.full(3, 255, dtype=np.float32)

    def thumbnail_level(self, max_px: int) -> int:
        """The pyramid level OpenSlide's ``get_thumbnail`` reads for a thumbnail of ``max_px``."""
        downsample = max(side / max_px for side in self.info.dimensions)
        return self.handle.get_best_level_for_downsample(downsample)

    def thumbnail(self, max_px: int) -> Image.Image:
        """RGB thumbnail whose longest side is at most ``max_px`` (OpenSlide's; from bounded strips when
        the level it would read is too large to hold, see ``pathreasoner.wsi.thumbnails``)."""
        from pathreasoner.wsi import thumbnails

        try:
            level = self.thumbnail_level(max_px)
            if not thumbnails.fits_whole(self, level):
                return thumbnails.bounded_thumbnail(self, level, max_px)
            return self.handle.get_thumbnail((max_px, max_px)).convert("RGB")
        except openslide.OpenSlideError as exc:
            raise _read_error(self.file, exc) from None

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_slide(path: Path | str, default_mpp: float = 0.5) -> Slide:
    """Open a slide (file, DICOM folder or .dcm file); raises ``SlideReadError`` if it cannot be read."""
    return Slide(path, default_mpp)


def read_slide_info(path: Path | str, default_mpp: float = 0.5) -> SlideInfo:
    with open_slide(path, default_mpp) as slide:
        return slide.info


def _open(file: Path) -> openslide.OpenSlide:
    if file.stat().st_size == 0:
        raise SlideReadError(f"slide {file} is an empty file (0 bytes); re-copy it from the source")
    try:
        return openslide.OpenSlide(file)
    except openslide.OpenSlideUnsupportedFormatError:
        kind = _container_kind(file)
        if kind:
            raise SlideReadError(
                f"slide {file} starts like a {kind} file but OpenSlide cannot read its structure "
                f"({file.stat().st_size:,} bytes): it is probably truncated or corrupt, or a plain "
                f"(non-pyramidal) {kind}; re-copy it from the source (compare size/checksum) or "
                "re-export it as a tiled pyramidal TIFF"
            ) from None
        raise SlideReadError(
            f"slide {file} is not a whole-slide image OpenSlide can read (format not recognised); "
            "pass a slide file (.svs, .ndpi, .tiff, .mrxs, .scn, .bif, DICOM folder) or re-export it "
            "as a tiled pyramidal TIFF"
        ) from None
    except openslide.OpenSlideError as exc:
        raise _read_error(file, exc) from None
    except OSError as exc:
        raise SlideReadError(f"slide {file} cannot be opened: {exc}; check the file permissions") from None


def _container_kind(file: Path) -> str | None:
    """'TIFF' or 'DICOM' when the file's magic bytes say so, else None."""
    with open(file, "rb") as handle:
        head = handle.read(132)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[128:132] == b"DICM":
        return "DICOM"
    return None


def _read_error(file: Path, exc: Exception) -> SlideReadError:
    return SlideReadError(
        f"slide {file} cannot be read: {exc}; the file is probably truncated or corrupt — "
        "re-copy it from the source (compare its size/checksum) or re-export it"
    )
