"""One validated configuration for every stage: defaults <- params.yaml <- `--set section.key=value`.

Unknown keys are errors that name the key and the valid keys of its section. Relative paths are
resolved against the directory of the params file, so a resolved config (``to_json``) can be handed
to a KFP component or a subprocess and means the same thing there.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pathreasoner.errors import ConfigError

QUESTION_TYPES = ("diagnosis", "subtype", "grade", "pT", "pN", "figo", "margin", "lvi", "report")


class Section(BaseModel):
    """Base of every config section: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectConfig(Section):
    work_dir: str = "work"  # every stage output lands under here (git-ignored)
    seed: int = 0
    log_level: str = "INFO"


class DemoDataConfig(Section):
    n_patients: int = Field(6, ge=1)
    slide_width_px: int = Field(6144, ge=512)
    slide_height_px: int = Field(4096, ge=512)
    native_tile_px: int = Field(256, ge=64)
    mpp: float = Field(0.25, gt=0)  # level-0 µm/px written into the synthetic slides
    jpeg_quality: int = Field(85, ge=30, le=100)
    workers: int = Field(2, ge=1)  # processes drawing slides in parallel
    diagnoses: list[str] = Field(default_factory=list)  # curated diagnoses to cycle through; [] = all 21


class TilingConfig(Section):
    target_mpp: float = Field(0.5, gt=0)
    tile_px: int = Field(256, ge=32)
    overlap_px: int = Field(0, ge=0)
    min_tissue_frac: float = Field(0.5, ge=0, le=1)
    thumbnail_px: int = Field(1024, ge=64)  # longest side of the thumbnail used for the tissue mask
    remove_pen: bool = True  # drop green/blue pen ink from the tissue mask
    tissue_background: Literal["auto", "bright", "dark"] = (
        "auto"  # dark = fluorescence; auto: from the border
    )
    default_mpp: float = Field(0.5, gt=0)  # used when the slide has neither MPP nor objective power
    top_k_tiles: int = Field(8, ge=1)
    roi_views: int = Field(2, ge=0)  # crops of the largest tissue regions, between thumbnail and tiles
    view_px: int = Field(448, ge=28)  # longest side of the views handed to the model
    jpeg_quality: int = Field(90, ge=30, le=100)
    shard_max_tiles: int = Field(2048, ge=1)
    workers: int = Field(1, ge=1)
    band_tiles: int = Field(
        20_000, ge=1
    )  # slides with more candidate tiles are split into row bands across workers
    s3_cache_dir: str | None = None  # local copies of s3:// slides; default $PATHREASONER_CACHE/s3-slides
    s3_cache_max_bytes: int = Field(50 * 2**30, ge=1)  # least recently used slides evicted above this

    @model_validator(mode="after")
    def _overlap_below_tile(self) -> TilingConfig:
        if self.overlap_px >= self.tile_px:
            raise ValueError(
                f"tiling.overlap_px={self.overlap_px} must be smaller than tiling.tile_px={self.tile_px}; "
                "lower overlap_px"
            )
        return self


class KGConfig(Section):
    curated: bool = True  # the pathology facts authored in pathreasoner/kg/data/
    obo_paths: list[str] = Field(default_factory=list)  # e.g. Disease Ontology cancer slim
    oncotree_path: str | None = None  # OncoTree tumour types TSV
    owl_paths: list[str] = Field(default_factory=list)  # OWL ontologies (rdflib), e.g. PathoML / TPO
    primekg_path: str | None = None  # PrimeKG kg.csv (column format) to plug the full PrimeKG in
    max_path_hops: int = Field(4, ge=1, le=8)
    max_paths_per_pair: int = Field(3, ge=1)
    top_k_paths: int = Field(6, ge=1)


