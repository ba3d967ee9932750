"""Pipeline DAG: shard-slides -> tile-slides (ParallelFor over shards), build-kg -> build-samples -> train-sft -> train-grpo -> evaluate -> register
-> check-gate -> (gate passed) promote. Training and evaluation request GPUs on the cluster; locally these settings
are no-ops."""

# (no `from __future__ import annotations`: KFP reads the real annotation objects)

from collections.abc import Callable
from typing import Any

from kfp import dsl, kubernetes

from components import build_components
from pathreasoner.config import Config

PIPELINE_NAME = "pathreasoner"
GPU_STAGES = ("train-sft", "train-grpo", "evaluate")


def _on_gpu(task: Any, cfg: Config) -> None:
    """Accelerator limit + node selector + toleration (kfp-kubernetes); ignored by kfp.local."""
    p = cfg.pipeline
    if p.gpu_count <= 0:
        return
    task.set_accelerator_type(p.gpu_resource).set_accelerator_limit(p.gpu_count)
    task.set_cpu_limit(p.cpu_limit).set_memory_limit(p.memory_limit)
    for key, value in p.gpu_node_selector.items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    kubernetes.add_toleration(task, key=p.gpu_resource, operator="Exists", effect="NoSchedule")


def build_pipeline(cfg: Config, cluster: bool = True) -> Callable[..., Any]:
    """The pipeline function for `cfg`; `cluster=False` leaves out the Kubernetes-only settings."""
    comp = build_components(cfg.pipeline.image)

    @dsl.pipeline(name=PIPELINE_NAME, description="WSIs + reports -> reasoning VLM -> MLflow champion")
    def pathreasoner_pipeline(slides: str, reports: str, config_json: str = cfg.to_json()) -> None:
        shards = comp["shard-slides"](
            config_json=config_json, slides=slides, n_shards=cfg.pipeline.tile_shards
        ).set_display_name("shard-slides")
        with dsl.ParallelFor(shards.output, name="tile-shards") as shard:
            tiles = comp["tile-slides"](config_json=config_json, slides=shard).set_display_name("tile-slides")
            tiles.set_caching_options(False)
        kg = comp["build-kg"](config_json=config_json).set_display_name("build-kg")
        samples = comp["build-samples"](
            config_json=config_json,
            reports=reports,
            tiles=dsl.Collected(tiles.outputs["tiles"]),
            kg=kg.outputs["kg"],
        ).set_display_name("build-samples")
        sft = comp["train-sft"](config_json=config_json, samples=samples.outputs["samples"]).set_display_name(
            "train-sft"
        )
        grpo = comp["train-grpo"](
            config_json=config_json, samples=samples.outputs["samples"], sft_model=sft.outputs["model"]
        ).set_display_name("train-grpo")
        evaluation = comp["evaluate"](
            config_json=config_json, model=grpo.outputs["model"], samples=samples.outputs["samples"]
        ).set_display_name("evaluate")
        registered = comp["register"](
            config_json=config_json,
            model=grpo.outputs["model"],
            report=evaluation.outputs["report"],
            samples=samples.outputs["samples"],
        ).set_display_name("register")
        gate = comp["check-gate"](config_json=config_json, version=registered.output).set_display_name(
            "check-gate"
        )
        for task in (shards, kg, samples, sft, grpo, evaluation, registered, gate):
            task.set_caching_options(False)
        if cluster:
            for task in (sft, grpo, evaluation):
                _on_gpu(task, cfg)
        with dsl.If(gate.output == True, name="gate-passed"):  # noqa: E712
            comp["promote"](config_json=config_json, version=registered.output).set_display_name(
                "promote"
            ).set_caching_options(False)

    return pathreasoner_pipeline
