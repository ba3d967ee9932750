"""Wire the reward components into GRPOTrainer (reward_funcs + reward_weights) and score one text."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pathreasoner.config import RewardConfig
from pathreasoner.response import answer_text
from pathreasoner.train.rewards.entity import (
    Matcher,
    as_matcher,
    entity_score,
    lexical_similarity,
    make_entity_reward,
)
from pathreasoner.train.rewards.format import format_reward, format_score
from pathreasoner.train.rewards.semantic import semantic_reward, semantic_similarity

RewardFunc = Callable[..., list[Any]]


def build_reward_funcs(
    reward_cfg: RewardConfig, lexicon: Mapping[str, list[str]] | Matcher
) -> tuple[list[RewardFunc], list[float]]:
    """R = format + semantic + α·entity as (functions, weights); zero-weight or disabled parts are left out."""
    funcs: list[RewardFunc] = []
    weights: list[float] = []
    if reward_cfg.format_weight > 0:
        funcs.append(format_reward)
        weights.append(reward_cfg.format_weight)
    if reward_cfg.semantic_weight > 0 and reward_cfg.semantic_backend != "none":
        funcs.append(semantic_reward)
        weights.append(reward_cfg.semantic_weight)
    if reward_cfg.entity_weight > 0:
        funcs.append(make_entity_reward(lexicon, reward_cfg.entity_soft_beta))
        weights.append(reward_cfg.entity_weight)
    return funcs, weights


def score_all(
    text: str,
    gt_entities: Iterable[str],
    answer: str | None,
    lexicon: Mapping[str, list[str]] | Matcher | None = None,
    reward_cfg: RewardConfig | None = None,
) -> dict[str, float | None]:
    """Named reward components of one response and their weighted total (None parts count as 0)."""
    cfg = reward_cfg or RewardConfig()
    scores: dict[str, float | None] = {"format": format_score(text)}
    scores["semantic"] = (
        semantic_similarity(answer_text(text), answer or "") if cfg.semantic_backend != "none" else None
    )
    scores["entity"] = (
        entity_score(text, gt_entities, as_matcher(lexicon), cfg.entity_soft_beta, lexical_similarity)
        if lexicon is not None
        else None
    )
    scores["total"] = (
        cfg.format_weight * (scores["format"] or 0.0)
        + cfg.semantic_weight * (scores["semantic"] or 0.0)
        + cfg.entity_weight * (scores["entity"] or 0.0)
    )
    return scores
