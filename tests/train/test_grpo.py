from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pathreasoner.config import Config
from pathreasoner.errors import ConfigError
from pathreasoner.model.inference import Generator
from pathreasoner.train.grpo import train_grpo


def _with(cfg: Config, **sections: dict) -> Config:
    return cfg.model_copy(update={k: getattr(cfg, k).model_copy(update=v) for k, v in sections.items()})


def test_grpo_logs_rewards_and_changes_weights(
    samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path, images
) -> None:
    # the semantic reward is continuous, so a group's rewards differ and the policy gets a gradient
    cfg = _with(
        train_cfg,
        grpo={"max_steps": 2, "learning_rate": 1e-3, "temperature": 1.0},
        reward={"components": {"format": 1.0, "semantic": 1.0, "entity": 0.5, "kg_path": 0.5}},
    )
    result = train_grpo(samples_dir, tiny_dir, tmp_path, cfg)
    assert result.steps == 2
    names = ["format_reward", "semantic_reward", "entity_reward", "kg_path_reward"]
    assert result.extra["reward_funcs"] == names
    assert result.extra["reward_components"] == ["format", "semantic", "entity", "kg_path"]
    assert result.extra["reward_weights"] == [1.0, 1.0, 0.5, 0.5]
    assert [r["step"] for r in result.reward_history] == [1.0, 2.0]
    for entry in result.reward_history:
        parts = [entry[f"rewards/{name}/mean"] for name in names]
        assert all(0.0 <= p <= 1.0 for p in parts)
        assert entry["reward"] == pytest.approx(parts[0] + parts[1] + 0.5 * (parts[2] + parts[3]), abs=1e-5)
    log = json.loads((tmp_path / "train_log.json").read_text())
    assert log["stage"] == "train-grpo" and len(log["reward"]) == 2
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["extra"]["init_checkpoint"] == str(tiny_dir) and summary["steps"] == 2
    before, after = (
        load_file(tiny_dir / "model.safetensors"),
        load_file(tmp_path / "checkpoint" / "model.safetensors"),
    )
    assert sum(not torch.equal(before[k], after[k]) for k in before) > 10
    assert isinstance(
        Generator.from_checkpoint(tmp_path / "checkpoint", max_new_tokens=3).generate(images, "Q?"), str
    )


def test_grpo_reward_funcs_follow_config(
    samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path
) -> None:
    cfg = _with(train_cfg, grpo={"max_steps": 1}, reward={"components": {"format": 1.0, "entity": 2.0}})
    result = train_grpo(samples_dir, tiny_dir, tmp_path, cfg)
    assert result.extra["reward_funcs"] == ["format_reward", "entity_reward"]
    assert result.extra["reward_weights"] == [1.0, 2.0]
    (entry,) = result.reward_history
    assert set(entry) >= {"rewards/format_reward/mean", "rewards/entity_reward/mean", "reward"}


def test_grpo_needs_a_reward(samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path) -> None:
    cfg = _with(train_cfg, reward={"components": {"format": 0.0, "entity": 0.0}})  # unvalidated copy
    with pytest.raises(ConfigError, match="no positive weight"):
        train_grpo(samples_dir, tiny_dir, tmp_path, cfg)


def test_batch_check_is_on_the_global_batch(
    samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path
) -> None:
    from pathreasoner.train.grpo import build_grpo_trainer
    from pathreasoner.train.preflight import check_grpo_batch

    eight_gpu = _with(train_cfg, grpo={"per_device_batch_size": 1, "num_generations": 8}).grpo
    check_grpo_batch(eight_gpu, processes=8)  # the standard recipe: 1 prompt-completion per GPU, groups of 8
    with pytest.raises(ConfigError, match=r"= 1 completions per optimizer step.*multiple of 8"):
        check_grpo_batch(eight_gpu, processes=1)
    cfg = _with(train_cfg, grpo={"per_device_batch_size": 2, "num_generations": 4})
    # ours comes first, with the fix; TRL's own check would say "generation_batch_size (2) must be divisible"
    with pytest.raises(ConfigError, match=r"set grpo\.gradient_accumulation_steps to a multiple of 2"):
        build_grpo_trainer(samples_dir, tiny_dir, tmp_path, cfg)
    accumulated = _with(cfg, grpo={"gradient_accumulation_steps": 2, "gradient_checkpointing": True})
    result = train_grpo(samples_dir, tiny_dir, tmp_path / "accumulated", accumulated)
    assert result.steps == 1 and len(result.reward_history) == 1


