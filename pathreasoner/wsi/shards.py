"""Tile store: JPEG bytes in webdataset-style tar shards, addressed by (shard, offset, length).

Each tile is one tar member ``x<X>_y<Y>.jpg`` (level-0 corner); ``index.parquet`` records where
its bytes start inside the shard, so a tile is read with one seek + read, without scanning the tar.
Any webdataset/tar reader can also stream the shards.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from pathreasoner.errors import DatasetError

SHARD_DIR = "shards"
INDEX_FILE = "index.parquet"


class ShardWriter:
    """Append JPEG tiles to ``shards/shard-NNNNN.tar``, at most ``max_tiles`` per shard."""

    def __init__(self, slide_dir: Path, max_tiles: int) -> None:
        self.slide_dir, self.max_tiles = Path(slide_dir), max_tiles
        (self.slide_dir / SHARD_DIR).mkdir(parents=True, exist_ok=True)
        self._tar: tarfile.TarFile | None = None
        self._count = 0
        self.shards: list[str] = []

    def add(self, key: str, data: bytes) -> tuple[str, int, int]:
        """Store one tile; returns (shard path relative to the slide dir, byte offset, length)."""
        if self._tar is None or self._count >= self.max_tiles:
            self._next_shard()
        assert self._tar is not None
        info = tarfile.TarInfo(f"{key}.jpg")
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        header = info.tobuf(self._tar.format, self._tar.encoding, self._tar.errors)
        offset = self._tar.offset + len(header)  # the data goes right after its header
        # what TarFile.addfile writes (header, data, zero padding to a block), without building the
        # header twice or keeping a TarInfo per tile: ~2x faster for many small tiles
        padding = -len(data) % tarfile.BLOCKSIZE
        self._tar.fileobj.write(header + data + b"\0" * padding)
        self._tar.offset += len(header) + len(data) + padding
        self._count += 1
        return self.shards[-1], offset, len(data)

    def _next_shard(self) -> None:
        self.close()
        name = f"{SHARD_DIR}/shard-{len(self.shards):05d}.tar"
        self._tar = tarfile.TarFile(self.slide_dir / name, "w", format=tarfile.USTAR_FORMAT)
        self.shards.append(name)
        self._count = 0

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None


def load_index(slide_dir: Path | str) -> pd.DataFrame:
    """The tile index of a tiled slide folder (one row per stored tile)."""
    path = Path(slide_dir) / INDEX_FILE
    if not path.exists():
        raise DatasetError(f"{path} does not exist; run tile-slides for this slide first")
    return pd.read_parquet(path)


def read_tile_bytes(slide_dir: Path | str, row: Any) -> bytes:
    """The stored JPEG bytes of one index row (a mapping or pandas row with shard, offset, length)."""
    path = Path(slide_dir) / str(row["shard"])
    with open(path, "rb") as handle:
        handle.seek(int(row["offset"]))
        data = handle.read(int(row["length"]))
    if len(data) != int(row["length"]):
        raise DatasetError(f"shard {path} is shorter than its index says; re-run tile-slides for this slide")
    return data


def read_tile(slide_dir: Path | str, row: Any) -> Image.Image:
    """Decode one stored tile to an RGB image."""
    image = Image.open(io.BytesIO(read_tile_bytes(slide_dir, row)))
    return image.convert("RGB")


def iter_tiles(slide_dir: Path | str) -> Iterator[tuple[dict[str, Any], Image.Image]]:
    """Yield (index row as dict, RGB image) for every stored tile, reading each shard sequentially."""
    slide_dir = Path(slide_dir)
    index = load_index(slide_dir)
    for shard, rows in index.groupby("shard", sort=True):
        with open(slide_dir / str(shard), "rb") as handle:
            for row in rows.sort_values("offset").to_dict("records"):
                handle.seek(int(row["offset"]))
                data = handle.read(int(row["length"]))
                yield row, Image.open(io.BytesIO(data)).convert("RGB")
