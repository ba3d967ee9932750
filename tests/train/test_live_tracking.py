"""SFT and GRPO log their curves and GRPO's sample completions to MLflow while they train."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from transformers import TrainerCallback

import pathreasoner.train.sft as sft_module
from pathreasoner.config import Config
from pathreasoner.train.grpo import train_grpo
from pathreasoner.train.live_tracking import message_text
from pathreasoner.train.sft import train_sft


def _with(cfg: Config, **sections: dict) -> Config:
    return cfg.model_copy(update={k: getattr(cfg, k).model_copy(update=v) for k, v in sections.items()})


@pytest.fixture(scope="module")
def tracked_cfg(train_cfg: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    root = tmp_path_factory.mktemp("tracking")
    return _with(
        train_cfg,
        project={"work_dir": str(root / "work")},
        registry={
            "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "artifact_root": str(root / "artifacts"),
        },
        training={"mlflow": True, "log_completions_steps": 1},
    )


def _steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]


class MetricsSeenWhileTraining(TrainerCallback):
    """Reads the run's loss history from the store at each step end: proof the curve is live."""

    def __init__(self, tracking_uri: str) -> None:
        self.client = MlflowClient(tracking_uri)
        self.seen: list[list[int]] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        run = mlflow.active_run()
        mlflow.flush_async_logging()
        self.seen.append(_steps(self.client, run.info.run_id, "loss") if run else [])


def test_sft_logs_curves_while_training(
    samples_dir: Path, tracked_cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher = MetricsSeenWhileTraining(tracked_cfg.tracking_uri)
    build = sft_module.build_sft_trainer

    def watched(*args: Any, **kwargs: Any) -> Any:
        trainer, *rest = build(*args, **kwargs)
        trainer.add_callback(watcher)
        return (trainer, *rest)

    monkeypatch.setattr(sft_module, "build_sft_trainer", watched)
    result = train_sft(samples_dir, tmp_path, tracked_cfg)
    run_id = result.extra["mlflow_run_id"]
    assert json.loads((tmp_path / "summary.json").read_text())["extra"]["mlflow_run_id"] == run_id
    # on_step_end of step k runs before step k is logged: by then steps 1..k-1 are in the store
    assert watcher.seen == [[], [1], [1, 2]]

    client = MlflowClient(tracked_cfg.tracking_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert (
        run.info.experiment_id == client.get_experiment_by_name(tracked_cfg.registry.experiment).experiment_id
    )
    assert run.data.tags["pathreasoner.stage"] == "train-sft"
    assert run.data.tags["pathreasoner.config_hash"] == tracked_cfg.config_hash()
    for key in ("loss", "learning_rate", "grad_norm"):
        assert _steps(client, run_id, key) == [1, 2, 3], key
    losses = [m.value for m in client.get_metric_history(run_id, "loss")]
    assert losses == pytest.approx([h["loss"] for h in result.loss_history])
    assert run.data.params["max_steps"] == "3"  # HF's MLflowCallback logs the trainer arguments
    assert "config.yaml" in [a.path for a in client.list_artifacts(run_id)]


def test_grpo_logs_rewards_kl_and_completions(
    samples_dir: Path, tracked_cfg: Config, tiny_dir: Path, tmp_path: Path
) -> None:
    cfg = _with(tracked_cfg, grpo={"max_steps": 2, "temperature": 1.0})
    result = train_grpo(samples_dir, tiny_dir, tmp_path, cfg)
    run_id = result.extra["mlflow_run_id"]
    client = MlflowClient(cfg.tracking_uri)
    assert client.get_run(run_id).data.tags["pathreasoner.stage"] == "train-grpo"
    names = result.extra["reward_funcs"]
    assert len(names) >= 2
    keys = ["loss", "reward", "kl", "learning_rate", "grad_norm", *(f"rewards/{n}/mean" for n in names)]
    for key in keys:
        assert _steps(client, run_id, key) == [1, 2], key
    means = [m.value for m in client.get_metric_history(run_id, f"rewards/{names[0]}/mean")]
    assert means == pytest.approx([r[f"rewards/{names[0]}/mean"] for r in result.reward_history])

    files = sorted(a.path for a in client.list_artifacts(run_id, "completions"))
    assert files == ["completions/step_000001.json", "completions/step_000002.json"]
    table = mlflow.load_table("completions/step_000002.json", run_ids=[run_id])
    assert {"step", "prompt", "completion", "reward", "advantage", *names} <= set(table.columns)
    assert len(table) == cfg.grpo.per_device_batch_size  # one row per completion of the step
    assert set(table["step"]) == {2}
    assert all(isinstance(p, str) and p for p in table["prompt"])
    assert all(isinstance(c, str) for c in table["completion"])
    weights = result.extra["reward_weights"]
    for _, row in table.iterrows():
        total = sum(w * row[n] for w, n in zip(weights, names, strict=True) if row[n] == row[n])
        assert row["reward"] == pytest.approx(total)


def test_message_text() -> None:
    prompt = [
        {"role": "system", "content": [{"type": "text", "text": "You are a pathologist."}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Diagnosis?"}]},
    ]
    assert message_text(prompt[-1:]) == "Diagnosis?"
    assert message_text(prompt) == "You are a pathologist.\nDiagnosis?"
    assert message_text([{"role": "assistant", "content": "<think>x</think>"}]) == "<think>x</think>"
    assert message_text("plain") == "plain"
