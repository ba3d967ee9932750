"""The TrainJob launcher: the manifest against the Trainer's CRD, and submit / follow / fail against a
Kubernetes API server on 127.0.0.1 (tests/train/kube_api.py) with moto S3, through the real clients."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pathreasoner.config import Config, config_from_dict, load_config
from pathreasoner.errors import ConfigError, TrainingError
from pathreasoner.portable import ENDPOINT_KEYS, MLFLOW_KEYS, S3_KEYS
from pathreasoner.train.launch import TrainArgs, pipeline_train
from pathreasoner.train.launch.trainjob import TrainJobLauncher, job_name, staging_root, trainjob_manifest
from tests.k8s.kube import CRD_DIR, CrdSchemas
from tests.servers import S3Endpoint, moto_s3, s3_bucket_for_test
from tests.train.kube_api import FakeCluster, fake_cluster

REPO = Path(__file__).resolve().parents[2]
ARGV = ["train-grpo", "--config", "s3://b/tj/params.yaml", "--samples", "s3://b/s", "--out", "s3://b/o", "--init", "s3://b/i"]  # fmt: skip


@pytest.fixture(scope="module")
def crds() -> CrdSchemas:
    if not (CRD_DIR / "kubeflow-trainer").is_dir():
        pytest.skip(
            f"Kubeflow Trainer CRDs not found at {CRD_DIR}/kubeflow-trainer (../shared/data beside the repo)"
        )
    return CrdSchemas.load(CRD_DIR / "kubeflow-trainer")


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Endpoint]:
    with moto_s3() as endpoint:
        yield endpoint


def _env(doc: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("valueFrom", e.get("value")) for e in doc["spec"]["trainer"]["env"]}


def test_manifest_is_valid_for_the_trainer_crd(crds: CrdSchemas) -> None:
    cfg = load_config(REPO / "params.yaml", ["launcher.num_nodes=2", "launcher.gpus_per_node=8"])
    doc = trainjob_manifest(cfg, "train-grpo", "train-grpo-0123456789", "pathreasoner", ARGV)
    assert crds.errors(doc) == []
    spec, trainer = doc["spec"], doc["spec"]["trainer"]
    assert spec["runtimeRef"] == {"name": "torch-distributed"}
    assert spec["activeDeadlineSeconds"] == cfg.launcher.timeout_s
    assert trainer["image"] == cfg.pipeline.images.trainer
    assert trainer["command"] == ["torchrun", "-m", "pathreasoner.cli"] and trainer["args"] == ARGV
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 8)
    assert trainer["resourcesPerNode"]["limits"] == {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "8"}
    env = _env(doc)
    assert env["PYTHONUNBUFFERED"] == "1"
    for key in ENDPOINT_KEYS:
        assert env[key] == {"configMapKeyRef": {"name": "pathreasoner-endpoints", "key": key}}
    for key in S3_KEYS:
        assert env[key] == {"secretKeyRef": {"name": "s3-credentials", "key": key}}
    for key in MLFLOW_KEYS:
        assert env[key] == {"secretKeyRef": {"name": "mlflow-client-credentials", "key": key}}
    (patch,) = spec["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    pod = node["template"]["spec"]["template"]["spec"]
    assert node["name"] == "node" and pod["serviceAccountName"] == "pathreasoner-trainer"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_cpu_manifest_and_the_crd_catching_a_typo(crds: CrdSchemas) -> None:
    cfg = config_from_dict({"launcher": {"gpus_per_node": 0, "service_account": None}})
    doc = trainjob_manifest(cfg, "train-sft", "train-sft-0123456789", "ns", ARGV[:7])
    assert crds.errors(doc) == []
    assert doc["spec"]["trainer"]["numProcPerNode"] == 1 and "runtimePatches" not in doc["spec"]
    assert "nvidia.com/gpu" not in doc["spec"]["trainer"]["resourcesPerNode"]["limits"]
    doc["spec"]["trainer"]["numProcsPerNode"] = doc["spec"]["trainer"].pop("numProcPerNode")
    assert any("'numProcsPerNode' was unexpected" in p for p in crds.errors(doc))


def test_names_and_staging_are_checked() -> None:
    assert job_name("train-sft", "s3://b/kfp/run/model") == job_name("train-sft", "s3://b/kfp/run/model")
    assert len(job_name("train-grpo", "x")) == len("train-grpo-") + 10
    with pytest.raises(TrainingError, match="RFC 1035"):
        trainjob_manifest(Config(), "train-sft", "Train_SFT", "ns", [])
    cfg = config_from_dict({"pipeline": {"pipeline_root": "gs://bucket/kfp"}})
    with pytest.raises(ConfigError, match=r"launcher\.staging_uri"):
        staging_root(cfg)
    with pytest.raises(ConfigError, match="must be an s3:// prefix"):
        config_from_dict({"launcher": {"staging_uri": "/data/staging"}})


def _cluster_cfg(train_cfg: Config, bucket: str, pod_dir: Path) -> Config:
    """The test run's config as a cluster config: staging on S3, the pod's work dir, one CPU process."""
    raw = train_cfg.to_dict()
    raw["model"]["cache_dir"] = None  # the pods find the tiny model through PATHREASONER_CACHE (node_env)
    raw["pipeline"].update(pipeline_root=f"s3://{bucket}/kfp", container_work_dir=str(pod_dir))
    raw["launcher"].update(gpus_per_node=0, poll_interval_s=0.2, timeout_s=600)
    raw["sft"]["max_steps"] = 1
    return config_from_dict(raw)


def _cluster(tmp_path: Path, s3: S3Endpoint, train_cfg: Config, validate: bool = False) -> FakeCluster:
    """The fake cluster with the pipeline's ConfigMap and Secrets (pointing at moto), optionally checking
    every created TrainJob against the Trainer CRD like the API server does."""
    (tmp_path / "node").mkdir(parents=True, exist_ok=True)
    crds = (
        CrdSchemas.load(CRD_DIR / "kubeflow-trainer")
        if validate and (CRD_DIR / "kubeflow-trainer").is_dir()
        else None
    )
    return FakeCluster(
        config_maps={
            "pathreasoner-endpoints": {
                "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
                "AWS_ENDPOINT_URL": s3.url,
                "MLFLOW_S3_ENDPOINT_URL": s3.url,
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        },
        secrets={
            "s3-credentials": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
            "mlflow-client-credentials": {"MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "p"},
        },
        node_env={
            "PATHREASONER_CACHE": str(train_cfg.model.cache_dir),
            "OMP_NUM_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
        },
        workdir=tmp_path / "node",
        validate=crds.errors if crds else None,
    )


def test_pipeline_step_trains_in_a_trainjob_and_gets_the_checkpoint(
    s3: S3Endpoint,
    samples_dir: Path,
    train_cfg: Config,
    tiny_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    client, bucket = s3_bucket_for_test(s3.url, monkeypatch, request, "tj")
    cfg = _cluster_cfg(train_cfg, bucket, tmp_path / "pod")
    model_dir, model_uri = tmp_path / "kfp" / "model", f"s3://{bucket}/kfp/run-1/train-sft/model"
    with fake_cluster(_cluster(tmp_path, s3, train_cfg, validate=True)) as cluster:
        # the samples artifact is local here (not s3://), so the step stages it for the pods
        result = pipeline_train(
            "train-sft", cfg, "trainjob", (str(samples_dir), str(samples_dir)), (str(model_dir), model_uri)
        )
        (job,) = cluster.trainjobs.values()
        name = job_name("train-sft", model_uri)
        assert job["metadata"]["name"] == name and job["metadata"]["namespace"] == "pathreasoner"
        assert job["status"]["conditions"][0]["type"] == "Complete"
        args = job["spec"]["trainer"]["args"]
        prefix = f"s3://{bucket}/kfp/trainjobs/{name}"
        assert args == ["train-sft", "--config", f"{prefix}/params.yaml", "--samples", f"{prefix}/samples", "--out", f"{prefix}/out"]  # fmt: skip
        # the outputs came back into the step's output artifact
        assert (model_dir / "checkpoint" / "model.safetensors").is_file()
        summary = json.loads((model_dir / "summary.json").read_text())
        assert summary["steps"] == 1 and [r["rank"] for r in summary["ranks"]] == [0]
        assert summary["checkpoint"] == str(model_dir / "checkpoint")  # the S3 copy names its S3 prefix
        staged_summary = client.get_object(
            Bucket=bucket, Key=f"kfp/trainjobs/{job_name('train-sft', model_uri)}/out/summary.json"
        )
        assert json.loads(staged_summary["Body"].read())["checkpoint"].startswith(
            f"s3://{bucket}/kfp/trainjobs/"
        )
        assert result.steps == 1 and result.checkpoint == str(model_dir / "checkpoint")
        assert any("step 1/1" in line for line in result.logs)  # the rank-0 pod's log, streamed
        assert f"TrainJob pathreasoner/{name}" in result.line()
        staged = {
            o["Key"]
            for o in client.list_objects_v2(Bucket=bucket, Prefix=f"kfp/trainjobs/{name}/")["Contents"]
        }
        assert {f"kfp/trainjobs/{name}/params.yaml", f"kfp/trainjobs/{name}/samples/train.jsonl"} <= staged
        assert f"kfp/trainjobs/{name}/out/checkpoint/model.safetensors" in staged
        pod_cfg = load_config_text(client.get_object(Bucket=bucket, Key=f"kfp/trainjobs/{name}/params.yaml"))
        assert pod_cfg["launcher"]["kind"] == "in_process" and pod_cfg["project"]["work_dir"] == str(
            tmp_path / "pod"
        )
        # a restarted step finds its TrainJob (409) and follows it instead of training twice
        (model_dir / "summary.json").unlink()
        again = pipeline_train(
            "train-sft", cfg, "trainjob", (str(samples_dir), str(samples_dir)), (str(model_dir), model_uri)
        )
        assert len(cluster.trainjobs) == 1 and again.steps == 1 and (model_dir / "summary.json").is_file()
        assert [m for m, p in cluster.requests if p.endswith("/trainjobs")] == ["POST", "POST"]


def load_config_text(obj: dict[str, Any]) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(obj["Body"].read())


def test_a_failed_trainjob_raises_with_its_message_and_log(
    s3: S3Endpoint,
    train_cfg: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    _, bucket = s3_bucket_for_test(s3.url, monkeypatch, request, "tj")
    cfg = _cluster_cfg(train_cfg, bucket, tmp_path / "pod")
    streamed = io.StringIO()
    with fake_cluster(_cluster(tmp_path, s3, train_cfg)):
        launcher = TrainJobLauncher(cfg, out=streamed)
        args = TrainArgs(
            samples=f"s3://{bucket}/nothing-here", out=f"s3://{bucket}/runs/sft", job_name="train-sft-failing"
        )
        with pytest.raises(TrainingError) as caught:
            launcher.launch("train-sft", args)
    message = str(caught.value)
    assert message.startswith(
        "TrainJob pathreasoner/train-sft-failing failed: jobset failed: pod train-sft-failing-node-0-0"
    )
    assert f"no objects under s3://{bucket}/nothing-here" in " ".join(message.split())  # the pod's error line
    assert "[train-sft-failing rank 0]" in streamed.getvalue()


def test_missing_secret_key_and_rbac_refusal_are_clear(
    s3: S3Endpoint,
    train_cfg: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    _, bucket = s3_bucket_for_test(s3.url, monkeypatch, request, "tj")
    cfg = _cluster_cfg(train_cfg, bucket, tmp_path / "pod")
    args = TrainArgs(samples=f"s3://{bucket}/s", out=f"s3://{bucket}/o", job_name="train-sft-secret")
    cluster = _cluster(tmp_path, s3, train_cfg)
    del cluster.secrets["s3-credentials"]["AWS_SECRET_ACCESS_KEY"]
    with (
        fake_cluster(cluster),
        pytest.raises(
            TrainingError,
            match="couldn't find key AWS_SECRET_ACCESS_KEY in Secret pathreasoner/s3-credentials",
        ),
    ):
        TrainJobLauncher(cfg, out=io.StringIO()).launch("train-sft", args)
    cluster = _cluster(tmp_path / "denied", s3, train_cfg)
    cluster.forbid = True
    with fake_cluster(cluster), pytest.raises(TrainingError, match=r"HTTP 403.*k8s/base/rbac.yaml"):
        TrainJobLauncher(cfg).launch(
            "train-sft", TrainArgs(args.samples, args.out, job_name="train-sft-denied")
        )
