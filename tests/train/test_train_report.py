"""train_report.md from the stages' train_log.json: curves as PNG and the GRPO start-vs-end table."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from pathreasoner.train.report import reward_series, start_end, write_train_report


def _log(path: Path, stage: str, loss: list[dict], reward: list[dict]) -> Path:
    path.mkdir(parents=True)
    (path / "train_log.json").write_text(json.dumps({"stage": stage, "loss": loss, "reward": reward}))
    return path


def test_report_shows_curves_and_the_change_from_the_sft_start(tmp_path: Path) -> None:
    sft = _log(tmp_path / "sft", "train-sft", [{"step": s, "loss": 5.0 / s} for s in range(1, 11)], [])
    rewards = [
        {"step": s, "reward": 1.0 + 0.1 * s, "rewards/format/mean": 0.5 + 0.05 * s, "kl": 0.01 * s}
        for s in range(1, 9)
    ]
    grpo = _log(tmp_path / "grpo", "train-grpo", [{"step": s, "loss": 0.1} for s in range(1, 9)], rewards)
    report = write_train_report(grpo, sft, grpo)
    assert report is not None
    text = report.read_text()
    assert "loss 5.000 at step 1 -> 0.500 at step 10" in text
    assert "| total | 1.150 | 1.750 | +0.600 |" in text  # mean of steps 1-2 vs 7-8
    assert "| format | 0.575 | 0.875 | +0.300 |" in text
    for png in ("sft_loss.png", "grpo_rewards.png", "grpo_kl.png"):
        assert f"]({png})" in text
        with Image.open(grpo / png) as image:
            assert image.size[0] > 300
    assert write_train_report(tmp_path, None, tmp_path / "missing") is None


def test_reward_series_reads_trl_keys() -> None:
    entries = [{"step": 1.0, "reward": 2.0, "rewards/entity/mean": 0.4, "rewards/entity/std": 0.1, "kl": 0.0}]
    assert reward_series(entries) == {"total": [(1.0, 2.0)], "entity": [(1.0, 0.4)]}
    assert start_end([(1, 1.0)]) == (1.0, 1.0)
