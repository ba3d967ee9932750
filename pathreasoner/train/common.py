"""Plumbing shared by SFT and GRPO: trainer arguments, history capture, atomic checkpoint save."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, ProcessorMixin, TrainerCallback

from pathreasoner.config import Config, TrainingConfig
from pathreasoner.errors import TrainingError
from pathreasoner.train.checkpoints import (
    NoFinalTrainerCheckpoint,
    align_weight_names,
    clear_trainer_dir,
    read_run_info,
    trainer_dir,
    write_run_info,
)
from pathreasoner.train.live_tracking import tracking_run

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"


def base_training_kwargs(
    out_dir: Path, seed: int, deepspeed: str | None, training: TrainingConfig
) -> dict[str, Any]:
    """TrainingArguments shared by SFTConfig and GRPOConfig: CPU-safe precision, trainer checkpoints every
    `training.save_steps` under `<out>/trainer`; MLflow is attached by live_tracking (only for a tracked run)."""
    on_gpu = torch.cuda.is_available()
    if deepspeed and not Path(deepspeed).is_file():
        raise TrainingError(
            f"DeepSpeed config {deepspeed} does not exist; point sft/grpo.deepspeed at a JSON file"
        )
    return {
        "output_dir": str(trainer_dir(out_dir)),
        "seed": seed,
        "data_seed": seed,
        "use_cpu": not on_gpu,
        "bf16": on_gpu and torch.cuda.is_bf16_supported(),
        "fp16": False,
        "activation_checkpointing": False,
        "save_strategy": "steps",
        "save_steps": training.save_steps,
        "save_total_limit": training.save_total_limit,
        "report_to": [],
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "remove_unused_columns": False,
        "deepspeed": deepspeed,
        "ddp_backend": "gloo" if not on_gpu and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
    }


_DIST_KEYS = ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")
_LEAKY_KEYS = ("ACCELERATE_USE_DEEPSPEED",)  # set by accelerate's DeepSpeed plugin and never unset


@contextlib.contextmanager
def training_env(deepspeed: str | None) -> Iterator[None]:
    """Run one training stage without leaking process state into the next stage of the same process.

    DeepSpeed needs a process group even for one process: outside a launcher (no RANK set) a
    single-process rendezvous on 127.0.0.1 is provided, and torn down afterwards together with the
    accelerate singletons and the environment variables it set.
    """
    saved = {key: os.environ.get(key) for key in (*_DIST_KEYS, *_LEAKY_KEYS)}
    standalone = bool(deepspeed) and "RANK" not in os.environ
    if standalone:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        os.environ.update(
            {
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
                "RANK": "0",
                "LOCAL_RANK": "0",
                "WORLD_SIZE": "1",
            }
        )
    try:
        yield
    finally:
        if deepspeed and int(os.environ.get("WORLD_SIZE", "1")) == 1:
            _reset_deepspeed_state()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _reset_deepspeed_state() -> None:
    """Forget the single-process DeepSpeed run: accelerate singletons, HF's ZeRO-3 flag, the process group."""
    import deepspeed.comm.comm as ds_comm
    from accelerate.state import AcceleratorState
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    AcceleratorState._reset_state(reset_partial_state=True)
    unset_hf_deepspeed_config()  # else later from_pretrained() calls would try ZeRO-3 zero.Init
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    ds_comm.cdb = None  # DeepSpeed's cached communication backend refers to the destroyed group
    from deepspeed.utils import groups

    for name, value in list(vars(groups).items()):  # cached sub-groups of the destroyed world group
        if name.startswith("_") and name.endswith(("_GROUP", "_GROUP_RANKS")):
            setattr(groups, name, {} if isinstance(value, dict) else None)


def _history_entry(step: int, logs: dict[str, Any]) -> dict[str, float]:
    entry = {"step": float(step)}
    for key, value in logs.items():
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if key != "step" and numeric and math.isfinite(float(value)):
            entry[key] = float(value)
    return entry


class HistoryCallback(TrainerCallback):
    """Keeps every `on_log` dict that carries a step's training metrics (loss, rewards, lr...).

    At the end of a resumed run the entries are the whole run's: those the checkpoint's trainer state
    carried over from the killed attempt, then this attempt's.
    """

    def __init__(self) -> None:
        self.entries: list[dict[str, float]] = []

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not logs or "train_runtime" in logs:
            return
        entry = _history_entry(state.global_step, logs)
        self.entries.append(entry)
        if state.is_world_process_zero:
            shown = ", ".join(
                f"{k} {entry[k]:.4g}" for k in ("loss", "reward", "learning_rate") if k in entry
            )
            logger.info("step %d/%d: %s", state.global_step, state.max_steps, shown)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.entries = [
            _history_entry(int(logs["step"]), logs)
            for logs in state.log_history
            if "step" in logs and "train_runtime" not in logs
        ]


def quiet(trainer: Any) -> Any:
    """Drop the stdout printer of raw log dicts (HistoryCallback logs a concise line instead)."""
    trainer.remove_callback(PrinterCallback)
    return trainer


def save_checkpoint(trainer: Any, processor: ProcessorMixin, out_dir: Path) -> Path:
    """Write `out_dir/checkpoint` (model + processor) atomically; LoRA adapters are merged first.

    Every rank must call this (ZeRO-3 gathers weights); only the main process writes and renames.
    """
    target = out_dir / CHECKPOINT_DIR
    tmp = out_dir / f".{CHECKPOINT_DIR}.tmp"
    main = trainer.is_world_process_zero()
    if main and tmp.exists():
        shutil.rmtree(tmp)
    trainer.accelerator.wait_for_everyone()
    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "merge_and_unload"):
        if main:
            model.merge_and_unload().save_pretrained(tmp)
    else:
        trainer.save_model(str(tmp))
    if main:
        processor.save_pretrained(tmp)
        (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle; the config lives in summary.json
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    trainer.accelerator.wait_for_everyone()
    return target


def train_and_save(
    trainer: Any, cfg: Config, stage: str, out_dir: Path, resume: Path | None, fingerprint: str
) -> tuple[Path, str | None]:
    """Train (continuing from the trainer checkpoint `resume` when given) while logging to MLflow, then
    save `<out>/checkpoint`; returns it and the MLflow run id (None when not tracked or not rank 0).

    A fresh start first removes stale checkpoints of an earlier run; the trainer checkpoints of this
    run stay under `<out>/trainer` until the caller removes them once the run succeeded.
    """
    main = trainer.is_world_process_zero()
    if resume is None and main:
        clear_trainer_dir(out_dir)
    if resume is not None and main and not (trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled):
        renamed = align_weight_names(trainer.model, resume)  # DeepSpeed resumes from its own engine files
        if renamed:
            logger.info(
                "renamed %d weights of %s to the model's parameter names for resuming", renamed, resume
            )
    trainer.add_callback(NoFinalTrainerCheckpoint())  # after HF's DefaultFlowCallback, which asks for it
    resume_run_id = read_run_info(resume.parent).get("mlflow_run_id") if resume else None
    with tracking_run(cfg, stage, trainer, resume_run_id) as run_id:
        if main:
            write_run_info(out_dir, fingerprint, run_id)
        trainer.accelerator.wait_for_everyone()
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        checkpoint = save_checkpoint(trainer, trainer.processing_class, out_dir)
    return checkpoint, run_id
