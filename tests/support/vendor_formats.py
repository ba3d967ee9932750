"""Small synthetic slides in the scanner vendors' own formats: conformance fixtures for the reader/tiler.

Each writer draws the same H&E-like picture as ``pathreasoner.wsi.synthetic`` (same seed, same
pixels), builds a 3-level pyramid (downsamples 1, 2, 4; VMU stores only 1 and 2) and stores it the way
the vendor's scanner software does (JPEG tiles, strips or images; JPEG 2000 for the Aperio variant;
one greyscale JPEG per colour channel for Sakura; uncompressed 12-bit NGR for VMU), with the MPP in the
vendor's own metadata fields, so that OpenSlide detects the vendor (``openslide.vendor``) and derives
``openslide.mpp-x`` from those fields. They exist to test ``pathreasoner.wsi.reader`` and ``pathreasoner.wsi.tiler`` on every format OpenSlide
reads without shipping real (large, licensed) vendor slides. They are not valid scanner output in
every detail: only what OpenSlide needs, plus the fields a reader would look at, is written.

Single files are written under a temporary name and renamed; multi-file formats (Hamamatsu VMS/VMU,
MIRAX, Trestle) are written into a temporary folder that is renamed as a whole, and the writer returns
the file OpenSlide opens inside it. Same arguments, same bytes. ``FORMATS`` lists every format by
OpenSlide's format name (VMU, which OpenSlide reads with the VMS code, as ``hamamatsu-vmu``);
``VENDOR_WRITERS`` maps each ``openslide.vendor`` to a writer. Formats whose tiles overlap (MIRAX camera
photos, Trestle tiles) are drawn so that overlapping pixels show the same picture, so every level still
matches the picture (JPEG-close) wherever OpenSlide puts the seams. Not written (yet): Olympus VSI.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sqlite3
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import imagecodecs
import numpy as np
import tifffile
from PIL import Image

from pathreasoner.io_utils import atomic_dir, atomic_write_bytes
from pathreasoner.wsi.synthetic import SYNTHETIC_MARK, render_level0

LEVEL_DOWNSAMPLES = (1, 2, 4)
JPEG_QUALITY = 85
XMLPACKET_TAG = 700  # TIFF XMLPacket (XMP); Ventana keeps its XML metadata here


@dataclass(frozen=True)
class Pyramid:
    """Level pixels (RGB uint8), level 0 first, each level's downsample a power of two."""

    levels: tuple[np.ndarray, ...]
    downsamples: tuple[int, ...]
    mpp: float
    seed: int

    @property
    def width(self) -> int:
        return int(self.levels[0].shape[1])

    @property
    def height(self) -> int:
        return int(self.levels[0].shape[0])

    @property
    def description(self) -> str:
        return f"{SYNTHETIC_MARK} (not patient data); seed={self.seed}; mpp={self.mpp}"


def render_pyramid(width: int, height: int, *, mpp: float, seed: int, tile: int) -> Pyramid:
    """The synthetic slide picture at downsamples 1, 2, 4 (sizes must divide by 4 * 16)."""
    if width % 64 or height % 64 or min(width, height) < 4 * tile:
        raise ValueError(
            f"vendor fixture size {width}x{height} px: both sides must be multiples of 64 and at least "
            f"4 tiles ({4 * tile} px); e.g. 2048x1536"
        )
    if tile % 16:
        raise ValueError(f"tile={tile} must be a multiple of 16 (TIFF/JPEG tiles); e.g. 256")
    if not 0.01 <= mpp <= 100:
        raise ValueError(f"mpp={mpp} µm/px is not a microscope resolution; use e.g. 0.25 or 0.5")
    level0 = render_level0(np.random.default_rng(seed), width, height, tissue=True)
    levels = [level0] + [np.asarray(Image.fromarray(level0).reduce(d)) for d in LEVEL_DOWNSAMPLES[1:]]
    return Pyramid(tuple(levels), LEVEL_DOWNSAMPLES, float(mpp), seed)


def _jpeg(pixels: np.ndarray, quality: int = JPEG_QUALITY, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality, **options)
    return buffer.getvalue()


def _thumbnail(pixels: np.ndarray, max_px: int) -> np.ndarray:
    image = Image.fromarray(pixels)
    image.thumbnail((max_px, max_px))
    return np.asarray(image)


