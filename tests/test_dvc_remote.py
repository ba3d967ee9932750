"""The committed DVC remote against a real S3 API (`moto_server` subprocess on 127.0.0.1).

A round trip as a newcomer does it: push from one git+DVC repo that uses the project's `.dvc/config`,
`git clone` it, `dvc pull`, compare bytes. Then the bad inputs: unreachable endpoint, refused
credentials, missing bucket, no remote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pathreasoner.data_version import DataRemoteError, check_remote, dataset_version
from tests.servers import free_port, moto_s3

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DVC = BIN / "dvc"
MOTO = BIN / "moto_server"
BUCKET = "pathreasoner-data"  # the bucket of the committed remote (s3://pathreasoner-data/dvc)

pytestmark = pytest.mark.skipif(
    not (DVC.exists() and MOTO.exists()),
    reason="needs dvc and moto[server] in the venv (pip install -e '.[dev]')",
)


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """Endpoint of a moto S3 server that accepts any credentials, with the project's bucket created."""
    with moto_s3() as endpoint:
        endpoint.client().create_bucket(Bucket=BUCKET)
        yield endpoint.url


@pytest.fixture(scope="module")
def moto_with_auth() -> Iterator[str]:
    """Endpoint of a moto S3 server that checks credentials (it knows none, so it refuses every key)."""
    with moto_s3(INITIAL_NO_AUTH_ACTION_COUNT="0") as endpoint:
        yield endpoint.url


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_MAX_ATTEMPTS": "1",  # fail fast on the bad-endpoint cases instead of retrying for ~10 s
}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "DVC_NO_ANALYTICS": "1",
}
UNSET = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN")


def _subprocess_env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in UNSET}
    return {**base, **AWS_ENV, **GIT_ENV, "PATH": f"{BIN}:{os.environ['PATH']}"}


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment of the dvc/git subprocesses; this process (check_remote) gets the same AWS settings."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    for key in UNSET:
        monkeypatch.delenv(key, raising=False)
    return _subprocess_env()


