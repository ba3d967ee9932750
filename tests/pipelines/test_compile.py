"""The pipeline compiles to KFP IR with every stage, TrainJob-submitting training steps, GPU settings on
evaluation (and on in-pod training), promotion under dsl.If."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from pathreasoner.config import config_from_json, load_config
from pathreasoner.errors import ConfigError
from pathreasoner.pipeline_runner import compile_pipeline

REPO = Path(__file__).resolve().parents[2]
STAGES = [
    "shard-slides",
    "tile-slides",
    "build-kg",
    "build-samples",
    "train-sft",
    "train-grpo",
    "evaluate",
    "register",
    "check-gate",
    "promote",
]


def _compiled(tmp_path: Path) -> tuple[dict, dict]:
    out = compile_pipeline(load_config(REPO / "params.yaml"), tmp_path / "pipeline.yaml")
    spec, platform = list(yaml.safe_load_all(out.read_text()))
    return spec, platform


def test_every_stage_is_a_task(tmp_path: Path) -> None:
    spec, _ = _compiled(tmp_path)
    executors = set(spec["deploymentSpec"]["executors"])
    assert executors == {f"exec-{s}" for s in STAGES}
    tasks = set(spec["root"]["dag"]["tasks"])
    assert {s for s in STAGES if s not in ("promote", "tile-slides")} <= tasks
    # promote only runs inside the gate condition, fed by register's outputs
    condition = next(t for t in spec["root"]["dag"]["tasks"].values() if "triggerPolicy" in t)
    assert "check-gate" in condition["triggerPolicy"]["condition"]
    inner = spec["components"][condition["componentRef"]["name"]]["dag"]["tasks"]
    assert list(inner) == ["promote"]


def test_tiling_fans_out_over_slide_shards(tmp_path: Path) -> None:
    spec, _ = _compiled(tmp_path)
    loop = spec["root"]["dag"]["tasks"]["for-loop-1"]
    assert loop["parameterIterator"]["items"]["inputParameter"].endswith("shard-slides-Output")
    assert loop["dependentTasks"] == ["shard-slides"]
    inner = spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"]
    assert list(inner) == ["tile-slides"]
    # build-samples collects every shard's tiles
    tiles_input = spec["root"]["dag"]["tasks"]["build-samples"]["inputs"]["artifacts"]["tiles"]
    assert tiles_input["taskOutputArtifact"]["producerTask"] == "for-loop-1"


def test_dependencies_follow_the_data_flow(tmp_path: Path) -> None:
    spec, _ = _compiled(tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks["build-samples"]["dependentTasks"]) == {"for-loop-1", "build-kg"}
    assert tasks["train-sft"]["dependentTasks"] == ["build-samples"]
    assert set(tasks["train-grpo"]["dependentTasks"]) == {"build-samples", "train-sft"}
    assert set(tasks["register"]["dependentTasks"]) == {"build-samples", "evaluate", "train-grpo"}
    assert tasks["check-gate"]["dependentTasks"] == ["register"]


def _launcher(spec: dict, stage: str) -> str:
    return spec["root"]["dag"]["tasks"][stage]["inputs"]["parameters"]["launcher"]["runtimeValue"]["constant"]


def test_training_submits_trainjobs_and_evaluation_gets_the_gpu(tmp_path: Path) -> None:
    spec, platform = _compiled(tmp_path)  # launcher.kind: auto -> a TrainJob per training step
    executors = spec["deploymentSpec"]["executors"]
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for stage in ("train-sft", "train-grpo"):
        assert _launcher(spec, stage) == "trainjob"
        resources = executors[f"exec-{stage}"]["container"]["resources"]
        assert "accelerator" not in resources and resources["memoryLimit"] == 17.179869184  # 16Gi: waits only
        assert "nodeSelector" not in k8s[f"exec-{stage}"]
    resources = executors["exec-evaluate"]["container"]["resources"]
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert int(resources["accelerator"]["resourceCount"]) == 1
    assert "accelerator" not in executors["exec-tile-slides"]["container"].get("resources", {})
    assert k8s["exec-evaluate"]["nodeSelector"]["labels"] == {
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"
    }


def test_in_pod_training_gets_the_gpu_settings(tmp_path: Path) -> None:
    cfg = load_config(REPO / "params.yaml", ["launcher.kind=in_process"])
    spec, platform = list(yaml.safe_load_all(compile_pipeline(cfg, tmp_path / "p.yaml").read_text()))
    executors = spec["deploymentSpec"]["executors"]
    for stage in ("train-sft", "train-grpo", "evaluate"):
        resources = executors[f"exec-{stage}"]["container"]["resources"]
        assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert _launcher(spec, "train-sft") == "in_process"
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert k8s["exec-train-sft"]["nodeSelector"]["labels"] == {
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"
    }
    assert k8s["exec-train-grpo"]["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_trainjob_staging_must_be_on_s3(tmp_path: Path) -> None:
    cfg = load_config(REPO / "params.yaml", ["pipeline.pipeline_root=gs://bucket/kfp"])
    with pytest.raises(ConfigError, match=r"launcher\.staging_uri"):
        compile_pipeline(cfg, tmp_path / "p.yaml")
    compile_pipeline(load_config(REPO / "params.yaml", ["pipeline.pipeline_root=gs://bucket/kfp",
                                                       "launcher.staging_uri=s3://bucket/trainjobs"]), tmp_path / "p.yaml")  # fmt: skip


def test_components_run_on_their_role_image_without_pip(tmp_path: Path) -> None:
    spec, _ = _compiled(tmp_path)
    for name, executor in spec["deploymentSpec"]["executors"].items():
        command = " ".join(executor["container"]["command"])
        assert "pip install" not in command, name
        role = "trainer" if name in {"exec-train-sft", "exec-train-grpo", "exec-evaluate"} else "pipeline"
        assert executor["container"]["image"] == f"ghcr.io/pathreasoner/{role}:0.1.0", name


def test_compiled_yaml_holds_no_path_of_this_machine(tmp_path: Path) -> None:
    out = compile_pipeline(load_config(REPO / "params.yaml"), tmp_path / "pipeline.yaml")
    text = out.read_text()
    for host_path in {str(REPO), str(Path.cwd()), str(Path.home()), str(tmp_path)}:
        assert host_path not in text, host_path
    spec, _ = list(yaml.safe_load_all(text))
    config = json.loads(spec["root"]["inputDefinitions"]["parameters"]["config_json"]["defaultValue"])
    assert config["project"]["work_dir"] == "/tmp/pathreasoner"
    assert (
        config["registry"]["tracking_uri"] is None
    )  # each step reads MLFLOW_TRACKING_URI from the ConfigMap


def test_packaged_deepspeed_config_travels_by_name(tmp_path: Path) -> None:
    cfg = load_config(REPO / "params.yaml", ["sft.deepspeed=zero2", "grpo.deepspeed=zero3"])
    assert Path(cfg.sft.deepspeed).is_file()  # resolved here to the package's ds_zero2.json
    spec, _ = list(yaml.safe_load_all(compile_pipeline(cfg, tmp_path / "p.yaml").read_text()))
    config = json.loads(spec["root"]["inputDefinitions"]["parameters"]["config_json"]["defaultValue"])
    assert (config["sft"]["deepspeed"], config["grpo"]["deepspeed"]) == ("zero2", "zero3")
    inside = config_from_json(json.dumps(config))  # what a step does in its container
    assert Path(inside.sft.deepspeed).name == "ds_zero2.json" and Path(inside.sft.deepspeed).is_file()


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("kg.oncotree_path=oncotree.txt", "kg.oncotree_path"),
        ("registry.tracking_uri=sqlite:///work/mlflow.db", "registry.tracking_uri"),
        ("pipeline.pipeline_root=work/kfp", "pipeline.pipeline_root"),
        ("sft.deepspeed=my_ds.json", "sft.deepspeed"),
    ],
)
def test_host_paths_are_refused_with_the_key(tmp_path: Path, override: str, named: str) -> None:
    cfg = load_config(REPO / "params.yaml", [override])
    with pytest.raises(ConfigError, match=re.escape(named)):
        compile_pipeline(cfg, tmp_path / "p.yaml")
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize("key", ["env_config_map", "s3_secret", "mlflow_secret", "service_account"])
def test_missing_configmap_or_secret_name_is_a_clear_error(tmp_path: Path, key: str) -> None:
    cfg = load_config(REPO / "params.yaml", [f"pipeline.{key}="])
    with pytest.raises(ConfigError, match=f"pipeline.{key} is empty"):
        compile_pipeline(cfg, tmp_path / "p.yaml")


def test_every_step_gets_env_from_the_configmap_and_secrets(tmp_path: Path) -> None:
    spec, platform = _compiled(tmp_path)
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(k8s) == set(spec["deploymentSpec"]["executors"])
    for name, executor in k8s.items():
        (config_map,) = executor["configMapAsEnv"]
        assert config_map["configMapName"] == "pathreasoner-endpoints", name
        assert {e["envVar"] for e in config_map["keyToEnv"]} >= {"MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL"}
        secrets = {s["secretName"]: {e["envVar"] for e in s["keyToEnv"]} for s in executor["secretAsEnv"]}
        assert secrets == {
            "s3-credentials": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
            "mlflow-client-credentials": {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"},
        }, name


def test_resources_scratch_and_tiling_sized_by_cohort(tmp_path: Path) -> None:
    cfg = load_config(REPO / "params.yaml", ["pipeline.expected_slides=300", "pipeline.tile_shards=3"])
    out = compile_pipeline(cfg, tmp_path / "p.yaml")
    spec, platform = list(yaml.safe_load_all(out.read_text()))
    executors = spec["deploymentSpec"]["executors"]
    for name, executor in executors.items():
        resources = executor["container"]["resources"]
        assert {"cpuRequest", "memoryRequest", "cpuLimit", "memoryLimit"} <= set(resources), name
    assert executors["exec-build-kg"]["container"]["resources"]["cpuRequest"] == 1.0
    assert executors["exec-evaluate"]["container"]["resources"]["memoryLimit"] == 137.438953472  # 128Gi in GB
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    (tiling_scratch,) = k8s["exec-tile-slides"]["emptyDirMounts"]
    assert tiling_scratch["mountPath"] == "/tmp/pathreasoner"
    assert tiling_scratch["sizeLimit"] == "200Gi"  # 100 slides per shard x 2 GiB
    assert k8s["exec-register"]["emptyDirMounts"][0]["sizeLimit"] == "20Gi"


def test_caching_retries_and_pipeline_root(tmp_path: Path) -> None:
    spec, _ = _compiled(tmp_path)
    assert spec["defaultPipelineRoot"] == "s3://pathreasoner-data/kfp"
    tasks = dict(spec["root"]["dag"]["tasks"])
    for component in spec["components"].values():
        tasks.update(component.get("dag", {}).get("tasks", {}))
    cached = {n for n, t in tasks.items() if t.get("cachingOptions", {}).get("enableCache")}
    assert cached == {"tile-slides", "build-kg", "build-samples", "train-sft", "train-grpo", "evaluate"}
    retried = {n for n, t in tasks.items() if t.get("retryPolicy", {}).get("maxRetryCount")}
    assert retried == {"shard-slides", "tile-slides", "build-samples", "register", "check-gate", "promote"}
    assert tasks["register"]["retryPolicy"]["backoffDuration"] == "30s"
    # register records the KFP run id as a lineage tag
    run_id = tasks["register"]["inputs"]["parameters"]["kfp_run_id"]["runtimeValue"]["constant"]
    assert run_id == "{{$.pipeline_job_uuid}}"


def test_caching_can_be_turned_off(tmp_path: Path) -> None:
    cfg = load_config(REPO / "params.yaml", ["pipeline.caching=false"])
    spec, _ = list(yaml.safe_load_all(compile_pipeline(cfg, tmp_path / "p.yaml").read_text()))
    assert "enableCache: true" not in yaml.safe_dump(spec)