def test_vllm_needs_cuda_before_any_work(train_cfg: Config, tiny_dir: Path, tmp_path: Path) -> None:
    from pathreasoner.config import config_from_dict
    from pathreasoner.train.grpo import build_grpo_trainer, grpo_args

    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only path")
    loaded = config_from_dict({"grpo": {"use_vllm": True, "vllm_mode": "colocate"}})  # params load on CPU
    assert loaded.grpo.use_vllm
    cfg = _with(train_cfg, grpo={"use_vllm": True})
    with pytest.raises(
        ConfigError, match=r"grpo\.use_vllm=true .*needs a CUDA GPU.*set grpo\.use_vllm=false"
    ):
        build_grpo_trainer(tmp_path / "no-samples-needed", tiny_dir, tmp_path, cfg)
    args = grpo_args(_with(train_cfg, grpo={"vllm_gpu_memory_utilization": 0.5}), tmp_path, [1.0])
    assert args.vllm_mode == "colocate" and args.vllm_gpu_memory_utilization == 0.5
    assert (
        args.vllm_max_model_length == train_cfg.grpo.max_prompt_length + train_cfg.grpo.max_completion_length
    )


def test_missing_init_checkpoint_fails_first(train_cfg: Config, samples_dir: Path, tmp_path: Path) -> None:
    from pathreasoner import stages
    from pathreasoner.errors import ModelError
    from pathreasoner.train.grpo import build_grpo_trainer

    missing = tmp_path / "sft" / "checkpoint"
    with pytest.raises(
        ModelError, match=r"checkpoint .*sft/checkpoint does not exist; pass the output folder"
    ):
        build_grpo_trainer(tmp_path / "no-samples", missing, tmp_path / "out", train_cfg)
    with pytest.raises(ModelError, match="does not exist"):
        stages.evaluate(train_cfg, tmp_path / "sft", samples_dir, tmp_path / "eval")


def test_prompt_longer_than_max_prompt_length(
    samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path
) -> None:
    from pathreasoner.errors import DatasetError
    from pathreasoner.train.grpo import build_grpo_trainer

    cfg = _with(train_cfg, grpo={"max_prompt_length": 40})
    with pytest.raises(
        DatasetError, match=r"6 of 6 GRPO prompts are longer than grpo.max_prompt_length=40 .*s000"
    ):
        build_grpo_trainer(samples_dir, tiny_dir, tmp_path, cfg)


def test_reference_model_only_when_it_is_used(
    samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path
) -> None:
    from pathreasoner.train.grpo import build_grpo_trainer

    def ref(**grpo: object) -> object:
        trainer, _, _ = build_grpo_trainer(samples_dir, tiny_dir, tmp_path, _with(train_cfg, grpo=grpo))
        return trainer.ref_model

    assert ref(beta=0.0) is None  # no KL term: no second copy of the weights
    assert ref(beta=0.04) is not None
    assert ref(beta=0.04, lora=True) is None  # LoRA: the base with adapters disabled is the reference


def test_grpo_lora_is_merged_before_save(
    samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path
) -> None:
    cfg = _with(
        train_cfg,
        grpo={"lora": True, "lora_r": 4, "max_steps": 1, "learning_rate": 1e-2, "temperature": 1.0},
        reward={"components": {"format": 1.0, "semantic": 1.0}},  # continuous: the group gets an advantage
    )
    train_grpo(samples_dir, tiny_dir, tmp_path, cfg)
    before = load_file(tiny_dir / "model.safetensors")
    after = load_file(tmp_path / "checkpoint" / "model.safetensors")
    assert after.keys() == before.keys()  # merged: no lora_A / lora_B tensors, loadable as the base class
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    # LoRA targets the language model's projections only; the vision tower and embeddings stay as they were
    assert changed and all(k.startswith("model.layers.") and k.endswith("_proj.weight") for k in changed)
