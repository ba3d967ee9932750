"""Slides on S3: list ``s3://bucket/prefix/``, and fetch slides into a size-bounded local cache.

A slide on S3 is one object (``s3://b/x/slide.svs``; a MIRAX ``.mrxs`` brings its ``<stem>/`` folder
and a Hamamatsu ``.vms``/``.vmu`` its same-stem siblings) or, for DICOM, a prefix ending in ``/`` that
holds the ``.dcm`` files of one slide. Each fetched slide is one cache entry, a folder named by a hash
of its URI, downloaded under a temporary name and renamed when complete (atomic). Entries record the
objects' ETags and sizes, so a replaced object is fetched again. The cache is kept under
``tiling.s3_cache_max_bytes`` by evicting the least recently used entries (use = folder mtime).

The endpoint and credentials come from boto3's usual configuration (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``..., ``~/.aws``), so MinIO or a moto server work like AWS.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from pathreasoner.errors import SlideReadError

log = logging.getLogger(__name__)

SCHEME = "s3://"
SLIDE_SUFFIXES = frozenset(
    {".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".bif", ".svslide", ".dcm"}
)
META_FILE = "entry.json"
LOCK_FILE = ".lock"
PIN_SUFFIX = ".pin"  # <entry>.pin: shared-locked while a process reads the entry, so it is not evicted


def is_s3_uri(item: object) -> bool:
    """True for ``s3://...``, also in the ``s3:/...`` form a ``pathlib.Path`` turns it into."""
    return str(item).startswith("s3:/")


