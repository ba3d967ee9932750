"""The pipeline compiles to KFP IR with every stage, GPU settings on training, promotion under dsl.If."""

from __future__ import annotations

from pathlib import Path

import yaml

from pathreasoner.config import load_config
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


def test_gpu_settings_on_training_and_eval(tmp_path: Path) -> None:
    spec, platform = _compiled(tmp_path)
    executors = spec["deploymentSpec"]["executors"]
    for stage in ("train-sft", "train-grpo", "evaluate"):
        resources = executors[f"exec-{stage}"]["container"]["resources"]
        assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
        assert int(resources["accelerator"]["resourceCount"]) == 1
    assert "accelerator" not in executors["exec-tile-slides"]["container"].get("resources", {})
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert k8s["exec-train-sft"]["nodeSelector"]["labels"] == {
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"
    }
    assert k8s["exec-train-grpo"]["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_components_do_not_pip_install(tmp_path: Path) -> None:
    spec, _ = _compiled(tmp_path)
    for name, executor in spec["deploymentSpec"]["executors"].items():
        command = " ".join(executor["container"]["command"])
        assert "pip install" not in command, name
        assert executor["container"]["image"] == "ghcr.io/pathreasoner/platform:0.1.0"
