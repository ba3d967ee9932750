"""Pipeline DAG: shard-slides -> tile-slides (ParallelFor over shards), build-kg -> build-samples -> train-sft -> train-grpo
-> evaluate -> register -> check-gate -> (gate passed) promote [-> deploy, when serving.deploy_in_pipeline].

Cluster terms (kfp-kubernetes, compiled into the platform spec; kfp.local ignores them): every step gets its environment
from the ConfigMap and Secrets named in `pipeline.env_*`, CPU/memory requests and limits, a scratch emptyDir for its work
dir (tiling sized by cohort), retries where it talks to S3 or MLflow; evaluation gets the GPU settings. The training
steps submit a Kubeflow Trainer TrainJob (launcher.kind auto|trainjob: N nodes x GPUs, see pathreasoner.train.launch)
and wait for it as CPU steps; with launcher.kind in_process or torchrun they train in their own pod on its GPUs.
Locally (kfp.local) they train in-process.
Caching is keyed on content: shard-slides (never cached) fingerprints the slides it lists, so tile-slides and everything
after it is reused when slides and config are unchanged.
"""

# (no `from __future__ import annotations`: KFP reads the real annotation objects)

import math
from collections.abc import Callable
from typing import Any

from kfp import dsl, kubernetes

from components import build_components
from pathreasoner.config import Config
from pathreasoner.portable import ENDPOINT_KEYS, MLFLOW_KEYS, S3_KEYS, check_env_names
from pathreasoner.train.launch import resolve_kind
from pathreasoner.train.launch.trainjob import staging_root

PIPELINE_NAME = "pathreasoner"
GPU_STAGES = ("train-sft", "train-grpo", "evaluate")
TRAIN_STAGES = ("train-sft", "train-grpo")
CACHED_STAGES = ("tile-slides", "build-kg", "build-samples", "train-sft", "train-grpo", "evaluate")
RETRIED_STAGES = (
    "shard-slides",
    "tile-slides",
    "build-samples",
    "register",
    "check-gate",
    "promote",
    "deploy",
)
SCRATCH_VOLUME = "scratch"


def _gib(value: float) -> str:
    return f"{max(1, math.ceil(value))}Gi"


def _attach_env(task: Any, cfg: Config) -> None:
    """Endpoints from the ConfigMap, credentials from the Secrets; a missing one stops the pod with its name."""
    p = cfg.pipeline
    kubernetes.use_config_map_as_env(
        task, config_map_name=p.env_config_map, config_map_key_to_env={k: k for k in ENDPOINT_KEYS}
    )
    for secret, keys in ((p.s3_secret, S3_KEYS), (p.mlflow_secret, MLFLOW_KEYS)):
        kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env={k: k for k in keys})


def _cpu_step(task: Any, cfg: Config, scratch: str | None = None) -> None:
    p = cfg.pipeline
    task.set_cpu_request(p.cpu_request).set_memory_request(p.memory_request)
    task.set_cpu_limit(p.cpu_limit).set_memory_limit(p.memory_limit)
    kubernetes.empty_dir_mount(
        task,
        volume_name=SCRATCH_VOLUME,
        mount_path=p.container_work_dir,
        size_limit=scratch or p.scratch_size,
    )


def _tiling_step(task: Any, cfg: Config) -> None:
    """Scratch and memory by cohort: slides per shard x GiB per slide; memory per tiling worker."""
    p = cfg.pipeline
    per_shard = math.ceil(p.expected_slides / p.tile_shards)
    memory = _gib(p.tiling_memory_gib_per_worker * cfg.tiling.workers + 1)
    task.set_cpu_request(str(cfg.tiling.workers)).set_memory_request(memory)
    task.set_cpu_limit(str(cfg.tiling.workers + 1)).set_memory_limit(
        _gib(p.tiling_memory_gib_per_worker * (cfg.tiling.workers + 1) + 1)
    )
    kubernetes.empty_dir_mount(
        task,
        volume_name=SCRATCH_VOLUME,
        mount_path=p.container_work_dir,
        size_limit=_gib(per_shard * p.tiling_gib_per_slide),
    )