def _label(width: int, height: int, text_seed: int) -> np.ndarray:
    """A plain label picture: white with a dark bar (a stand-in for a barcode)."""
    label = np.full((height, width, 3), 250, dtype=np.uint8)
    rng = np.random.default_rng(text_seed)
    bars = rng.integers(0, 2, size=width // 4).repeat(4)[:width].astype(bool)
    label[height // 4 : height // 2, : bars.size][:, bars] = 20
    return label


def _pad(pixels: np.ndarray, tile: int, fill: int = 255) -> np.ndarray:
    """Pad a level to whole tiles (as scanners that store only full tiles do)."""
    h, w = pixels.shape[:2]
    out = np.full((-(-h // tile) * tile, -(-w // tile) * tile, 3), fill, dtype=np.uint8)
    out[:h, :w] = pixels
    return out


def _tiff_options(tile: int, **extra: Any) -> dict[str, Any]:
    return {
        "tile": (tile, tile),
        "photometric": "rgb",
        "compression": "jpeg",
        "compressionargs": {"level": JPEG_QUALITY},
        "metadata": None,
        **extra,
    }


def _xml_packet(xml: str) -> list[tuple[int, int, int, bytes, bool]]:
    data = xml.encode("utf-8")
    return [(XMLPACKET_TAG, 1, len(data), data, True)]  # type 1 = BYTE


def _write_tiff(path: Path, pages: list[tuple[np.ndarray, dict[str, Any]]], bigtiff: bool = False) -> Path:
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer, bigtiff=bigtiff) as tif:
        for pixels, options in pages:
            tif.write(pixels, **options)
    return atomic_write_bytes(path, buffer.getvalue())


# ---- Philips TIFF ----------------------------------------------------------------------------


def _philips_attr(name: str, value: str, pmsvr: str = "IString") -> str:
    return f'<Attribute Name="{name}" PMSVR="{pmsvr}">{value}</Attribute>'


def _philips_spacing(mpp: float) -> str:
    """DICOM pixel spacing in mm, row spacing then column spacing, each quoted."""
    return f'"{mpp / 1000:.9g}" "{mpp / 1000:.9g}"'


def _philips_xml(pyr: Pyramid, label_jpeg: bytes) -> str:
    representations = "".join(
        '<DataObject ObjectType="PixelDataRepresentation">'
        + _philips_attr("DICOM_PIXEL_SPACING", _philips_spacing(pyr.mpp * d), "IDoubleArray")
        + _philips_attr("PIIM_PIXEL_DATA_REPRESENTATION_NUMBER", str(i), "IUInt16")
        + _philips_attr("PIIM_PIXEL_DATA_REPRESENTATION_COLUMNS", str(pyr.width // d), "IUInt32")
        + _philips_attr("PIIM_PIXEL_DATA_REPRESENTATION_ROWS", str(pyr.height // d), "IUInt32")
        + "</DataObject>"
        for i, d in enumerate(pyr.downsamples)
    )
    wsi = (
        '<DataObject ObjectType="DPScannedImage">'
        + _philips_attr("PIM_DP_IMAGE_TYPE", "WSI")
        + _philips_attr("DICOM_PIXEL_SPACING", _philips_spacing(pyr.mpp), "IDoubleArray")
        + _philips_attr("PIM_DP_IMAGE_COLUMNS", str(pyr.width), "IUInt32")
        + _philips_attr("PIM_DP_IMAGE_ROWS", str(pyr.height), "IUInt32")
        + _philips_attr("DICOM_DERIVATION_DESCRIPTION", escape(pyr.description))
        + f'<Attribute Name="PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE" PMSVR="IDataObjectArray"><Array>'
        f"{representations}</Array></Attribute>"
        "</DataObject>"
    )
    label = (
        '<DataObject ObjectType="DPScannedImage">'
        + _philips_attr("PIM_DP_IMAGE_TYPE", "LABELIMAGE")
        + _philips_attr("PIM_DP_IMAGE_DATA", base64.b64encode(label_jpeg).decode("ascii"), "IString")
        + "</DataObject>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<DataObject ObjectType="DPUfsImport">'
        + _philips_attr("DICOM_MANUFACTURER", "PHILIPS")
        + _philips_attr("DICOM_SOFTWARE_VERSIONS", '"pathreasoner-fixture"', "IStringArray")
        + _philips_attr("PIM_DP_UFS_BARCODE", base64.b64encode(b"PR-FIXTURE").decode("ascii"))
        + f'<Attribute Name="PIM_DP_SCANNED_IMAGES" PMSVR="IDataObjectArray"><Array>{wsi}{label}</Array>'
        "</Attribute></DataObject>"
    )


def write_philips_tiff(
    path: Path | str,
    width: int = 2048,
    height: int = 1536,
    *,
    mpp: float = 0.25,
    tile: int = 256,
    seed: int = 0,
) -> Path:
    """Philips TIFF (``openslide.vendor`` = philips): Software "Philips...", a DPUfsImport XML
    ImageDescription whose DICOM_PIXEL_SPACING (mm) per level gives the MPP and downsamples, and
    levels padded to whole tiles (OpenSlide crops them back to level-0 size / downsample)."""
    pyr = render_pyramid(width, height, mpp=mpp, seed=seed, tile=tile)
    xml = _philips_xml(pyr, _jpeg(_label(256, 128, seed)))
    pages = []
    for index, pixels in enumerate(pyr.levels):
        options = _tiff_options(tile, software="Philips DP v1.0", subfiletype=1 if index else 0)
        if index == 0:
            options["description"] = xml
        pages.append((_pad(pixels, tile), options))
    return _write_tiff(Path(path), pages)


# ---- Leica SCN -------------------------------------------------------------------------------

LEICA_XMLNS = "http://www.leica-microsystems.com/scn/2010/10/01"
LEICA_MACRO_SCALE = 16  # the macro (overview) image is 1/16 of the main image's level-0 resolution


def _leica_image(
    name: str, nm: tuple[int, int], offset: tuple[int, int], dims: list[tuple[int, int, int]], objective: str
) -> str:
    dimensions = "".join(
        f'<dimension sizeX="{w}" sizeY="{h}" r="{r}" ifd="{ifd}"/>' for r, (w, h, ifd) in enumerate(dims)
    )
    return (
        f'<image name="{name}"><creationDate>2024-01-01T00:00:00.00Z</creationDate>'
        '<device model="Leica SCN400;Leica SCN" version="1.5.1.10804 2012/05/10 13:29:07;1.5.1.10864"/>'
        f'<pixels sizeX="{dims[0][0]}" sizeY="{dims[0][1]}">{dimensions}</pixels>'
        f'<view sizeX="{nm[0]}" sizeY="{nm[1]}" offsetX="{offset[0]}" offsetY="{offset[1]}" spacingZ="0"/>'
        f"<scanSettings><objectiveSettings><objective>{objective}</objective></objectiveSettings>"
        "<illuminationSettings><numericalAperture>0.7</numericalAperture>"
        "<illuminationSource>brightfield</illuminationSource></illuminationSettings></scanSettings>"
        "</image>"
    )


def write_leica_scn(
    path: Path | str,
    width: int = 2048,
    height: int = 1536,
    *,
    mpp: float = 0.25,
    tile: int = 256,
    seed: int = 0,
    margin: int = 64,
) -> Path:
    """Leica SCN (``openslide.vendor`` = leica): a BigTIFF whose first IFD (the macro image) carries
    the ``scn`` XML; the main image is placed ``margin`` level-0 px inside the collection (the slide
    area), so OpenSlide's level 0 is (width + 2 margin) x (height + 2 margin) with a transparent border
    and ``openslide.bounds-*`` around the scanned region. MPP: TIFF resolution (px/cm) of level 0."""
    if margin % max(LEVEL_DOWNSAMPLES) or margin % LEICA_MACRO_SCALE or margin < 0:
        raise ValueError(f"margin={margin} px must be a non-negative multiple of {LEICA_MACRO_SCALE}")
    pyr = render_pyramid(width, height, mpp=mpp, seed=seed, tile=tile)
    nm_px = mpp * 1000.0
    main_nm = (round(width * nm_px), round(height * nm_px))
    offset_nm = (round(margin * nm_px), round(margin * nm_px))
    slide_nm = (main_nm[0] + 2 * offset_nm[0], main_nm[1] + 2 * offset_nm[1])
    macro_px = ((width + 2 * margin) // LEICA_MACRO_SCALE, (height + 2 * margin) // LEICA_MACRO_SCALE)
    macro = np.full((macro_px[1], macro_px[0], 3), 236, dtype=np.uint8)
    inner = _thumbnail(pyr.levels[0], max(width, height) // LEICA_MACRO_SCALE)
    m = margin // LEICA_MACRO_SCALE
    macro[m : m + inner.shape[0], m : m + inner.shape[1]] = inner
    main_dims = [(lvl.shape[1], lvl.shape[0], i + 1) for i, lvl in enumerate(pyr.levels)]
    xml = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<scn xmlns="{LEICA_XMLNS}">'
        f'<collection name="{escape(pyr.description)}" sizeX="{slide_nm[0]}" sizeY="{slide_nm[1]}">'
        f"<barcode>{base64.b64encode(b'PR-FIXTURE').decode('ascii')}</barcode>"
        + _leica_image("macro", slide_nm, (0, 0), [(macro_px[0], macro_px[1], 0)], "0.2")
        + _leica_image("main", main_nm, offset_nm, main_dims, "20")
        + "</collection></scn>"
    )
    pages = []
    macro_cm = 1e4 / (nm_px * LEICA_MACRO_SCALE / 1000.0)
    pages.append(
        (
            _pad(macro, 16),
            _tiff_options(
                16,
                description=xml,
                resolution=(macro_cm, macro_cm),
                resolutionunit="CENTIMETER",
                software="Leica SCN",
            ),
        )
    )
    for index, pixels in enumerate(pyr.levels):
        px_per_cm = 1e4 / (mpp * pyr.downsamples[index])
        pages.append(
            (
                pixels,
                _tiff_options(
                    tile, resolution=(px_per_cm, px_per_cm), resolutionunit="CENTIMETER", software="Leica SCN"
                ),
            )
        )
    return _write_tiff(Path(path), pages, bigtiff=True)


# ---- Ventana BIF -----------------------------------------------------------------------------


def _ventana_tile_number(col: int, row: int, across: int, down: int) -> int:
    """BIF tile numbers (1-based) count from the bottom row up, serpentine (odd rows right to left)."""
    from_bottom = down - 1 - row
    position = col if from_bottom % 2 == 0 else across - 1 - col
    return from_bottom * across + position + 1


def _ventana_joints(across: int, down: int) -> str:
    joints = []
    for row in range(down):
        for col in range(across):
            here = _ventana_tile_number(col, row, across, down)
            if col + 1 < across:
                right = _ventana_tile_number(col + 1, row, across, down)
                joints.append((here, right, "RIGHT"))
            if row > 0:  # UP: tile1 is the lower tile, tile2 the one above it
                joints.append((here, _ventana_tile_number(col, row - 1, across, down), "UP"))
    return "".join(
        f'<TileJointInfo FlagJoined="1" Confidence="100" Direction="{d}" Tile1="{a}" Tile2="{b}" '
        'OverlapX="0" OverlapY="0"/>'
        for a, b, d in joints
    )


def write_ventana_bif(
    path: Path | str,
    width: int = 2048,
    height: int = 1536,
    *,
    mpp: float = 0.25,
    tile: int = 256,
    seed: int = 0,
) -> Path:
    """Ventana BIF (``openslide.vendor`` = ventana): IFD 0 "Label Image" with the ``iScan`` XMLPacket
    (``ScanRes`` = MPP, ``Magnification``), IFD 1 "Thumbnail", then levels described "level=N mag=M"
    (downsample = mag0 / mag); level 0's XMLPacket is the ``EncodeInfo`` stitching record of one
    scanned area with zero tile overlaps, so the tile grid is the TIFF's own."""
    pyr = render_pyramid(width, height, mpp=mpp, seed=seed, tile=tile)
    if width % tile or height % tile:
        raise ValueError(f"Ventana BIF fixture: {width}x{height} must be whole {tile}-px tiles")
    across, down = width // tile, height // tile
    magnification = float(max(1, round(10.0 / mpp)))  # nominal objective; levels are mag / 2^k
    iscan = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<iScan Magnification="{magnification:g}" ScanRes="{mpp:g}" Z-layers="1" '
        f'ScannerModel="VENTANA DP 200" UnitNumber="PR-FIXTURE" BuildVersion="{escape(pyr.description)}">'
        "</iScan>"
    )
    encode_info = (
        '<?xml version="1.0" encoding="utf-8"?>\n<EncodeInfo Ver="2"><SlideInfo><AoiInfo/></SlideInfo>'
        '<AoiOrigin><AOI0 OriginX="0" OriginY="0"/></AoiOrigin>'
        f'<SlideStitchInfo><ImageInfo AOIScanned="1" AOIIndex="0" Width="{tile}" Height="{tile}" '
        f'NumRows="{down}" NumCols="{across}" Pos-X="0" Pos-Y="0">{_ventana_joints(across, down)}'
        "</ImageInfo></SlideStitchInfo></EncodeInfo>"
    )
    label = _label(384, 256, seed)
    thumb = _thumbnail(pyr.levels[0], 512)
    strip = {"photometric": "rgb", "compression": "jpeg", "compressionargs": {"level": 90}, "metadata": None}
    pages = [
        (label, {**strip, "description": "Label Image", "extratags": _xml_packet(iscan)}),
        (thumb, {**strip, "description": "Thumbnail"}),
    ]
    for index, pixels in enumerate(pyr.levels):
        mag = magnification / pyr.downsamples[index]
        options = _tiff_options(tile, description=f"level={index} mag={mag:g} quality=90")
        if index == 0:
            options["extratags"] = _xml_packet(encode_info)
        pages.append((pixels, options))
    return _write_tiff(Path(path), pages, bigtiff=True)


# ---- Hamamatsu NDPI, VMS and VMU -----------------------------------------------------------

NDPI_FORMAT_FLAG, NDPI_SOURCELENS, NDPI_XOFFSET, NDPI_YOFFSET = 65420, 65421, 65422, 65423
NDPI_FOCAL_PLANE, NDPI_MCU_STARTS, NDPI_REFERENCE, NDPI_PROPERTY_MAP = 65424, 65426, 65427, 65449
HAMAMATSU_TILE_W = 256  # restart interval x MCU width: OpenSlide's tile is one restart interval wide
HAMAMATSU_OBJECTIVE = 20.0
JPEG_SUBSAMPLING = "4:2:2"  # 16x8-px MCUs; OpenSlide 4.0.1 fails on 4:2:0 restart intervals at full scale
JPEG_MCU_W, JPEG_MCU_H = 16, 8
VMS_OPT_RECORD = 40  # bytes per MCU-row record in a VMS optimisation file


def _restart_jpeg(pixels: np.ndarray, comment: str = "") -> tuple[bytes, list[int]]:
    """One JPEG of the whole level with a restart marker every HAMAMATSU_TILE_W px of each MCU row,
    and the offsets (from the JPEG start) at which each restart interval's data begins."""
    options: dict[str, Any] = {
        "subsampling": JPEG_SUBSAMPLING,
        "restart_marker_blocks": HAMAMATSU_TILE_W // JPEG_MCU_W,
    }
    if comment:
        options["comment"] = comment
    data = _jpeg(pixels, **options)
    starts = [_jpeg_scan_start(data)]
    position = starts[0]
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or data[position + 1] == 0xD9:  # EOI
            break
        if 0xD0 <= data[position + 1] <= 0xD7:
            starts.append(position + 2)
        position += 2
    tiles = (pixels.shape[1] // HAMAMATSU_TILE_W) * (pixels.shape[0] // JPEG_MCU_H)
    if len(starts) != tiles:
        raise RuntimeError(
            f"JPEG has {len(starts)} restart intervals, expected {tiles}; Pillow ignored the option"
        )
    return data, starts


def _jpeg_scan_start(data: bytes) -> int:
    """Offset of the first entropy-coded byte (just after the SOS segment)."""
    position = 2
    while data[position] == 0xFF:
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        position += 2 + length
        if marker == 0xDA:
            return position
    raise ValueError("no SOS segment in JPEG")


def _check_hamamatsu_size(width: int, height: int) -> None:
    if (height // 4) % JPEG_MCU_H:
        raise ValueError(f"Hamamatsu fixture: height / 4 must be a multiple of {JPEG_MCU_H} px")
    if (width // 4) % HAMAMATSU_TILE_W:
        raise ValueError(f"Hamamatsu fixture: width / 4 must be a multiple of {HAMAMATSU_TILE_W} px")


def write_hamamatsu_ndpi(
    path: Path | str,
    width: int = 2048,
    height: int = 1536,
    *,
    mpp: float = 0.25,
    tile: int = 256,
    seed: int = 0,
) -> Path:
    """Hamamatsu NDPI (``openslide.vendor`` = hamamatsu): a TIFF whose IFDs each hold one whole-level
    JPEG strip with restart markers (OpenSlide's tiles are the restart intervals, 256x8 px, located
    by the NDPI McuStarts tag); tag 65420 marks the format, SourceLens (65421) is the magnification
    (-1 for the macro image). IFDs use NDPI's 64-bit extension (8-byte next-IFD offset, then the
    high 32 bits of every entry), as tifffile expects of ``.ndpi`` files. MPP: TIFF resolution (px/cm).
    OpenSlide adds JPEG-scaled levels (1/2, 1/4, 1/8 of the smallest stored level), so it reports more
    levels than are stored. ``tile`` is accepted for a uniform signature; NDPI has no TIFF tiles."""
    del tile
    _check_hamamatsu_size(width, height)
    pyr = render_pyramid(width, height, mpp=mpp, seed=seed, tile=HAMAMATSU_TILE_W // 4)
    properties = f"Created=pathreasoner\r\nNDP.S/N=PR-FIXTURE\r\nComment={pyr.description}\r\n"
    pages: list[tuple[bytes, tuple[int, ...], float, list[tuple[int, int, Any]]]] = []
    for index, pixels in enumerate(pyr.levels):
        data, starts = _restart_jpeg(pixels)
        ndpi: list[tuple[int, int, Any]] = [
            (NDPI_FORMAT_FLAG, TIFF_LONG, [1]),
            (NDPI_SOURCELENS, TIFF_FLOAT, [HAMAMATSU_OBJECTIVE / pyr.downsamples[index]]),
            (NDPI_XOFFSET, TIFF_SLONG, [0]),
            (NDPI_YOFFSET, TIFF_SLONG, [0]),
            (NDPI_FOCAL_PLANE, TIFF_SLONG, [0]),
            (NDPI_MCU_STARTS, TIFF_LONG, starts),
            (NDPI_REFERENCE, TIFF_ASCII, "PR-FIXTURE"),
            (NDPI_PROPERTY_MAP, TIFF_ASCII, properties),
        ]
        pages.append((data, pixels.shape, mpp * pyr.downsamples[index], ndpi))
    macro = _label(640, 240, seed)
    macro_tags = [
        (NDPI_FORMAT_FLAG, TIFF_LONG, [1]),
        (NDPI_SOURCELENS, TIFF_FLOAT, [-1.0]),
        (NDPI_FOCAL_PLANE, TIFF_SLONG, [0]),
    ]
    pages.append((_jpeg(macro, subsampling=JPEG_SUBSAMPLING), macro.shape, 40.0, macro_tags))
    return atomic_write_bytes(Path(path), _ndpi_tiff(pages))


def write_hamamatsu_vms(
    folder: Path | str,
    width: int = 2048,
    height: int = 1536,
    *,
    mpp: float = 0.25,
    tile: int = 256,
    seed: int = 0,
) -> Path:
    """Hamamatsu VMS (``openslide.vendor`` = hamamatsu), a multi-file slide written atomically into
    ``folder``: ``<name>.vms`` (key file: image, map, optimisation and macro file names, and
    ``PhysicalWidth``/``PhysicalHeight`` in nm, which give the MPP), ``<name>.jpg`` (level 0, one JPEG
    with restart markers), ``<name>_map.jpg`` (1/4 scale), ``<name>.opt`` (offset of each MCU row) and
    ``<name>_macro.jpg``. Returns the ``.vms`` file (what OpenSlide opens). ``tile`` is accepted for a
    uniform signature; OpenSlide's tiles are the 256x8-px restart intervals."""
    del tile
    folder = Path(folder)
    _check_hamamatsu_size(width, height)
    pyr = render_pyramid(width, height, mpp=mpp, seed=seed, tile=HAMAMATSU_TILE_W // 4)
    name = folder.name
    image, starts = _restart_jpeg(pyr.levels[0], comment=pyr.description)
    map_image, _ = _restart_jpeg(pyr.levels[-1])
    across = width // HAMAMATSU_TILE_W
    optimisation = b"".join(
        struct.pack("<q", starts[row * across]).ljust(VMS_OPT_RECORD, b"\0")
        for row in range(height // JPEG_MCU_H)
    )
    key_file = (
        "[Virtual Microscope Specimen]\r\n"
        "NoLayers=1\r\nLayerSpacing=0\r\nNoJpegColumns=1\r\nNoJpegRows=1\r\n"
        f"ImageFile={name}.jpg\r\nMapFile={name}_map.jpg\r\nOptimisationFile={name}.opt\r\n"
        f"MacroImage={name}_macro.jpg\r\n"
        f"PhysicalWidth={round(width * mpp * 1000)}\r\nPhysicalHeight={round(height * mpp * 1000)}\r\n"
        f"SourceLens={HAMAMATSU_OBJECTIVE:g}\r\nXOffsetFromSlideCentre=0\r\nYOffsetFromSlideCentre=0\r\n"
    )
    files = {
        f"{name}.vms": key_file.encode("ascii"),
        f"{name}.jpg": image,
        f"{name}_map.jpg": map_image,
        f"{name}.opt": optimisation,
        f"{name}_macro.jpg": _jpeg(_label(640, 240, seed)),
    }
    with atomic_dir(folder) as tmp:
        for file_name, data in files.items():
            (tmp / file_name).write_bytes(data)
        _make_readable(tmp)
    return folder / f"{name}.vms"


NGR_HEADER_SIZE = 32
NGR_COLUMN_WIDTHS = (256, 128, 64, 32)  # the widest that divides both stored levels is used
VMU_MAP_DOWNSAMPLE = 2


def _ngr(pixels: np.ndarray, column_width: int) -> bytes:
    """An NGR image: "GN" magic, width, height and column width (int32 LE at 4, 8, 12), header size
    (int32 at 24), then the pixels column by column (``column_width`` px wide, top to bottom), each
    pixel three little-endian uint16 holding 12-bit R, G, B. 8-bit values are stored as v * 16 + v // 16,
    which OpenSlide's 12-to-8-bit shift (>> 4) turns back into v exactly."""
    h, w = pixels.shape[:2]
    header = bytearray(NGR_HEADER_SIZE)
    header[0:2] = b"GN"
    struct.pack_into("<iii", header, 4, w, h, column_width)
    struct.pack_into("<i", header, 24, NGR_HEADER_SIZE)
    wide = pixels.astype("<u2")
    wide = (wide << 4) | (wide >> 4)
    columns = wide.reshape(h, w // column_width, column_width, 3).transpose(1, 0, 2, 3)
    return bytes(header) + np.ascontiguousarray(columns).tobytes()


def write_hamamatsu_vmu(
    folder: Path | str,
    width: int = 2048,
    height: int = 1536,
    *,
    mpp: float = 0.25,
    tile: int = 256,
    seed: int = 0,
) -> Path:
    """Hamamatsu VMU (``openslide.vendor`` = hamamatsu), the uncompressed sibling of VMS, written
    atomically into ``folder``: ``<name>.vmu`` (key file, group "Uncompressed Virtual Microscope
    Specimen": ImageFile, MapFile, MacroImage, BitsPerPixel=36, PixelOrder=RGB and
    ``PhysicalWidth``/``PhysicalHeight`` in nm, which give the MPP), ``<name>.ngr`` (level 0),
    ``<name>_map.ngr`` (1/2 scale: OpenSlide's level 1) and ``<name>_macro.jpg``. NGR pixels are
    uncompressed, so OpenSlide returns exactly the pixels drawn. Only two levels exist (image and
    map). Returns the ``.vmu`` file. ``tile`` is accepted for a uniform signature; OpenSlide's tiles
    are NGR columns x 64 rows."""
    del tile
    folder = Path(folder)
    pyr = render_pyramid(width, height, mpp=mpp, seed=seed, tile=16)
    image, map_image = pyr.levels[0], pyr.levels[LEVEL_DOWNSAMPLES.index(VMU_MAP_DOWNSAMPLE)]
    column = next(c for c in NGR_COLUMN_WIDTHS if width % c == 0 and map_image.shape[1] % c == 0)
    name = folder.name
    key_file = (
        "[Uncompressed Virtual Microscope Specimen]\r\n"
        f"NoLayers=1\r\nImageFile={name}.ngr\r\nMapFile={name}_map.ngr\r\nMacroImage={name}_macro.jpg\r\n"
        "BitsPerPixel=36\r\nPixelOrder=RGB\r\n"
        f"PhysicalWidth={round(width * mpp * 1000)}\r\nPhysicalHeight={round(height * mpp * 1000)}\r\n"
        f"SourceLens={HAMAMATSU_OBJECTIVE:g}\r\nXOffsetFromSlideCentre=0\r\nYOffsetFromSlideCentre=0\r\n"
        f"Comment={pyr.description}\r\n"
    )
    files = {
        f"{name}.vmu": key_file.encode("ascii"),
        f"{name}.ngr": _ngr(image, column),
        f"{name}_map.ngr": _ngr(map_image, column),
        f"{name}_macro.jpg": _jpeg(_label(640, 240, seed)),
    }
    with atomic_dir(folder) as tmp:
        for file_name, data in files.items():
            (tmp / file_name).write_bytes(data)
        _make_readable(tmp)
    return folder / f"{name}.vmu"


def _make_readable(folder: Path) -> None:
    for path in folder.iterdir():
        path.chmod(0o755 if path.is_dir() else 0o644)


TIFF_ASCII, TIFF_SHORT, TIFF_LONG, TIFF_RATIONAL, TIFF_SLONG, TIFF_FLOAT = 2, 3, 4, 5, 9, 11
_TIFF_FORMATS = {TIFF_SHORT: "H", TIFF_LONG: "I", TIFF_RATIONAL: "II", TIFF_SLONG: "i", TIFF_FLOAT: "f"}


def _tiff_value(kind: int, value: Any) -> tuple[int, bytes]:
    """(count, little-endian bytes) of a TIFF tag value."""
    if kind == TIFF_ASCII:
        data = value.encode("ascii") + b"\0"
        return len(data), data
    fmt = _TIFF_FORMATS[kind]
    flat = [v for item in value for v in (item if isinstance(item, tuple) else (item,))]
    return len(value), struct.pack(f"<{len(flat) // len(fmt) * fmt}", *flat)


def _ndpi_tiff(pages: list[tuple[bytes, tuple[int, ...], float, list[tuple[int, int, Any]]]]) -> bytes:
    """A little-endian TIFF in NDPI layout: one JPEG strip per IFD (strip first, then the IFD with
    its out-of-line values); each IFD ends with an 8-byte next-IFD offset and 4 zero bytes per entry
    (the high halves of NDPI's 64-bit offsets; all zero below 4 GB)."""
    out = bytearray(b"II*\0" + b"\0" * 8)  # first-IFD offset: 64-bit in NDPI
    link = 4  # where the offset of the next IFD goes
    for data, shape, mpp, extra in pages:
        strip_at = len(out)
        out += data
        out += b"\0" * (len(out) % 2)
        px_per_cm = round(1e4 / mpp * 1000)
        entries = sorted(
            [
                (254, TIFF_LONG, [0]),
                (256, TIFF_LONG, [shape[1]]),
                (257, TIFF_LONG, [shape[0]]),
                (258, TIFF_SHORT, [8, 8, 8]),
                (259, TIFF_SHORT, [7]),  # JPEG
                (262, TIFF_SHORT, [6]),  # YCbCr
                (271, TIFF_ASCII, "Hamamatsu"),
                (272, TIFF_ASCII, "C13220"),
                (273, TIFF_LONG, [strip_at]),
                (277, TIFF_SHORT, [3]),
                (278, TIFF_LONG, [shape[0]]),
                (279, TIFF_LONG, [len(data)]),
                (282, TIFF_RATIONAL, [(px_per_cm, 1000)]),
                (283, TIFF_RATIONAL, [(px_per_cm, 1000)]),
                (296, TIFF_SHORT, [3]),  # centimeter
                (305, TIFF_ASCII, "NDP.scan 3.4.0"),
                *extra,
            ],
            key=lambda entry: entry[0],
        )
        ifd_at = len(out)
        struct.pack_into("<I", out, link, ifd_at)
        values_at = ifd_at + 2 + 12 * len(entries) + 8 + 4 * len(entries)
        table, values = bytearray(struct.pack("<H", len(entries))), bytearray()
        for tag, kind, value in entries:
            count, raw = _tiff_value(kind, value)
            if len(raw) <= 4:
                table += struct.pack("<HHI", tag, kind, count) + raw.ljust(4, b"\0")
            else:
                table += struct.pack("<HHII", tag, kind, count, values_at + len(values))
                values += raw + b"\0" * (len(raw) % 2)
        link = len(out) + len(table)
        out += table + b"\0" * 8 + b"\0" * (4 * len(entries)) + values
    return bytes(out)


# ---- Aperio SVS with JPEG 2000 tiles -----------------------------------------------------------

APERIO_JP2K_YCBCR, APERIO_JP2K_RGB = 33003, 33005  # TIFF Compression values of Aperio's JPEG 2000
JP2K_LEVEL = 45  # imagecodecs jpeg2k_encode quality level (lossy, ~JPEG q85 size)


def _ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Full-range (JFIF) YCbCr, the component order Aperio stores in 33003 codestreams."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return np.clip(np.stack([y, cb, cr], axis=-1).round(), 0, 255).astype(np.uint8)


def _jp2k_tiles(pixels: np.ndarray, tile: int, ycbcr: bool) -> list[bytes]:
    """Raw J2K codestreams of the level's tiles, row-major; edge tiles padded with white.
    33003 holds Y, Cb, Cr components with no JPEG 2000 colour transform (OpenSlide converts them
    to RGB itself); 33005 holds RGB with the reversible colour transform."""
    padded = _pad(pixels, tile)
    tiles = []
    for y in range(0, padded.shape[0], tile):
        for x in range(0, padded.shape[1], tile):
            block = padded[y : y + tile, x : x + tile]
            block = _ycbcr(block) if ycbcr else block
            tiles.append(imagecodecs.jpeg2k_encode(block, level=JP2K_LEVEL, codecformat="J2K", mct=not ycbcr))
    return tiles


def write_aperio_jp2k_svs(
    path: Path | str,
    width: int = 2048,
    height: int = 1536,
    *,
    mpp: float = 0.25,
    tile: int = 256,
    seed: int = 0,
    ycbcr: bool = True,
) -> Path:
    """Aperio SVS with JPEG 2000 tiles (``openslide.vendor`` = aperio): TIFF Compression 33003
    (YCbCr codestreams, ``ycbcr=True``) or 33005 (RGB), the ``Aperio Image Library`` ImageDescription
    with ``MPP`` and ``AppMag`` on every level, a stripped thumbnail as IFD 1 and label/macro images."""
    pyr = render_pyramid(width, height, mpp=mpp, seed=seed, tile=tile)
    compression = APERIO_JP2K_YCBCR if ycbcr else APERIO_JP2K_RGB
    codec = "J2K/YUV16" if ycbcr else "J2K/KDU"
    head = "Aperio Image Library v12.0.15 \r\n"
    meta = f"|AppMag = {10.0 / mpp:g}|MPP = {mpp:g}|ScanScope ID = PR-FIXTURE|Filename = {pyr.description}"
    level_pages = []
    for pixels in pyr.levels:
        h, w = pixels.shape[:2]
        description = f"{head}{width}x{height} [0,0 {w}x{h}] ({tile}x{tile}) -> {w}x{h} {codec} Q=70{meta}"
        if w == width:
            description = f"{head}{width}x{height} [0,0 {width}x{height}] ({tile}x{tile}) {codec} Q=70{meta}"
        options = {
            "shape": pixels.shape,
            "dtype": np.uint8,
            "tile": (tile, tile),
            "photometric": "rgb",
            "compression": compression,
            "description": description,
            "subfiletype": 0,
            "metadata": None,
        }
        level_pages.append((iter(_jp2k_tiles(pixels, tile, ycbcr)), options))
    thumb = _thumbnail(pyr.levels[0], 768)
    stripped = {
        "photometric": "rgb",
        "compression": "jpeg",
        "compressionargs": {"level": 90},
        "metadata": None,
    }
    label = _label(387, 463, seed)
    macro = _label(1280, 431, seed + 1)
    th, tw = thumb.shape[:2]
    pages = [
        level_pages[0],
        (thumb, {**stripped, "description": f"{head}{width}x{height} -> {tw}x{th} - |{meta[1:]}"}),
        *level_pages[1:],
        (
            label,
            {
                "photometric": "rgb",
                "compression": "lzw",
                "subfiletype": 1,
                "metadata": None,
                "description": f"{head}label {label.shape[1]}x{label.shape[0]}",
            },
        ),
        (
            macro,
            {**stripped, "subfiletype": 9, "description": f"{head}macro {macro.shape[1]}x{macro.shape[0]}"},
        ),
    ]
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as tif:
        for data, options in pages:
            tif.write(data, **options)
    return atomic_write_bytes(Path(path), buffer.getvalue())


# ---- MIRAX (3DHISTECH) ----------------------------------------------------------------------

MIRAX_INDEX_VERSION = b"01.02"
MIRAX_DIVISIONS = 2  # CameraImageDivisionsPerSide: each camera photo is stored as 2x2 images
MIRAX_OVERLAPS = range(12, 49, 4)  # photo overlaps (level-0 px) to choose from; > 2 * jitter
MIRAX_JITTER = 4  # level-0 px that interior photo columns/rows sit off the nominal grid
MIRAX_FILL_BGR = 0xFFFFFF  # IMAGE_FILL_COLOR_BGR: white
MIRAX_OBJECTIVE = 20
MIRAX_ASSOCIATED = (  # (NONHIER value, the section's image-type key, picture size)
    ("ScanDataLayer_SlideThumbnail", "THUMBNAIL_IMAGE_TYPE", (640, 240)),
    ("ScanDataLayer_SlideBarcode", "BARCODE_IMAGE_TYPE", (240, 240)),
    ("ScanDataLayer_SlidePreview", "PREVIEW_IMAGE_TYPE", (320, 240)),
)
MIRAX_POSITION_LAYERS = {"vimslide": "VIMSLIDE_POSITION_BUFFER", "stitching": "StitchingIntensityLayer"}


@dataclass(frozen=True)
class _MiraxAxis:
    """Camera photos along one axis: ``photos`` photos of ``2 * image`` px overlapping by ``overlap``,
    and each photo's level-0 start (nominal start plus the jitter the position buffer records)."""

    photos: int
    image: int
    overlap: int
    starts: tuple[int, ...]


def _mirax_axis(length: int) -> _MiraxAxis:
    """Split ``length`` level-0 px into overlapping photos the way OpenSlide sums MIRAX image sizes
    (images * size - overlap at every photo boundary). Sizes and overlaps divide by 4 (every level's
    positions are whole pixels); an odd photo count is preferred (the last level-2 image is then
    partly fill colour), then images near 256 px."""
    candidates = []
    for overlap in MIRAX_OVERLAPS:
        for photos in range(2, 64):
            total = length + (photos - 1) * overlap
            image, rest = divmod(total, MIRAX_DIVISIONS * photos)
            if not rest and image % 4 == 0 and 128 <= image <= 512:
                candidates.append((photos % 2 == 0, abs(image - 256), overlap, photos, image))
    if not candidates:
        raise ValueError(
            f"MIRAX fixture: cannot split {length} px into camera photos of 2x2 images (128-512 px, "
            "sizes and overlaps multiples of 4); use a side such as 2048 or 1536"
        )
    _, _, overlap, photos, image = min(candidates)
    jitter = [0, *(MIRAX_JITTER * (-1) ** p for p in range(1, photos - 1)), 0]  # edges stay put
    advance = MIRAX_DIVISIONS * image - overlap
    return _MiraxAxis(photos, image, overlap, tuple(p * advance + jitter[p] for p in range(photos)))


def _crop(pixels: np.ndarray, x: int, y: int, w: int, h: int, fill: int = 255) -> np.ndarray:
    """``pixels[y:y+h, x:x+w]``, padded with ``fill`` where the window leaves the picture."""
    out = np.full((h, w, 3), fill, dtype=np.uint8)
    part = pixels[max(y, 0) : y + h, max(x, 0) : x + w]
    out[max(-y, 0) : max(-y, 0) + part.shape[0], max(-x, 0) : max(-x, 0) + part.shape[1]] = part
    return out


def _mirax_level_image(
    pyr: Pyramid, ax: _MiraxAxis, ay: _MiraxAxis, level: int, ix: int, iy: int
) -> np.ndarray:
    """One stored image of a zoom level: the 2^level x 2^level level-0 images from (ix, iy) on, each
    shrunk by 2^level and placed edge to edge (overlaps included, as the scanner does); images past
    the slide's edge are left in the fill colour."""
    concat, d = 2**level, pyr.downsamples[level]
    w, h = ax.image, ay.image
    out = np.full((h, w, 3), 255, dtype=np.uint8)
    sw, sh = w // concat, h // concat
    for j in range(concat):
        for i in range(concat):
            gx, gy = ix + i, iy + j
            if gx >= ax.photos * MIRAX_DIVISIONS or gy >= ay.photos * MIRAX_DIVISIONS:
                continue
            x0 = ax.starts[gx // MIRAX_DIVISIONS] + (gx % MIRAX_DIVISIONS) * w
            y0 = ay.starts[gy // MIRAX_DIVISIONS] + (gy % MIRAX_DIVISIONS) * h
            out[j * sh : (j + 1) * sh, i * sw : (i + 1) * sw] = _crop(
                pyr.levels[level], x0 // d, y0 // d, sw, sh
            )
    return out


class _MiraxData:
    """Data*.dat files being filled: ``add`` appends a blob and returns (offset, size, file number)."""

    def __init__(self, count: int) -> None:
        self.files = [bytearray() for _ in range(count)]

    def add(self, fileno: int, data: bytes) -> tuple[int, int, int]:
        offset = len(self.files[fileno])
        self.files[fileno] += data
        return offset, len(data), fileno


def _mirax_index(
    slide_id: str, levels: list[list[tuple[int, int, int, int]]], records: list[tuple[int, int, int]]
) -> bytes:
    """Index.dat: version and slide id, pointers to the hierarchical root (one list of data pages per
    zoom level; each record = image index, offset, size, file number) and the non-hierarchical root
    (one single-record page per non-hier value: offset, size, file number)."""
    out = bytearray(MIRAX_INDEX_VERSION + slide_id.encode("ascii"))
    roots = len(out)
    out += b"\0" * 8
    hier_table = len(out)
    out += b"\0" * (4 * len(levels))
    for number, images in enumerate(levels):
        struct.pack_into("<i", out, hier_table + 4 * number, len(out))
        out += struct.pack("<ii", 0, len(out) + 8)
        out += struct.pack("<ii", len(images), 0)
        out += b"".join(struct.pack("<iiii", *image) for image in images)
    nonhier_table = len(out)
    out += b"\0" * (4 * len(records))
    for number, (offset, size, fileno) in enumerate(records):
        struct.pack_into("<i", out, nonhier_table + 4 * number, len(out))
        out += struct.pack("<ii", 0, len(out) + 8)
        out += struct.pack("<iiiiiii", 1, 0, 0, 0, offset, size, fileno)
    struct.pack_into("<ii", out, roots, hier_table, nonhier_table)
    return bytes(out)


def _ini(groups: dict[str, dict[str, Any]]) -> bytes:
    lines = []
    for group, keys in groups.items():
        lines.append(f"[{group}]")
        lines.extend(f"{key} = {value}" for key, value in keys.items())
        lines.append("")
    return "\r\n".join(lines).encode("utf-8")


def _mirax_slidedat(
    pyr: Pyramid, slide_id: str, ax: _MiraxAxis, ay: _MiraxAxis, position_layer: str, data_files: int
) -> bytes:
    hierarchical: dict[str, Any] = {
        "HIER_COUNT": 1,
        "HIER_0_NAME": "Slide zoom level",
        "HIER_0_COUNT": len(pyr.levels),
        **{
            key: value
            for level in range(len(pyr.levels))
            for key, value in (
                (f"HIER_0_VAL_{level}", f"ZoomLevel_{level}"),
                (f"HIER_0_VAL_{level}_SECTION", f"LAYER_0_LEVEL_{level}_SECTION"),
            )
        },
        "NONHIER_COUNT": 2,
        "NONHIER_0_NAME": "Scan data layer",
        "NONHIER_0_COUNT": len(MIRAX_ASSOCIATED),
        **{
            key: value
            for i, (name, _, _) in enumerate(MIRAX_ASSOCIATED)
            for key, value in (
                (f"NONHIER_0_VAL_{i}", name),
                (f"NONHIER_0_VAL_{i}_SECTION", f"NONHIERLAYER_0_VAL_{i}"),
            )
        },
        "NONHIER_1_NAME": position_layer,
        "NONHIER_1_COUNT": 1,
        "NONHIER_1_VAL_0": "default",
        "NONHIER_1_VAL_0_SECTION": "NONHIERLAYER_1_SECTION",
        "INDEXFILE": "Index.dat",
    }
    groups: dict[str, dict[str, Any]] = {
        "GENERAL": {
            "SLIDE_NAME": pyr.description,
            "SLIDE_ID": slide_id,
            "SLIDE_VERSION": "01.02",
            "SLIDE_CREATIONDATETIME": "01/01/2024 00:00:00",
            "SLIDE_TYPE": "Brightfield",
            "IMAGENUMBER_X": ax.photos * MIRAX_DIVISIONS,
            "IMAGENUMBER_Y": ay.photos * MIRAX_DIVISIONS,
            "CameraImageDivisionsPerSide": MIRAX_DIVISIONS,
            "OBJECTIVE_NAME": "Plan-Apochromat",
            "OBJECTIVE_MAGNIFICATION": MIRAX_OBJECTIVE,
            "PROJECT_NAME": SYNTHETIC_MARK,
        },
        "HIERARCHICAL": hierarchical,
        "DATAFILE": {
            "FILE_COUNT": data_files,
            **{f"FILE_{i}": f"Data{i:04d}.dat" for i in range(data_files)},
        },
    }
    for level, d in enumerate(pyr.downsamples):
        groups[f"LAYER_0_LEVEL_{level}_SECTION"] = {
            "OVERLAP_X": ax.overlap // d,
            "OVERLAP_Y": ay.overlap // d,
            "MICROMETER_PER_PIXEL_X": f"{pyr.mpp * d:.12g}",
            "MICROMETER_PER_PIXEL_Y": f"{pyr.mpp * d:.12g}",
            "IMAGE_FORMAT": "JPEG",
            "IMAGE_QUALITY": JPEG_QUALITY,
            "IMAGE_FILL_COLOR_BGR": MIRAX_FILL_BGR,
            "DIGITIZER_WIDTH": ax.image,
            "DIGITIZER_HEIGHT": ay.image,
            "IMAGE_CONCAT_FACTOR": 1 if level else 0,
        }
    for i, (_, type_key, _) in enumerate(MIRAX_ASSOCIATED):
        groups[f"NONHIERLAYER_0_VAL_{i}"] = {type_key: "JPEG"}
    groups["NONHIERLAYER_1_SECTION"] = {"VIMSLIDE_POSITION_DATA_FORMAT_VERSION": 257}
    return _ini(groups)


def write_mirax(
    folder: Path | str,
    width: int = 2048,
    height: int = 1536,
    *,
    mpp: float = 0.25,
    tile: int = 256,
    seed: int = 0,
    position_buffer: str = "vimslide",
) -> Path:
    """MIRAX (``openslide.vendor`` = mirax), written atomically into ``folder``: ``<name>.mrxs`` plus
    the folder ``<name>/`` with ``Slidedat.ini`` (key file: hierarchical "Slide zoom level" sections
    with DIGITIZER_WIDTH/HEIGHT, OVERLAP_X/Y, IMAGE_CONCAT_FACTOR and MICROMETER_PER_PIXEL_X/Y, which
    give the MPP), ``Index.dat`` (data-page pointers) and ``Data000N.dat`` (JPEG images). Level 0 is
    camera photos split into 2x2 images; photos overlap by OVERLAP px and interior photo columns/rows
    sit a few px off the nominal grid, so the slide is only right if OpenSlide places them from the
    position buffer (``position_buffer``: "vimslide" = raw VIMSLIDE_POSITION_BUFFER, "stitching" =
    zlib-compressed StitchingIntensityLayer). Levels 1, 2 concatenate 2x2 shrunk images per image;
    images past the slide edge stay in the fill colour. Returns the ``.mrxs`` file. ``tile`` is
    accepted for a uniform signature; image sizes follow from the slide size."""
    del tile
    if position_buffer not in MIRAX_POSITION_LAYERS:
        raise ValueError(f"position_buffer={position_buffer!r}: use one of {sorted(MIRAX_POSITION_LAYERS)}")
    folder = Path(folder)
    pyr = render_pyramid(width, height, mpp=mpp, seed=seed, tile=64)
    ax, ay = _mirax_axis(width), _mirax_axis(height)
    slide_id = hashlib.sha256(f"{pyr.description}|{width}x{height}".encode()).hexdigest()[:32]
    data = _MiraxData(3)  # level 0 | levels 1+ | associated images and the position buffer
    images_x, images_y = ax.photos * MIRAX_DIVISIONS, ay.photos * MIRAX_DIVISIONS
    levels = []
    for level in range(len(pyr.levels)):
        step, records = 2**level, []
        for iy in range(0, images_y, step):
            for ix in range(0, images_x, step):
                blob = _jpeg(_mirax_level_image(pyr, ax, ay, level, ix, iy))
                records.append((iy * images_x + ix, *data.add(min(level, 1), blob)))
        levels.append(records)
    nonhier = [
        data.add(2, _jpeg(_label(w, h, seed + i))) for i, (_, _, (w, h)) in enumerate(MIRAX_ASSOCIATED)
    ]
    positions = b"".join(
        struct.pack("<bii", 1, x, y) for y in ay.starts for x in ax.starts
    )  # one 9-byte record per photo, row-major: flag, x, y (level-0 px)
    if position_buffer == "stitching":
        positions = zlib.compress(positions, 9)
    nonhier.append(data.add(2, positions))
    slidedat = _mirax_slidedat(pyr, slide_id, ax, ay, MIRAX_POSITION_LAYERS[position_buffer], len(data.files))
    with atomic_dir(folder) as tmp:
        (tmp / f"{folder.name}.mrxs").write_bytes(
            f"MIRAX slide {slide_id}; data in {folder.name}/\r\n".encode()
        )
        inner = tmp / folder.name
        inner.mkdir()
        (inner / "Slidedat.ini").write_bytes(slidedat)
        (inner / "Index.dat").write_bytes(_mirax_index(slide_id, levels, nonhier))
        for number, blob in enumerate(data.files):
            (inner / f"Data{number:04d}.dat").write_bytes(bytes(blob))
        _make_readable(tmp)
        _make_readable(inner)
    return folder / f"{folder.name}.mrxs"


# ---- Sakura SVSlide --------------------------------------------------------------------------

SAKURA_MAGIC = "SVGigaPixelImage"
SAKURA_TABLE = "SVGigaPixelImage_PR_FIXTURE"  # the one "unique table" of id -> data blobs
SAKURA_SCHEMA = (
    "CREATE TABLE DataManagerSQLiteConfigXPO (OID INTEGER PRIMARY KEY, TableName TEXT)",
    f"CREATE TABLE {SAKURA_TABLE} (id TEXT PRIMARY KEY, data BLOB)",
    "CREATE TABLE SVSlideDataXPO (OID INTEGER PRIMARY KEY, SlideId TEXT, Date TEXT, Description TEXT, "
    "Creator TEXT, DiagnosisCode TEXT, Keywords TEXT, m_labelScan INTEGER, m_overviewScan INTEGER)",
    "CREATE TABLE SVHRScanDataXPO (OID INTEGER PRIMARY KEY, ParentSlide INTEGER, ScanId TEXT, Date TEXT, "
    "Name TEXT, Description TEXT, ResolutionMmPerPix REAL, NominalLensMagnification REAL, "
    "FocussingMethod TEXT, ThumbnailImage BLOB)",
    "CREATE TABLE SVScannedImageDataXPO (OID INTEGER PRIMARY KEY, Image BLOB)",
)
SAKURA_OBJECTIVE = 20.0
SAKURA_FOCAL_PLANES = 1  # OpenSlide shows the middle focal plane; tile ids end in the plane number


def _sakura_tiles(pyr: Pyramid, tile: int) -> list[tuple[str, bytes]]:
    """(tile id, greyscale JPEG) for every tile and colour channel. Tile ids are
    ``T;x|y;downsample;colour;focal plane`` with x, y in level-0 px and colour 0/1/2 = red/green/blue;
    edge tiles are whole tiles padded with white."""
    rows = []
    for pixels, d in zip(pyr.levels, pyr.downsamples, strict=True):
        padded = _pad(pixels, tile)
        for y in range(0, padded.shape[0], tile):
            for x in range(0, padded.shape[1], tile):
                for colour in range(3):
                    channel = np.ascontiguousarray(padded[y : y + tile, x : x + tile, colour])
                    rows.append((f"T;{x * d}|{y * d};{d};{colour};0", _jpeg_grey(channel)))
    return rows


def _jpeg_grey(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def write_sakura_svslide(
    path: Path | str,
    width: int = 2048,
    height: int = 1536,
    *,
    mpp: float = 0.25,
    tile: int = 256,
    seed: int = 0,
) -> Path:
    """Sakura SVSlide (``openslide.vendor`` = sakura): an SQLite database. ``DataManagerSQLiteConfigXPO``
    names the blob table, which holds ``++MagicBytes`` ("SVGigaPixelImage"), the ``Header`` (tile
    size, width, height, -, focal planes; little-endian uint32) and one greyscale JPEG per tile and
    colour channel under ids that encode position, downsample, colour and focal plane. MPP: ``SVHRScanDataXPO.ResolutionMmPerPix`` (mm). Label, macro and thumbnail images
    are JPEG blobs. Built in memory and written in one piece."""
    pyr = render_pyramid(width, height, mpp=mpp, seed=seed, tile=tile)
    db = sqlite3.connect(":memory:")
    try:
        for statement in SAKURA_SCHEMA:
            db.execute(statement)
        db.execute("INSERT INTO DataManagerSQLiteConfigXPO VALUES (1, ?)", (SAKURA_TABLE,))
        blobs: list[tuple[str, Any]] = [
            ("++MagicBytes", SAKURA_MAGIC),
            ("++VersionBytes", "1.0.0.0"),
            ("Header", struct.pack("<IIIII", tile, width, height, 0, SAKURA_FOCAL_PLANES)),
            *_sakura_tiles(pyr, tile),
        ]
        db.executemany(f"INSERT INTO {SAKURA_TABLE} VALUES (?, ?)", blobs)
        db.executemany(
            "INSERT INTO SVScannedImageDataXPO VALUES (?, ?)",
            [(1, _jpeg(_label(240, 240, seed))), (2, _jpeg(_label(640, 240, seed + 1)))],
        )
        db.execute(
            "INSERT INTO SVSlideDataXPO VALUES (1, 'PR-FIXTURE', '2024-01-01', ?, 'pathreasoner', '', '', 1, 2)",
            (pyr.description,),
        )
        db.execute(
            "INSERT INTO SVHRScanDataXPO VALUES (1, 1, 'PR-FIXTURE-SCAN', '2024-01-01', 'HR scan', ?, ?, ?, "
            "'Auto', ?)",
            (pyr.description, mpp / 1000.0, SAKURA_OBJECTIVE, _jpeg(_thumbnail(pyr.levels[0], 512))),
        )
        db.commit()
        data = db.serialize()
    finally:
        db.close()
    return atomic_write_bytes(Path(path), data)


# ---- Trestle ---------------------------------------------------------------------------------

TRESTLE_OVERLAP = 16  # level-0 px by which neighbouring tiles overlap; halved at each level
TRESTLE_OBJECTIVE = 20


def _trestle_tiles_across(length: int, tile: int, overlap: int) -> int:
    """Tiles n with n = ceil((length + (n - 1) * overlap) / tile): OpenSlide's level size is the
    TIFF width minus (n - 1) overlaps, and it must come out at ``length``."""
    for n in range(1, 4096):
        if -(-(length + (n - 1) * overlap) // tile) == n:
            return n
    raise ValueError(
        f"Trestle fixture: no tile count fits {length} px with {tile}-px tiles overlapping {overlap}"
    )


def _trestle_level(pixels: np.ndarray, tile: int, overlap: int) -> np.ndarray:
    """The stored (overlapped) image of one level: tile (r, c) shows the picture from
    (c * (tile - overlap), r * (tile - overlap)); its width is the level width plus the overlaps."""
    h, w = pixels.shape[:2]
    across, down = _trestle_tiles_across(w, tile, overlap), _trestle_tiles_across(h, tile, overlap)
    out = np.full((down * tile, across * tile, 3), 255, dtype=np.uint8)
    step = tile - overlap
    for r in range(down):
        for c in range(across):
            out[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = _crop(
                pixels, c * step, r * step, tile, tile
            )
    return out[: h + (down - 1) * overlap, : w + (across - 1) * overlap]


def write_trestle_tif(
    folder: Path | str,
    width: int = 2048,
    height: int = 1536,
    *,
    mpp: float = 0.25,
    tile: int = 256,
    seed: int = 0,
) -> Path:
    """Trestle (``openslide.vendor`` = trestle), written atomically into ``folder``: ``<name>.tif``, a
    tiled JPEG TIFF with Software "MedScan" whose first ImageDescription holds ``;``-separated
    key=value pairs (``OverlapsXY=`` lists each level's x and y tile overlap, ``Objective Power``,
    ``Background Color``); tiles overlap their neighbours by that many px, so OpenSlide places tile
    (c, r) at (c, r) * (tile - overlap). MPP: the XResolution/YResolution tags hold µm per pixel
    themselves (Trestle's non-standard use; unit NONE). ``<name>.Full`` is the macro image (JPEG).
    Returns the ``.tif`` file."""
    folder = Path(folder)
    pyr = render_pyramid(width, height, mpp=mpp, seed=seed, tile=tile)
    overlaps = [TRESTLE_OVERLAP // d for d in pyr.downsamples]
    description = (
        f"Background Color=FFFFFF;White Balance=FFFFFF;Objective Power={TRESTLE_OBJECTIVE};"
        f"JPEG Quality={JPEG_QUALITY};OverlapsXY= {' '.join(f'{o} {o}' for o in overlaps)};"
        f"Comment={pyr.description.replace(';', ',')}"
    )
    pages = []
    for index, (pixels, overlap) in enumerate(zip(pyr.levels, overlaps, strict=True)):
        level_mpp = mpp * pyr.downsamples[index]
        options = _tiff_options(
            tile, software="MedScan", resolution=(level_mpp, level_mpp), resolutionunit="NONE"
        )
        if index == 0:
            options["description"] = description
        pages.append((_trestle_level(pixels, tile, overlap), options))
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as tif:
        for pixels, options in pages:
            tif.write(pixels, **options)
    with atomic_dir(folder) as tmp:
        (tmp / f"{folder.name}.tif").write_bytes(buffer.getvalue())
        (tmp / f"{folder.name}.Full").write_bytes(_jpeg(_label(640, 240, seed)))
        _make_readable(tmp)
    return folder / f"{folder.name}.tif"


@dataclass(frozen=True)
class VendorFormat:
    """One fixture format: OpenSlide's format and vendor names, the file suffix, and its writer.

    ``folder`` formats are written into a folder (the writer's ``path``) and the writer returns the
    file OpenSlide opens inside it."""

    name: str
    vendor: str
    suffix: str
    write: Callable[..., Path]
    folder: bool = False

    def fixture_path(self, parent: Path, stem: str) -> Path:
        """Where to pass to ``write`` for a fixture called ``stem`` under ``parent``."""
        return parent / stem if self.folder else parent / f"{stem}{self.suffix}"


FORMATS: dict[str, VendorFormat] = {
    f.name: f
    for f in (
        VendorFormat("philips-tiff", "philips", ".tiff", write_philips_tiff),
        VendorFormat("leica", "leica", ".scn", write_leica_scn),
        VendorFormat("ventana", "ventana", ".bif", write_ventana_bif),
        VendorFormat("hamamatsu-ndpi", "hamamatsu", ".ndpi", write_hamamatsu_ndpi),
        VendorFormat("hamamatsu-vms-vmu", "hamamatsu", ".vms", write_hamamatsu_vms, folder=True),
        VendorFormat("aperio", "aperio", ".svs", write_aperio_jp2k_svs),
        VendorFormat("mirax", "mirax", ".mrxs", write_mirax, folder=True),
        VendorFormat("sakura", "sakura", ".svslide", write_sakura_svslide),
        VendorFormat("trestle", "trestle", ".tif", write_trestle_tif, folder=True),
        VendorFormat("hamamatsu-vmu", "hamamatsu", ".vmu", write_hamamatsu_vmu, folder=True),
    )
}

VENDOR_WRITERS: dict[str, Callable[..., Path]] = {
    "philips": write_philips_tiff,
    "leica": write_leica_scn,
    "ventana": write_ventana_bif,
    "hamamatsu": write_hamamatsu_ndpi,
    "aperio": write_aperio_jp2k_svs,
    "mirax": write_mirax,
    "sakura": write_sakura_svslide,
    "trestle": write_trestle_tif,
}
