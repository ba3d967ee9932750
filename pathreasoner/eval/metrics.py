"""Evaluation metrics: pure functions over parallel lists of predictions and references.

Every score is a float in [0, 1]:

* ``format_compliance`` — fraction of predictions that are exactly ``<observe>…</observe>
  <think>…</think><answer>…</answer>`` (``pathreasoner.response.is_well_formed``).
* ``entity_precision/recall/f1`` — micro-averaged over samples: true positives, predicted and gold
  counts are summed over all samples before dividing. Entity names are compared case-folded.
  With nothing predicted precision is 1.0 when there was nothing to find, else 0.0; with nothing to
  find recall is 1.0 (vacuous). F1 is 0.0 when precision + recall is 0.
* ``rougeL`` / ``rouge_per_pair`` — ROUGE F-measures (rouge-score, default tokenizer, no stemming) of
  each prediction against its reference.
* ``bleu`` — sacrebleu corpus BLEU (13a tokenizer, exp smoothing), divided by 100.
* ``answer_match`` — the normalised ``<answer>`` span contains the normalised reference answer as a
  whole-token sequence that is not negated ("not X", "no X", "X absent" do not match "X"; a reference
  that is itself a negation is compared as is), or (``answer_exact``) the two are equal. A prediction
  without an ``<answer>`` tag never matches, nor does an empty reference. See ``normalize_answer``.

Per-item building blocks for the bootstrap (``eval.scores``): ``entity_counts``, ``rouge_per_pair`` and
``bleu_statistics`` (sacrebleu's sufficient statistics, which sum to the corpus BLEU).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

from pathreasoner.response import is_well_formed, parse_response
from pathreasoner.samples.negation import has_negation_trigger, is_negated
from pathreasoner.text_norm import normalize_answer


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


def answer_matches(prediction: str, reference_answer: str, exact: bool = False) -> bool:
    """Whether the prediction's <answer> span contains (or, with ``exact``, equals) the reference answer."""
    span = parse_response(prediction).answer
    ref = normalize_answer(reference_answer or "")
    if span is None or not ref:
        return False
    got = normalize_answer(span)
    if exact:
        return got == ref
    padded, needle = f" {got} ", f" {ref} "
    if has_negation_trigger(ref):
        return needle in padded
    at = padded.find(needle)
    while at >= 0:
        if not is_negated(got, at, at + len(ref)):
            return True
        at = padded.find(needle, at + 1)
    return False


ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def entity_counts(predicted: Sequence[Iterable[str]], gold: Sequence[Iterable[str]]) -> np.ndarray:
    """(n, 3) per item: true positives, predicted and gold entity counts (case-folded names)."""
    _check_same_length(predicted=predicted, gold=gold)
    rows = []
    for pred_set, gold_set in zip(predicted, gold, strict=True):
        p, g = _fold(pred_set), _fold(gold_set)
        rows.append((len(p & g), len(p), len(g)))
    return np.array(rows, dtype=np.float64).reshape(len(rows), 3)


def rouge_per_pair(predictions: Sequence[str], references: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-pair ROUGE-1/2/L F-measures (rouge-score, no stemming); each distinct pair is scored once."""
    _check_same_length(predictions=predictions, references=references)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False)
    cache: dict[tuple[str, str], tuple[float, ...]] = {}
    rows = []
    for pred, ref in zip(predictions, references, strict=True):
        key = (pred, ref)
        if key not in cache:
            scores = scorer.score(ref, pred)
            cache[key] = tuple(scores[t].fmeasure for t in ROUGE_TYPES)
        rows.append(cache[key])
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(ROUGE_TYPES))
    return {t: table[:, i] for i, t in enumerate(ROUGE_TYPES)}


def bleu_statistics(predictions: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """(n, 10) sacrebleu sufficient statistics per pair (hyp length, ref length, 4 matches, 4 totals)."""
    _check_same_length(predictions=predictions, references=references)
    if not predictions:
        return np.zeros((0, 10))
    stats = BLEU()._extract_corpus_statistics(list(predictions), [list(references)])
    return np.array(stats, dtype=np.float64)


def bleu_from_statistics(summed: np.ndarray) -> float:
    """sacrebleu corpus BLEU (exp smoothing) / 100 from summed ``bleu_statistics`` rows."""
    stats = [round(float(v)) for v in summed]
    score = BLEU.compute_bleu(stats[2:6], stats[6:10], stats[0], stats[1], smooth_method="exp")
    return score.score / 100.0
