"""Shared fixtures for the slide tests: small synthetic slides (written once per session) and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathreasoner.config import TilingConfig
from pathreasoner.wsi.synthetic import write_synthetic_slide

WIDTH_PX, HEIGHT_PX = 2048, 1536


@pytest.fixture(scope="session")
def slides_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("slides")


@pytest.fixture(scope="session")
def synthetic_slide(slides_dir: Path) -> Path:
    return write_synthetic_slide(
        slides_dir / "synthetic-a.tiff", width_px=WIDTH_PX, height_px=HEIGHT_PX, seed=1
    )


@pytest.fixture(scope="session")
def second_slide(slides_dir: Path) -> Path:
    return write_synthetic_slide(
        slides_dir / "synthetic-b.tiff", width_px=WIDTH_PX, height_px=HEIGHT_PX, seed=2
    )


@pytest.fixture(scope="session")
def blank_slide(slides_dir: Path) -> Path:
    return write_synthetic_slide(
        slides_dir / "blank.tiff", width_px=WIDTH_PX, height_px=HEIGHT_PX, seed=3, tissue=False
    )


@pytest.fixture(scope="session")
def truncated_slide(slides_dir: Path, synthetic_slide: Path) -> Path:
    """The synthetic slide cut short (a copy interrupted near its end)."""
    data = synthetic_slide.read_bytes()
    path = slides_dir / "truncated.tiff"
    path.write_bytes(data[: int(len(data) * 0.9)])
    return path


@pytest.fixture(scope="session")
def not_a_slide(slides_dir: Path) -> Path:
    path = slides_dir / "notes.svs"
    path.write_text("this is a text file that someone named .svs\n" * 20)
    return path


@pytest.fixture()
def tiling_cfg() -> TilingConfig:
    """Small tiles so a 2048x1536 slide gives a few dozen tiles at 0.5 µm/px (pyramid level 1)."""
    return TilingConfig(target_mpp=0.5, tile_px=128, min_tissue_frac=0.4, top_k_tiles=4, view_px=112)


@pytest.fixture(scope="session")
def shared_slides(shared_data: Path) -> Path:
    """../shared/data/slides (the session fixture ``shared_data`` skips when ../shared/data is absent)."""
    slides = shared_data / "slides"
    if not slides.is_dir():
        pytest.skip(f"real slides not present at {slides}")
    return slides
