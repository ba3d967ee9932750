"""Real servers for tests, on 127.0.0.1, each started as a subprocess and stopped by its pid.

- `moto_s3()`: the moto S3 server (`moto_server`), the S3 API boto3, DVC and MLflow talk to through an endpoint URL.
- `mlflow_server(...)`: `mlflow server` with a sqlite backend and artifacts proxied to S3 (`mlflow-artifacts:/`),
  as k8s/ deploys it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TEST_S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _executable(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def wait_http(url: str, proc: subprocess.Popen, timeout_s: float, log: Path | None = None) -> float:
    """Poll `url` until it answers 2xx; fail with the server's log if it exits or times out."""
    start = time.monotonic()
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return time.monotonic() - start
        except OSError:
            if proc.poll() is not None or time.monotonic() - start > timeout_s:
                tail = log.read_text()[-3000:] if log and log.exists() else ""
                pytest.fail(f"server for {url} did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@dataclass(frozen=True)
class S3Endpoint:
    url: str

    @property
    def env(self) -> dict[str, str]:
        """What a client (boto3, DVC, the MLflow server, a container) needs to reach this S3."""
        return {**TEST_S3_ENV, "AWS_ENDPOINT_URL": self.url, "MLFLOW_S3_ENDPOINT_URL": self.url}

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )


@contextlib.contextmanager
def moto_s3(**server_env: str) -> Iterator[S3Endpoint]:
    """`moto_server` on a free port; `server_env` e.g. INITIAL_NO_AUTH_ACTION_COUNT="0" (refuse every key)."""
    port = free_port()
    proc = subprocess.Popen(
        [_executable("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **server_env},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/moto-api/", proc, 30)
        yield S3Endpoint(url)
    finally:
        stop(proc)


def s3_bucket_for_test(
    url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, prefix: str
) -> tuple[Any, str]:
    """(client, bucket): dummy credentials and AWS_ENDPOINT_URL for this test, and a fresh bucket named after it."""
    import boto3

    for key, value in {**TEST_S3_ENV, "AWS_ENDPOINT_URL": url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=url)
    bucket = prefix + "-" + hashlib.sha1(request.node.name.encode()).hexdigest()[:12]
    client.create_bucket(Bucket=bucket)
    return client, bucket


@dataclass(frozen=True)
class MlflowServer:
    url: str
    artifacts_destination: str
    log: Path


@contextlib.contextmanager
def mlflow_server(
    work: Path, s3: S3Endpoint, bucket: str = "mlflow", extra_args: tuple[str, ...] = ()
) -> Iterator[MlflowServer]:
    """`mlflow server` (sqlite backend, --serve-artifacts to s3://<bucket>/artifacts on moto), one worker."""
    s3.client().create_bucket(Bucket=bucket)
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    destination = f"s3://{bucket}/artifacts"
    log = work / "mlflow-server.log"
    env = {**os.environ, **s3.env, "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                _executable("mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{work / 'mlflow.db'}",
                "--serve-artifacts",
                "--artifacts-destination",
                destination,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                *extra_args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/health", proc, 120, log)
        yield MlflowServer(url, destination, log)
    finally:
        stop(proc)