def _gpu_step(task: Any, cfg: Config) -> None:
    """Accelerator limit + node selector + toleration (kfp-kubernetes)."""
    p = cfg.pipeline
    task.set_cpu_request(p.gpu_cpu_request).set_memory_request(p.gpu_memory_request)
    task.set_cpu_limit(p.gpu_cpu_limit).set_memory_limit(p.gpu_memory_limit)
    kubernetes.empty_dir_mount(
        task, volume_name=SCRATCH_VOLUME, mount_path=p.container_work_dir, size_limit=p.scratch_size
    )
    if p.gpu_count <= 0:
        return
    task.set_accelerator_type(p.gpu_resource).set_accelerator_limit(p.gpu_count)
    for key, value in p.gpu_node_selector.items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    kubernetes.add_toleration(task, key=p.gpu_resource, operator="Exists", effect="NoSchedule")


def build_pipeline(cfg: Config, config_json: str, cluster: bool = True) -> Callable[..., Any]:
    """The pipeline function; `config_json` is its default config (portable for a compiled pipeline).

    `cluster=False` (kfp.local) leaves out the Kubernetes-only settings.
    """
    if cluster:
        check_env_names(cfg)
    images = cfg.pipeline.images
    comp = build_components(images.pipeline, images.trainer)
    launcher = resolve_kind(cfg, cluster=True) if cluster else "in_process"  # how train-sft/grpo train
    if launcher == "trainjob":
        staging_root(cfg)  # a ConfigError now, not when the TrainJob is due

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="WSIs + reports -> reasoning VLM -> MLflow champion",
        pipeline_root=cfg.pipeline.pipeline_root if cluster else None,
    )
    def pathreasoner_pipeline(slides: str, reports: str, config_json: str = config_json) -> None:
        shards = comp["shard-slides"](
            config_json=config_json, slides=slides, n_shards=cfg.pipeline.tile_shards
        ).set_display_name("shard-slides")
        with dsl.ParallelFor(shards.output, name="tile-shards") as shard:
            tiles = comp["tile-slides"](config_json=config_json, slides=shard).set_display_name("tile-slides")
        kg = comp["build-kg"](config_json=config_json).set_display_name("build-kg")
        samples = comp["build-samples"](
            config_json=config_json,
            reports=reports,
            tiles=dsl.Collected(tiles.outputs["tiles"]),
            kg=kg.outputs["kg"],
        ).set_display_name("build-samples")
        sft = comp["train-sft"](
            config_json=config_json, samples=samples.outputs["samples"], launcher=launcher
        ).set_display_name("train-sft")
        grpo = comp["train-grpo"](
            config_json=config_json,
            samples=samples.outputs["samples"],
            sft_model=sft.outputs["model"],
            launcher=launcher,
        ).set_display_name("train-grpo")
        evaluation = comp["evaluate"](
            config_json=config_json, model=grpo.outputs["model"], samples=samples.outputs["samples"]
        ).set_display_name("evaluate")
        registered = comp["register"](
            config_json=config_json,
            model=grpo.outputs["model"],
            report=evaluation.outputs["report"],
            samples=samples.outputs["samples"],
            kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ).set_display_name("register")
        gate = comp["check-gate"](config_json=config_json, version=registered.output).set_display_name(
            "check-gate"
        )
        with dsl.If(gate.output == True, name="gate-passed"):  # noqa: E712
            promoted = comp["promote"](config_json=config_json, version=registered.output).set_display_name(
                "promote"
            )
            if cfg.serving.deploy_in_pipeline:  # the new champion's InferenceService (pathreasoner deploy)
                deployed = comp["deploy"](config_json=config_json, version=registered.output)
                deployed.set_display_name("deploy").after(promoted)
        tasks = {
            "shard-slides": shards, "tile-slides": tiles, "build-kg": kg, "build-samples": samples,
            "train-sft": sft, "train-grpo": grpo, "evaluate": evaluation, "register": registered,
            "check-gate": gate, "promote": promoted,
            **({"deploy": deployed} if cfg.serving.deploy_in_pipeline else {}),
        }  # fmt: skip
        for name, task in tasks.items():
            task.set_caching_options(cfg.pipeline.caching and name in CACHED_STAGES)
            if not cluster:
                continue
            _attach_env(task, cfg)
            if name in RETRIED_STAGES and cfg.pipeline.retries:
                task.set_retry(num_retries=cfg.pipeline.retries, backoff_duration="30s", backoff_factor=2.0)
            if name in TRAIN_STAGES and launcher == "trainjob":
                _cpu_step(task, cfg)  # submits the TrainJob and waits; the GPUs are the TrainJob's
            elif name in GPU_STAGES:
                _gpu_step(task, cfg)
            elif name == "tile-slides":
                _tiling_step(task, cfg)
            else:
                _cpu_step(task, cfg)

    return pathreasoner_pipeline
