"""GRPO rewards (paper §3.4 + KG paths): R = Σ weight · reward, registered by name or module:function.

Built in: format, semantic (embedding | judge), entity (precision-aware F-beta on KG canonical names),
kg_path (share of the KG path steps the <think> follows). See docs/rewards.md.
"""

from __future__ import annotations

from pathreasoner.train.rewards.columns import reward_columns
from pathreasoner.train.rewards.combine import (
    Reward,
    build_reward_funcs,
    build_rewards,
    run_sync,
    score_all,
    score_completions,
)
from pathreasoner.train.rewards.entity import EntityLexicon, entity_fbeta, entity_score, make_entity_reward
from pathreasoner.train.rewards.format import format_reward, format_score
from pathreasoner.train.rewards.judge import LLMJudge, make_judge_reward
from pathreasoner.train.rewards.kg_path import kg_path_score, make_kg_path_reward
from pathreasoner.train.rewards.registry import BUILTIN_REWARDS, load_reward_function
from pathreasoner.train.rewards.semantic import semantic_reward, semantic_similarity

__all__ = [
    "BUILTIN_REWARDS",
    "EntityLexicon",
    "LLMJudge",
    "Reward",
    "build_reward_funcs",
    "build_rewards",
    "entity_fbeta",
    "entity_score",
    "format_reward",
    "format_score",
    "kg_path_score",
    "load_reward_function",
    "make_entity_reward",
    "make_judge_reward",
    "make_kg_path_reward",
    "reward_columns",
    "run_sync",
    "score_all",
    "score_completions",
    "semantic_reward",
    "semantic_similarity",
]