def normalize_uri(item: object) -> str:
    """``s3://bucket/key`` from a string or a Path that collapsed the double slash."""
    text = str(item)
    if not is_s3_uri(text):
        raise ValueError(f"{text!r} is not an s3:// URI")
    rest = text[len("s3:/") :].lstrip("/")
    return SCHEME + rest


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI; raises ``SlideReadError`` if the bucket is missing."""
    bucket, _, key = normalize_uri(uri)[len(SCHEME) :].partition("/")
    if not bucket:
        raise SlideReadError(f"slide {uri} names no bucket; write it as s3://bucket/key")
    return bucket, key


def is_dicom_prefix(uri: str) -> bool:
    return normalize_uri(uri).endswith("/")


def slide_id_of(uri: str) -> str:
    """Same rule as local files: file stem, or the folder name for a DICOM prefix."""
    key = split_uri(uri)[1].rstrip("/")
    name = PurePosixPath(key).name if key else split_uri(uri)[0]
    return name if is_dicom_prefix(uri) else PurePosixPath(name).stem


def s3_client() -> Any:
    """A boto3 S3 client; endpoint from ``$AWS_ENDPOINT_URL`` (boto3 also reads it itself)."""
    import boto3

    return boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


@dataclass(frozen=True)
class RemoteObject:
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class RemoteSlide:
    """One slide on S3: its URI, the objects it consists of, and what the tiler needs before a fetch."""

    uri: str
    bucket: str
    objects: tuple[RemoteObject, ...]

    @property
    def slide_id(self) -> str:
        return slide_id_of(self.uri)

    @property
    def source_bytes(self) -> int:
        """``tiler.source_bytes`` of the local copy for the kinds S3 input takes: the slide file, or all
        .dcm of a DICOM slide (multi-file vendor slides are not fetched from S3)."""
        if is_dicom_prefix(self.uri):
            return sum(o.size for o in self.objects)
        return self.objects[0].size

    @property
    def total_bytes(self) -> int:
        return sum(o.size for o in self.objects)

    def fingerprint(self) -> list[list[Any]]:
        return [[o.key, o.size, o.etag] for o in self.objects]


def _list(client: Any, bucket: str, prefix: str) -> Iterator[RemoteObject]:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield RemoteObject(item["Key"], int(item["Size"]), str(item.get("ETag", "")).strip('"'))


def _s3_error(uri: str, exc: Exception, action: str) -> SlideReadError:
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        fix = "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or an AWS profile)"
    elif isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
        fix = "check the bucket and key (aws s3 ls)"
    elif isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
        fix = "check the bucket name"
    else:
        fix = "check the endpoint (AWS_ENDPOINT_URL), credentials and network"
    return SlideReadError(f"slide {uri} cannot be {action} from S3: {exc}; {fix}")


def fetch_object(uri: str, into: Path, client: Any | None = None) -> Path:
    """Download one ``s3://bucket/key`` object into the folder ``into`` (same file name; temp name + rename).

    For inputs that are read whole, such as KG source files; a failure is a ``FileNotFoundError`` naming the
    URI, what S3 answered and the fix.
    """
    bucket, key = split_uri(uri)
    client = client or s3_client()
    target = Path(into) / PurePosixPath(key).name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".part-{target.name}")
    try:
        client.download_file(bucket, key, str(tmp))
    except Exception as exc:  # botocore's many classes all mean: not fetched
        tmp.unlink(missing_ok=True)
        message = str(_s3_error(uri, exc, "downloaded")).replace("slide ", "object ", 1)
        raise FileNotFoundError(message) from None
    tmp.replace(target)
    return target


def list_slides(uri: str, client: Any | None = None) -> list[str]:
    """Slide URIs under an ``s3://bucket/prefix`` (recursive, sorted); each folder of .dcm is one slide.

    A URI whose key has a slide suffix is returned as is (not checked here; the tiler quarantines it
    if it is missing). Companion objects (MIRAX data folders, VMS image files) are not listed as slides.
    """
    uri = normalize_uri(uri)
    bucket, key = split_uri(uri)
    if PurePosixPath(key).suffix.lower() in SLIDE_SUFFIXES - {".dcm"} and not key.endswith("/"):
        return [uri]
    prefix = key.rstrip("/") + "/" if key.strip("/") else ""
    client = client or s3_client()
    try:
        keys = [o.key for o in _list(client, bucket, prefix)]
    except Exception as exc:  # botocore raises many classes; all mean "cannot list"
        raise _s3_error(uri, exc, "listed") from None
    mirax_dirs = {k[: -len(".mrxs")] + "/" for k in keys if k.lower().endswith(".mrxs")}
    found: set[str] = set()
    for k in keys:
        if any(k.startswith(d) for d in mirax_dirs):
            continue
        suffix = PurePosixPath(k).suffix.lower()
        if suffix == ".dcm":
            found.add(f"{SCHEME}{bucket}/{k.rsplit('/', 1)[0]}/" if "/" in k else f"{SCHEME}{bucket}/")
        elif suffix in SLIDE_SUFFIXES and not (suffix == ".tif" and _vms_companion(k, keys)):
            found.add(f"{SCHEME}{bucket}/{k}")
    return sorted(found)


def _vms_companion(key: str, keys: list[str]) -> bool:
    stem = key.rsplit(".", 1)[0]
    return any(k.lower() in (stem.lower() + ".vms", stem.lower() + ".vmu") for k in keys)


def describe(uri: str, client: Any | None = None) -> RemoteSlide:
    """The objects of one slide (main object first); raises ``SlideReadError`` if it is not there."""
    uri = normalize_uri(uri)
    bucket, key = split_uri(uri)
    client = client or s3_client()
    try:
        if is_dicom_prefix(uri):
            objects = [o for o in _list(client, bucket, key) if o.key.lower().endswith(".dcm")]
            objects = [o for o in objects if "/" not in o.key[len(key) :]]
            if not objects:
                raise SlideReadError(
                    f"slide {uri} is a prefix without .dcm objects; only DICOM slides are prefixes — "
                    "pass the slide object itself (or expand the prefix with find_slides)"
                )
        else:
            head = client.head_object(Bucket=bucket, Key=key)
            objects = [RemoteObject(key, int(head["ContentLength"]), str(head.get("ETag", "")).strip('"'))]
            objects += _companions(client, bucket, key)
    except SlideReadError:
        raise
    except Exception as exc:
        raise _s3_error(uri, exc, "found") from None
    return RemoteSlide(uri, bucket, tuple(objects[:1] + sorted(objects[1:], key=lambda o: o.key)))


def _companions(client: Any, bucket: str, key: str) -> list[RemoteObject]:
    """Other objects OpenSlide needs next to ``key``: MIRAX ``<stem>/``, VMS/VMU same-stem files."""
    suffix = PurePosixPath(key).suffix.lower()
    stem = key[: -len(suffix)] if suffix else key
    if suffix == ".mrxs":
        return list(_list(client, bucket, stem + "/"))
    if suffix in (".vms", ".vmu"):
        return [o for o in _list(client, bucket, stem) if o.key != key and "/" not in o.key[len(stem) :]]
    return []


class S3SlideCache:
    """Local copies of S3 slides, at most ``max_bytes`` in total (LRU eviction by entry mtime)."""

    def __init__(self, root: Path | str, max_bytes: int, client: Any | None = None) -> None:
        self.root = Path(root).expanduser()
        self.max_bytes = int(max_bytes)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def fetch(self, slide: RemoteSlide | str) -> Path:
        """Local path of the slide (file, or folder of .dcm), downloading it if the cache lacks it."""
        with self.use(slide) as local:
            return local

    @contextlib.contextmanager
    def use(self, slide: RemoteSlide | str) -> Iterator[Path]:
        """``fetch``, and keep the entry pinned (never evicted by any process) until the block ends."""
        local, pin = self._fetch_pinned(slide)
        try:
            yield local
        finally:
            pin.close()  # releases the shared lock

    def _fetch_pinned(self, slide: RemoteSlide | str) -> tuple[Path, IO[str]]:
        remote = slide if isinstance(slide, RemoteSlide) else describe(slide, self.client)
        if remote.total_bytes > self.max_bytes:
            raise SlideReadError(
                f"slide {remote.uri} is {remote.total_bytes:,} bytes, more than "
                f"tiling.s3_cache_max_bytes={self.max_bytes:,}; raise tiling.s3_cache_max_bytes"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        entry = self.root / hashlib.sha256(remote.uri.encode()).hexdigest()[:24]
        local = entry / self._local_name(remote)
        with self._locked():
            if self._valid(entry, remote):
                os.utime(entry)  # mark as recently used
                log.info("%s: in the S3 cache (%s)", remote.uri, entry)
                return local, self._pin(entry)
            if entry.exists():
                shutil.rmtree(entry)
            self._evict(remote.total_bytes)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
        try:
            self._download(remote, tmp / local.name)
            (tmp / META_FILE).write_text(json.dumps({"uri": remote.uri, "objects": remote.fingerprint()}))
            with self._locked():
                if entry.exists():  # another worker fetched it meanwhile
                    shutil.rmtree(entry)
                tmp.rename(entry)
                pin = self._pin(entry)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("%s: fetched %s bytes into %s", remote.uri, f"{remote.total_bytes:,}", entry)
        return local, pin

    def entries(self) -> list[Path]:
        """Complete cache entries, least recently used first."""
        if not self.root.is_dir():
            return []
        found = [p for p in self.root.iterdir() if p.is_dir() and (p / META_FILE).is_file()]
        return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))

    def size_bytes(self) -> int:
        return sum(_tree_bytes(p) for p in self.entries())

    @staticmethod
    def _local_name(remote: RemoteSlide) -> str:
        key = split_uri(remote.uri)[1].rstrip("/")
        return PurePosixPath(key).name or remote.bucket

    @staticmethod
    def _valid(entry: Path, remote: RemoteSlide) -> bool:
        try:
            meta = json.loads((entry / META_FILE).read_text())
        except (OSError, ValueError):
            return False
        return meta.get("objects") == remote.fingerprint()

    @staticmethod
    def _pin(entry: Path) -> IO[str]:
        """A shared lock on the entry's pin file (held by the caller; called under the cache lock)."""
        handle = open(entry.with_name(entry.name + PIN_SUFFIX), "a")  # noqa: SIM115 - returned open
        fcntl.flock(handle, fcntl.LOCK_SH)
        return handle

    def _evict(self, incoming: int) -> None:
        """Remove least recently used entries until ``incoming`` bytes fit; pinned entries stay."""
        entries = self.entries()
        total = sum(_tree_bytes(p) for p in entries)
        for old in entries:
            if total + incoming <= self.max_bytes:
                break
            pin_path = old.with_name(old.name + PIN_SUFFIX)
            with open(pin_path, "a") as pin:
                try:
                    fcntl.flock(pin, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another process is tiling from it
                    continue
                size = _tree_bytes(old)
                shutil.rmtree(old, ignore_errors=True)
                pin_path.unlink(missing_ok=True)
            total -= size
            log.info("S3 cache: evicted %s (%s bytes)", old.name, f"{size:,}")
        if total + incoming > self.max_bytes:
            log.warning(
                "S3 cache %s holds %s bytes in slides in use; it exceeds tiling.s3_cache_max_bytes=%s for now",
                self.root,
                f"{total:,}",
                f"{self.max_bytes:,}",
            )

    def _download(self, remote: RemoteSlide, target: Path) -> None:
        main = remote.objects[0].key
        try:
            if is_dicom_prefix(remote.uri):
                target.mkdir()
                for obj in remote.objects:
                    self.client.download_file(
                        remote.bucket, obj.key, str(target / PurePosixPath(obj.key).name)
                    )
                return
            self.client.download_file(remote.bucket, main, str(target))
            base = main.rsplit("/", 1)[0] + "/" if "/" in main else ""
            for obj in remote.objects[1:]:
                path = target.parent / obj.key[len(base) :]
                path.parent.mkdir(parents=True, exist_ok=True)
                self.client.download_file(remote.bucket, obj.key, str(path))
        except SlideReadError:
            raise
        except Exception as exc:
            raise _s3_error(remote.uri, exc, "downloaded") from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise cache bookkeeping between processes (parallel tiling workers)."""
        with open(self.root / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def default_cache_dir() -> Path:
    """$PATHREASONER_CACHE/s3-slides, else ~/.cache/pathreasoner/s3-slides."""
    root = os.environ.get("PATHREASONER_CACHE") or "~/.cache/pathreasoner"
    return Path(root).expanduser() / "s3-slides"
