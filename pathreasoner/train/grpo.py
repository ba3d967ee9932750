"""GRPO from the SFT checkpoint with TRL's GRPOTrainer: R = format + semantic + α·entity (paper §3.4)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from transformers import set_seed
from trl import GRPOConfig, GRPOTrainer

from pathreasoner.config import Config
from pathreasoner.dataset import load_lexicon
from pathreasoner.errors import TrainingError
from pathreasoner.model.factory import load_checkpoint
from pathreasoner.train.common import (
    HistoryCallback,
    base_training_kwargs,
    quiet,
    save_checkpoint,
    training_env,
)
from pathreasoner.train.data import grpo_dataset, load_split
from pathreasoner.train.result import TrainResult
from pathreasoner.train.rewards.combine import build_reward_funcs

logger = logging.getLogger(__name__)


def grpo_args(cfg: Config, out_dir: Path, reward_weights: list[float]) -> GRPOConfig:
    g = cfg.grpo
    return GRPOConfig(
        **base_training_kwargs(out_dir, cfg.project.seed, g.deepspeed),
        max_steps=g.max_steps,
        learning_rate=g.learning_rate,
        per_device_train_batch_size=g.per_device_batch_size,
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        beta=g.beta,
        reward_weights=reward_weights,
        logging_steps=g.logging_steps,
        loss_type="grpo",
        scale_rewards="group",
        lr_scheduler_type="constant",
        shuffle_dataset=True,
    )


def build_grpo_trainer(
    samples_dir: Path, init_checkpoint: Path, out_dir: Path, cfg: Config
) -> tuple[GRPOTrainer, HistoryCallback, list[dict[str, str]]]:
    """The configured GRPOTrainer on the SFT checkpoint, its history callback and the skipped records."""
    set_seed(cfg.project.seed)
    loaded = load_split(samples_dir, "train", require_response=False)
    dataset = grpo_dataset(samples_dir, loaded=loaded)
    funcs, weights = build_reward_funcs(cfg.reward, load_lexicon(samples_dir), cfg.work_dir)
    model, processor = load_checkpoint(init_checkpoint, cfg.model.torch_dtype)
    history = HistoryCallback()
    try:
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=funcs,
            args=grpo_args(cfg, out_dir, weights),
            train_dataset=dataset,
            processing_class=processor,
            callbacks=[history],
        )
    except ValueError as exc:
        raise TrainingError(
            f"cannot set up GRPO on {samples_dir} with grpo={cfg.grpo.model_dump()}: {exc}"
        ) from exc
    return quiet(trainer), history, loaded.skipped


def train_grpo(
    samples_dir: Path | str, init_checkpoint: Path | str, out_dir: Path | str, cfg: Config
) -> TrainResult:
    """GRPO `init_checkpoint` on `<samples_dir>/train.jsonl`; same outputs as SFT plus per-step reward means."""
    samples_dir, init_checkpoint, out_dir = Path(samples_dir), Path(init_checkpoint), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with training_env(cfg.grpo.deepspeed):
        trainer, history, skipped = build_grpo_trainer(samples_dir, init_checkpoint, out_dir, cfg)
        trainer.train()
        checkpoint = save_checkpoint(trainer, trainer.processing_class, out_dir)
        is_main, world_size = trainer.is_world_process_zero(), trainer.args.world_size
    rewards = [
        {k: v for k, v in h.items() if k == "step" or k.startswith("reward") or k in ("kl", "entropy")}
        for h in history.entries
        if "reward" in h
    ]
    result = TrainResult(
        stage="train-grpo",
        checkpoint=str(checkpoint),
        steps=trainer.state.global_step,
        seconds=time.perf_counter() - start,
        n_samples=len(trainer.train_dataset),
        loss_history=[h for h in history.entries if "loss" in h],
        reward_history=rewards,
        skipped=skipped,
        extra={
            "init_checkpoint": str(init_checkpoint),
            "reward_funcs": [f.__name__ for f in trainer.reward_funcs],
            "reward_components": [name for name, w in cfg.reward.components.items() if w > 0],
            "reward_weights": list(trainer.args.reward_weights or []),
            "deepspeed": cfg.grpo.deepspeed,
            "world_size": world_size,
        },
    )
    if is_main:
        result.write(out_dir)
        logger.info(result.line())
    return result


def main(argv: list[str] | None = None) -> int:
    from pathreasoner.train.entry import run

    return run("grpo", train_grpo, argv, needs_init=True)


if __name__ == "__main__":
    raise SystemExit(main())
