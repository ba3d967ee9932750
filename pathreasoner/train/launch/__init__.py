"""Where a training stage runs, behind one interface (`Launcher.launch(stage, args) -> LaunchResult`).

- `in_process`: this process (the CLI, the local pipeline, each torchrun worker, each TrainJob pod);
- `torchrun`: `torchrun --nproc_per_node=N -m pathreasoner.cli <stage>` on this machine;
- `trainjob`: a Kubeflow Trainer v2 TrainJob running the same command on GPU nodes.

Every one of them ends in the same entry point, the typer CLI's `train-sft` / `train-grpo`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pathreasoner.config import Config
from pathreasoner.train.launch.base import (
    STAGES,
    Launcher,
    LaunchResult,
    TrainArgs,
    close_process_group,
    rank,
)

__all__ = [
    "STAGES",
    "LaunchResult",
    "Launcher",
    "TrainArgs",
    "close_process_group",
    "launcher_for",
    "pipeline_train",
    "rank",
    "resolve_kind",
]


def resolve_kind(cfg: Config, cluster: bool = False) -> str:
    """launcher.kind with `auto` decided: a TrainJob from a cluster pipeline, else this process."""
    kind = cfg.launcher.kind
    if kind == "auto":
        return "trainjob" if cluster else "in_process"
    return kind


def launcher_for(cfg: Config, kind: str | None = None) -> Launcher:
    """The launcher of `kind` (default: launcher.kind, `auto` meaning this process). A torchrun worker
    always trains in its own process: no launcher inside a launcher."""
    kind = kind or resolve_kind(cfg)
    if kind == "in_process" or "TORCHELASTIC_RUN_ID" in os.environ:
        from pathreasoner.train.launch.local import InProcessLauncher

        return InProcessLauncher(cfg)
    if kind == "torchrun":
        from pathreasoner.train.launch.local import TorchrunLauncher

        return TorchrunLauncher(cfg)
    from pathreasoner.train.launch.trainjob import TrainJobLauncher

    return TrainJobLauncher(cfg)


def pipeline_train(
    stage: str,
    cfg: Config,
    kind: str,
    samples: tuple[str, str],
    out: tuple[str, str],
    init: tuple[str, str] | None = None,
) -> LaunchResult:
    """A pipeline training step: `samples`, `out`, `init` are (local path, URI) of its KFP artifacts.

    In process the local paths are used. A TrainJob reads the input artifacts straight from their s3://
    URIs (KFP keeps them under pipeline_root) and writes to the staging prefix; the outputs are then
    downloaded into the output artifact's folder, which KFP uploads. The job is named after the output
    artifact's URI, so a restarted step follows the job it submitted instead of training twice.
    """
    from pathreasoner.train.launch import storage
    from pathreasoner.train.launch.trainjob import job_name

    def pick(item: tuple[str, str]) -> str:
        return item[1] if kind == "trainjob" and storage.is_s3(item[1]) else item[0]

    Path(out[0]).mkdir(parents=True, exist_ok=True)
    args = TrainArgs(
        samples=pick(samples),
        out=out[0],
        init=pick(init) if init else None,
        job_name=job_name(stage, out[1]) if kind == "trainjob" else None,
    )
    return launcher_for(cfg, kind).launch(stage, args)
