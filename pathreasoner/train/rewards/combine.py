"""Wire the configured rewards into GRPOTrainer (reward_funcs + reward_weights) and score texts with them.

R = Σ weight · reward over `reward.components` (zero-weight rewards are left out). TRL sums the weighted
rewards skipping None (nan); `score_completions` does the same: a None part adds 0 to the total.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathreasoner.config import RewardConfig
from pathreasoner.errors import ConfigError
from pathreasoner.kg.lexicon import EntityMatcher
from pathreasoner.train.rewards.columns import reward_columns
from pathreasoner.train.rewards.entity import EntityLexicon
from pathreasoner.train.rewards.registry import RewardContext, RewardFunc, reward_function

Lexicon = Mapping[str, Iterable[str]] | EntityMatcher | EntityLexicon


@dataclass(frozen=True)
class Reward:
    """One configured reward: its config name, TRL reward function and weight."""

    name: str
    func: RewardFunc
    weight: float


def build_rewards(
    reward_cfg: RewardConfig,
    lexicon: Lexicon | None,
    work_dir: Path | str | None = None,
    samples_dir: Path | str | None = None,
) -> list[Reward]:
    """The positively weighted rewards of `reward.components`, in config order (ConfigError if none)."""
    ctx = RewardContext(
        reward_cfg,
        EntityLexicon.of(lexicon) if lexicon is not None else None,
        Path(work_dir) if work_dir is not None else None,
        Path(samples_dir) if samples_dir is not None else None,
    )
    rewards = [
        Reward(name, reward_function(name, ctx), float(weight))
        for name, weight in reward_cfg.components.items()
        if weight > 0
    ]
    if not rewards:
        raise ConfigError(
            f"reward.components has no positive weight ({reward_cfg.components}); give at least one reward "
            "a positive weight"
        )
    return rewards


def build_reward_funcs(
    reward_cfg: RewardConfig,
    lexicon: Lexicon | None,
    work_dir: Path | str | None = None,
    samples_dir: Path | str | None = None,
) -> tuple[list[RewardFunc], list[float]]:
    """(reward_funcs, reward_weights) for GRPOTrainer / GRPOConfig."""
    rewards = build_rewards(reward_cfg, lexicon, work_dir, samples_dir)
    return [r.func for r in rewards], [r.weight for r in rewards]


def run_sync(func: RewardFunc, *args: Any, **kwargs: Any) -> Any:
    """Call a reward function, sync or async, from synchronous code."""
    result = func(*args, **kwargs)
    if not inspect.isawaitable(result):
        return result
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(result))
    with ThreadPoolExecutor(max_workers=1) as pool:  # called from inside an event loop: run beside it
        return pool.submit(asyncio.run, _await(result)).result()


async def _await(awaitable: Any) -> Any:
    return await awaitable


def score_completions(
    rewards: Sequence[Reward], texts: Sequence[str], records: Sequence[Mapping[str, Any]]
) -> list[dict[str, float | None]]:
    """Per text: each reward by config name (None = not scored) and the weighted `total` (None as 0)."""
    columns = [reward_columns(r) for r in records]
    batch = {key: [c[key] for c in columns] for key in columns[0]} if columns else {}
    out: list[dict[str, float | None]] = [{} for _ in texts]
    for reward in rewards:
        scores = run_sync(reward.func, completions=list(texts), **batch)
        for row, score in zip(out, scores, strict=True):
            row[reward.name] = None if score is None else float(score)
    for row in out:
        row["total"] = sum(r.weight * (row[r.name] or 0.0) for r in rewards)
    return out


def score_all(
    text: str,
    record: Mapping[str, Any],
    lexicon: Lexicon | None,
    reward_cfg: RewardConfig | None = None,
    work_dir: Path | str | None = None,
) -> dict[str, float | None]:
    """Every configured reward of one response to a samples record, and their weighted total. Builds the
    rewards each call: for many texts, `score_completions(build_rewards(...), texts, records)`."""
    rewards = build_rewards(reward_cfg or RewardConfig(), lexicon, work_dir)
    return score_completions(rewards, [text], [record])[0]