class SamplesConfig(Section):
    extractor: Literal["rules", "llm"] = (
        "rules"  # llm: findings/diagnosis/facts by the samples.llm_* endpoint
    )
    writer: Literal["template", "llm"] = "template"  # llm: observe/think written by samples.llm_* endpoint
    answer_recovery: bool = (
        True  # with an LLM configured: keep a sample only if its reasoning recovers the answer
    )
    question_types: list[str] = Field(default_factory=lambda: list(QUESTION_TYPES))
    split_fractions: dict[str, float] = Field(default_factory=lambda: {"train": 0.6, "val": 0.2, "test": 0.2})
    views_per_sample: int = Field(2, ge=1)  # thumbnail + top tiles handed to the model
    view_px: int = Field(112, ge=28)  # longest side of images copied into the dataset
    link_fuzzy_threshold: float = Field(90.0, ge=0, le=100)  # rapidfuzz score to accept a fuzzy link
    link_embedding_threshold: float = Field(0.95, ge=0, le=1)  # MiniLM cosine to accept an embedding link
    link_embedding: bool = True  # use the offline MiniLM stage of entity linking
    trajectory_variants: int = Field(10, ge=1)  # SFT variants per sample (step prefixes + full trajectory)
    llm_base_url: str | None = (
        None  # OpenAI-compatible endpoint for writer=llm, e.g. http://127.0.0.1:8000/v1
    )
    llm_model: str = ""  # model name sent to the endpoint
    llm_api_key_env: str = (
        "OPENAI_API_KEY"  # environment variable holding the endpoint's API key (may be unset)
    )
    llm_cache_dir: str | None = None  # on-disk response cache; default <samples out>/../llm_cache
    llm_max_concurrency: int = Field(4, ge=1)
    llm_max_retries: int = Field(3, ge=0)
    llm_timeout_s: float = Field(60.0, gt=0)

    @field_validator("question_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        bad = [q for q in value if q not in QUESTION_TYPES]
        if bad:
            raise ValueError(f"unknown question types {bad}; valid: {list(QUESTION_TYPES)}")
        return value

    @field_validator("split_fractions")
    @classmethod
    def _splits(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) != {"train", "val", "test"}:
            raise ValueError(f"split_fractions needs exactly train/val/test, got {sorted(value)}")
        if abs(sum(value.values()) - 1.0) > 1e-6 or min(value.values()) < 0:
            raise ValueError(f"split_fractions must be >= 0 and sum to 1, got {value}")
        return value


class ModelConfig(Section):
    base: str = "tiny"  # "tiny" (offline, built locally) | Hugging Face id | local dir | s3://bucket/prefix
    cache_dir: str | None = None  # default: $PATHREASONER_CACHE or ~/.cache/pathreasoner
    image_min_pixels: int = Field(3136, ge=784)
    image_max_pixels: int = Field(12544, ge=784)
    # auto: bfloat16 on a CUDA GPU that supports it, else float32 (training, evaluation and serving loaders)
    torch_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    freeze_vision_tower: bool = (
        True  # SFT/GRPO train the merger (projector) and the LM; the ViT stays as loaded
    )


class SFTConfig(Section):
    max_steps: int = Field(250, ge=1)  # tiny model: ~45 s on 2 CPU cores, learns the answer format
    learning_rate: float = Field(2e-3, gt=0)
    per_device_batch_size: int = Field(4, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_length: int = Field(2048, ge=64)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    deepspeed: str | None = None  # path to a DeepSpeed JSON (ZeRO-2/3), None = plain torch
    trajectory_masking: bool = True  # train on sft_train.jsonl (step-prefix variants: loss on the rest only)
    full_trajectory_ratio: float = Field(0.5, ge=0, le=1)  # share of full trajectories mixed into those rows
    lora: bool = False
    lora_r: int = Field(16, ge=1)  # LoRA rank (when lora: true); adapters are merged before saving
    lora_alpha: int = Field(32, ge=1)
    logging_steps: int = Field(5, ge=1)
    gradient_checkpointing: bool = (
        False  # recompute activations in backward: needed for a 7B, slower on the demo
    )
    group_by_length: bool = False  # batches of similar token length (less padding; VLM data cannot be packed)


class GRPOConfig(Section):
    max_steps: int = Field(2, ge=1)
    learning_rate: float = Field(1e-5, gt=0)
    per_device_batch_size: int = Field(2, ge=1)
    num_generations: int = 2  # completions per prompt (a GRPO group), at least 2
    max_completion_length: int = Field(384, ge=8)  # long enough for a whole report-style response
    temperature: float = Field(0.7, gt=0)  # tiny model: lower than 1.0 so some samples are well-formed
    beta: float = Field(0.04, ge=0)  # 0: no KL term and no reference model kept in memory
    deepspeed: str | None = None
    logging_steps: int = Field(1, ge=1)
    # per_device_batch_size x world size x gradient_accumulation_steps completions per optimizer step must
    # hold whole groups of num_generations (checked when the trainer is built, where the world size is known)
    gradient_accumulation_steps: int = Field(1, ge=1)
    gradient_checkpointing: bool = False
    max_prompt_length: int | None = Field(
        2048, ge=16
    )  # tokens incl. image tokens; longer prompts are an error
    lora: bool = False
    lora_r: int = Field(16, ge=1)  # LoRA rank (when lora: true); adapters are merged before saving
    lora_alpha: int = Field(32, ge=1)
    use_vllm: bool = False  # vLLM rollouts: needs a CUDA GPU and the vllm package (trainer image)
    vllm_mode: Literal["colocate", "server"] = (
        "colocate"  # server: a `trl vllm-serve` at vllm_server_base_url
    )
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1)  # colocate: share of GPU memory for vLLM
    vllm_tensor_parallel_size: int = Field(1, ge=1)  # colocate
    vllm_max_model_length: int | None = Field(None, ge=64)  # None: max_prompt_length + max_completion_length
    vllm_enable_sleep_mode: bool = False  # colocate: offload vLLM weights/cache during the optimizer step
    vllm_server_base_url: str | None = None  # server mode, e.g. http://vllm:8000
    # prompts GRPO trains on, by question_type; None: every training question. The demo: [diagnosis], the
    # questions a slide answers (grade, pT and margin come from the report)
    question_types: list[str] | None = None

    @field_validator("num_generations")
    @classmethod
    def _groups(cls, value: int) -> int:
        if value < 2:
            raise ValueError(
                f"GRPO needs at least 2 completions per prompt to compare them (got {value}); set "
                "grpo.num_generations to 2 or more (4-8 on a GPU)"
            )
        return value


RESUME_MODES = ("auto", "never")


class TrainingConfig(Section):
    """Run settings shared by SFT and GRPO: trainer checkpoints, resume, live MLflow tracking."""

    save_steps: int = Field(
        100, ge=1
    )  # trainer checkpoint (weights, optimizer, RNG) every N steps and at the end
    save_total_limit: int = Field(
        2, ge=1
    )  # trainer checkpoints kept under <out>/trainer while the run is going
    resume: str = (
        "auto"  # auto: last <out>/trainer/checkpoint-N of the same run | never | path to a checkpoint-N
    )
    mlflow: bool = True  # log curves (loss, rewards, KL, lr, grad norm) to cfg.tracking_uri while training
    log_completions_steps: int = Field(10, ge=1)  # GRPO: a table of sample completions every N steps

    @field_validator("resume")
    @classmethod
    def _resume(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("training.resume is empty; use auto, never or the path of a checkpoint-N folder")
        return value.strip()


class LauncherConfig(Section):
    """Where train-sft / train-grpo run: this process, torchrun here, or a Kubeflow Trainer TrainJob."""

    # auto: in this process (CLI, kfp.local), a TrainJob from a cluster pipeline | in_process | torchrun | trainjob
    kind: Literal["auto", "in_process", "torchrun", "trainjob"] = "auto"
    nproc_per_node: int = Field(2, ge=1)  # torchrun: training processes on this machine
    num_nodes: int = Field(1, ge=1)  # trainjob: pods (nodes)
    gpus_per_node: int = Field(1, ge=0)  # trainjob: one process per GPU; 0 = one CPU process per node
    runtime: str = "torch-distributed"  # trainjob: the ClusterTrainingRuntime (Kubeflow Trainer v2)
    namespace: str | None = None  # trainjob: default the submitting pod's namespace, else the kubeconfig's
    service_account: str | None = "pathreasoner-trainer"  # trainjob: the training pods' identity (k8s/base)
    cpu_per_node: str = "16"  # trainjob: requests = limits per node
    memory_per_node: str = "128Gi"
    staging_uri: str | None = None  # trainjob inputs/outputs; default <pipeline.pipeline_root>/trainjobs
    poll_interval_s: float = Field(10.0, gt=0)  # trainjob: status polling while waiting
    timeout_s: int = Field(172_800, ge=60)  # trainjob: activeDeadlineSeconds; the launcher waits as long

    @field_validator("staging_uri")
    @classmethod
    def _staging(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise ValueError(
                f"launcher.staging_uri={value!r} must be an s3:// prefix the TrainJob pods can read and write"
            )
        return value


REWARD_NAMES = (
    "format",
    "semantic",
    "entity",
    "kg_path",
    "diagnosis",
)  # built in (pathreasoner.train.rewards.registry)


def import_reward(name: str) -> Any:
    """The callable a `reward.components` name `package.module:function` points at (a TRL reward
    function); ValueError naming the problem and the fix when it is not one."""
    module_name, sep, attr = name.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(
            f"unknown reward {name!r} in reward.components; known rewards: {', '.join(REWARD_NAMES)}, "
            "or 'package.module:function' for your own TRL reward function"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module failing at import
        raise ValueError(
            f"reward {name!r}: cannot import module {module_name!r} ({type(exc).__name__}: {exc}); "
            "install it or fix the module path"
        ) from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise ValueError(f"reward {name!r}: module {module_name!r} has no function {attr!r}")
    return func


def _check_reward_name(name: str) -> None:
    """A built-in reward name, or `module:function` naming an importable callable."""
    if name not in REWARD_NAMES:
        import_reward(name)


class RewardConfig(Section):
    """R = Σ weight · reward over `components` (paper §3.4: format + semantic + 0.5·entity, plus kg_path)."""

    # reward name -> weight; names: REWARD_NAMES or module:function (a TRL reward function); weight 0 = off
    components: dict[str, float] = Field(
        default_factory=lambda: {"format": 1.0, "semantic": 1.0, "entity": 0.5, "kg_path": 0.5}
    )
    semantic_backend: Literal["embedding", "judge"] = "embedding"  # embedding: offline MiniLM cosine
    entity_beta: float = Field(0.5, gt=0)  # entity F-beta; < 1 weighs precision above recall
    entity_soft_cap: float = Field(
        0.5, ge=0, lt=1
    )  # most credit a near-miss entity earns (never a full match)
    judge_base_url: str | None = (
        None  # OpenAI-compatible endpoint for semantic_backend=judge, e.g. http://h:8000/v1
    )
    judge_model: str | None = None
    judge_api_key_env: str = (
        "JUDGE_API_KEY"  # environment variable holding the endpoint's API key (may be unset)
    )
    judge_concurrency: int = Field(32, ge=1)  # requests in flight (the paper: 8; a vLLM judge batches them)
    judge_timeout_s: float = Field(30.0, gt=0)  # per request
    judge_max_retries: int = Field(1, ge=0)
    judge_cache_dir: str | None = None  # on-disk judge cache; null: <project.work_dir>/judge_cache

    @field_validator("components")
    @classmethod
    def _known_and_weighted(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            _check_reward_name(name)
            if weight < 0:
                raise ValueError(f"reward.components.{name}={weight} is negative; weights must be >= 0")
        if sum(value.values()) <= 0:
            raise ValueError(
                f"reward.components weights sum to 0 ({value}); give at least one reward a positive weight"
            )
        return value

    @model_validator(mode="after")
    def _judge_endpoint(self) -> RewardConfig:
        judged = self.semantic_backend == "judge" and self.components.get("semantic", 0) > 0
        if judged and not (self.judge_base_url and self.judge_model):
            raise ValueError(
                "reward.semantic_backend=judge needs reward.judge_base_url and reward.judge_model "
                f"(got {self.judge_base_url!r}, {self.judge_model!r}); set them or use semantic_backend=embedding"
            )
        return self


class EvalConfig(Section):
    split: Literal["train", "val", "test"] = "test"
    max_samples: int = Field(24, ge=1)
    first_types: list[str] = Field(
        default_factory=lambda: ["diagnosis"]
    )  # evaluated in full, before the rest
    max_new_tokens: int = Field(384, ge=1)
    batch_size: int = Field(4, ge=1)  # prompts per generate() call
    # open diagnosis answers: exact = the reference's KG diagnosis; child = also a more specific is_a child of
    # it; parent_or_child = also a more general parent
    hierarchy_match: Literal["exact", "child", "parent_or_child"] = "child"
    bootstrap_resamples: int = Field(1000, ge=100)  # bootstrap 95 % CIs (seeded with project.seed)
    report_examples: int = Field(10, ge=0)  # sample predictions shown in report.md
    judge_base_url: str | None = None  # optional LLM judge (OpenAI-compatible), e.g. http://h:8000/v1
    judge_model: str | None = None
    judge_api_key_env: str = (
        "JUDGE_API_KEY"  # environment variable holding the judge's API key (may be unset)
    )
    judge_concurrency: int = Field(8, ge=1)
    judge_timeout_s: float = Field(30.0, gt=0)
    judge_max_retries: int = Field(1, ge=0)

    @model_validator(mode="after")
    def _judge_pair(self) -> EvalConfig:
        if bool(self.judge_base_url) != bool(self.judge_model):
            raise ValueError(
                f"eval.judge_base_url={self.judge_base_url!r} and eval.judge_model={self.judge_model!r}: set both "
                "to score answers with an LLM judge, or neither"
            )
        return self


# metrics evaluate writes to metrics.json that a gate may set a minimum on (names as in metrics.json)
GATE_METRICS = (
    "answer_accuracy",
    "format_compliance",
    "diagnosis_accuracy",
    "entity_precision",
    "entity_recall",
    "entity_f1",
    "bleu",
    "rouge1",
    "rouge2",
    "rougeL",
    "bertscore_minilm_f1",
    "judge_score",
)


class GateConfig(Section):
    """What a model version must show before alias 'champion' may move to it (`pathreasoner promote`)."""

    # absolute minimums: metric -> lowest value accepted
    minimums: dict[str, float] = Field(
        default_factory=lambda: {"answer_accuracy": 0.4, "format_compliance": 0.8}
    )
    min_items: int = Field(20, ge=0)  # evaluated items with a verdict (n_scored; n_samples for older evals)
    # diagnosis_accuracy - max(diagnosis_chance, diagnosis_majority) must reach this (null: no such check)
    min_above_chance: float | None = Field(0.15, ge=0, le=1)
    # non-inferiority vs the champion on the same eval set: lower bound of the paired bootstrap 95 % CI of
    # (candidate - champion) answer_accuracy must be above -margin (null: no comparison with the champion)
    margin: float | None = Field(0.1, ge=0, le=1)
    n_boot: int = Field(2000, ge=100)
    seed: int = 0

    @field_validator("minimums")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(GATE_METRICS))
        if unknown:
            raise ValueError(
                f"registry.gate.minimums names unknown metric(s) {unknown}; use names evaluate writes to "
                f"metrics.json: {list(GATE_METRICS)}"
            )
        return value


class RegistryConfig(Section):
    tracking_uri: str | None = (
        None  # default: $MLFLOW_TRACKING_URI, else sqlite:///<work_dir>/mlflow/mlflow.db
    )
    # local path | s3://bucket/prefix | mlflow-artifacts:/prefix; default: <work_dir>/mlflow/artifacts for a
    # local store, the server's own default (its --artifacts-destination) for an http(s) tracking server
    artifact_root: str | None = None
    # the MLflow server's --artifacts-destination (s3://bucket/prefix): maps proxied mlflow-artifacts:/ URIs
    # to object storage KServe can read (storage_uri)
    artifacts_destination: str | None = None
    experiment: str = "pathreasoner"
    model_name: str = "pathreasoner"
    gate: GateConfig = Field(default_factory=GateConfig)
    # promotions and rollbacks hold a lock (registered model '<model_name>.lock'); a holder that died is
    # overtaken after lock_ttl_s, a waiter gives up after lock_wait_s
    lock_ttl_s: float = Field(120.0, gt=0)
    lock_wait_s: float = Field(60.0, ge=0)

    @field_validator("artifacts_destination")
    @classmethod
    def _object_store(cls, value: str | None) -> str | None:
        if value is not None and ("://" not in value or value.startswith("file:")):
            raise ValueError(
                f"registry.artifacts_destination={value!r} must be the MLflow server's --artifacts-destination, "
                "an object-store URI such as s3://mlflow/artifacts (or null when artifacts are not proxied)"
            )
        return value.rstrip("/") if value else value


class ServingConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    model_name: str = "pathreasoner"
    model_uri: str = "models:/pathreasoner@champion"
    max_new_tokens: int = Field(384, ge=1)
    max_image_bytes: int = Field(20_000_000, ge=1)
    max_instances: int = Field(8, ge=1)  # instances per request
    max_images_per_instance: int = Field(4, ge=1)
    max_question_chars: int = Field(2000, ge=1)
    max_request_bytes: int = Field(64_000_000, ge=1)  # POST body cap (HTTP 413 above it)
    # InferenceService (cluster): the GPU resource name comes from the pipeline section
    gpu_count: int = Field(1, ge=0)
    cpu: str = "4"
    memory: str = "32Gi"
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(2, ge=1)
    # `pathreasoner deploy` (pathreasoner/serve/deploy.py, docs/serving.md "Deploy")
    namespace: str = "pathreasoner"
    service_account: str | None = "pathreasoner-serving"  # k8s/base/rbac.yaml: S3 settings + Secret
    deployment_mode: Literal["Standard", "Knative"] = (
        "Standard"  # Knative (ex Serverless): canaryTrafficPercent
    )
    dtype: Literal["bfloat16", "float16", "float32", "auto"] = (
        "bfloat16"  # weights on the GPU (both runtimes)
    )
    gpu_node_selector: dict[str, str] = Field(
        default_factory=lambda: {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    )
    gpu_tolerations: list[dict[str, str]] = Field(
        default_factory=lambda: [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    )
    scale_metric: Literal["cpu", "memory", "concurrency", "rps"] | None = (
        "cpu"  # concurrency/rps: Knative only
    )
    scale_target: int | None = Field(70, ge=1)  # % for cpu/memory, requests per replica for concurrency/rps
    startup_seconds: int = Field(900, ge=10)  # time to load the checkpoint before liveness applies
    vllm_max_model_len: int = Field(8192, ge=1)  # `deploy --runtime vllm`: KServe Hugging Face runtime
    vllm_args: list[str] = Field(
        default_factory=list
    )  # extra vLLM engine flags, e.g. --gpu_memory_utilization=0.9
    gateway: str = (
        "kserve/kserve-ingress-gateway"  # Standard-mode canary: the HTTPRoute's Gateway (namespace/name)
    )
    ingress_host: str = "pathreasoner.example.com"  # Standard-mode canary: host the split HTTPRoute serves
    deploy_in_pipeline: bool = False  # the pipeline's optional deploy step after promote
    # the predictor's throughput and operations (docs/serving.md "Throughput and operations")
    allow_cpu: bool = False  # gpu_count > 0 and no GPU visible: a startup error unless this is true
    max_batch_size: int = Field(16, ge=1)  # instances generated together across concurrent requests
    # under concurrent traffic: how long a batch may wait for the previous batch's clients to come back;
    # unset: 0 with one model process (the next batch gathers while one runs), 40 with several, 50 in a thread
    max_batch_wait_ms: float | None = Field(None, ge=0)
    cpu_threads: int = Field(0, ge=0)  # CPU serving: torch threads per model; 0 = usable cores - 1, split
    # where the model generates: "process" child processes (the HTTP process keeps its own core and GIL),
    # "thread" a thread of the HTTP process, "auto" process on a GPU or with 2+ usable CPU cores
    model_worker: Literal["auto", "process", "thread"] = "auto"
    # model_worker "process": how many model processes generate batches at once (each loads the weights);
    # 0 = one on a GPU; on a CPU two with 2+ usable cores when two copies fit in half the memory, else one
    model_processes: int = Field(0, ge=0)
    request_timeout_s: float = Field(120.0, gt=0)  # per request; then HTTP 504 and its batch slot freed
    max_temperature: float = Field(2.0, ge=0)  # request parameters.temperature in [0, this]; 0 = greedy
    log_format: Literal["json", "text"] = "json"  # server logs: one JSON object per line with request_id


class ImagesConfig(Section):
    """One image per role (docker/*.Dockerfile, `make images`)."""

    pipeline: str = "ghcr.io/pathreasoner/pipeline:0.1.0"  # CPU stages: tiling, KG, samples, registry, gate
    trainer: str = "ghcr.io/pathreasoner/trainer:0.1.0"  # train-sft, train-grpo, evaluate
    serving: str = "ghcr.io/pathreasoner/serving:0.1.0"  # the KServe predictor


class PipelineConfig(Section):
    pipeline_root: str = "s3://pathreasoner-data/kfp"  # cluster: where KFP stores every task's artifacts
    local_root: str = "work/kfp"  # `pipeline run --local`: kfp.local's pipeline root on this machine
    tile_shards: int = Field(2, ge=1)  # tile-slides fans out over this many parallel tasks
    images: ImagesConfig = ImagesConfig()
    container_work_dir: str = "/tmp/pathreasoner"  # project.work_dir inside every step's container
    env_config_map: str | None = (
        "pathreasoner-endpoints"  # ConfigMap -> env: MLFLOW_TRACKING_URI, AWS_ENDPOINT_URL, ...
    )
    s3_secret: str | None = "s3-credentials"  # Secret -> AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
    mlflow_secret: str | None = (
        "mlflow-client-credentials"  # Secret -> MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD
    )
    service_account: str | None = "pathreasoner-pipeline"
    caching: bool = True  # content-keyed task caching (tiles, KG, samples, training, eval)
    retries: int = Field(2, ge=0)  # retries of the steps that talk to S3 / MLflow
    cpu_request: str = "1"  # CPU steps
    memory_request: str = "4Gi"
    cpu_limit: str = "4"
    memory_limit: str = "16Gi"
    scratch_size: str = "20Gi"  # emptyDir for project.work_dir of CPU steps
    expected_slides: int = Field(100, ge=1)  # cohort size the tiling resources are sized for
    tiling_gib_per_slide: float = Field(
        2.0, gt=0
    )  # scratch per slide (S3 copy + tiles) of a tile-slides task
    tiling_memory_gib_per_worker: float = Field(2.0, gt=0)
    gpu_resource: str = "nvidia.com/gpu"
    gpu_count: int = Field(1, ge=0)
    gpu_node_selector: dict[str, str] = Field(
        default_factory=lambda: {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    )
    gpu_cpu_request: str = "8"
    gpu_memory_request: str = "64Gi"
    gpu_cpu_limit: str = "16"
    gpu_memory_limit: str = "128Gi"


class Config(Section):
    project: ProjectConfig = ProjectConfig()
    demo_data: DemoDataConfig = DemoDataConfig()
    tiling: TilingConfig = TilingConfig()
    kg: KGConfig = KGConfig()
    samples: SamplesConfig = SamplesConfig()
    model: ModelConfig = ModelConfig()
    sft: SFTConfig = SFTConfig()
    grpo: GRPOConfig = GRPOConfig()
    training: TrainingConfig = TrainingConfig()
    launcher: LauncherConfig = LauncherConfig()
    reward: RewardConfig = RewardConfig()
    eval: EvalConfig = EvalConfig()
    registry: RegistryConfig = RegistryConfig()
    serving: ServingConfig = ServingConfig()
    pipeline: PipelineConfig = PipelineConfig()

    # ---- derived locations -------------------------------------------------------------
    @property
    def work_dir(self) -> Path:
        return Path(self.project.work_dir)

    @property
    def tracking_uri(self) -> str:
        """registry.tracking_uri, else $MLFLOW_TRACKING_URI (the pods' ConfigMap), else the local sqlite store."""
        return (
            self.registry.tracking_uri
            or os.environ.get("MLFLOW_TRACKING_URI", "").strip()
            or f"sqlite:///{self.work_dir / 'mlflow' / 'mlflow.db'}"
        )

    @property
    def artifact_root(self) -> str | None:
        """registry.artifact_root; unset: <work_dir>/mlflow/artifacts locally, None (the server's default) for a server."""
        if self.registry.artifact_root:
            return self.registry.artifact_root
        if self.tracking_uri.startswith(("http://", "https://", "databricks")):
            return None
        return str(self.work_dir / "mlflow" / "artifacts")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def config_hash(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


SECTIONS: dict[str, type[Section]] = {
    name: field.annotation
    for name, field in Config.model_fields.items()  # type: ignore[misc]
}
PATH_KEYS = {
    ("project", "work_dir"),
    ("kg", "oncotree_path"),
    ("kg", "primekg_path"),
    ("tiling", "s3_cache_dir"),
    ("model", "cache_dir"),
    ("sft", "deepspeed"),
    ("grpo", "deepspeed"),
    ("training", "resume"),
    ("registry", "artifact_root"),
    ("pipeline", "pipeline_root"),
    ("pipeline", "local_root"),
}


def _check_keys(raw: dict[str, Any]) -> None:
    """Reject unknown sections/keys with a message naming the key and the valid ones."""
    for section, body in raw.items():
        if section not in SECTIONS:
            raise ConfigError(f"unknown config section '{section}'; valid sections: {sorted(SECTIONS)}")
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(f"config section '{section}' must be a mapping, got {body!r}")
        valid = sorted(SECTIONS[section].model_fields)
        for key in body:
            if key not in valid:
                raise ConfigError(
                    f"unknown config key '{section}.{key}'; valid keys of '{section}': {', '.join(valid)}"
                )


def _apply_override(raw: dict[str, Any], override: str) -> None:
    if "=" not in override:
        raise ConfigError(f"override '{override}' must look like section.key=value (e.g. sft.max_steps=10)")
    dotted, value_text = override.split("=", 1)
    parts = dotted.strip().split(".")
    if len(parts) < 2:
        raise ConfigError(f"override '{override}' must name a section and a key, e.g. tiling.tile_px=224")
    value = yaml.safe_load(value_text) if value_text.strip() else None
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{override}': '{part}' is not a mapping")
    node[parts[-1]] = value


DEEPSPEED_DIR = Path(__file__).resolve().parent / "train" / "deepspeed"
DEEPSPEED_BUILTINS = {
    "zero2": "ds_zero2.json",
    "zero3": "ds_zero3.json",
}  # sft/grpo.deepspeed: a name or a path


def builtin_deepspeed(value: str) -> str | None:
    """`zero2`/`zero3` for a packaged DeepSpeed config (by name or by its path here), else None."""
    for name, file in DEEPSPEED_BUILTINS.items():
        if value == name or Path(value) == DEEPSPEED_DIR / file:
            return name
    return None


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    for section, key in PATH_KEYS:
        body = raw.setdefault(section, {}) or {}
        raw[section] = body
        value = body.get(key, SECTIONS[section].model_fields[key].default)
        if key == "resume" and value in RESUME_MODES:
            continue
        if key == "deepspeed" and value in DEEPSPEED_BUILTINS:
            body[key] = str(DEEPSPEED_DIR / DEEPSPEED_BUILTINS[value])  # packaged: resolves inside any image
            continue
        if value is None or ":/" in str(value):  # URIs (s3://, file://, mlflow-artifacts:/) stay as given
            continue
        path = Path(str(value)).expanduser()
        body[key] = str(path if path.is_absolute() else (base / path).resolve())
    for key in ("obo_paths", "owl_paths"):  # lists of files: local paths resolve, URIs stay as given
        items = raw.get("kg", {}).get(key)
        if items:
            raw["kg"][key] = [
                str(p) if ":/" in str(p) or Path(p).is_absolute() else str((base / p).resolve())
                for p in items
            ]
    uri = raw.get("registry", {}).get("tracking_uri")
    if uri and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        raw["registry"]["tracking_uri"] = f"sqlite:///{(base / uri[len('sqlite:///') :]).resolve()}"


def config_from_dict(
    raw: dict[str, Any], base_dir: Path | str = ".", overrides: list[str] | None = None
) -> Config:
    """Build a validated Config from a raw mapping (+ overrides); relative paths resolve against base_dir."""
    raw = json.loads(json.dumps(raw or {}))  # deep copy, plain types
    for override in overrides or []:
        _apply_override(raw, override)
    _check_keys(raw)
    _resolve_paths(raw, Path(base_dir).resolve())
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err.get('input')!r})"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid config: {problems}") from None


def load_config(path: Path | str | None = "params.yaml", overrides: list[str] | None = None) -> Config:
    """Load params.yaml (if it exists) and apply `section.key=value` overrides."""
    if path is None:
        return config_from_dict({}, Path.cwd(), overrides)
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist; pass --config with the path to params.yaml")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(raw).__name__}")
    return config_from_dict(raw, path.parent, overrides)


def config_from_json(text: str) -> Config:
    """Parse a resolved config produced by ``Config.to_json`` (used by KFP components)."""
    return config_from_dict(json.loads(text), Path.cwd())
