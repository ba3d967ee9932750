"""The launcher interface: run one training stage somewhere, stream its logs, return its summary."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from pathreasoner.errors import TrainingError

STAGES = ("train-sft", "train-grpo")


@dataclass(frozen=True)
class TrainArgs:
    """What a training stage reads and writes: local folders or s3:// URIs (`init`: GRPO's start checkpoint,
    also a `models:/` URI). `job_name` names the run where a launcher needs one (the TrainJob)."""

    samples: str
    out: str
    init: str | None = None
    job_name: str | None = None

    def check(self, stage: str) -> None:
        if stage not in STAGES:
            raise TrainingError(f"unknown training stage {stage!r}; use one of {', '.join(STAGES)}")
        if (stage == "train-grpo") != (self.init is not None):
            need = "needs --init (the SFT checkpoint)" if stage == "train-grpo" else "takes no --init"
            raise TrainingError(f"{stage} {need}; got init={self.init!r}")

    def cli(self, stage: str, config: str) -> list[str]:
        """The arguments of `pathreasoner <stage>` that run this request with the config file `config`."""
        argv = [stage, "--config", config, "--samples", self.samples, "--out", self.out]
        return [*argv, "--init", self.init] if self.init is not None else argv


@dataclass
class LaunchResult:
    """A finished stage: where its outputs are, its summary.json, and where it ran."""

    stage: str
    out: str
    summary: dict[str, Any]
    where: str
    logs: list[str] = field(default_factory=list)  # streamed log lines (torchrun, TrainJob rank 0), last ones

    @property
    def steps(self) -> int:
        return int(self.summary.get("steps", 0))

    @property
    def checkpoint(self) -> str:
        return str(self.summary.get("checkpoint", ""))

    def line(self) -> str:
        return f"{self.summary.get('line', self.stage)} ({self.where})"


class Launcher(Protocol):
    """Runs `pathreasoner <stage>` for `args`; streams the run's logs; raises TrainingError when it fails."""

    def launch(self, stage: str, args: TrainArgs) -> LaunchResult: ...


def rank() -> int:
    """This process's global rank under torchrun (0 outside a launcher)."""
    return int(os.environ.get("RANK", "0"))


def close_process_group() -> None:
    """End a torchrun worker's process group once its stage and summary are done.

    Left open, gloo's threads can outlive the interpreter and abort a rank that has already finished
    ("terminate called without an active exception"). No-op outside a launcher.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
