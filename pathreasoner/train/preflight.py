"""Checks run when a trainer is built, before any training step: each names the setting and the fix.

They live here rather than in the config validators because they depend on the machine (the world size
under torchrun, CUDA, vllm installed) or on the data; params are validated on CPU-only machines too.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Sequence
from typing import Any

import torch
from transformers import ProcessorMixin

from pathreasoner.config import GRPOConfig
from pathreasoner.errors import ConfigError, DatasetError
from pathreasoner.train.lengths import prompt_lengths


def world_size() -> int:
    """Processes in this run: $WORLD_SIZE as torchrun (and the Kubeflow torch-distributed runtime) set it, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_grpo_batch(g: GRPOConfig, processes: int) -> None:
    """The completions of one optimizer step must hold whole groups of `num_generations` (TRL's rule:
    per_device_batch_size x processes x gradient_accumulation_steps divisible by num_generations)."""
    completions = g.per_device_batch_size * processes * g.gradient_accumulation_steps
    if completions % g.num_generations == 0:
        return
    step = g.num_generations // math.gcd(g.per_device_batch_size * processes, g.num_generations)
    raise ConfigError(
        f"grpo.per_device_batch_size={g.per_device_batch_size} x {processes} process(es) x "
        f"grpo.gradient_accumulation_steps={g.gradient_accumulation_steps} = {completions} completions per "
        f"optimizer step, not a multiple of grpo.num_generations={g.num_generations} (GRPO scores whole groups "
        f"of completions per prompt); set grpo.gradient_accumulation_steps to a multiple of {step}, or change "
        "per_device_batch_size / num_generations so that the product is a multiple of num_generations"
    )


def check_vllm(g: GRPOConfig) -> None:
    """vLLM rollouts need a CUDA GPU and the vllm package."""
    if not g.use_vllm:
        return
    if not torch.cuda.is_available():
        raise ConfigError(
            f"grpo.use_vllm=true (vllm_mode={g.vllm_mode}) needs a CUDA GPU, and this machine has none; "
            "set grpo.use_vllm=false to generate rollouts with transformers, or run on a GPU node"
        )
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            "grpo.use_vllm=true but the vllm package is not installed here; install vllm in the GPU trainer "
            "image (docs/training.md, vLLM rollouts) or set grpo.use_vllm=false"
        )


def _over_limit(
    records: Sequence[dict[str, Any]], lengths: Sequence[int], limit: int, what: str, setting: str, fix: str
) -> None:
    """DatasetError naming the rows of `what` longer than `limit` tokens (the first three) and the fix."""
    over = [(str(r.get("id")), n) for r, n in zip(records, lengths, strict=True) if n > limit]
    if over:
        shown = ", ".join(f"{rid} ({n} tokens)" for rid, n in over[:3])
        raise DatasetError(
            f"{len(over)} of {len(records)} {what} are longer than {setting}={limit} tokens "
            f"(longest {max(lengths)}): "
            f"{shown}; {fix}, or lower model.image_max_pixels or the number of views per sample"
        )


def check_prompt_lengths(
    records: Sequence[dict[str, Any]], processor: ProcessorMixin, limit: int | None
) -> None:
    """Every GRPO prompt (text + image tokens) fits in `limit` tokens; TRL does not truncate VLM prompts."""
    if limit is not None:
        lengths = prompt_lengths(records, processor)
        _over_limit(
            records, lengths, limit, "GRPO prompts", "grpo.max_prompt_length", "raise grpo.max_prompt_length"
        )


def check_sft_lengths(records: Sequence[dict[str, Any]], lengths: Sequence[int], limit: int) -> None:
    """Every SFT row fits in sft.max_length; TRL's VLM collator would cut it at the end (the response)."""
    _over_limit(
        records,
        lengths,
        limit,
        "SFT rows",
        "sft.max_length",
        "they would lose the end of their response; raise sft.max_length",
    )
