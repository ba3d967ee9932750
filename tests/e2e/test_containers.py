"""Every stage in its own image, as pods would run it: inputs on S3, a remote MLflow server, then KServe-style serving.

A moto S3 server and an `mlflow server` (sqlite, artifacts proxied to S3 on moto) run on 127.0.0.1. The demo
cohort is uploaded to S3; `run_local(containers=True)` runs every component through kfp.local.DockerRunner in the
pipeline and trainer images with only URIs and environment variables. The champion registered on the server is
then copied by a storage-initializer container into a /mnt/models volume and served by the serving image.
Runs wherever a container engine answers (CI starts one); `make images` brings the images up to date first.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from pathreasoner import stages
from pathreasoner.client import ask
from pathreasoner.config import Config
from pathreasoner.containers import ContainerError, docker_client, serve_in_containers
from pathreasoner.demo import pick_samples
from pathreasoner.io_utils import read_jsonl
from pathreasoner.pipeline_runner import PipelineError, run_local
from pathreasoner.registry.mlflow_registry import storage_uri
from pathreasoner.response import is_well_formed
from tests.conftest import small_config
from tests.servers import free_port, mlflow_server, moto_s3

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.containers]


@pytest.fixture(scope="module")
def engine() -> Iterator[object]:
    """The local engine with the three images freshly built (layer cache keeps this fast)."""
    try:
        client = docker_client()
    except ContainerError as exc:
        pytest.skip(f"no container engine: {exc}")
    start = time.perf_counter()
    build = subprocess.run(["make", "images"], cwd=REPO, capture_output=True, text=True, timeout=3000)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    print(f"make images: {time.perf_counter() - start:.1f} s")
    yield client


def _upload(s3, bucket: str, folder: Path, prefix: str) -> None:
    client = s3.client()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


def _cohort(tmp_path: Path, s3) -> tuple[Config, str, str]:
    cfg = small_config(tmp_path / "work")
    demo = stages.demo_data(cfg)
    (tmp_path / "slide_ids.json").write_text(json.dumps(sorted(p.stem for p in demo.slides)))
    s3.client().create_bucket(Bucket="cohort")
    _upload(s3, "cohort", demo.slides_dir, "slides")
    s3.client().upload_file(str(demo.reports), "cohort", "reports/reports.jsonl")
    return cfg, "s3://cohort/slides/", "s3://cohort/reports/reports.jsonl"


def test_every_stage_in_its_image_then_served_like_a_kserve_pod(
    engine: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with moto_s3() as s3, mlflow_server(tmp_path / "mlflow", s3) as server:
        for name, value in {**s3.env, "MLFLOW_TRACKING_URI": server.url}.items():
            monkeypatch.setenv(name, value)
        cfg, slides, reports = _cohort(tmp_path, s3)
        cfg = cfg.model_copy(
            update={
                "registry": cfg.registry.model_copy(
                    update={"artifacts_destination": server.artifacts_destination}
                )
            }
        )

        run = run_local(cfg, slides, reports, containers=True)
        assert run.runner == "containers"
        assert {
            "shard-slides",
            "tile-slides[0]",
            "tile-slides[1]",
            "build-samples",
            "train-sft",
            "evaluate",
        } <= set(run.task_dirs)
        records = read_jsonl(run.task_dirs["build-samples"] / "samples" / "samples.jsonl")
        # both tiling shards (slides read from S3 inside the containers) fed build-samples
        assert {r["slide_id"] for r in records if r["images"]} == set(
            json.loads((tmp_path / "slide_ids.json").read_text())
        )

        # the champion lives on the server, its checkpoint on S3 behind the artifact proxy, with lineage
        assert run.champion is not None
        client = mlflow.MlflowClient(tracking_uri=server.url)
        champion = client.get_model_version_by_alias(cfg.registry.model_name, "champion")
        assert champion.tags["git_sha"] not in ("", "unknown")
        assert champion.tags["image_digest"].startswith("sha256:")
        assert champion.tags["kfp_run_id"]
        uri = storage_uri(f"models:/{cfg.registry.model_name}@champion", cfg)
        assert uri.startswith(server.artifacts_destination + "/")
        bucket, key = uri[len("s3://") :].split("/", 1)
        assert s3.client().head_object(Bucket=bucket, Key=f"{key}/config.json")["ContentLength"] > 0

        # serving: storage initializer -> /mnt/models -> predictor container, one real request
        port = free_port()
        predictor = serve_in_containers(cfg.pipeline.images.serving, uri, port, env=s3.env, work_dir=tmp_path)
        try:
            samples_dir = run.task_dirs["build-samples"] / "samples"
            record = pick_samples(samples_dir)[0]
            images = [samples_dir / image for image in record["images"]]
            reply = ask(predictor.url, cfg.serving.model_name, images, record["question"])
        finally:
            predictor.stop()
        assert isinstance(reply["text"], str) and reply["text"]
        assert reply["well_formed"] == is_well_formed(reply["text"])
        print(
            f"containerized pipeline: {run.seconds:.1f} s for {len(run.task_dirs)} tasks; served: {reply['answer']!r}"
        )

        # a rerun on the same slides and config reuses every content-keyed task (caching, as on the cluster)
        rerun = run_local(cfg, slides, reports, containers=True)
        assert set(rerun.task_dirs) == {"shard-slides", "register", "check-gate", "promote"}, sorted(
            rerun.task_dirs
        )
        # ... a changed tiling config does not: the tiles (and everything after them) are made again
        retiled = cfg.model_copy(update={"tiling": cfg.tiling.model_copy(update={"jpeg_quality": 80})})
        changed = run_local(retiled, slides, reports, containers=True)
        assert {"tile-slides[0]", "tile-slides[1]", "build-samples", "train-sft"} <= set(changed.task_dirs)
        print(f"cached rerun: {rerun.seconds:.1f} s; after a tiling change: {changed.seconds:.1f} s")


def test_containers_refuse_host_paths_and_missing_images(
    engine: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = small_config(tmp_path / "work")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    with pytest.raises(PipelineError, match=r"--slides .* is a path on this machine"):
        run_local(cfg, tmp_path / "slides", "s3://b/reports.jsonl", containers=True)
    missing = small_config(tmp_path / "work", pipeline={"images": {"trainer": "localhost/no-such-image:0"}})
    with pytest.raises(
        ContainerError, match=r"trainer image localhost/no-such-image:0 is not present.*make images"
    ):
        run_local(missing, "s3://b/slides/", "s3://b/reports.jsonl", containers=True)


def test_no_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    with pytest.raises(
        ContainerError, match=r"no container engine answers at unix://.*absent.sock.*DOCKER_HOST"
    ):
        docker_client()
