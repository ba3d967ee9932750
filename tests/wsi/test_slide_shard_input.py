"""The tile-slides pipeline task's slide input: JSON shard lists, and bad JSON reported with its position."""

from __future__ import annotations

import pytest

from pathreasoner.errors import DatasetError
from pathreasoner.stages import slide_shard_items


def test_shard_lists_and_plain_paths_are_read() -> None:
    assert slide_shard_items('["a.svs", "s3://b/c.tiff"]') == ["a.svs", "s3://b/c.tiff"]
    assert slide_shard_items('{"slides": ["a.svs"], "bytes": 10}') == ["a.svs"]
    assert slide_shard_items("/data/slides") == "/data/slides"


def test_bad_json_names_the_parser_position() -> None:
    with pytest.raises(DatasetError, match=r"Expecting ',' delimiter at line 2 column 3 \(char 11\)"):
        slide_shard_items('["a.svs"\n  "b.svs"]')
    with pytest.raises(DatasetError, match="not a list of slide paths"):
        slide_shard_items('{"slides": [1, 2]}')
