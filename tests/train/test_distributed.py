"""The one training entry point, the typer CLI, under torchrun on CPU (gloo): SFT and GRPO on 2 processes,
GRPO with ZeRO-3; each rank reports its steps in summary.json and exactly one checkpoint is written."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from pathreasoner.config import Config
from pathreasoner.errors import TrainingError
from pathreasoner.train.launch import TrainArgs, launcher_for, resolve_kind
from pathreasoner.train.launch.local import InProcessLauncher, TorchrunLauncher
from pathreasoner.train.launch.trainjob import TrainJobLauncher
from tests.servers import free_port


def _params(cfg: Config, tmp_path: Path) -> Path:
    params = tmp_path / "params.yaml"
    params.write_text(cfg.to_yaml())
    return params


def _torchrun(*cli: str) -> subprocess.CompletedProcess[str]:
    """`torchrun --nproc_per_node=2 -m pathreasoner.cli ...`, as a TrainJob pod runs it."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [*cmd, "-m", "pathreasoner.cli", *cli], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc


def _one_checkpoint(out: Path, steps: int) -> dict:
    """summary.json says every rank of 2 trained `steps` steps; one model was written, in out/checkpoint."""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == steps and summary["extra"]["world_size"] == 2
    assert sorted(r["rank"] for r in summary["ranks"]) == [0, 1]
    assert all(r["steps"] == steps and r["logged_steps"] == steps for r in summary["ranks"])
    assert sorted(p.relative_to(out) for p in out.rglob("*.safetensors")) == [
        Path("checkpoint/model.safetensors")
    ]
    assert not list(out.glob(".checkpoint*")) and not (out / "trainer").exists()
    return summary


def test_sft_under_torchrun_two_processes(samples_dir: Path, train_cfg: Config, tmp_path: Path) -> None:
    out = tmp_path / "sft"
    proc = _torchrun(
        "train-sft", "--config", str(_params(train_cfg, tmp_path)), "--samples", str(samples_dir), "--out", str(out),
        "--set", "sft.max_steps=2", "--set", "sft.per_device_batch_size=1",
    )  # fmt: skip
    _one_checkpoint(out, 2)
    printed = proc.stdout + proc.stderr
    assert printed.count("✓ train-sft: 2 steps") == 1  # only rank 0 prints the summary
    assert "(torchrun, 2 processes)" in " ".join(printed.split())


def test_grpo_through_the_torchrun_launcher(
    samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path
) -> None:
    cfg = train_cfg.model_copy(update={"grpo": train_cfg.grpo.model_copy(update={"max_steps": 2})})
    streamed = io.StringIO()
    result = TorchrunLauncher(cfg, out=streamed).launch(
        "train-grpo", TrainArgs(samples=str(samples_dir), out=str(tmp_path / "grpo"), init=str(tiny_dir))
    )
    summary = _one_checkpoint(tmp_path / "grpo", 2)
    assert result.summary == summary and result.where == "torchrun, 2 processes"
    assert "step 2/2" in streamed.getvalue() and streamed.getvalue().count("✓ train-grpo") == 1


def test_grpo_zero3_two_processes(
    samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "grpo"
    _torchrun(
        "train-grpo", "--config", str(_params(train_cfg, tmp_path)), "--samples", str(samples_dir),
        "--init", str(tiny_dir), "--out", str(out), "--set", "grpo.max_steps=2", "--set", "grpo.deepspeed=zero3",
        "--set", "reward.components={format: 1.0, semantic: 1.0, entity: 0.5, kg_path: 0.5}",  # MiniLM under ZeRO-3
    )  # fmt: skip
    summary = _one_checkpoint(out, 2)
    assert summary["extra"]["reward_components"] == ["format", "semantic", "entity", "kg_path"]
    assert summary["extra"]["deepspeed"].endswith("ds_zero3.json")
    before, after = (
        load_file(tiny_dir / "model.safetensors"),
        load_file(out / "checkpoint" / "model.safetensors"),
    )
    assert {k: v.shape for k, v in after.items()} == {
        k: v.shape for k, v in before.items()
    }  # gathered, not shards


def test_a_failing_worker_fails_the_torchrun_launcher(train_cfg: Config, tmp_path: Path) -> None:
    cfg = train_cfg.model_copy(
        update={"launcher": train_cfg.launcher.model_copy(update={"nproc_per_node": 1})}
    )
    with pytest.raises(TrainingError) as caught:
        TorchrunLauncher(cfg, out=io.StringIO()).launch(
            "train-sft", TrainArgs(samples=str(tmp_path / "no-samples"), out=str(tmp_path / "out"))
        )
    message = " ".join(str(caught.value).split())
    assert message.startswith("torchrun --nproc_per_node=1 train-sft failed (exit 1)")
    assert str(tmp_path / "no-samples") in message  # the worker's own error, in the last output lines


def test_launcher_kinds_and_arguments(train_cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    def kind(value: str) -> Config:
        return train_cfg.model_copy(
            update={"launcher": train_cfg.launcher.model_copy(update={"kind": value})}
        )

    assert resolve_kind(train_cfg) == "in_process" and resolve_kind(train_cfg, cluster=True) == "trainjob"
    assert isinstance(launcher_for(train_cfg), InProcessLauncher)
    assert isinstance(launcher_for(kind("torchrun")), TorchrunLauncher)
    assert isinstance(launcher_for(kind("trainjob")), TrainJobLauncher)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")  # a torchrun worker: no launcher inside a launcher
    assert isinstance(launcher_for(kind("torchrun")), InProcessLauncher)
    with pytest.raises(TrainingError, match="train-grpo needs --init"):
        TrainArgs("s", "o").check("train-grpo")
    with pytest.raises(TrainingError, match="unknown training stage 'train-dpo'"):
        TrainArgs("s", "o").check("train-dpo")
    assert TrainArgs("s", "o", init="i").cli("train-grpo", "c.yaml") == [
        "train-grpo", "--config", "c.yaml", "--samples", "s", "--out", "o", "--init", "i",
    ]  # fmt: skip
