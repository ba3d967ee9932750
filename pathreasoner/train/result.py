"""What a training stage returns and writes: loss/reward history, steps, time, checkpoint."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pathreasoner.io_utils import atomic_write_json


@dataclass
class TrainResult:
    """Summary of one SFT or GRPO run (`line()` is the one-line summary with throughput)."""

    stage: str
    checkpoint: str
    steps: int
    seconds: float
    n_samples: int
    loss_history: list[dict[str, float]] = field(
        default_factory=list
    )  # {"step", "loss", ...} per logged step
    reward_history: list[dict[str, float]] = field(default_factory=list)  # GRPO: per-step reward means
    skipped: list[dict[str, str]] = field(default_factory=list)  # records left out, with reasons
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def final_loss(self) -> float | None:
        losses = [h["loss"] for h in self.loss_history if "loss" in h and math.isfinite(h["loss"])]
        return losses[-1] if losses else None

    def line(self) -> str:
        rate = self.steps / self.seconds if self.seconds > 0 else float("nan")
        first = next((h["loss"] for h in self.loss_history if "loss" in h), None)
        loss = (
            f"loss {first:.3f} -> {self.final_loss:.3f}"
            if first is not None and self.final_loss is not None
            else "no loss logged"
        )
        reward = ""
        if self.reward_history:
            reward = f", reward {self.reward_history[-1].get('reward', float('nan')):.3f}"
        return (
            f"{self.stage}: {self.steps} steps on {self.n_samples} samples in {self.seconds:.1f} s "
            f"({rate:.2f} steps/s), {loss}{reward}, skipped {len(self.skipped)} -> {self.checkpoint}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "final_loss": self.final_loss, "line": self.line()}

    def write(self, out_dir: Path) -> None:
        """train_log.json (per-step history) and summary.json."""
        atomic_write_json(
            out_dir / "train_log.json",
            {"stage": self.stage, "loss": self.loss_history, "reward": self.reward_history},
        )
        atomic_write_json(out_dir / "summary.json", self.to_dict())
