"""dataset_version(path) equals the md5 that `dvc add` records for the same folder or file."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pathreasoner.data_version import dataset_version

DVC = Path(sys.executable).parent / "dvc"


def _dvc_add_md5(repo: Path, rel: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    for args in (["git", "init", "-q"], [str(DVC), "init", "-q"], [str(DVC), "add", "-q", rel]):
        done = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    return str(yaml.safe_load((repo / f"{rel}.dvc").read_text())["outs"][0]["md5"])


def _write_folder(folder: Path) -> None:
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "top.jsonl").write_text('{"id": 1}\n{"id": 2}\n')
    (folder / "crlf.txt").write_bytes(b"line one\r\nline two\r\n")  # DVC 3 hashes raw bytes (no dos2unix)
    (folder / "a" / "b" / "blob.bin").write_bytes(
        os.urandom(3 << 20)
    )  # above dvc-data's large-file threshold
    (folder / "a" / "b" / "blob2.bin").write_bytes(os.urandom(3 << 20))
    (folder / "a" / "empty").write_bytes(b"")
    (folder / "a" / "naïve façade.txt").write_text("unicode name\n")


@pytest.mark.skipif(not DVC.exists(), reason="dvc is not installed in this venv (pip install -e '.[dev]')")
def test_folder_version_is_what_dvc_add_records(tmp_path: Path) -> None:
    _write_folder(tmp_path / "samples")
    ours = dataset_version(tmp_path / "samples")
    assert ours.endswith(".dir") and len(ours) == 36
    assert ours == _dvc_add_md5(tmp_path, "samples")


@pytest.mark.skipif(not DVC.exists(), reason="dvc is not installed in this venv (pip install -e '.[dev]')")
def test_file_version_is_what_dvc_add_records(tmp_path: Path) -> None:
    (tmp_path / "samples.jsonl").write_text('{"id": 1}\n')
    ours = dataset_version(tmp_path / "samples.jsonl")
    assert ours == hashlib.md5(b'{"id": 1}\n').hexdigest()
    assert ours == _dvc_add_md5(tmp_path, "samples.jsonl")


def test_version_changes_with_content_and_names(tmp_path: Path) -> None:
    _write_folder(tmp_path / "d")
    before = dataset_version(tmp_path / "d")
    (tmp_path / "d" / "top.jsonl").write_text('{"id": 1}\n')
    edited = dataset_version(tmp_path / "d")
    (tmp_path / "d" / "top.jsonl").rename(tmp_path / "d" / "renamed.jsonl")
    renamed = dataset_version(tmp_path / "d")
    assert len({before, edited, renamed}) == 3
    assert dataset_version(tmp_path / "d") == renamed  # deterministic


def test_twenty_thousand_files_hash_in_seconds(tmp_path: Path) -> None:
    root = tmp_path / "tiles"
    for d in range(100):
        sub = root / f"slide{d:03d}"
        sub.mkdir(parents=True)
        for f in range(200):
            (sub / f"tile{f:03d}.txt").write_bytes(f"{d}/{f}".encode() * 50)
    start = time.perf_counter()
    version = dataset_version(root)
    elapsed = time.perf_counter() - start
    print(f"dataset_version of 20000 files: {elapsed:.2f}s")
    assert version.endswith(".dir") and elapsed < 30


def test_missing_path_and_dvcignore_inside_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist; build it first"):
        dataset_version(tmp_path / "absent")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".dvcignore").write_text("*.tmp\n")
    with pytest.raises(ValueError, match=r"\.dvcignore"):
        dataset_version(tmp_path / "d")
