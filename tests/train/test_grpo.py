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
