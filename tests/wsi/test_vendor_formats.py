"""Vendor-format conformance: synthetic Philips, Leica, Ventana, Hamamatsu (NDPI, VMS) and Aperio JPEG 2000
slides are opened by OpenSlide as that vendor, described by the reader with the MPP we wrote, and tiled
pixel-exactly (tiles equal OpenSlide's read_region)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from typer.testing import CliRunner

from pathreasoner.cli import app
from pathreasoner.config import TilingConfig
from pathreasoner.stages import find_slides
from pathreasoner.wsi import load_index, read_tile, tile_pixels
from pathreasoner.wsi.reader import open_slide, read_slide_info
from pathreasoner.wsi.tiler import tile_slide
from pathreasoner.wsi.vendor_formats import (
    FORMATS,
    VENDOR_WRITERS,
    render_pyramid,
    write_aperio_jp2k_svs,
    write_philips_tiff,
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
    for level, expected in enumerate(picture):  # each stored level shows the picture we drew (JPEG-close)
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
    assert info.level_downsamples[:3] == pytest.approx((1.0, 2.0, 4.0))


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
