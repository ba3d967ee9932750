"""Entity reward: soft Dice between KG entities named in the reasoning and the sample's gt_entities.

As released with the paper (§3.4): entities are looked up only in the <observe> + <think> spans (the
whole text when neither tag exists);
I_soft = |P ∩ G| + β · Σ_{e ∈ P \\ G} max_{g ∈ G} sim(e, g); R = min(1, 2·I_soft / (|P| + |G|)); 0 when both are empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from rapidfuzz import fuzz

from pathreasoner.response import reasoning_text
from pathreasoner.train.rewards.completions import completion_text

Similarity = Callable[[str, str], float]


class Matcher(Protocol):
    def entities(self, text: str) -> set[str]: ...


def lexical_similarity(a: str, b: str) -> float:
    """Token-set string similarity in [0, 1] (case-insensitive): partial credit for near-miss entities."""
    return fuzz.token_set_ratio(a.lower(), b.lower()) / 100.0


def entity_dice(
    pred: Iterable[str], gt: Iterable[str], soft_beta: float = 0.5, sim: Similarity | None = None
) -> float:
    """Soft Dice of predicted vs ground-truth entity sets (hard Dice when `sim` is None)."""
    pred_set, gt_set = set(pred), set(gt)
    if not pred_set and not gt_set:
        return 0.0
    intersection = float(len(pred_set & gt_set))
    if sim is not None and soft_beta > 0 and gt_set:
        extra = sorted(pred_set - gt_set)
        intersection += soft_beta * sum(max(sim(e, g) for g in gt_set) for e in extra)
    return min(1.0, 2.0 * intersection / (len(pred_set) + len(gt_set)))


def as_matcher(lexicon: Mapping[str, list[str]] | Matcher) -> Matcher:
    """A matcher from an entity lexicon {canonical: [synonyms]} (kg.lexicon.EntityMatcher), or pass one through."""
    if hasattr(lexicon, "entities"):
        return lexicon  # type: ignore[return-value]
    from pathreasoner.kg.lexicon import EntityMatcher

    return EntityMatcher.from_lexicon(dict(lexicon))  # type: ignore[arg-type]


def entity_score(
    text: str,
    gt_entities: Iterable[str],
    matcher: Matcher,
    soft_beta: float = 0.5,
    sim: Similarity | None = None,
) -> float:
    """Entity reward of one response text."""
    return entity_dice(matcher.entities(reasoning_text(text)), gt_entities or [], soft_beta, sim)


def make_entity_reward(
    lexicon: Mapping[str, list[str]] | Matcher,
    soft_beta: float = 0.5,
    sim: Similarity | None = lexical_similarity,
) -> Callable[..., list[float]]:
    """TRL reward function `entity_reward(completions, gt_entities, **kwargs)` bound to a lexicon."""
    matcher = as_matcher(lexicon)

    def entity_reward(
        completions: list[Any], gt_entities: list[list[str]] | None = None, **kwargs: Any
    ) -> list[float]:
        gts = gt_entities if gt_entities is not None else [[] for _ in completions]
        return [
            entity_score(completion_text(c), gt or [], matcher, soft_beta, sim)
            for c, gt in zip(completions, gts, strict=True)
        ]

    return entity_reward
