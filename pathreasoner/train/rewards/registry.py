"""Reward registry: the built-in rewards by name (config.REWARD_NAMES), any TRL reward function by
`module:function`. A factory turns the reward config + the samples' entity lexicon into the function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathreasoner.config import REWARD_NAMES, RewardConfig, import_reward
from pathreasoner.errors import ConfigError
from pathreasoner.eval.diagnosis import DiagnosisChecker
from pathreasoner.train.rewards.diagnosis import make_diagnosis_reward
from pathreasoner.train.rewards.entity import EntityLexicon, make_entity_reward
from pathreasoner.train.rewards.format import format_reward
from pathreasoner.train.rewards.judge import LLMJudge, make_judge_reward
from pathreasoner.train.rewards.kg_path import make_kg_path_reward
from pathreasoner.train.rewards.semantic import load_embedder, semantic_reward

RewardFunc = Callable[
    ..., Any
]  # TRL reward function: (completions, **columns) -> list[float | None] (or async)


@dataclass(frozen=True)
class RewardContext:
    """What a reward factory may use: the reward config, the samples' lexicon, the work dir (caches) and
    the samples dir (its KG entity types)."""

    cfg: RewardConfig
    lexicon: EntityLexicon | None = None
    work_dir: Path | None = None
    samples_dir: Path | None = None

    def need_lexicon(self, name: str) -> EntityLexicon:
        if self.lexicon is None:
            raise ConfigError(
                f"the {name!r} reward needs the samples dir's entity lexicon (entity_lexicon.json); pass it, "
                f"or set reward.components.{name} to 0"
            )
        return self.lexicon


def _semantic(ctx: RewardContext) -> RewardFunc:
    if ctx.cfg.semantic_backend == "judge":
        return make_judge_reward(LLMJudge.from_config(ctx.cfg, ctx.work_dir))
    # loaded now, before the trainer's arguments switch on HF's DeepSpeed config: loaded lazily during a
    # ZeRO-3 run, the embedder's weights would be partitioned and encode() would fail
    load_embedder()
    return semantic_reward


def _diagnosis(ctx: RewardContext) -> RewardFunc:
    checker = DiagnosisChecker.for_samples(ctx.samples_dir) if ctx.samples_dir is not None else None
    if checker is None or not checker.types:
        raise ConfigError(
            "the 'diagnosis' reward needs a samples dir with KG entity types (entity_types.json, written by "
            "build-samples); rebuild the samples, or set reward.components.diagnosis to 0"
        )
    return make_diagnosis_reward(checker)


BUILTIN_REWARDS: dict[str, Callable[[RewardContext], RewardFunc]] = {
    "format": lambda ctx: format_reward,
    "semantic": _semantic,
    "entity": lambda ctx: make_entity_reward(
        ctx.need_lexicon("entity"), ctx.cfg.entity_beta, ctx.cfg.entity_soft_cap
    ),
    "kg_path": lambda ctx: make_kg_path_reward(ctx.need_lexicon("kg_path")),
    "diagnosis": _diagnosis,
}
assert tuple(BUILTIN_REWARDS) == REWARD_NAMES, (
    "config.REWARD_NAMES and the registry must list the same rewards"
)


def load_reward_function(spec: str) -> RewardFunc:
    """The callable named by `package.module:function`; ConfigError when it does not import."""
    try:
        return import_reward(spec)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def reward_function(name: str, ctx: RewardContext) -> RewardFunc:
    """The TRL reward function registered as `name` (built in, or module:function)."""
    factory = BUILTIN_REWARDS.get(name)
    return factory(ctx) if factory is not None else load_reward_function(name)
