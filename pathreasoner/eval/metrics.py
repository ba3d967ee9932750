"""Evaluation metrics: pure functions over parallel lists of predictions and references.

Every score is a float in [0, 1]:

* ``format_compliance`` — fraction of predictions that are exactly ``<observe>…</observe>
  <think>…</think><answer>…</answer>`` (``pathreasoner.response.is_well_formed``).
* ``entity_precision/recall/f1`` — micro-averaged over samples: true positives, predicted and gold
  counts are summed over all samples before dividing. Entity names are compared case-folded.
  With nothing predicted precision is 1.0 when there was nothing to find, else 0.0; with nothing to
  find recall is 1.0 (vacuous). F1 is 0.0 when precision + recall is 0.
* ``rougeL`` — mean ROUGE-L F-measure (rouge-score, default tokenizer, no stemming) of each full
  response against its reference response.
* ``bleu`` — sacrebleu corpus BLEU over the full responses, divided by 100.
* ``answer_match`` — the normalised ``<answer>`` span contains the normalised reference answer as a
  whole-token sequence (``answer_exact``: the two are equal). A prediction without an ``<answer>`` tag
  never matches, nor does an empty reference. See ``normalize_answer`` for the normalisation.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sacrebleu
from rouge_score import rouge_scorer

from pathreasoner.response import is_well_formed, parse_response

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_ARTICLES = frozenset({"a", "an", "the"})
METRIC_NAMES = (
    "format_compliance",
    "entity_precision",
    "entity_recall",
    "entity_f1",
    "rougeL",
    "bleu",
    "answer_match",
    "answer_exact",
)


@dataclass(frozen=True, slots=True)
class EntityScores:
    """Micro-averaged entity precision/recall/F1 plus the summed counts they come from."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    n_predicted: int
    n_gold: int


def _check_same_length(**columns: Sequence[object]) -> int:
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"metric inputs must have the same length, got {lengths}; pass parallel lists")
    return next(iter(lengths.values()), 0)


def format_compliance(predictions: Sequence[str]) -> float:
    """Fraction of predictions in the exact observe/think/answer format (0.0 for no predictions)."""
    if not predictions:
        return 0.0
    return sum(is_well_formed(p) for p in predictions) / len(predictions)


def _fold(names: Iterable[str]) -> set[str]:
    return {n.strip().casefold() for n in names if n and n.strip()}


def entity_scores(predicted: Sequence[Iterable[str]], gold: Sequence[Iterable[str]]) -> EntityScores:
    """Micro precision/recall/F1 of predicted entity sets against gold entity sets (case-folded names)."""
    _check_same_length(predicted=predicted, gold=gold)
    tp = n_pred = n_gold = 0
    for pred_set, gold_set in zip(predicted, gold, strict=True):
        p, g = _fold(pred_set), _fold(gold_set)
        tp += len(p & g)
        n_pred += len(p)
        n_gold += len(g)
    precision = tp / n_pred if n_pred else (1.0 if n_gold == 0 else 0.0)
    recall = tp / n_gold if n_gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return EntityScores(precision, recall, f1, tp, n_pred, n_gold)


def entity_text(prediction: str) -> str:
    """The text searched for entities: observe + think + answer spans, or the whole text without tags."""
    parsed = parse_response(prediction)
    spans = [s for s in (parsed.observe, parsed.think, parsed.answer) if s]
    if spans:
        return "\n".join(spans)
    return "" if any(s is not None for s in (parsed.observe, parsed.think, parsed.answer)) else prediction


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L F-measure of each prediction against its reference (0.0 for no pairs)."""
    n = _check_same_length(predictions=predictions, references=references)
    if n == 0:
        return 0.0
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    total = sum(
        scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references, strict=True)
    )
    return total / n


def bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu corpus BLEU (default 13a tokenizer, exp smoothing) over full responses, scaled to [0, 1]."""
    n = _check_same_length(predictions=predictions, references=references)
    if n == 0:
        return 0.0
    return sacrebleu.corpus_bleu(list(predictions), [list(references)]).score / 100.0


def normalize_answer(text: str) -> str:
    """Unicode NFKC, lower-case, every run of non-[0-9a-z] characters -> one space, drop a/an/the tokens.

    ``"The tumour is pT2 (N0)."`` -> ``"tumour is pt2 n0"``.
    """
    folded = unicodedata.normalize("NFKC", text).lower()
    tokens = [t for t in _NON_ALNUM.split(folded) if t and t not in _ARTICLES]
    return " ".join(tokens)


def answer_matches(prediction: str, reference_answer: str, exact: bool = False) -> bool:
    """Whether the prediction's <answer> span contains (or, with ``exact``, equals) the reference answer."""
    span = parse_response(prediction).answer
    ref = normalize_answer(reference_answer or "")
    if span is None or not ref:
        return False
    got = normalize_answer(span)
    if exact:
        return got == ref
    return f" {ref} " in f" {got} "


def answer_match(predictions: Sequence[str], answers: Sequence[str], exact: bool = False) -> float:
    """Fraction of predictions whose answer span matches the reference answer (see ``answer_matches``)."""
    n = _check_same_length(predictions=predictions, answers=answers)
    if n == 0:
        return 0.0
    return sum(answer_matches(p, a, exact) for p, a in zip(predictions, answers, strict=True)) / n


def compute_metrics(
    predictions: Sequence[str],
    references: Sequence[str],
    answers: Sequence[str],
    predicted_entities: Sequence[Iterable[str]],
    gold_entities: Sequence[Iterable[str]],
) -> dict[str, float]:
    """All metrics of METRIC_NAMES for one set of samples."""
    _check_same_length(
        predictions=predictions,
        references=references,
        answers=answers,
        predicted_entities=predicted_entities,
        gold_entities=gold_entities,
    )
    ents = entity_scores(predicted_entities, gold_entities)
    return {
        "format_compliance": format_compliance(predictions),
        "entity_precision": ents.precision,
        "entity_recall": ents.recall,
        "entity_f1": ents.f1,
        "rougeL": rouge_l(predictions, references),
        "bleu": bleu(predictions, references),
        "answer_match": answer_match(predictions, answers),
        "answer_exact": answer_match(predictions, answers, exact=True),
    }


def metrics_by_question_type(
    question_types: Sequence[str],
    predictions: Sequence[str],
    references: Sequence[str],
    answers: Sequence[str],
    predicted_entities: Sequence[Iterable[str]],
    gold_entities: Sequence[Iterable[str]],
) -> dict[str, dict[str, float]]:
    """``compute_metrics`` on each question type's subset, plus ``n_samples``; types sorted by name."""
    _check_same_length(
        question_types=question_types,
        predictions=predictions,
        references=references,
        answers=answers,
        predicted_entities=predicted_entities,
        gold_entities=gold_entities,
    )
    groups: dict[str, list[int]] = defaultdict(list)
    for i, qtype in enumerate(question_types):
        groups[qtype].append(i)
    out: dict[str, dict[str, float]] = {}
    for qtype in sorted(groups):
        idx = groups[qtype]
        scores = compute_metrics(
            [predictions[i] for i in idx],
            [references[i] for i in idx],
            [answers[i] for i in idx],
            [predicted_entities[i] for i in idx],
            [gold_entities[i] for i in idx],
        )
        scores["n_samples"] = float(len(idx))
        out[qtype] = scores
    return out
