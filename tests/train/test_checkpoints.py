"""Trainer checkpoints every N steps, and a killed run resumed from disk ending with the same weights."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file
from transformers import TrainerCallback

import pathreasoner.train.grpo as grpo_module
import pathreasoner.train.sft as sft_module
from pathreasoner.config import Config, TrainingConfig
from pathreasoner.errors import ConfigError, TrainingError
from pathreasoner.train.checkpoints import RUN_FILE, read_run_info, resume_checkpoint, run_fingerprint
from pathreasoner.train.grpo import train_grpo
from pathreasoner.train.sft import train_sft


class Killed(RuntimeError):
    """What the training process 'dies' of in these tests."""


class KillAfterStep(TrainerCallback):
    """Raises at the end of step `step`, after the trainer saved any checkpoint due before it."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.step:
            raise Killed(f"killed after step {self.step}")


def _with(cfg: Config, **sections: dict) -> Config:
    return cfg.model_copy(update={k: getattr(cfg, k).model_copy(update=v) for k, v in sections.items()})


def _kill_builder(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, step: int) -> None:
    """Make `module.<name>` (the trainer builder) add a callback that kills training after `step`."""
    build = getattr(module, name)

    def killing(*args: Any, **kwargs: Any) -> Any:
        trainer, *rest = build(*args, **kwargs)
        trainer.add_callback(KillAfterStep(step))
        return (trainer, *rest)

    monkeypatch.setattr(module, name, killing)


def _metric_steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]


def _trainer_files(out: Path) -> list[str]:
    """The checkpoints and run record under <out>/trainer (TRL also writes a model card README.md there)."""
    return sorted(p.name for p in (out / "trainer").iterdir() if p.name != "README.md")


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "checkpoint" / "model.safetensors")


def _max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def test_sft_killed_run_resumes_to_the_same_weights(
    samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 6 samples, batch 2: 3 steps per epoch. Killed after step 4 (steps 1-3 logged, checkpoint-4 not yet
    # written): the resume starts from checkpoint-2, in the middle of the first epoch, and redoes step 3
    cfg = _with(
        train_cfg,
        sft={"max_steps": 6},
        training={"save_steps": 2, "save_total_limit": 2, "mlflow": True},
        project={"work_dir": str(tmp_path / "work")},
        registry={"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )
    straight = train_sft(samples_dir, tmp_path / "straight", cfg)

    out = tmp_path / "killed"
    with monkeypatch.context() as patch:
        _kill_builder(patch, sft_module, "build_sft_trainer", step=4)
        with pytest.raises(Killed):
            train_sft(samples_dir, out, cfg)
    assert _trainer_files(out) == ["checkpoint-2", RUN_FILE]
    assert not (out / "checkpoint").exists()
    assert (out / "trainer" / "checkpoint-2" / "optimizer.pt").is_file()
    client = MlflowClient(cfg.tracking_uri)
    killed_run = read_run_info(out / "trainer")["mlflow_run_id"]
    assert client.get_run(killed_run).info.status == "FAILED"
    assert _metric_steps(client, killed_run, "loss") == [1, 2, 3]

    resumed = train_sft(samples_dir, out, cfg)
    assert resumed.extra["resumed_from"] == str(out / "trainer" / "checkpoint-2")
    assert resumed.steps == 6
    # the curves continue in the killed attempt's MLflow run; step 3, lost with the process, is logged again
    assert resumed.extra["mlflow_run_id"] == killed_run
    run = client.get_run(killed_run)
    assert run.info.status == "FINISHED" and run.data.tags["pathreasoner.resumed"] == "true"
    assert sorted(_metric_steps(client, killed_run, "loss")) == [1, 2, 3, 3, 4, 5, 6]
    # the history holds the whole run: steps 1-2 from the checkpoint's trainer state, 3-6 from the resume
    assert [h["step"] for h in resumed.loss_history] == [1, 2, 3, 4, 5, 6]
    assert [h["loss"] for h in resumed.loss_history] == pytest.approx(
        [h["loss"] for h in straight.loss_history], abs=1e-6
    )
    a, b = _weights(tmp_path / "straight"), _weights(out)
    diff = _max_abs_diff(a, b)
    print(f"sft resume max abs diff {diff:.3g}")
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a), diff
    assert sum(not torch.equal(a[k], load_file(tiny_dir / "model.safetensors")[k]) for k in a) > 10
    # success removes the trainer checkpoints: only the final checkpoint and the summaries stay
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint",
        "sft_loss.png",
        "summary.json",
        "train_log.json",
        "train_report.md",
    ]  # trainer/ is gone once the run succeeded
    assert json.loads((out / "summary.json").read_text())["extra"]["resumed_from"].endswith("checkpoint-2")


def test_grpo_killed_run_resumes_to_the_same_weights(
    samples_dir: Path, train_cfg: Config, tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sampled rollouts: the checkpoint's RNG state makes the resumed generations those of the straight run;
    # the semantic reward is continuous, so a group's rewards differ and every step moves the weights
    cfg = _with(
        train_cfg,
        grpo={"max_steps": 3, "learning_rate": 1e-3, "temperature": 1.0},
        reward={"components": {"format": 1.0, "semantic": 1.0}},
        training={"save_steps": 1},
    )
    straight = train_grpo(samples_dir, tiny_dir, tmp_path / "straight", cfg)

    out = tmp_path / "killed"
    with monkeypatch.context() as patch:
        _kill_builder(patch, grpo_module, "build_grpo_trainer", step=2)
        with pytest.raises(Killed):
            train_grpo(samples_dir, tiny_dir, out, cfg)
    assert _trainer_files(out) == ["checkpoint-1", RUN_FILE]

    resumed = train_grpo(samples_dir, tiny_dir, out, cfg)
    assert resumed.extra["resumed_from"] == str(out / "trainer" / "checkpoint-1")
    assert resumed.steps == 3
    assert [r["reward"] for r in resumed.reward_history] == pytest.approx(
        [r["reward"] for r in straight.reward_history], abs=1e-6
    )
    a, b = _weights(tmp_path / "straight"), _weights(out)
    diff = _max_abs_diff(a, b)
    print(f"grpo resume max abs diff {diff:.3g}")
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a), diff
    assert _max_abs_diff(a, load_file(tiny_dir / "model.safetensors")) > 0


def test_resume_modes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "trainer" / "checkpoint-2").mkdir(parents=True)
    (out / "trainer" / "checkpoint-10").mkdir()
    (out / "trainer" / "checkpoint-10" / "trainer_state.json").write_text("{}")
    auto, never = TrainingConfig(), TrainingConfig(resume="never")
    assert resume_checkpoint(auto, out, "abc") is None  # no run.json: not known to be this run
    (out / "trainer" / RUN_FILE).write_text(json.dumps({"fingerprint": "abc", "mlflow_run_id": "r1"}))
    assert resume_checkpoint(auto, out, "abc") == out / "trainer" / "checkpoint-10"  # numeric, not lexical
    assert resume_checkpoint(auto, out, "other-config") is None
    assert resume_checkpoint(never, out, "abc") is None
    assert read_run_info(out / "trainer")["mlflow_run_id"] == "r1"
    assert resume_checkpoint(auto, tmp_path / "fresh", "abc") is None
    explicit = TrainingConfig(resume=str(out / "trainer" / "checkpoint-10"))
    assert resume_checkpoint(explicit, tmp_path / "elsewhere", "x") == out / "trainer" / "checkpoint-10"
    folder = TrainingConfig(resume=str(out / "trainer"))
    assert resume_checkpoint(folder, tmp_path / "elsewhere", "x") == out / "trainer" / "checkpoint-10"


def test_resume_path_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "run" / "trainer" / "checkpoint-40"
    with pytest.raises(TrainingError, match=f"{re.escape(str(missing))} does not exist"):
        resume_checkpoint(TrainingConfig(resume=str(missing)), tmp_path, "x")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrainingError, match=f"{re.escape(str(empty))} is not a trainer checkpoint"):
        resume_checkpoint(TrainingConfig(resume=str(empty)), tmp_path, "x")


