"""GRPO from the SFT checkpoint with TRL's GRPOTrainer: R = format + semantic + α·entity (paper §3.4)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from transformers import set_seed
from trl import GRPOConfig, GRPOTrainer

from pathreasoner.config import Config
from pathreasoner.dataset import load_lexicon
from pathreasoner.errors import TrainingError
from pathreasoner.model.factory import freeze_vision_tower, load_checkpoint, require_checkpoint
from pathreasoner.train.checkpoints import clear_trainer_dir, resume_checkpoint, run_fingerprint
from pathreasoner.train.common import (
    HistoryCallback,
    base_training_kwargs,
    quiet,
    train_and_save,
    training_env,
)
from pathreasoner.train.data import grpo_dataset, load_split, select_question_types
from pathreasoner.train.live_tracking import CompletionsTable
from pathreasoner.train.monitors import make_diagnosis_monitor
from pathreasoner.train.preflight import check_grpo_batch, check_prompt_lengths, check_vllm, world_size
from pathreasoner.train.report import publish_train_report, stage_dir_of
from pathreasoner.train.result import TrainResult
from pathreasoner.train.rewards.combine import build_reward_funcs
from pathreasoner.train.sft import lora_config

logger = logging.getLogger(__name__)


def grpo_args(cfg: Config, out_dir: Path, reward_weights: list[float]) -> GRPOConfig:
    """GRPOConfig from the `grpo` section (vLLM settings are passed through; TRL reads them only with use_vllm)."""
    g = cfg.grpo
    base = base_training_kwargs(out_dir, cfg.project.seed, g.deepspeed, cfg.training)
    model_length = g.vllm_max_model_length or (
        g.max_prompt_length + g.max_completion_length if g.max_prompt_length else None
    )
    server = {"vllm_server_base_url": g.vllm_server_base_url} if g.vllm_mode == "server" else {}
    return GRPOConfig(
        **{**base, "activation_checkpointing": g.gradient_checkpointing},
        max_steps=g.max_steps,
        learning_rate=g.learning_rate,
        per_device_train_batch_size=g.per_device_batch_size,
        gradient_accumulation_steps=g.gradient_accumulation_steps,
        use_vllm=g.use_vllm,
        vllm_mode=g.vllm_mode,
        vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
        vllm_tensor_parallel_size=g.vllm_tensor_parallel_size,
        vllm_max_model_length=model_length,
        vllm_enable_sleep_mode=g.vllm_enable_sleep_mode,
        **server,
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        beta=g.beta,
        reward_weights=reward_weights,
        logging_steps=g.logging_steps,
        loss_type="grpo",
        scale_rewards="group",
        lr_scheduler_type="constant",
        shuffle_dataset=True,
    )


def build_grpo_trainer(
    samples_dir: Path, init_checkpoint: Path, out_dir: Path, cfg: Config
) -> tuple[GRPOTrainer, HistoryCallback, list[dict[str, str]]]:
    """The configured GRPOTrainer on the SFT checkpoint, its history callback and the skipped records.

    Settings that cannot work here (batch grouping for this world size, vLLM without a GPU) and a missing
    checkpoint fail first, before data, rewards or the model are loaded.
    """
    check_grpo_batch(cfg.grpo, world_size())
    check_vllm(cfg.grpo)
    require_checkpoint(init_checkpoint)
    set_seed(cfg.project.seed)
    loaded = select_question_types(
        load_split(samples_dir, "train", require_response=False), cfg.grpo.question_types
    )
    dataset = grpo_dataset(samples_dir, loaded=loaded)
    funcs, weights = build_reward_funcs(cfg.reward, load_lexicon(samples_dir), cfg.work_dir, samples_dir)
    monitor = None if cfg.reward.components.get("diagnosis", 0) > 0 else make_diagnosis_monitor(samples_dir)
    if monitor is not None:  # logged beside the rewards, weight 0: never trained on
        funcs, weights = [*funcs, monitor], [*weights, 0.0]
    model, processor = load_checkpoint(init_checkpoint, cfg.model.torch_dtype)
    if cfg.model.freeze_vision_tower:
        freeze_vision_tower(model)
    check_prompt_lengths(loaded.records, processor, cfg.grpo.max_prompt_length)
    history = HistoryCallback()
    try:
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=funcs,
            args=grpo_args(cfg, out_dir, weights),
            train_dataset=dataset,
            processing_class=processor,
            peft_config=lora_config(cfg.grpo.lora_r, cfg.grpo.lora_alpha) if cfg.grpo.lora else None,
            callbacks=[history],
        )
    except ValueError as exc:
        raise TrainingError(
            f"cannot set up GRPO on {samples_dir} with grpo={cfg.grpo.model_dump()}: {exc}"
        ) from exc
    return quiet(trainer), history, loaded.skipped


def train_grpo(
    samples_dir: Path | str, init_checkpoint: Path | str, out_dir: Path | str, cfg: Config
) -> TrainResult:
    """GRPO `init_checkpoint` on `<samples_dir>/train.jsonl`; same outputs as SFT plus per-step reward means.

    Resumes and tracks like `train_sft`; the MLflow run also gets a table of sample completions every
    `training.log_completions_steps` steps.
    """
    samples_dir, init_checkpoint, out_dir = Path(samples_dir), Path(init_checkpoint), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    fingerprint = run_fingerprint(
        "train-grpo",
        cfg.model,
        cfg.grpo,
        cfg.reward,
        cfg.project.seed,
        samples_dir.resolve(),
        init_checkpoint.resolve(),
    )
    resume = resume_checkpoint(cfg.training, out_dir, fingerprint)
    with training_env(cfg.grpo.deepspeed):
        trainer, history, skipped = build_grpo_trainer(samples_dir, init_checkpoint, out_dir, cfg)
        trainer.add_callback(CompletionsTable(trainer, cfg.training.log_completions_steps))
        checkpoint, run_id = train_and_save(trainer, cfg, "train-grpo", out_dir, resume, fingerprint)
        is_main, world_size = trainer.is_world_process_zero(), trainer.args.world_size
    rewards = [
        {k: v for k, v in h.items() if k == "step" or k.startswith("reward") or k in ("kl", "entropy")}
        for h in history.entries
        if "reward" in h
    ]
    result = TrainResult(
        stage="train-grpo",
        checkpoint=str(checkpoint),
        steps=trainer.state.global_step,
        seconds=time.perf_counter() - start,
        n_samples=len(trainer.train_dataset),
        loss_history=[h for h in history.entries if "loss" in h],
        reward_history=rewards,
        skipped=skipped,
        extra={
            "init_checkpoint": str(init_checkpoint),
            "reward_funcs": [f.__name__ for f in trainer.reward_funcs],
            "reward_components": [name for name, w in cfg.reward.components.items() if w > 0],
            "reward_weights": list(trainer.args.reward_weights or []),
            "deepspeed": cfg.grpo.deepspeed,
            "world_size": world_size,
            "mlflow_run_id": run_id,
            "resumed_from": str(resume) if resume else None,
        },
    )
    if is_main:
        result.write(out_dir)
        clear_trainer_dir(out_dir)  # the run succeeded: its trainer checkpoints are no longer needed
        publish_train_report(out_dir, stage_dir_of(init_checkpoint), out_dir, cfg, run_id)
        logger.info(result.line())
    return result
