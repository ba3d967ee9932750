"""The slide manifest: a folder, a CSV/JSON file, or S3 (moto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pathreasoner.benchmarks import BenchmarkItem, LoadedBenchmark, SlideManifest, count_slides
from pathreasoner.errors import DatasetError


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"slide")
    return path


def _item(item_id: str, slide_id: str) -> BenchmarkItem:
    return BenchmarkItem(item_id, slide_id, "q?", "a", "open")


def test_folder_is_scanned_by_stem(tmp_path: Path) -> None:
    svs = _touch(tmp_path / "slides" / "TCGA-A2-A0YC-01Z-00-DX1.svs")
    tiff = _touch(tmp_path / "slides" / "nested" / "GTEX-OIZH-0626.tiff")
    _touch(tmp_path / "slides" / "notes.txt")
    manifest = SlideManifest.from_source(tmp_path / "slides")
    assert manifest.entries == {"TCGA-A2-A0YC-01Z-00-DX1": str(svs), "GTEX-OIZH-0626": str(tiff)}
    assert manifest.locate("GTEX-OIZH-0626") == str(tiff)
    assert manifest.locate("TCGA-A2-A0YC") == str(svs)  # patient barcode -> its slide
    assert manifest.locate("TCGA-A2-A0Y") is None  # a prefix must end at a dash
    assert manifest.locate("TCGA-A2-A0YK") is None
    _touch(tmp_path / "slides" / "other" / "GTEX-OIZH-0626.svs")
    with pytest.raises(DatasetError, match=r"slide id GTEX-OIZH-0626 appears twice in .*rename or remove"):
        SlideManifest.from_source(tmp_path / "slides")


def test_csv_and_json_manifests(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("slide_id,path\nS1,slides/a.svs\nS2,s3://bucket/b.svs\n")
    manifest = SlideManifest.from_source(tmp_path / "m.csv")
    assert manifest.entries == {"S1": str(tmp_path / "slides" / "a.svs"), "S2": "s3://bucket/b.svs"}
    _touch(tmp_path / "slides" / "a.svs")
    loaded = LoadedBenchmark("slidebench", "f.csv", [_item("q1", "S1"), _item("q2", "S2"), _item("q3", "S3")])
    counts = count_slides(loaded, manifest)  # S2 on S3 is not fetched to count it
    assert (counts.with_slide, counts.missing_slide) == (2, 1)
    assert counts.missing == [{"id": "q3", "slide_id": "S3", "reason": "no slide for this id in --slides"}]
    (tmp_path / "m.csv").write_text("slide_id,path\nS1,slides/gone.svs\n")
    [gone] = count_slides(loaded, SlideManifest.from_source(tmp_path / "m.csv")).missing[:1]
    assert gone["id"] == "q1" and gone["reason"] == f"slide {tmp_path / 'slides' / 'gone.svs'} does not exist"
    (tmp_path / "m.json").write_text(json.dumps({"S1": "/data/a.svs"}))
    assert SlideManifest.from_source(tmp_path / "m.json").entries == {"S1": "/data/a.svs"}
    (tmp_path / "bad.csv").write_text("id,file\nS1,a.svs\n")
    with pytest.raises(
        DatasetError, match=r"columns \['id', 'file'\]; expected exactly \['slide_id', 'path'\]"
    ):
        SlideManifest.from_source(tmp_path / "bad.csv")
    with pytest.raises(
        DatasetError, match=r"neither a folder, an s3:// URI, nor a .csv/.json slide manifest"
    ):
        SlideManifest.from_source(tmp_path / "missing")
    assert SlideManifest.from_source(None).locate("S1") is None


def test_s3_prefix_and_s3_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    moto = pytest.importorskip("moto")
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="slides")
        s3.put_object(Bucket="slides", Key="tcga/TCGA-05-4244-01Z-00-DX1.svs", Body=b"x")
        s3.put_object(Bucket="slides", Key="tcga/readme.txt", Body=b"x")
        s3.put_object(Bucket="slides", Key="manifest.csv", Body=b"slide_id,path\nS9,s3://slides/tcga/x.svs\n")
        listed = SlideManifest.from_source("s3://slides/tcga/")
        assert listed.entries == {"TCGA-05-4244-01Z-00-DX1": "s3://slides/tcga/TCGA-05-4244-01Z-00-DX1.svs"}
        assert SlideManifest.from_source("s3://slides/manifest.csv").entries == {
            "S9": "s3://slides/tcga/x.svs"
        }
        with pytest.raises(DatasetError, match=r"slide manifest s3://slides/nothing.json cannot be read"):
            SlideManifest.from_source("s3://slides/nothing.json")
