from __future__ import annotations

from pathlib import Path

import pytest

from pathreasoner.errors import SlideReadError
from pathreasoner.wsi.reader import mpp_from_properties, open_slide, read_slide_info, resolve_slide_path


def test_reader_describes_the_synthetic_slide(synthetic_slide: Path) -> None:
    info = read_slide_info(synthetic_slide, default_mpp=0.5)
    assert info.slide_id == "synthetic-a"
    assert info.vendor == "generic-tiff"
    assert info.dimensions == (2048, 1536)
    assert info.level_count == len(info.level_dimensions) == len(info.level_downsamples) >= 2
    assert info.mpp == pytest.approx(0.25)
    assert info.mpp_source == "openslide.mpp"
    assert info.level_mpps[1] == pytest.approx(0.5)
    assert info.to_dict()["level_mpps"][0] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("props", "expected", "source"),
    [
        (
            {
                "openslide.mpp-x": "0.2527",
                "tiff.XResolution": "40000",
                "tiff.ResolutionUnit": "centimeter",
                "openslide.objective-power": "20",
            },
            0.2527,
            "openslide.mpp",
        ),
        (
            {
                "tiff.XResolution": "40000",
                "tiff.ResolutionUnit": "centimeter",
                "openslide.objective-power": "20",
            },
            0.25,
            "tiff-resolution",
        ),
        ({"tiff.XResolution": "50800", "tiff.ResolutionUnit": "inch"}, 0.5, "tiff-resolution"),
        (
            {"tiff.XResolution": "40000", "openslide.objective-power": "40"},
            0.25,
            "objective-power",
        ),  # no unit
        ({"openslide.objective-power": "20"}, 0.5, "objective-power"),
        ({"openslide.mpp-x": "", "openslide.objective-power": "abc"}, 0.37, "default"),
        # 72 dpi is an image editor's placeholder (352.8 µm/px), not a scan resolution: skipped
        (
            {"openslide.mpp-x": "352.77", "tiff.XResolution": "28.35", "tiff.ResolutionUnit": "centimeter"},
            0.37,
            "default",
        ),
        ({}, 0.37, "default"),
    ],
)
def test_mpp_fallback_order(props: dict[str, str], expected: float, source: str) -> None:
    mpp, found = mpp_from_properties(props, default_mpp=0.37)
    assert found == source
    assert mpp == pytest.approx(expected)


def test_not_a_slide_names_the_file_and_the_fix(not_a_slide: Path) -> None:
    with pytest.raises(SlideReadError, match=r"notes\.svs") as info:
        open_slide(not_a_slide)
    assert "not a whole-slide image" in str(info.value)
    assert "re-export" in str(info.value)


def test_truncated_tiff_is_reported_as_truncated(truncated_slide: Path) -> None:
    with (
        pytest.raises(SlideReadError, match=r"truncated\.tiff") as info,
        open_slide(truncated_slide) as slide,
    ):
        slide.thumbnail(256)  # if the header survived, reading pixels must fail instead
        slide.read_region((0, 0), 0, (2048, 1536))
    assert "truncated" in str(info.value)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(SlideReadError, match="does not exist"):
        open_slide(tmp_path / "nope.svs")
    empty = tmp_path / "empty.svs"
    empty.write_bytes(b"")
    with pytest.raises(SlideReadError, match="empty file"):
        open_slide(empty)
    with pytest.raises(SlideReadError, match="empty file"):  # the folder's one slide file is opened
        open_slide(tmp_path)
    (tmp_path / "notes").mkdir()
    with pytest.raises(SlideReadError, match=r"not a DICOM slide \(no \.dcm\).*slide files in it: none"):
        open_slide(tmp_path / "notes")


def test_dicom_folder_or_any_file_is_one_slide(shared_slides: Path) -> None:
    folder = shared_slides / "dicom" / "cmu-1-small-region"
    file, slide_id = resolve_slide_path(folder)
    assert slide_id == "cmu-1-small-region" and file.suffix == ".dcm" and file.parent == folder
    assert resolve_slide_path(folder / "level-3-frames-0-1.dcm")[1] == "cmu-1-small-region"
    by_folder = read_slide_info(folder)
    by_file = read_slide_info(folder / "level-5-frames-0-1.dcm")
    assert by_folder.vendor == by_file.vendor == "dicom"
    assert by_folder.level_dimensions == by_file.level_dimensions
    assert by_folder.level_count > 1
    assert by_folder.mpp == pytest.approx(0.499) and by_folder.mpp_source == "openslide.mpp"


def test_slide_without_mpp_records_the_fallback(shared_slides: Path) -> None:
    info = read_slide_info(shared_slides / "aperio" / "TCGA-CR-7395-01A-01-TS1.svs", default_mpp=0.5)
    assert info.vendor == "aperio"
    assert info.mpp_source == "default"
    assert info.mpp == 0.5
