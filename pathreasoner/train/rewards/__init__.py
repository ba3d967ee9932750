"""GRPO rewards: R = format + semantic + α·entity (paper §3.4), as TRL reward functions."""

from __future__ import annotations

from pathreasoner.train.rewards.combine import build_reward_funcs, score_all
from pathreasoner.train.rewards.entity import entity_dice, make_entity_reward
from pathreasoner.train.rewards.format import format_reward, format_score
from pathreasoner.train.rewards.semantic import semantic_reward, semantic_similarity

__all__ = [
    "build_reward_funcs",
    "entity_dice",
    "format_reward",
    "format_score",
    "make_entity_reward",
    "score_all",
    "semantic_reward",
    "semantic_similarity",
]
