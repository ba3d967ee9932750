"""The container engine, as local mode uses it: images present, and the serving image run like a KServe pod.

A KServe pod for our InferenceService runs two containers over one `/mnt/models` volume: the storage
initializer copies `STORAGE_URI` (the champion's checkpoint on S3) into it, then `kserve-container` (our
serving image) loads it and answers. `serve_in_containers` does the same with the local engine: a one-shot
initializer container from the serving image (boto3, the same AWS_* / AWS_ENDPOINT_URL settings KServe's
initializer reads), then the predictor container on the host network.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathreasoner.errors import PathReasonerError

logger = logging.getLogger(__name__)

MODEL_MOUNT = "/mnt/models"
INITIALIZER = ["python3", "-m", "pathreasoner.serve.storage_initializer"]


class ContainerError(PathReasonerError):
    """No container engine, a missing image, or a container that failed."""


def docker_client() -> Any:
    """A Docker API client (DOCKER_HOST honoured); a clear error when no engine answers."""
    try:
        import docker
    except ImportError:
        raise ContainerError(
            "the `docker` Python package is missing; install the dev extras (`pip install -e '.[dev]'`)"
        ) from None
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # docker raises DockerException, requests' ConnectionError, FileNotFoundError...
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise ContainerError(
            f"no container engine answers at {where} ({type(exc).__name__}); start Docker (dockerd, see "
            "docs/images.md) and export DOCKER_HOST, or run without --containers"
        ) from None
    return client


def image_id(client: Any, ref: str, role: str) -> str:
    """The local image's id (sha256:...) for `ref`; a clear error naming the image and `make images`."""
    import docker

    try:
        return str(client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        raise ContainerError(
            f"the {role} image {ref} is not present in the local engine; build it with `make images` "
            f"(or set pipeline.images.{role} to an image you have)"
        ) from None


@dataclass
class Predictor:
    """A running predictor container and where it answers."""

    container: Any
    url: str
    model_dir: Path

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")

    def stop(self) -> None:
        try:
            self.container.stop(timeout=5)
            self.container.remove(force=True)
        finally:
            shutil.rmtree(self.model_dir, ignore_errors=True)


def run_storage_initializer(
    client: Any, image: str, storage_uri: str, model_dir: Path, env: dict[str, str]
) -> None:
    """One-shot container: copy `storage_uri` into `model_dir` (mounted at /mnt/models), like KServe's init step."""
    import docker

    model_dir.mkdir(parents=True, exist_ok=True)
    model_dir.chmod(0o777)
    try:
        client.containers.run(
            image,
            entrypoint=INITIALIZER,
            command=[storage_uri, MODEL_MOUNT],
            environment=env,
            network_mode="host",
            volumes={str(model_dir): {"bind": MODEL_MOUNT, "mode": "rw"}},
            remove=True,
            stdout=True,
            stderr=True,
        )
    except docker.errors.ContainerError as exc:
        output = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise ContainerError(
            f"storage initializer could not copy {storage_uri} into {MODEL_MOUNT}: "
            f"{output[-1] if output else exc}"
        ) from None


def start_predictor(
    client: Any, image: str, model_dir: Path, port: int, env: dict[str, str], timeout_s: float = 180.0
) -> Predictor:
    """The serving image with its own entrypoint on 127.0.0.1:<port>, /mnt/models read-only; waits until ready."""
    from pathreasoner.client import wait_until_ready

    container = client.containers.run(
        image,
        # local runs: serve on CPU when this machine has no GPU (a KServe pod on a GPU node keeps the check)
        command=[
            "--model-uri",
            MODEL_MOUNT,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--set",
            "serving.allow_cpu=true",
        ],
        environment=env,
        network_mode="host",
        volumes={str(model_dir): {"bind": MODEL_MOUNT, "mode": "ro"}},
        detach=True,
    )
    predictor = Predictor(container, f"http://127.0.0.1:{port}", model_dir)
    try:
        wait_until_ready(predictor.url, "pathreasoner", timeout_s=timeout_s)
    except Exception as exc:
        logs = predictor.logs()[-2000:]
        predictor.stop()
        raise ContainerError(
            f"the predictor container did not become ready ({exc}); its log ends:\n{logs}"
        ) from None
    return predictor


def serve_in_containers(
    image: str, storage_uri: str, port: int, env: dict[str, str] | None = None, work_dir: Path | None = None
) -> Predictor:
    """Storage initializer then predictor, both from `image`; returns the ready predictor (call `.stop()`)."""
    client = docker_client()
    image_id(client, image, "serving")
    parent = Path(work_dir) if work_dir else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    model_dir = Path(tempfile.mkdtemp(prefix="mnt-models-", dir=parent))
    env = dict(env or {})
    start = time.perf_counter()
    try:
        run_storage_initializer(client, image, storage_uri, model_dir, env)
    except Exception:
        shutil.rmtree(model_dir, ignore_errors=True)
        raise
    logger.info("storage initializer copied %s in %.1f s", storage_uri, time.perf_counter() - start)
    return start_predictor(client, image, model_dir, port, env)
