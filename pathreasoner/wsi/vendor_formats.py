"""Small synthetic slides in the scanner vendors' own formats: conformance fixtures for the reader/tiler.

Each writer draws the same H&E-like picture as ``pathreasoner.wsi.synthetic`` (same seed, same
pixels), builds a 3-level pyramid (downsamples 1, 2, 4) and stores it the way the vendor's scanner
software does (JPEG tiles or strips; JPEG 2000 for the Aperio variant), with the MPP in the vendor's
own metadata fields, so that OpenSlide detects the vendor (``openslide.vendor``) and derives
``openslide.mpp-x`` from those fields. They
exist to test ``pathreasoner.wsi.reader`` and ``pathreasoner.wsi.tiler`` on every format OpenSlide
reads without shipping real (large, licensed) vendor slides. They are not valid scanner output in
every detail: only what OpenSlide needs, plus the fields a reader would look at, is written.

Single files are written under a temporary name and renamed; multi-file formats (Hamamatsu VMS) are
written into a temporary folder that is renamed as a whole. Same arguments, same bytes. ``FORMATS``
lists every format by OpenSlide's format name; ``VENDOR_WRITERS`` maps each ``openslide.vendor`` to a
writer. Not written (yet): MIRAX, Trestle, Sakura, Olympus VSI.
"""

from __future__ import annotations

import base64
import io
import struct
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
from pathreasoner.wsi.synthetic import SYNTHETIC_MARK, _render_level0

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
    level0 = _render_level0(np.random.default_rng(seed), width, height, tissue=True)
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


# ---- Hamamatsu NDPI and VMS -------------------------------------------------------------------

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


def _make_readable(folder: Path) -> None:
    for path in folder.iterdir():
        path.chmod(0o644)


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
    )
}

VENDOR_WRITERS: dict[str, Callable[..., Path]] = {
    "philips": write_philips_tiff,
    "leica": write_leica_scn,
    "ventana": write_ventana_bif,
    "hamamatsu": write_hamamatsu_ndpi,
    "aperio": write_aperio_jp2k_svs,
}
