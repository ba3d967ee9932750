"""S3 input against a real S3 API (moto server on 127.0.0.1): listing, cache, eviction, tiling, resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pathreasoner.config import TilingConfig
from pathreasoner.errors import SlideReadError
from pathreasoner.stages import find_slides
from pathreasoner.wsi import load_index
from pathreasoner.wsi.s3_cache import S3SlideCache, describe, list_slides, normalize_uri, slide_id_of
from pathreasoner.wsi.tiler import tile_slides
from tests.servers import free_port, s3_bucket_for_test

moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture()
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> tuple[object, str]:
    """(client, bucket): a fresh bucket per test, dummy credentials, endpoint via AWS_ENDPOINT_URL."""
    return s3_bucket_for_test(endpoint, monkeypatch, request, "b")


def _put(client: object, bucket: str, key: str, data: bytes) -> str:
    client.put_object(Bucket=bucket, Key=key, Body=data)  # type: ignore[attr-defined]
    return f"s3://{bucket}/{key}"


def test_uri_forms_and_slide_ids() -> None:
    assert normalize_uri(Path("s3://bkt/a/b.svs")) == "s3://bkt/a/b.svs"  # Path collapses '//'
    assert slide_id_of("s3://bkt/a/b.svs") == "b"
    assert slide_id_of("s3://bkt/dicom/boxes/") == "boxes"


def test_find_slides_lists_prefixes(s3: tuple[object, str]) -> None:
    client, bucket = s3
    for key in (
        "cohort/a.svs",
        "cohort/sub/b.tiff",
        "cohort/readme.txt",
        "cohort/dicom/boxes/l0.dcm",
        "cohort/dicom/boxes/l1.dcm",
        "cohort/mirax/m.mrxs",
        "cohort/mirax/m/Data0000.dat",
        "other/c.svs",
    ):
        _put(client, bucket, key, b"x")
    expected = [
        f"s3://{bucket}/cohort/a.svs",
        f"s3://{bucket}/cohort/dicom/boxes/",
        f"s3://{bucket}/cohort/mirax/m.mrxs",
        f"s3://{bucket}/cohort/sub/b.tiff",
    ]
    assert list_slides(f"s3://{bucket}/cohort/") == expected
    assert find_slides([Path(f"s3://{bucket}/cohort/")]) == expected  # the CLI hands over Paths
    assert find_slides([f"s3://{bucket}/other/c.svs"]) == [f"s3://{bucket}/other/c.svs"]
    mirax = describe(f"s3://{bucket}/cohort/mirax/m.mrxs")
    assert [o.key for o in mirax.objects] == ["cohort/mirax/m.mrxs", "cohort/mirax/m/Data0000.dat"]


def test_cache_fetches_atomically_and_evicts_least_recently_used(
    s3: tuple[object, str], tmp_path: Path
) -> None:
    client, bucket = s3
    uris = [_put(client, bucket, f"s/{name}.svs", bytes([i]) * 1000) for i, name in enumerate("abc")]
    cache = S3SlideCache(tmp_path / "cache", max_bytes=2500)
    a = cache.fetch(uris[0])
    b = cache.fetch(uris[1])
    assert a.name == "a.svs" and a.read_bytes() == b"\x00" * 1000
    assert cache.fetch(uris[0]) == a  # hit: a is now the most recently used
    c = cache.fetch(uris[2])  # needs room: b (least recently used) goes, a stays
    assert a.is_file() and c.is_file() and not b.exists()
    assert cache.size_bytes() <= 2500
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".tmp-")]
    _put(client, bucket, "s/a.svs", b"\x07" * 900)  # replaced object (new ETag): fetched again
    assert cache.fetch(uris[0]).read_bytes() == b"\x07" * 900
    with cache.use(uris[1]) as pinned:  # in use (e.g. by another worker): never evicted
        cache.fetch(uris[2])
        cache.fetch(uris[0])  # needs room; the pinned least-recently-used entry stays anyway
        assert pinned.read_bytes() == b"\x01" * 1000
    with pytest.raises(SlideReadError, match="s3_cache_max_bytes"):
        S3SlideCache(tmp_path / "small", max_bytes=10).fetch(uris[1])
    with pytest.raises(SlideReadError, match=f"s3://{bucket}/s/missing.svs"):
        cache.fetch(f"s3://{bucket}/s/missing.svs")


def test_tile_slides_from_s3_matches_local_and_resumes_without_download(
    s3: tuple[object, str], synthetic_slide: Path, tiling_cfg: TilingConfig, tmp_path: Path
) -> None:
    client, bucket = s3
    uri = _put(client, bucket, f"cohort/{synthetic_slide.name}", synthetic_slide.read_bytes())
    cache_dir = tmp_path / "cache"
    cfg = tiling_cfg.model_copy(update={"s3_cache_dir": str(cache_dir)})
    missing = f"s3://{bucket}/cohort/missing.svs"
    summary = tile_slides([*find_slides([Path(f"s3://{bucket}/cohort/")]), missing], tmp_path / "s3", cfg)
    local = tile_slides([synthetic_slide], tmp_path / "local", tiling_cfg)

    assert [s.slide for s in summary.slides] == [uri]
    assert [q["slide"] for q in summary.quarantine] == [missing]
    assert summary.quarantine[0]["error_type"] == "SlideReadError"
    assert summary.exit_code == 1 and summary.to_dict()["exit_code"] == 1
    remote_dir, local_dir = Path(summary.slides[0].slide_dir), Path(local.slides[0].slide_dir)
    assert load_index(remote_dir).equals(load_index(local_dir))
    manifest = (remote_dir / "manifest.json").read_text()
    assert f'"source": "{uri}"' in manifest
    for shard in sorted((local_dir / "shards").iterdir()):
        assert (remote_dir / "shards" / shard.name).read_bytes() == shard.read_bytes()

    for entry in cache_dir.iterdir():  # empty the cache: a resumed slide must not be fetched again
        if entry.is_dir():
            for path in sorted(entry.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            entry.rmdir()
    again = tile_slides([uri], tmp_path / "s3", cfg)
    assert again.slides[0].resumed and again.exit_code == 0
    assert S3SlideCache(cache_dir, cfg.s3_cache_max_bytes).entries() == []
