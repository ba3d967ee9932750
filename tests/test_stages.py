"""Stage helpers shared by the CLI, components and DVC: slide sharding and merging tile shards."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathreasoner import stages
from pathreasoner.errors import DatasetError


def _slides(root: Path, sizes: dict[str, int]) -> Path:
    root.mkdir(parents=True)
    for name, size in sizes.items():
        (root / name).write_bytes(b"x" * size)
    return root


def test_shard_slides_balances_bytes_and_keeps_every_slide(tmp_path: Path) -> None:
    root = _slides(tmp_path / "s", {"a.svs": 900, "b.svs": 500, "c.tiff": 400, "d.ndpi": 100, "notes.txt": 5})
    shards = stages.shard_slides(root, 2)
    # greedy by size: a(900) | b(500)+c(400) | then d(100) joins the first of the equal loads
    assert shards == [
        [str(root / "a.svs"), str(root / "d.ndpi")],
        [str(root / "b.svs"), str(root / "c.tiff")],
    ]
    assert len(stages.shard_slides(root, 10)) == 4  # never more shards than slides


def test_shard_slides_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no slide files"):
        stages.shard_slides(tmp_path / "empty", 2)
    with pytest.raises(DatasetError, match="tile_shards"):
        stages.shard_slides(tmp_path / "empty", 0)


def test_merge_tile_dirs_links_each_slide_once(tmp_path: Path) -> None:
    for shard, slide in (("s0", "A"), ("s1", "B")):
        (tmp_path / shard / slide).mkdir(parents=True)
        (tmp_path / shard / slide / "views.json").write_text("[]")
    (tmp_path / "s1" / ".A.tmp").mkdir()  # an unfinished temp dir is not a slide
    merged = stages.merge_tile_dirs([tmp_path / "s0", tmp_path / "s1"], tmp_path / "merged")
    assert sorted(p.name for p in merged.iterdir()) == ["A", "B"]
    assert (merged / "B" / "views.json").read_text() == "[]"
    (tmp_path / "s2" / "A").mkdir(parents=True)
    with pytest.raises(DatasetError, match="two tiling shards"):
        stages.merge_tile_dirs([tmp_path / "s0", tmp_path / "s2"], tmp_path / "merged2")