def run(args: list[str], cwd: Path, env: dict[str, str], ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if ok:
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done


def dvc(cwd: Path, env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    return run([str(DVC), *args], cwd, env, ok)


def make_origin(root: Path, env: dict[str, str]) -> Path:
    """A git+DVC repo with the project's committed DVC setup (.dvc/config, .dvcignore)."""
    origin = root / "origin"
    origin.mkdir()
    run(["git", "init", "-q"], origin, env)
    dvc(origin, env, "init", "-q")
    shutil.copy(REPO / ".dvc" / "config", origin / ".dvc" / "config")
    shutil.copy(REPO / ".dvcignore", origin / ".dvcignore")
    return origin


def write_dataset(folder: Path) -> dict[str, bytes]:
    """A small cohort: nested folders, a 1 MiB binary, many small files, an empty file."""
    files: dict[str, bytes] = {"slides/big.bin": os.urandom(1 << 20), "empty.txt": b""}
    for i in range(60):
        files[f"reports/r{i:03d}.json"] = f'{{"report": {i}, "text": "tumour {i}"}}\n'.encode()
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return files


def read_tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_push_then_pull_on_a_fresh_clone(tmp_path: Path, moto: str, env: dict[str, str]) -> None:
    import boto3

    origin = make_origin(tmp_path, env)
    files = write_dataset(origin / "data" / "cohort")
    timings: dict[str, float] = {}

    start = time.perf_counter()
    dvc(origin, env, "add", "-q", "data/cohort")
    timings["add"] = time.perf_counter() - start
    run(["git", "add", "data/cohort.dvc", "data/.gitignore", ".dvc/config", ".dvcignore"], origin, env)
    run(["git", "commit", "-q", "-m", "cohort"], origin, env)
    # The documented MinIO/dev way: the endpoint goes into .dvc/config.local, which git ignores.
    dvc(origin, env, "remote", "modify", "--local", "storage", "endpointurl", moto)
    start = time.perf_counter()
    pushed = dvc(origin, env, "push")
    timings["push"] = time.perf_counter() - start
    assert "pushed" in pushed.stdout

    recorded = yaml.safe_load((origin / "data" / "cohort.dvc").read_text())["outs"][0]
    keys = {
        obj["Key"]
        for obj in boto3.client("s3", endpoint_url=moto).list_objects_v2(Bucket=BUCKET, Prefix="dvc/")[
            "Contents"
        ]
    }
    assert f"dvc/files/md5/{recorded['md5'][:2]}/{recorded['md5'][2:]}" in keys  # the .dir listing
    assert len(keys) >= len(set(files.values())) + 1

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path, env)
    assert not (clone / ".dvc" / "config.local").exists() and not (clone / "data" / "cohort").exists()
    # The cluster way: the endpoint comes from AWS_ENDPOINT_URL (ConfigMap pathreasoner-endpoints).
    start = time.perf_counter()
    pulled = dvc(clone, {**env, "AWS_ENDPOINT_URL": moto}, "pull")
    timings["pull"] = time.perf_counter() - start
    assert "data/cohort" in pulled.stdout

    assert read_tree(clone / "data" / "cohort") == files
    assert dataset_version(clone / "data" / "cohort") == recorded["md5"]
    print("dvc round trip seconds: " + ", ".join(f"{k}={v:.2f}" for k, v in timings.items()))


@pytest.fixture(scope="module")
def pushed_origin(tmp_path_factory: pytest.TempPathFactory, moto: str) -> Path:
    """A git+DVC repo whose small dataset was pushed to moto."""
    env = _subprocess_env()
    origin = make_origin(tmp_path_factory.mktemp("pushed"), env)
    (origin / "data").mkdir()
    (origin / "data" / "table.csv").write_text("id,label\n1,tumour\n")
    dvc(origin, env, "add", "-q", "data/table.csv")
    run(["git", "add", "-A"], origin, env)
    run(["git", "commit", "-q", "-m", "table"], origin, env)
    dvc(origin, {**env, "AWS_ENDPOINT_URL": moto}, "push")
    return origin


@pytest.fixture()
def pushed_clone(tmp_path: Path, pushed_origin: Path, env: dict[str, str]) -> Path:
    """A fresh clone of `pushed_origin`, nothing pulled yet."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(pushed_origin), str(clone)], tmp_path, env)
    return clone


def test_unreachable_endpoint_fails_naming_the_remote(pushed_clone: Path, env: dict[str, str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    dvc(pushed_clone, env, "remote", "modify", "--local", "storage", "endpointurl", dead)
    done = dvc(pushed_clone, env, "pull", ok=False)
    assert done.returncode != 0
    assert "pathreasoner-data/dvc" in done.stderr and dead in done.stderr
    assert not (pushed_clone / "data" / "table.csv").exists()
    with pytest.raises(
        DataRemoteError,
        match=r"DVC remote 'storage' \(s3://pathreasoner-data/dvc at .*cannot be reached.*endpointurl",
    ):
        check_remote(pushed_clone)


def test_refused_credentials_fail_naming_the_remote(
    pushed_clone: Path, moto_with_auth: str, env: dict[str, str]
) -> None:
    dvc(pushed_clone, env, "remote", "modify", "--local", "storage", "endpointurl", moto_with_auth)
    done = dvc(pushed_clone, env, "pull", ok=False)
    assert done.returncode != 0
    assert "pathreasoner-data/dvc" in done.stderr and "Forbidden" in done.stderr
    with pytest.raises(DataRemoteError, match=r"'storage'.*refused the credentials.*AWS_ACCESS_KEY_ID"):
        check_remote(pushed_clone)


def test_check_remote_passes_and_names_a_missing_bucket(
    pushed_clone: Path, moto: str, env: dict[str, str]
) -> None:
    dvc(pushed_clone, env, "remote", "modify", "--local", "storage", "endpointurl", moto)
    assert check_remote(pushed_clone) == "s3://pathreasoner-data/dvc"
    dvc(pushed_clone, env, "pull")
    assert (pushed_clone / "data" / "table.csv").read_text() == "id,label\n1,tumour\n"

    dvc(pushed_clone, env, "remote", "modify", "--local", "storage", "url", "s3://no-such-bucket/dvc")
    with pytest.raises(DataRemoteError, match=r"'storage' \(s3://no-such-bucket/dvc.*bucket does not exist"):
        check_remote(pushed_clone)


def test_no_remote_gives_dvc_own_message_and_ours(tmp_path: Path, env: dict[str, str]) -> None:
    repo = tmp_path / "bare"
    repo.mkdir()
    run(["git", "init", "-q"], repo, env)
    dvc(repo, env, "init", "-q")
    (repo / "f.txt").write_text("x")
    dvc(repo, env, "add", "-q", "f.txt")
    done = dvc(repo, env, "push", ok=False)
    assert done.returncode != 0 and "no remote specified" in done.stderr
    with pytest.raises(DataRemoteError, match=r"no default DVC remote.*dvc remote add -d storage"):
        check_remote(repo)
    module = run([sys.executable, "-m", "pathreasoner.data_version"], repo, env, ok=False)
    assert module.returncode == 2 and "no default DVC remote" in module.stderr
