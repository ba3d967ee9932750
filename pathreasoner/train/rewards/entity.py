"""Entity reward: precision-weighted soft F-beta of the KG entities a response names against its gt_entities.

Both sides are KG canonical names, the most canonical identifier a samples dir carries (the keys of
`entity_lexicon.json`; build-samples derives `gt_entities` and `kg_paths` with the same names):
- P: the lexicon entities (names or synonyms, `kg.lexicon.EntityMatcher`: word-bounded, longest match)
  found in the <observe> + <think> spans (the whole text when it has none of the format's tags, nothing
  when it has tags but neither span: entities named only in <answer> earn nothing);
- G: the sample's gt_entities, each mapped through the same lexicon (a synonym counts as its name).

I = |P ∩ G| + cap · Σ sim(e, g), the sum over a one-to-one greedy pairing (best first) of the unmatched
predictions P \\ G with the unmatched references G \\ P, where sim = rapidfuzz token_sort_ratio / 100 and
pairs below SOFT_MIN_SIMILARITY earn nothing. token_sort_ratio is order-free but, unlike token_set_ratio,
not subset-blind ("carcinoma" vs "adenocarcinoma" = 0.78, not 1), and cap < 1: a near miss never counts
as a match.
R = (1 + β²) · I / (|P| + β² · |G|), the F-beta of soft precision I/|P| and recall I/|G|; with β < 1 an
entity that is not supported costs more than one that is missed, so listing generic KG terms lowers R.
R = 0 when nothing is found; None (not scored) when the sample has no gt_entities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process, utils

from pathreasoner.kg.lexicon import EntityMatcher, Mention
from pathreasoner.train.rewards.completions import completion_text
from pathreasoner.train.rewards.spans import reasoning_span

SOFT_MIN_SIMILARITY = 0.7


class EntityLexicon:
    """The lexicon matcher, and every surface form mapped to its canonical name (memoised)."""

    def __init__(self, matcher: EntityMatcher) -> None:
        self.matcher = matcher
        self._canonical: dict[str, str] = {}

    @classmethod
    def of(cls, lexicon: Mapping[str, Iterable[str]] | EntityMatcher | EntityLexicon) -> EntityLexicon:
        """From `{canonical: [synonyms]}` (entity_lexicon.json), a built EntityMatcher, or pass one through."""
        if isinstance(lexicon, EntityLexicon):
            return lexicon
        if isinstance(lexicon, EntityMatcher):
            return cls(lexicon)
        return cls(EntityMatcher.from_lexicon(lexicon))

    def canonical(self, name: str) -> str:
        """The canonical name of `name` when the whole of it is a lexicon term, else `name` (stripped)."""
        found = self._canonical.get(name)
        if found is None:
            stripped = name.strip()
            found = stripped
            if stripped not in self.matcher.canonical_names:
                mentions = self.matcher.find(stripped)
                if len(mentions) == 1 and mentions[0].start == 0 and mentions[0].end == len(stripped):
                    found = mentions[0].canonical
            self._canonical[name] = found
        return found

    def mentions(self, text: str) -> list[Mention]:
        """Lexicon mentions in `text`, in order."""
        return self.matcher.find(text)

    def entities(self, text: str) -> set[str]:
        """Canonical names of the entities mentioned in `text`."""
        return {m.canonical for m in self.matcher.find(text)}


def strict_similarity(a: str, b: str) -> float:
    """token_sort_ratio in [0, 1] (case and punctuation folded): word order-free, not subset-blind."""
    return fuzz.token_sort_ratio(a, b, processor=utils.default_process) / 100.0


def soft_overlap(extra: list[str], missing: list[str], cap: float) -> float:
    """cap · Σ similarity over a one-to-one greedy pairing of `extra` with `missing` (pairs ≥ the minimum)."""
    if not extra or not missing or cap <= 0:
        return 0.0
    scores = process.cdist(
        extra,
        missing,
        scorer=fuzz.token_sort_ratio,
        processor=utils.default_process,
        score_cutoff=SOFT_MIN_SIMILARITY * 100,
    )
    rows, cols = np.nonzero(scores)
    total, used_rows, used_cols = 0.0, set(), set()
    for k in np.argsort(-scores[rows, cols], kind="stable"):
        r, c = int(rows[k]), int(cols[k])
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            total += float(scores[r, c]) / 100.0
    return cap * total


def entity_fbeta(
    pred: Iterable[str], gt: Iterable[str], beta: float = 0.5, soft_cap: float = 0.5
) -> float | None:
    """Soft F-beta of predicted vs reference entity sets (module docstring); None when `gt` is empty."""
    pred_set, gt_set = set(pred), set(gt)
    if not gt_set:
        return None
    if not pred_set:
        return 0.0
    hits = pred_set & gt_set
    soft = soft_overlap(sorted(pred_set - hits), sorted(gt_set - hits), soft_cap)
    b2 = beta * beta
    return (1.0 + b2) * (len(hits) + soft) / (len(pred_set) + b2 * len(gt_set))


def entity_score(
    text: str, gt_entities: Iterable[str], lexicon: EntityLexicon, beta: float = 0.5, soft_cap: float = 0.5
) -> float | None:
    """Entity reward of one response text."""
    gt = {lexicon.canonical(g) for g in gt_entities if g and g.strip()}
    return entity_fbeta(lexicon.entities(reasoning_span(text)), gt, beta, soft_cap)


def make_entity_reward(
    lexicon: Mapping[str, Iterable[str]] | EntityMatcher | EntityLexicon,
    beta: float = 0.5,
    soft_cap: float = 0.5,
) -> Callable[..., list[float | None]]:
    """TRL reward function `entity_reward(completions, gt_entities, **kwargs)` bound to a lexicon."""
    lex = EntityLexicon.of(lexicon)

    def entity_reward(
        completions: list[Any], gt_entities: list[list[str]] | None = None, **kwargs: Any
    ) -> list[float | None]:
        gts = gt_entities if gt_entities is not None else [[] for _ in completions]
        return [
            entity_score(completion_text(c), gt or [], lex, beta, soft_cap)
            for c, gt in zip(completions, gts, strict=True)
        ]

    return entity_reward
