"""Atomic file output: write under a temporary name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write bytes so that readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path | str, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_jsonl(path: Path | str, records: list[dict[str, Any]]) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
    return atomic_write_text(path, text)


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """One record per non-blank line. A bad line raises ``json.JSONDecodeError`` whose position (line,
    column, char) is in the file, not in the line, and whose message names the file."""
    text = Path(path).read_text(encoding="utf-8")
    records, offset = [], 0
    for line in text.splitlines(keepends=True):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise json.JSONDecodeError(f"{path}: {exc.msg}", text, offset + exc.pos) from None
        offset += len(line)
    return records


def _host() -> str:
    return socket.gethostname().replace(".", "-")[:40] or "host"


def _temp_prefix(name: str) -> str:
    """Temporary folders are named after the writer (host, pid) so a rerun can tell its dead
    predecessors' leftovers from another live writer's work (another pod on a shared volume)."""
    return f".{name}.{_host()}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temp_dirs(path: Path | str) -> list[Path]:
    """Remove the temporary siblings of `path` left by killed writers on this host (their pid is gone);
    returns what was removed. Other hosts' and live writers' folders are left alone."""
    path = Path(path)
    host = _host()
    removed = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.{glob.escape(host)}.*.tmp"):
        pid_text = candidate.name[len(f".{path.name}.{host}.") :].split(".", 1)[0]
        if candidate.is_dir() and pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_dir(path: Path | str) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces `path`, on error it is removed. Leftovers
    of killed earlier writers of the same `path` (this host, dead pid) are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_dirs(path)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~UMASK)  # mkdtemp makes 0700
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
