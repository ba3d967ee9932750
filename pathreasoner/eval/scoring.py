"""Scoring predictions against sample records (no model needed): per-item scores, metrics, CIs, groups.

Per item:

* `correct`: closed-form items (with `options`) by the option the `<answer>` names (`eval.closed_form`);
  open diagnosis questions by their KG-linked, non-negated diagnosis under the hierarchy rule
  (`eval.diagnosis`); None for the rest (not scorable). `answer_accuracy` is the share correct over the
  scorable items (`n_scored`), `diagnosis_accuracy` the same over the open diagnosis items only.
* text metrics (BLEU, ROUGE-1/2/L, `bertscore_minilm_f1`) compare the `<answer>` span (the whole text
  without the tag) with the reference answer, not the templated reasoning, so that copying the training
  template earns nothing; they cover the open items (a closed item's answer is an option label).
  `judge_score` (optional) grades every item's answer against its reference answer.
* entities: the KG entities of the observe/think/answer spans against the record's `gt_entities` (items
  without `gt_entities`, e.g. benchmark items, do not count).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pathreasoner.errors import DatasetError
from pathreasoner.eval.bertscore import bertscore_minilm_f1
from pathreasoner.eval.closed_form import closed_form_correct, is_closed_form
from pathreasoner.eval.diagnosis import diagnosis_scores, verdict
from pathreasoner.eval.hierarchy import HierarchyRule
from pathreasoner.eval.metrics import (
    answer_matches,
    bleu_statistics,
    entity_counts,
    entity_text,
    rouge_per_pair,
)
from pathreasoner.eval.scores import ItemScores, bootstrap_ci, grouped
from pathreasoner.response import answer_text, is_well_formed


class EntityFinder(Protocol):
    def entities(self, text: str) -> set[str]: ...


@dataclass(frozen=True)
class Scored:
    """Scores of one prediction set: overall metrics, CIs, groups and the per-item columns."""

    metrics: dict[str, float]
    ci: dict[str, list[float]]
    by_type: dict[str, dict[str, Any]]
    by_organ: dict[str, dict[str, Any]]
    items: ItemScores
    correct: list[bool | None]
    diagnosis: list[bool | None]
    pred_entities: list[list[str]]
    answers: list[str]
    references: list[str]


def _matcher(lexicon: Mapping[str, Sequence[str]] | EntityFinder) -> EntityFinder:
    if hasattr(lexicon, "entities"):
        return lexicon  # type: ignore[return-value]
    from pathreasoner.kg.lexicon import EntityMatcher

    return EntityMatcher.from_lexicon({k: list(v) for k, v in lexicon.items()})  # type: ignore[union-attr]


def _as_column(values: Sequence[bool | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def score_predictions(
    records: Sequence[Mapping[str, Any]],
    predictions: Sequence[str],
    lexicon: Mapping[str, Sequence[str]] | EntityFinder,
    entity_types: Mapping[str, str] | None = None,
    *,
    ancestors: Mapping[str, frozenset[str]] | None = None,
    rule: HierarchyRule = "child",
    judge: Any | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> Scored:
    """Score `predictions` (one per record); `judge` is an `LLMJudge` (optional, adds `judge_score`)."""
    if len(records) != len(predictions):
        raise ValueError(
            f"{len(records)} records but {len(predictions)} predictions; pass one prediction per record"
        )
    if not records:
        raise DatasetError("no records to evaluate; check the split file and eval.max_samples")
    matcher, types = _matcher(lexicon), entity_types or {}
    answers = [answer_text(p) for p in predictions]
    references = [str(r.get("answer") or "") for r in records]
    diagnosis = [
        None if is_closed_form(r) else verdict(r, a, matcher, types, ancestors, rule)[0]
        for r, a in zip(records, answers, strict=True)
    ]
    correct = [
        closed_form_correct(r, a) if is_closed_form(r) else d
        for r, a, d in zip(records, answers, diagnosis, strict=True)
    ]
    pred_entities = [sorted(matcher.entities(entity_text(p))) for p in predictions]
    counts = entity_counts(pred_entities, [list(r.get("gt_entities") or []) for r in records])
    counts[[i for i, r in enumerate(records) if "gt_entities" not in r]] = 0.0
    open_items = np.array([not is_closed_form(r) for r in records])
    text = {
        **rouge_per_pair(answers, references),
        "bertscore_minilm_f1": bertscore_minilm_f1(answers, references),
    }
    bleu_stats = bleu_statistics(answers, references) * open_items[:, None]
    values: dict[str, np.ndarray] = {
        "format_compliance": np.array([float(is_well_formed(p)) for p in predictions]),
        "answer_accuracy": _as_column(correct),
        "diagnosis_accuracy": _as_column(diagnosis),
        "answer_match": np.array(
            [float(answer_matches(p, a)) for p, a in zip(predictions, references, strict=True)]
        ),
        "answer_exact": np.array(
            [float(answer_matches(p, a, exact=True)) for p, a in zip(predictions, references, strict=True)]
        ),
        **{name: np.where(open_items, column, np.nan) for name, column in text.items()},
    }
    judge_failed = None
    if judge is not None:
        from pathreasoner.eval.judge import judge_scores

        questions = [str(r.get("question") or "") for r in records]
        values["judge_score"], judge_failed = judge_scores(judge, answers, references, questions)
    items = ItemScores(values, counts, bleu_stats)
    metrics = items.point()
    metrics["n_samples"] = float(len(records))
    metrics["n_scored"] = float(sum(c is not None for c in correct))
    if judge_failed is not None:
        metrics["judge_failed"] = float(judge_failed)
    chance = diagnosis_scores(
        [r for r, d in zip(records, diagnosis, strict=True) if d is not None],
        [p for p, d in zip(predictions, diagnosis, strict=True) if d is not None],
        matcher,
        types,
        ancestors,
        rule,
    )
    metrics.update({k: v for k, v in chance.items() if k != "diagnosis_accuracy"})
    qtypes = [str(r.get("question_type") or "unknown") for r in records]
    organs = [str(r.get("organ") or "unknown") for r in records]
    return Scored(
        metrics=metrics,
        ci=bootstrap_ci(items, resamples, seed),
        by_type=grouped(items, qtypes, resamples, seed),
        by_organ=grouped(items, organs, resamples, seed),
        items=items,
        correct=correct,
        diagnosis=diagnosis,
        pred_entities=pred_entities,
        answers=answers,
        references=references,
    )
