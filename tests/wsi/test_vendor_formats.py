"""Vendor-format conformance: synthetic Philips, Leica, Ventana, Hamamatsu (NDPI, VMS, VMU), Aperio JPEG 2000,
MIRAX, Sakura and Trestle slides are opened by OpenSlide as that vendor, described by the reader with the MPP
we wrote, and tiled pixel-exactly (tiles equal OpenSlide's read_region)."""

from __future__ import annotations

import json
import sqlite3
import struct
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from typer.testing import CliRunner

from pathreasoner.cli import app
from pathreasoner.config import TilingConfig
from pathreasoner.errors import SlideReadError
from pathreasoner.stages import find_slides
from pathreasoner.wsi import load_index, read_tile, tile_pixels
from pathreasoner.wsi.reader import open_slide, read_slide_info
from pathreasoner.wsi.tiler import slide_files, source_bytes, tile_slide
from tests.support.vendor_formats import (
    FORMATS,
    VENDOR_WRITERS,
    _mirax_axis,
    render_pyramid,
    write_aperio_jp2k_svs,
    write_hamamatsu_vmu,
    write_mirax,
    write_philips_tiff,
    write_sakura_svslide,
    write_trestle_tif,
)

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT, MPP, SEED = 2048, 1536, 0.2425, 7  # an MPP no reader default or rounding produces
STORED = [(WIDTH // d, HEIGHT // d) for d in (1, 2, 4)]
LEICA_MARGIN = 64
TIFFFILE_FLAG = {  # tifffile's own format detection, a second opinion on each TIFF-based fixture
    "philips-tiff": "is_philips",
    "leica": "is_scn",
    "ventana": "is_bif",
    "hamamatsu-ndpi": "is_ndpi",
    "aperio": "is_svs",
}


def expected_levels(name: str) -> list[tuple[int, int]]:
    """The level sizes OpenSlide should report, largest first."""
    if name == "leica":  # the slide area: the scanned region plus a transparent margin all round
        return [((WIDTH + 2 * LEICA_MARGIN) // d, (HEIGHT + 2 * LEICA_MARGIN) // d) for d in (1, 2, 4)]
    if name == "hamamatsu-vmu":  # uncompressed NGR: the image and its map (1/2), nothing added
        return STORED[:2]
    if name.startswith("hamamatsu"):  # OpenSlide adds JPEG-scaled (1/2..1/8) levels below the stored ones
        return [(WIDTH // d, HEIGHT // d) for d in (1, 2, 4, 8, 16, 32)]
    return STORED


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every vendor fixture, written once: format name -> the file OpenSlide opens."""
    root = tmp_path_factory.mktemp("vendor-slides")
    return {
        name: fmt.write(fmt.fixture_path(root, name.replace("-", "_")), WIDTH, HEIGHT, mpp=MPP, seed=SEED)
        for name, fmt in FORMATS.items()
    }


@pytest.fixture(scope="module")
def picture() -> list[np.ndarray]:
    return list(render_pyramid(WIDTH, HEIGHT, mpp=MPP, seed=SEED, tile=256).levels)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_openslide_reads_vendor_levels_and_mpp(
    name: str, fixtures: dict[str, Path], picture: list[np.ndarray]
) -> None:
    slide = openslide.OpenSlide(fixtures[name])
    props = slide.properties
    assert props["openslide.vendor"] == FORMATS[name].vendor
    assert [tuple(d) for d in slide.level_dimensions] == expected_levels(name)
    assert float(props["openslide.mpp-x"]) == pytest.approx(MPP, rel=1e-5)
    assert float(props["openslide.mpp-y"]) == pytest.approx(MPP, rel=1e-5)
    offset = LEICA_MARGIN if name == "leica" else 0
    if name == "leica":
        assert (props["openslide.bounds-x"], props["openslide.bounds-width"]) == (str(offset), str(WIDTH))
    for level, expected in enumerate(picture[: slide.level_count]):  # each level shows our picture
        h, w = expected.shape[:2]
        region = np.asarray(slide.read_region((offset, offset), level, (w, h)))
        assert (region[..., 3] == 255).all()
        assert np.abs(region[..., :3].astype(int) - expected).mean() < 3.0
    assert slide.associated_images  # label / macro / thumbnail written the vendor's way


@pytest.mark.parametrize("name", sorted(TIFFFILE_FLAG))
def test_tifffile_recognises_the_tiff_based_formats(name: str, fixtures: dict[str, Path]) -> None:
    with tifffile.TiffFile(fixtures[name]) as tif:
        assert getattr(tif, TIFFFILE_FLAG[name])
        assert tif.pages[0].shape[2] == 3


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_reader_reports_vendor_and_mpp_from_openslide(name: str, fixtures: dict[str, Path]) -> None:
    info = read_slide_info(fixtures[name])
    assert info.vendor == FORMATS[name].vendor
    assert info.mpp == pytest.approx(MPP, rel=1e-5) and info.mpp_source == "openslide.mpp"
    assert list(info.level_dimensions) == expected_levels(name)
    levels = expected_levels(name)
    assert info.level_downsamples == pytest.approx([levels[0][0] / w for w, _ in levels], rel=0.01)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_tiles_are_pixel_exact_against_read_region(
    name: str, fixtures: dict[str, Path], tmp_path: Path
) -> None:
    path = fixtures[name]
    cfg = TilingConfig(target_mpp=2 * MPP, tile_px=128, min_tissue_frac=0.4, top_k_tiles=2, view_px=112)
    result = tile_slide(path, tmp_path, cfg)
    assert result.level == 1 and result.mpp == pytest.approx(2 * MPP, rel=1e-5)
    assert result.mpp_source == "openslide.mpp" and result.n_tiles >= 8
    index = load_index(result.slide_dir)
    assert (index["read_px"] == 128).all() and (index["size_px"] == 128).all()
    reference = openslide.OpenSlide(path)
    for _, row in index.sample(n=4, random_state=0).iterrows():
        region = reference.read_region((int(row.x), int(row.y)), int(row.level), (128, 128))
        expected = np.asarray(region.convert("RGB"))
        assert np.array_equal(tile_pixels(path, row), expected)
        assert np.abs(np.asarray(read_tile(result.slide_dir, row)).astype(int) - expected).mean() < 3.0
    manifest = json.loads((Path(result.slide_dir) / "manifest.json").read_text())
    assert manifest["slide"]["vendor"] == FORMATS[name].vendor


@pytest.mark.parametrize("name", ["philips-tiff", "hamamatsu-vms-vmu"])
def test_inspect_slide_cli_prints_the_vendor(name: str, fixtures: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "inspect-slide",
            str(fixtures[name]),
            "--config",
            str(REPO / "params.yaml"),
            "--set",
            f"project.work_dir={tmp_path}",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["vendor"] == FORMATS[name].vendor and report["mpp"] == pytest.approx(MPP, rel=1e-5)
    assert report["mpp_source"] == "openslide.mpp" and report["tissue_fraction"] > 0.1


def test_aperio_rgb_jpeg2000_variant_is_tiled_exactly(tmp_path: Path) -> None:
    """Compression 33005 (RGB codestreams) besides the default 33003 (YCbCr) of the ``aperio`` fixture."""
    path = write_aperio_jp2k_svs(tmp_path / "rgb.svs", 1024, 1024, mpp=MPP, seed=SEED, ycbcr=False)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].compression == 33005
    slide = openslide.OpenSlide(path)
    assert slide.properties["openslide.vendor"] == "aperio"
    cfg = TilingConfig(target_mpp=MPP, tile_px=256, min_tissue_frac=0.3, top_k_tiles=1, view_px=112)
    result = tile_slide(path, tmp_path / "tiles", cfg)
    row = load_index(result.slide_dir).iloc[0]
    expected = np.asarray(slide.read_region((int(row.x), int(row.y)), 0, (256, 256)).convert("RGB"))
    assert np.array_equal(tile_pixels(path, row), expected)


def test_slide_discovery_finds_every_fixture_once(fixtures: dict[str, Path]) -> None:
    root = fixtures["philips-tiff"].parent  # folder formats sit in their own subfolder of it
    found = {Path(p).resolve() for p in find_slides(root)}
    assert found == {p.resolve() for p in fixtures.values()}


def test_writers_are_deterministic_and_registered(tmp_path: Path) -> None:
    a = write_philips_tiff(tmp_path / "a.tiff", 1024, 1024, mpp=MPP, seed=3)
    b = write_philips_tiff(tmp_path / "b.tiff", 1024, 1024, mpp=MPP, seed=3)
    assert a.read_bytes() == b.read_bytes()
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    assert {f.vendor for f in FORMATS.values()} == set(VENDOR_WRITERS)


@pytest.mark.parametrize(("size", "mpp"), [((2000, 1536), 0.25), ((2048, 1536), 0.0), ((512, 512), 0.25)])
def test_writers_reject_unusable_sizes(tmp_path: Path, size: tuple[int, int], mpp: float) -> None:
    with pytest.raises(ValueError, match=r"fixture|mpp"):
        write_philips_tiff(tmp_path / "bad.tiff", *size, mpp=mpp)
    assert not (tmp_path / "bad.tiff").exists()


def test_outside_the_scanned_area_reads_as_background_not_black(fixtures: dict[str, Path]) -> None:
    """Leica stores a scanned area inside a larger macro frame; OpenSlide returns the margin transparent,
    and Slide.read_region must blend it onto the slide's background colour (as the thumbnail does)."""
    with open_slide(fixtures["leica"]) as slide:
        margin = slide.read_region((0, 0), 0, (16, 16))
        background = slide.background.astype(np.uint8)
        assert margin.shape == (16, 16, 3) and margin.dtype == np.uint8
        assert (margin == background).all()
        x, y = (int(slide.properties[f"openslide.bounds-{k}"]) for k in ("x", "y"))
        inside = slide.read_region((x + 512, y + 512), 0, (16, 16))
        raw = np.asarray(slide.handle.read_region((x + 512, y + 512), 0, (16, 16)).convert("RGB"))
        assert (inside == raw).all() and not (inside == background).all()


def _mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a[..., :3].astype(int) - b[..., :3].astype(int)).mean())


@pytest.mark.parametrize("position_buffer", ["vimslide", "stitching"])
def test_mirax_photos_sit_where_the_position_buffer_says(
    position_buffer: str, fixtures: dict[str, Path], picture: list[np.ndarray], tmp_path: Path
) -> None:
    """Interior camera photos sit a few px off the nominal grid; only the position buffer (raw
    VIMSLIDE_POSITION_BUFFER or zlib StitchingIntensityLayer) puts them where the picture has them."""
    path = fixtures["mirax"]
    if position_buffer == "stitching":
        path = write_mirax(
            tmp_path / "stitched", WIDTH, HEIGHT, mpp=MPP, seed=SEED, position_buffer="stitching"
        )
    slide = openslide.OpenSlide(path)
    layer = {"vimslide": "VIMSLIDE_POSITION_BUFFER", "stitching": "StitchingIntensityLayer"}[position_buffer]
    assert slide.properties["mirax.HIERARCHICAL.NONHIER_1_NAME"] == layer
    ax, ay = _mirax_axis(WIDTH), _mirax_axis(HEIGHT)
    x, y = ax.starts[1], ay.starts[1]  # the photo second from the left, second from the top
    nominal = (2 * ax.image - ax.overlap, 2 * ay.image - ay.overlap)
    assert (x, y) != nominal  # the fixture really moved it
    region = np.asarray(slide.read_region((x + 32, y + 32), 0, (128, 128)))
    at_position = picture[0][y + 32 : y + 160, x + 32 : x + 160]
    at_nominal = picture[0][nominal[1] + 32 : nominal[1] + 160, nominal[0] + 32 : nominal[0] + 160]
    assert _mean_diff(region, at_position) < 3.0 < _mean_diff(region, at_nominal)
    assert slide.properties["openslide.background-color"] == "FFFFFF"  # IMAGE_FILL_COLOR_BGR


def test_mirax_level2_images_past_the_edge_are_fill_and_not_drawn(fixtures: dict[str, Path]) -> None:
    """An odd photo count leaves the last level-2 image half empty; OpenSlide draws only the tiles that
    belong to real photos, so the level stays opaque and the layout adds up to the level size."""
    ax = _mirax_axis(WIDTH)
    assert ax.photos % 2 == 1 and ax.overlap % 4 == 0 and ax.image % 4 == 0
    assert 2 * ax.photos * ax.image - (ax.photos - 1) * ax.overlap == WIDTH
    slide = openslide.OpenSlide(fixtures["mirax"])
    right = np.asarray(slide.read_region((WIDTH - 64 * 4, 0), 2, (64, HEIGHT // 4)))
    assert (right[..., 3] == 255).all()


def test_mirax_data_files_are_not_slides(fixtures: dict[str, Path]) -> None:
    inner = fixtures["mirax"].with_suffix("")
    assert sorted(p.name for p in inner.iterdir()) == [
        "Data0000.dat",
        "Data0001.dat",
        "Data0002.dat",
        "Index.dat",
        "Slidedat.ini",
    ]
    assert find_slides(fixtures["mirax"].parent) == [fixtures["mirax"]]


def test_trestle_tiles_overlap_as_overlapsxy_says(
    fixtures: dict[str, Path], picture: list[np.ndarray]
) -> None:
    path = fixtures["trestle"]
    slide = openslide.OpenSlide(path)
    overlaps = [int(v) for v in slide.properties["trestle.OverlapsXY"].split()]
    assert overlaps[:2] == [16, 16]
    with tifffile.TiffFile(path) as tif:
        stored_w = tif.pages[0].shape[1]
        across = -(-stored_w // tif.pages[0].tilewidth)
    assert stored_w - (across - 1) * overlaps[0] == WIDTH and stored_w > WIDTH
    step = 256 - overlaps[0]  # a window across the joint between tiles 1 and 2 of the first row
    region = np.asarray(slide.read_region((2 * step - 32, 100), 0, (64, 64)))
    assert _mean_diff(region, picture[0][100:164, 2 * step - 32 : 2 * step + 32]) < 3.0
    assert float(slide.properties["tiff.XResolution"]) == pytest.approx(MPP, rel=1e-5)  # µm/px, not px/cm
    assert (path.parent / f"{path.stem}.Full").is_file() and "macro" in slide.associated_images


def test_vmu_pixels_are_exact(fixtures: dict[str, Path], picture: list[np.ndarray]) -> None:
    """NGR is uncompressed 12-bit RGB: OpenSlide returns exactly the 8-bit picture we stored."""
    slide = openslide.OpenSlide(fixtures["hamamatsu-vmu"])
    for level in range(slide.level_count):
        expected = picture[level]
        region = np.asarray(slide.read_region((0, 0), level, expected.shape[1::-1]))
        assert np.array_equal(region[..., :3], expected)
    assert slide.properties["hamamatsu.BitsPerPixel"] == "36"


def test_sakura_database_layout(fixtures: dict[str, Path]) -> None:
    with sqlite3.connect(f"file:{fixtures['sakura']}?mode=ro", uri=True) as db:
        (table,) = db.execute("SELECT TableName FROM DataManagerSQLiteConfigXPO").fetchone()
        header = db.execute(f"SELECT data FROM {table} WHERE id = 'Header'").fetchone()[0]
        tiles = db.execute(f"SELECT count(*) FROM {table} WHERE id LIKE 'T;%'").fetchone()[0]
        (mm,) = db.execute("SELECT ResolutionMmPerPix FROM SVHRScanDataXPO").fetchone()
    assert struct.unpack("<III", header[:12]) == (256, WIDTH, HEIGHT)
    assert tiles == 3 * sum(-(-w // 256) * -(-h // 256) for w, h in STORED)  # one JPEG per channel
    assert mm * 1000 == pytest.approx(MPP)
    assert set(openslide.OpenSlide(fixtures["sakura"]).associated_images) == {"label", "macro", "thumbnail"}


@pytest.mark.parametrize(
    "writer",
    [write_mirax, write_sakura_svslide, write_trestle_tif, write_hamamatsu_vmu],
    ids=lambda w: w.__name__,
)
def test_new_writers_are_deterministic_and_atomic(writer: object, tmp_path: Path) -> None:
    def snapshot(folder: Path) -> dict[str, bytes]:
        return {
            p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
        }

    for run in ("a", "b"):
        writer(tmp_path / run / "slide", 1024, 1024, mpp=MPP, seed=3)  # type: ignore[operator]
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary files or folders left behind


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.folder])
def test_multi_file_slides_open_from_their_folder(name: str, fixtures: dict[str, Path]) -> None:
    """A MIRAX / VMS / VMU / Trestle slide may be given as the folder that holds it."""
    slide_file = fixtures[name]
    info = read_slide_info(slide_file.parent)
    assert info.vendor == FORMATS[name].vendor and info.slide_id == slide_file.stem
    assert info.dimensions == read_slide_info(slide_file).dimensions


def test_folder_with_two_slide_files_is_a_clear_error(tmp_path: Path) -> None:
    for stem in ("a", "b"):
        write_philips_tiff(tmp_path / f"{stem}.tiff", 1024, 1024, mpp=MPP, seed=SEED)
    with pytest.raises(
        SlideReadError, match=r"slide files in it: a.tiff, b.tiff\); pass the slide file itself"
    ):
        read_slide_info(tmp_path)


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.folder])
def test_resume_key_counts_every_file_of_a_multi_file_slide(name: str, fixtures: dict[str, Path]) -> None:
    """The resume check compares source_bytes: it must cover the image/data files, not just the key file."""
    slide_file = fixtures[name]
    every_file = sorted(p for p in slide_file.parent.rglob("*") if p.is_file())
    assert slide_files(slide_file)[0] == slide_file
    assert set(slide_files(slide_file)) == set(every_file)
    assert source_bytes(slide_file) == sum(p.stat().st_size for p in every_file)
