"""S3 transfers of a training run's inputs and outputs (samples, init checkpoint, config, results).

A TrainJob's pods cannot see the folders of the pod or laptop that submitted it, so everything a run
reads or writes travels through an s3:// prefix. Endpoint and credentials come from boto3's usual
settings (``AWS_ENDPOINT_URL``, ``AWS_*``): the pipeline's ConfigMap and Secret in the cluster.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from pathreasoner.errors import TrainingError
from pathreasoner.io_utils import atomic_dir, atomic_write_json

logger = logging.getLogger(__name__)

COMPLETE_MARKER = ".download.json"  # listing of the objects a local copy was made from


def is_s3(uri: str | Path | None) -> bool:
    return uri is not None and str(uri).startswith("s3://")


def split(uri: str) -> tuple[str, str]:
    """(bucket, key prefix without surrounding slashes) of an s3:// URI."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        raise TrainingError(f"{uri!r} is not an s3://<bucket>/<prefix> URI")
    return bucket, prefix.strip("/")


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *(p.strip("/") for p in parts)])


def client() -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


def _fail(uri: str, action: str, exc: Exception) -> TrainingError:
    return TrainingError(
        f"cannot {action} {uri}: {exc}; check AWS_ENDPOINT_URL, the S3 credentials (AWS_ACCESS_KEY_ID/"
        "AWS_SECRET_ACCESS_KEY) and that the bucket exists"
    )


def listing(uri: str) -> list[tuple[str, int, str]]:
    """(relative key, size, etag) of every object under the prefix `uri`."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = split(uri)
    base = f"{prefix}/" if prefix else ""
    try:
        pages = client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base)
        return sorted(
            (item["Key"][len(base) :], int(item["Size"]), str(item.get("ETag", "")).strip('"'))
            for page in pages
            for item in page.get("Contents", [])
            if not item["Key"].endswith("/")
        )
    except (BotoCoreError, ClientError) as exc:
        raise _fail(uri, "list", exc) from None


def upload_dir(local: Path, uri: str) -> int:
    """Copy every file under `local` to `uri/<relative path>`; returns the number of files."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = split(uri)
    s3 = client()
    files = sorted(p for p in Path(local).rglob("*") if p.is_file())
    try:
        for path in files:
            key = "/".join(filter(None, [prefix, path.relative_to(local).as_posix()]))
            s3.upload_file(str(path), bucket, key)
    except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
        raise _fail(uri, "upload to", exc) from None
    logger.info("uploaded %d files from %s to %s", len(files), local, uri)
    return len(files)


def upload_text(text: str, uri: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split(uri)
    try:
        client().put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
    except (BotoCoreError, ClientError) as exc:
        raise _fail(uri, "write", exc) from None


def read_text(uri: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split(uri)
    try:
        return client().get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except (BotoCoreError, ClientError) as exc:
        raise _fail(uri, "read", exc) from None


def download(uri: str, dest: Path) -> Path:
    """Mirror the prefix `uri` into `dest` (replaced atomically); a prefix without objects is an error."""
    from botocore.exceptions import BotoCoreError, ClientError

    objects = listing(uri)
    if not objects:
        raise TrainingError(f"no objects under {uri}; upload the folder there first or fix the URI")
    bucket, prefix = split(uri)
    s3 = client()
    with atomic_dir(dest) as tmp:
        try:
            for rel, _, _ in objects:
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, f"{prefix}/{rel}" if prefix else rel, str(target))
        except (BotoCoreError, ClientError) as exc:
            raise _fail(uri, "download", exc) from None
        atomic_write_json(tmp / COMPLETE_MARKER, {"uri": uri, "objects": objects})
    logger.info("downloaded %d objects from %s to %s", len(objects), uri, dest)
    return dest


def local_copy(uri: str, cache: Path) -> Path:
    """A local copy of the prefix `uri` under `cache`, shared by the ranks of one node: the first rank
    downloads (under a file lock), the others wait and reuse it; a changed prefix is downloaded again."""
    from filelock import FileLock

    dest = Path(cache) / hashlib.sha256(uri.encode()).hexdigest()[:16]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest) + ".lock"):
        marker = dest / COMPLETE_MARKER
        objects = [list(o) for o in listing(uri)]
        if marker.is_file() and json.loads(marker.read_text()).get("objects") == objects:
            return dest
        return download(uri, dest)
