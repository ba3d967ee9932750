"""Local stand-in for KServe's storage initializer: copy an s3:// prefix into the model folder, then exit.

KServe runs its own `kserve/storage-initializer` image before `kserve-container`; it reads the same
settings (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL`, `AWS_DEFAULT_REGION`) and
lays the objects under the prefix directly into `/mnt/models`. This module does that from the serving
image for local mode (`pathreasoner.containers.serve_in_containers`). Files land under a temporary name
and are renamed, so a failed copy leaves no half-written file.
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath

from pathreasoner.errors import ServingError


def copy_prefix(uri: str, dest: Path) -> int:
    """Download every object under `uri` (s3://bucket/prefix) into `dest`, keeping relative paths."""
    import os

    import boto3  # not pathreasoner.wsi: the serving image has no openslide
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/")
    if not uri.startswith("s3://") or not bucket or not prefix:
        raise ServingError(
            f"STORAGE_URI {uri!r} is not s3://<bucket>/<prefix>; pass the champion's storage_uri"
        )
    client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    count = 0
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
            for item in page.get("Contents", []):
                relative = PurePosixPath(item["Key"]).relative_to(prefix)
                target = dest / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".part-{target.name}")
                client.download_file(bucket, item["Key"], str(tmp))
                tmp.replace(target)
                count += 1
    except (BotoCoreError, ClientError) as exc:
        raise ServingError(
            f"cannot copy {uri}: {exc}; check AWS_ENDPOINT_URL and the S3 credentials"
        ) from None
    if not count:
        raise ServingError(f"no objects under {uri}; is it the storage_uri of a registered checkpoint?")
    return count


def main(argv: list[str]) -> int:
    """`<src s3 uri> <dest dir>`; prints one line; exit 1 with the reason on failure."""
    if len(argv) != 2:
        print("usage: storage_initializer <s3://bucket/prefix> <dest dir>", file=sys.stderr)
        return 2
    try:
        count = copy_prefix(argv[0], Path(argv[1]))
    except ServingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"copied {count} objects from {argv[0]} into {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
