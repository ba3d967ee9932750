"""Atomic outputs: a folder appears whole or not at all, and a rerun removes what killed writers left."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pathreasoner.io_utils import _temp_prefix, atomic_dir, remove_stale_temp_dirs


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_atomic_dir_replaces_on_success_and_leaves_nothing_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    assert (target / "a.txt").read_text() == "1"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("half")
        raise RuntimeError("killed mid-write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and not (target / "b.txt").exists()


def test_rerun_removes_only_dead_writers_leftovers_of_this_host(tmp_path: Path) -> None:
    target = tmp_path / "slide-1"
    mine = _temp_prefix("slide-1")
    host = mine.split(".")[2]
    dead = tmp_path / f".slide-1.{host}.{_dead_pid()}.abc.tmp"
    live = tmp_path / f"{mine}def.tmp"  # this process: alive
    other_host = tmp_path / f".slide-1.other-pod.{_dead_pid()}.ghi.tmp"
    other_slide = tmp_path / f".slide-2.{host}.{_dead_pid()}.jkl.tmp"
    for folder in (dead, live, other_host, other_slide):
        folder.mkdir()
        (folder / "part.tar").write_bytes(b"x" * 10)
    assert remove_stale_temp_dirs(target) == [dead]
    with atomic_dir(target) as tmp:
        assert tmp.name.startswith(mine)
    assert not dead.exists() and live.exists() and other_host.exists() and other_slide.exists()


def test_read_jsonl_error_keeps_the_line_and_column_in_the_file(tmp_path: Path) -> None:
    import json

    from pathreasoner.io_utils import read_jsonl, write_jsonl

    path = write_jsonl(tmp_path / "records.jsonl", [{"a": 1}, {"b": 2}])
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}]
    path.write_text('{"a": 1}\n\n{"b": 2}\n{"c": 3,, "d": 4}\n', encoding="utf-8")
    with pytest.raises(json.JSONDecodeError) as caught:
        read_jsonl(path)
    assert (caught.value.lineno, caught.value.colno) == (4, 9)  # the second comma
    assert str(path) in str(caught.value) and "line 4 column 9" in str(caught.value)
