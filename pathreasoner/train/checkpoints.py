"""Trainer checkpoints under `<out>/trainer`: where a run resumes from, and clearing them once it succeeded.

HF Trainer writes `<out>/trainer/checkpoint-N` (weights, optimizer, scheduler, RNG state, data position)
every `training.save_steps`. `<out>/trainer/run.json` records which run wrote them (a fingerprint of the
stage's config and inputs) and its MLflow run, so that `resume: auto` only continues the same run and
its curves continue in the same MLflow run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback
from transformers.core_model_loading import revert_weight_conversion
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME

from pathreasoner.config import TrainingConfig
from pathreasoner.errors import TrainingError
from pathreasoner.io_utils import atomic_write_json

logger = logging.getLogger(__name__)

TRAINER_DIR = "trainer"
RUN_FILE = "run.json"
STATE_FILE = "trainer_state.json"  # what makes a folder an HF Trainer checkpoint


def trainer_dir(out_dir: Path) -> Path:
    """Where HF Trainer writes its `checkpoint-N` folders for the stage writing to `out_dir`."""
    return Path(out_dir) / TRAINER_DIR


def run_fingerprint(stage: str, *parts: BaseModel | Path | str | int) -> str:
    """A hash of what decides a run's weights (stage, config sections, inputs): equal means same run."""
    plain = [p.model_dump(mode="json") if isinstance(p, BaseModel) else str(p) for p in parts]
    return hashlib.sha256(json.dumps([stage, *plain], sort_keys=True).encode()).hexdigest()[:16]


def read_run_info(folder: Path) -> dict[str, Any]:
    """`run.json` of a trainer folder ({} when absent or unreadable)."""
    path = Path(folder) / RUN_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def write_run_info(out_dir: Path, fingerprint: str, mlflow_run_id: str | None) -> None:
    """Record the run that writes `<out>/trainer` (main process only)."""
    folder = trainer_dir(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / RUN_FILE, {"fingerprint": fingerprint, "mlflow_run_id": mlflow_run_id})


def _last_in(folder: Path) -> Path | None:
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    return Path(last) if last else None


def resume_checkpoint(training: TrainingConfig, out_dir: Path, fingerprint: str) -> Path | None:
    """The trainer checkpoint to resume from per `training.resume`, or None to start from step 0.

    auto: the last `<out>/trainer/checkpoint-N` when run.json says the same run wrote it (a run with
    another config or other inputs starts over); never: None; a path: that checkpoint-N folder, or the
    last one inside a trainer folder. A path that does not exist or holds no checkpoint is an error.
    """
    mode = training.resume
    if mode == "never":
        return None
    if mode == "auto":
        folder = trainer_dir(out_dir)
        last = _last_in(folder)
        if last is None:
            return None
        written_by = read_run_info(folder).get("fingerprint")
        if written_by != fingerprint:
            logger.warning(
                "not resuming from %s: it was written by another run (config or inputs differ); starting over",
                last,
            )
            return None
        logger.info("resuming from %s", last)
        return last
    path = Path(mode)
    if not path.exists():
        raise TrainingError(
            f"training.resume={mode}: {path} does not exist; point it at a checkpoint-N folder (under "
            "<out>/trainer of the killed run), or set training.resume to auto or never"
        )
    if (path / STATE_FILE).is_file():
        return path
    last = _last_in(path)
    if last is None:
        raise TrainingError(
            f"training.resume={mode}: {path} is not a trainer checkpoint (no {STATE_FILE}, no checkpoint-N "
            "inside); point it at <out>/trainer/checkpoint-N of the run to continue"
        )
    return last


def clear_trainer_dir(out_dir: Path) -> None:
    """Remove `<out>/trainer` (stale checkpoints before a fresh start; all of them once the run succeeded)."""
    shutil.rmtree(trainer_dir(out_dir), ignore_errors=True)


class NoFinalTrainerCheckpoint(TrainerCallback):
    """Skip HF's extra trainer checkpoint at the last step (weights and optimizer state, ~100 GB for a
    7B) when it is not a regular save: `<out>/checkpoint` is written right after and the trainer
    folder removed."""

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step >= state.max_steps and state.global_step % state.save_steps:
            control.should_save = False


def _weight_files(checkpoint: Path) -> list[Path]:
    index = checkpoint / SAFE_WEIGHTS_INDEX_NAME
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        return [checkpoint / shard for shard in shards]
    single = checkpoint / SAFE_WEIGHTS_NAME
    return [single] if single.is_file() else []


def align_weight_names(model: torch.nn.Module, checkpoint: Path) -> int:
    """Rename the weights of trainer checkpoint `checkpoint` to `model`'s parameter names; returns how
    many were renamed (0 when they already match, or for adapter-only / DeepSpeed checkpoints).

    save_pretrained writes a Qwen2.5-VL checkpoint in the hub layout (`visual.*`, `model.layers.*`),
    but HF Trainer resumes with a plain `load_state_dict` that skips the renaming from_pretrained does
    (transformers#43701): the resumed run would silently keep its initial weights. Renamed files still
    load with from_pretrained.
    """
    files = _weight_files(checkpoint)
    own = model.state_dict()
    by_tensor = {tensor.data_ptr(): name for name, tensor in own.items()}
    hub_to_own = {  # revert_weight_conversion renames without copying: match the names by tensor
        hub: by_tensor[tensor.data_ptr()]
        for hub, tensor in revert_weight_conversion(model, dict(own)).items()
        if tensor.data_ptr() in by_tensor
    }
    renamed = 0
    for path in files:
        weights = load_file(path)
        if all(name in own for name in weights):
            continue
        unknown = [name for name in weights if name not in own and name not in hub_to_own]
        if unknown:
            raise TrainingError(
                f"cannot resume from {checkpoint}: {path.name} holds weights the model does not have "
                f"({unknown[:3]}...); resume with the model and config that wrote it, or training.resume=never"
            )
        tmp = path.with_name(f".{path.name}.tmp")
        save_file({hub_to_own.get(k, k): v for k, v in weights.items()}, tmp, metadata={"format": "pt"})
        os.replace(tmp, path)
        renamed += sum(name not in own for name in weights)
    index = checkpoint / SAFE_WEIGHTS_INDEX_NAME
    if renamed and index.is_file():
        data = json.loads(index.read_text(encoding="utf-8"))
        data["weight_map"] = {hub_to_own.get(k, k): v for k, v in data["weight_map"].items()}
        atomic_write_json(index, data)
    return renamed