def test_missing_resume_path_fails_before_loading_a_model(
    samples_dir: Path, train_cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_model(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was loaded before the resume path was checked")

    monkeypatch.setattr(sft_module, "build_sft_trainer", no_model)
    cfg = _with(train_cfg, training={"resume": str(tmp_path / "nope")})
    with pytest.raises(TrainingError, match="nope does not exist"):
        train_sft(samples_dir, tmp_path / "out", cfg)


def test_fingerprint_follows_what_decides_the_weights(train_cfg: Config, samples_dir: Path) -> None:
    base = run_fingerprint("train-sft", train_cfg.model, train_cfg.sft, 0, samples_dir)
    assert base == run_fingerprint("train-sft", train_cfg.model, train_cfg.sft, 0, samples_dir)
    lr = train_cfg.sft.model_copy(update={"learning_rate": 1e-4})
    assert base != run_fingerprint("train-sft", train_cfg.model, lr, 0, samples_dir)
    assert base != run_fingerprint("train-sft", train_cfg.model, train_cfg.sft, 1, samples_dir)
    assert base != run_fingerprint("train-grpo", train_cfg.model, train_cfg.sft, 0, samples_dir)


def test_training_section_validates(tmp_path: Path) -> None:
    from pathreasoner.config import config_from_dict

    cfg = config_from_dict({"training": {"resume": "runs/sft/trainer/checkpoint-4"}}, tmp_path)
    assert cfg.training.resume == str(tmp_path / "runs" / "sft" / "trainer" / "checkpoint-4")
    assert config_from_dict({"training": {"resume": "never"}}, tmp_path).training.resume == "never"
    with pytest.raises(ConfigError, match=r"training\.save_steps"):
        config_from_dict({"training": {"save_steps": 0}}, tmp_path)
    with pytest.raises(ConfigError, match=r"unknown config key 'training\.save_every'"):
        config_from_dict({"training": {"save_every": 5}}, tmp_path)


def test_no_extra_trainer_checkpoint_at_an_irregular_last_step() -> None:
    from transformers import TrainerControl, TrainerState

    from pathreasoner.train.checkpoints import NoFinalTrainerCheckpoint

    def saves(step: int, max_steps: int) -> bool:
        control = TrainerControl(should_save=True)  # what HF's DefaultFlowCallback asked for
        state = TrainerState(global_step=step, max_steps=max_steps, save_steps=2)
        NoFinalTrainerCheckpoint().on_step_end(None, state, control)
        return control.should_save

    assert not saves(5, 5)  # last step, not a multiple of save_steps: <out>/checkpoint follows anyway
    assert saves(4, 5) and saves(6, 6)
