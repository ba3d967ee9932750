"""Launchers on this machine: in this process (also each torchrun worker), or torchrun subprocesses."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

from pathreasoner import stages
from pathreasoner.config import Config
from pathreasoner.errors import TrainingError
from pathreasoner.io_utils import atomic_write_json
from pathreasoner.train.launch import storage
from pathreasoner.train.launch.base import LaunchResult, TrainArgs, rank

logger = logging.getLogger(__name__)


def rank_report(steps: int, logged_steps: int, seconds: float) -> list[dict[str, Any]]:
    """What every rank did ({rank, local_rank, host, steps, logged_steps, seconds}), gathered from all ranks
    of the process group the trainer used (just this process outside torchrun)."""
    me = {
        "rank": rank(),
        "local_rank": int(os.environ.get("LOCAL_RANK", "0")),
        "host": socket.gethostname(),
        "steps": steps,
        "logged_steps": logged_steps,
        "seconds": round(seconds, 2),
    }
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return [me]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, me)
    return gathered


def join_deepspeed_group(deepspeed: str | None) -> None:
    """A torchrun worker with a DeepSpeed config joins DeepSpeed's process group before any model is built.

    accelerate does this itself on GPUs but not on CPU, where a model created after the trainer arguments
    (GRPO's reference model) would be partitioned by ZeRO-3 for a world of one and fail its batch check.
    """
    if not deepspeed or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    import deepspeed.comm as ds_dist
    import torch

    if not ds_dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        ds_dist.init_distributed(dist_backend=backend, auto_mpi_discovery=False)


class InProcessLauncher:
    """Trains in this process. Under torchrun every worker runs this: s3:// inputs are copied once per
    node, rank 0 adds every rank's report to summary.json and uploads the outputs when --out is s3://."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def _local(self, value: str, what: str) -> Path:
        if storage.is_s3(value):
            return storage.local_copy(value, self.cfg.work_dir / "inputs")
        if value.startswith("models:/"):
            from pathreasoner.registry.mlflow_registry import resolve_checkpoint

            return resolve_checkpoint(value, self.cfg)
        if "://" in value:
            raise TrainingError(f"{what} {value} is a URI this stage cannot read; use a folder or s3://")
        return Path(value)

    def launch(self, stage: str, args: TrainArgs) -> LaunchResult:
        args.check(stage)
        samples = self._local(args.samples, "--samples")
        out = Path(args.out)
        if storage.is_s3(args.out):
            out = self.cfg.work_dir / "outputs" / hashlib.sha256(args.out.encode()).hexdigest()[:16]
        join_deepspeed_group(self.cfg.grpo.deepspeed if args.init is not None else self.cfg.sft.deepspeed)
        if args.init is not None:
            init = stages.checkpoint_dir(self._local(args.init, "--init"))
            result = stages.train_grpo(self.cfg, samples, init, out)
        else:
            result = stages.train_sft(self.cfg, samples, out)
        ranks = rank_report(result.steps, len(result.loss_history), result.seconds)
        summary = result.to_dict()
        if rank() == 0:
            summary = {**json.loads((out / "summary.json").read_text()), "ranks": ranks}
            if storage.is_s3(args.out):  # where the checkpoint will be, not this pod's scratch copy
                summary["checkpoint"] = storage.join(args.out, Path(summary["checkpoint"]).name)
            atomic_write_json(out / "summary.json", summary)
            if storage.is_s3(args.out):
                storage.upload_dir(out, args.out)
        where = "in process" if len(ranks) == 1 else f"torchrun, {len(ranks)} processes"
        return LaunchResult(stage, args.out, summary, where)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TorchrunLauncher:
    """Runs `torchrun --nproc_per_node=N -m pathreasoner.cli <stage>` here (gloo on CPU, NCCL on GPUs),
    streams the workers' output and raises TrainingError with its last lines when a worker fails."""

    def __init__(self, cfg: Config, out: Any = None) -> None:
        self.cfg = cfg
        self.out = out or sys.stderr

    def command(self, stage: str, args: TrainArgs, config: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={self.cfg.launcher.nproc_per_node}",
            "--master_addr=127.0.0.1",
            f"--master_port={free_port()}",
            "-m",
            "pathreasoner.cli",
            *args.cli(stage, str(config)),
        ]

    def launch(self, stage: str, args: TrainArgs) -> LaunchResult:
        args.check(stage)
        nproc = self.cfg.launcher.nproc_per_node
        worker_cfg = self.cfg.model_copy(
            update={"launcher": self.cfg.launcher.model_copy(update={"kind": "in_process"})}
        )
        threads = str(max(1, (os.cpu_count() or 1) // nproc))
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", threads),
        }
        tail: deque[str] = deque(maxlen=40)
        with tempfile.TemporaryDirectory(prefix="pathreasoner-torchrun-") as tmp:
            config = Path(tmp) / "params.yaml"
            config.write_text(worker_cfg.to_yaml())
            cmd = self.command(stage, args, config)
            logger.info("running %s", " ".join(cmd[1:]))
            with subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
            ) as proc:
                assert proc.stdout is not None
                for line in proc.stdout:
                    tail.append(line.rstrip("\n"))
                    self.out.write(line)
                    self.out.flush()
                code = proc.wait()
        if code != 0:
            last = "\n".join(tail)
            raise TrainingError(
                f"torchrun --nproc_per_node={nproc} {stage} failed (exit {code}); last output lines:\n{last}"
            )
        summary_uri = storage.join(args.out, "summary.json")
        if storage.is_s3(args.out):
            summary = json.loads(storage.read_text(summary_uri))
        else:
            summary = json.loads(Path(summary_uri).read_text())
        return LaunchResult(stage, args.out, summary, f"torchrun, {nproc} processes", list(tail))
