"""Trajectory-masked SFT of the base VLM with TRL's SFTTrainer: loss only on assistant tokens."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from transformers import set_seed
from trl import SFTConfig, SFTTrainer

from pathreasoner.config import Config
from pathreasoner.errors import TrainingError
from pathreasoner.model.factory import freeze_vision_tower, load_base_model
from pathreasoner.train.checkpoints import clear_trainer_dir, resume_checkpoint, run_fingerprint
from pathreasoner.train.common import (
    HistoryCallback,
    base_training_kwargs,
    quiet,
    train_and_save,
    training_env,
)
from pathreasoner.train.data import load_split, mix_trajectories, sft_dataset
from pathreasoner.train.lengths import sft_lengths
from pathreasoner.train.preflight import check_sft_lengths
from pathreasoner.train.report import publish_train_report
from pathreasoner.train.result import TrainResult

logger = logging.getLogger(__name__)

LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def sft_args(cfg: Config, out_dir: Path) -> SFTConfig:
    """SFTConfig from the `sft` section (padded batches: TRL packs / goes padding-free for text only)."""
    s = cfg.sft
    base = base_training_kwargs(out_dir, cfg.project.seed, s.deepspeed, cfg.training)
    return SFTConfig(
        **{**base, "activation_checkpointing": s.gradient_checkpointing},
        train_sampling_strategy="group_by_length" if s.group_by_length else "random",
        max_steps=s.max_steps,
        learning_rate=s.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=s.warmup_ratio,
        per_device_train_batch_size=s.per_device_batch_size,
        gradient_accumulation_steps=s.gradient_accumulation_steps,
        max_length=s.max_length,
        logging_steps=s.logging_steps,
        assistant_only_loss=True,  # the chat template marks assistant turns with {% generation %}
        max_grad_norm=1.0,
        weight_decay=0.0,
    )


def lora_config(r: int, alpha: int) -> Any:
    """LoRA on the language model's projections (the vision tower stays frozen, as vLLM serves it without LoRA)."""
    from peft import LoraConfig

    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=0.0,
        target_modules=LORA_TARGETS,
        task_type="CAUSAL_LM",
    )


def sft_split(samples_dir: Path, cfg: Config) -> str:
    """`sft_train` (trajectory variants: a given step prefix is shown, only the rest carries loss) when
    build-samples wrote it and `sft.trajectory_masking` is on, else the plain `train` split."""
    if cfg.sft.trajectory_masking and (Path(samples_dir) / "sft_train.jsonl").is_file():
        return "sft_train"
    return "train"


def build_sft_trainer(
    samples_dir: Path, out_dir: Path, cfg: Config
) -> tuple[SFTTrainer, HistoryCallback, list[dict[str, str]]]:
    """The configured SFTTrainer, its history callback and the skipped records (tests inspect its batches)."""
    set_seed(cfg.project.seed)
    split = sft_split(samples_dir, cfg)
    loaded = load_split(samples_dir, split)
    if split == "sft_train":
        loaded.records = mix_trajectories(loaded.records, cfg.sft.full_trajectory_ratio, cfg.project.seed)
    dataset = sft_dataset(samples_dir, loaded=loaded)
    model, processor = load_base_model(cfg.model)
    if cfg.model.freeze_vision_tower:
        freeze_vision_tower(model)
    lengths = sft_lengths(loaded.records, processor)
    check_sft_lengths(loaded.records, lengths, cfg.sft.max_length)
    if cfg.sft.group_by_length:  # the sampler reads this column instead of tokenizing every row at start
        dataset = dataset.add_column("length", lengths)
    history = HistoryCallback()
    try:
        trainer = SFTTrainer(
            model=model,
            args=sft_args(cfg, out_dir),
            train_dataset=dataset,
            processing_class=processor,
            peft_config=lora_config(cfg.sft.lora_r, cfg.sft.lora_alpha) if cfg.sft.lora else None,
            callbacks=[history],
        )
    except ValueError as exc:
        raise TrainingError(
            f"cannot set up SFT on {samples_dir} with sft={cfg.sft.model_dump()}: {exc}"
        ) from exc
    return quiet(trainer), history, loaded.skipped


def train_sft(samples_dir: Path | str, out_dir: Path | str, cfg: Config) -> TrainResult:
    """SFT `cfg.model.base` on `<samples_dir>/train.jsonl`; write checkpoint/, train_log.json, summary.json.

    Resumes a killed run from `<out>/trainer` per `training.resume`; logs live to MLflow per `training.mlflow`.
    """
    samples_dir, out_dir = Path(samples_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    fingerprint = run_fingerprint("train-sft", cfg.model, cfg.sft, cfg.project.seed, samples_dir.resolve())
    resume = resume_checkpoint(cfg.training, out_dir, fingerprint)
    with training_env(cfg.sft.deepspeed):
        trainer, history, skipped = build_sft_trainer(samples_dir, out_dir, cfg)
        checkpoint, run_id = train_and_save(trainer, cfg, "train-sft", out_dir, resume, fingerprint)
        is_main, world_size = trainer.is_world_process_zero(), trainer.args.world_size
    result = TrainResult(
        stage="train-sft",
        checkpoint=str(checkpoint),
        steps=trainer.state.global_step,
        seconds=time.perf_counter() - start,
        n_samples=len(trainer.train_dataset),
        loss_history=[h for h in history.entries if "loss" in h],
        skipped=skipped,
        extra={
            "lora": cfg.sft.lora,
            "deepspeed": cfg.sft.deepspeed,
            "world_size": world_size,
            "mlflow_run_id": run_id,
            "resumed_from": str(resume) if resume else None,
        },
    )
    if is_main:
        result.write(out_dir)
        clear_trainer_dir(out_dir)  # the run succeeded: its trainer checkpoints are no longer needed
        publish_train_report(out_dir, out_dir, None, cfg, run_id)
        logger.info(result.line())
    return result
