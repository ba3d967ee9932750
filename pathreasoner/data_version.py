"""Dataset versions as DVC sees them, and a pre-flight check of the DVC remote.

`dataset_version(path)` is the content hash that `dvc add` / `dvc repro` records for a path: the md5 of a
file, or "<md5>.dir" for a folder (the md5 of DVC's sorted listing of the folder's files and their md5s).
It is computed by DVC's own hashing library (dvc-data), so it matches `.dvc` files and `dvc.lock`.

`check_remote(repo_dir)` asks the DVC remote the same way `dvc push` would (same config, endpoint and
credentials) and raises `DataRemoteError` naming the remote and the fix when it cannot be used.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pathreasoner.errors import PathReasonerError

DEFAULT_REMOTE = "storage"


class DataRemoteError(PathReasonerError):
    """The DVC remote is not configured, unreachable, or refuses the credentials."""


def dataset_version(path: str | os.PathLike[str]) -> str:
    """DVC's md5 of a file, or "<md5>.dir" of a folder: what `dvc add path` writes into `path.dvc`.

    Every file under the folder counts (no .dvcignore applies, as for a folder outside any DVC repo).
    Raises FileNotFoundError for a missing path and ValueError for a folder that holds a .dvcignore.
    """
    from dvc_data.hashfile.build import IgnoreInCollectedDirError, build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs import MemoryFileSystem, localfs
    from dvc_objects.fs.utils import tmp_fname

    target = os.path.abspath(os.fspath(path))
    if not os.path.exists(target):
        raise FileNotFoundError(f"dataset {target} does not exist; build it first (e.g. `make repro`)")
    memfs = MemoryFileSystem()
    odb = HashFileDB(memfs, f"memory://pathreasoner-data-version/{tmp_fname('')}", hash_name="md5")
    try:
        staging, _, obj = build(odb, target, localfs, "md5", dry_run=True)
    except IgnoreInCollectedDirError as exc:
        raise ValueError(f"{exc}; DVC refuses to hash such a folder, remove that .dvcignore") from exc
    value = obj.hash_info.value
    # dvc-data keeps staged objects in a process-wide in-memory filesystem: drop ours.
    for fs, where in ((staging.fs, staging.path), (obj.fs, obj.path)):
        if fs is not None and where and fs.protocol == memfs.protocol and fs.exists(where):
            fs.rm(where, recursive=True)
    assert value, f"dvc-data returned no md5 for {target}"
    return value


def check_remote(repo_dir: str | os.PathLike[str] = ".", remote: str | None = None) -> str:
    """Check that DVC's remote (default: the repo's default remote) is reachable and accepts the credentials.

    Uses DVC's own remote resolution (`.dvc/config`, `.dvc/config.local`, AWS_* environment). Returns the
    remote's URL; raises DataRemoteError naming the remote, its URL and endpoint, and the fix.
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        repo = Repo(os.fspath(repo_dir))
    except DvcException as exc:
        raise DataRemoteError(
            f"{Path(repo_dir).resolve()} is not a DVC repository ({exc}); run from the repo root"
        ) from exc
    with repo:
        name = remote or repo.config["core"].get("remote")
        if not name:
            raise DataRemoteError(
                f"{repo.root_dir} has no default DVC remote; add one with "
                f"`dvc remote add -d {DEFAULT_REMOTE} s3://<bucket>/<prefix>`"
            )
        section = repo.config["remote"].get(name)
        if section is None:
            raise DataRemoteError(
                f"DVC remote {name!r} is not configured (known: {sorted(repo.config['remote'])}); "
                f"add it with `dvc remote add {name} s3://<bucket>/<prefix>`"
            )
        url = str(section["url"])
        endpoint = (
            section.get("endpointurl") or os.environ.get("AWS_ENDPOINT_URL") or "the AWS default endpoint"
        )
        where = f"DVC remote {name!r} ({url} at {endpoint})"
        try:
            odb = repo.cloud.get_remote_odb(name, "push")
            odb.fs.ls(odb.path, detail=False)
        except FileNotFoundError as exc:
            if not _bucket_missing(exc):
                return url  # the prefix is empty until the first push
            raise DataRemoteError(
                f"{where}: the bucket does not exist; create it (e.g. `aws s3 mb s3://{_bucket(url)}`) "
                "or point the remote elsewhere with `dvc remote modify --local`"
            ) from exc
        except PermissionError as exc:
            raise DataRemoteError(
                f"{where} refused the credentials ({exc}); set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                f"or `dvc remote modify --local {name} access_key_id ...` / `secret_access_key ...`"
            ) from exc
        except (DvcException, OSError, BotoCoreError, ClientError) as exc:
            raise DataRemoteError(
                f"{where} cannot be reached ({exc}); start the object store or set its address with "
                f"`dvc remote modify --local {name} endpointurl http://<host>:<port>` (or AWS_ENDPOINT_URL)"
            ) from exc
    return url


def _bucket(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def _bucket_missing(exc: BaseException) -> bool:
    return "NoSuchBucket" in repr(exc) or "bucket does not exist" in str(exc).lower()


def main(argv: list[str] | None = None) -> int:
    """`python -m pathreasoner.data_version [remote]`: the pre-flight check used by `make push-data`."""
    args = sys.argv[1:] if argv is None else argv
    try:
        url = check_remote(".", args[0] if args else None)
    except DataRemoteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"DVC remote ok: {url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
