"""Per-item scores, the metrics they add up to, and seeded bootstrap 95 % confidence intervals.

Every metric is a function of weighted sums over items, so one code path gives the point estimate
(every weight 1) and the bootstrap (weights = multinomial resample counts, a (B, n) matrix, so that a
chunk of resamples is one matrix product):

* mean metrics (`format_compliance`, `answer_accuracy`, `diagnosis_accuracy`, ROUGE, BERT-style F1,
  `judge_score`): weighted mean over the items that have a value (NaN = not scorable / skipped);
* `entity_precision/recall/f1`: micro, from summed (true positive, predicted, gold) counts;
* `bleu`: sacrebleu corpus BLEU from summed sufficient statistics.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pathreasoner.eval.metrics import bleu_from_statistics

MEAN_METRICS = (
    "format_compliance",
    "answer_accuracy",
    "diagnosis_accuracy",
    "rouge1",
    "rouge2",
    "rougeL",
    "bertscore_minilm_f1",
    "judge_score",
)
CHUNK = 200  # resamples per weight matrix


@dataclass(frozen=True)
class ItemScores:
    """Parallel per-item columns: `values` holds the mean metrics (NaN where an item has no value)."""

    values: Mapping[str, np.ndarray]
    entity_counts: np.ndarray  # (n, 3): true positives, predicted, gold
    bleu_stats: np.ndarray  # (n, 10)
    n: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", len(self.entity_counts))
        lengths = {k: len(v) for k, v in self.values.items()} | {"bleu_stats": len(self.bleu_stats)}
        if any(v != self.n for v in lengths.values()):
            raise ValueError(f"item score columns differ in length: {lengths} (entity_counts: {self.n})")

    def subset(self, index: Sequence[int]) -> ItemScores:
        idx = np.asarray(index, dtype=int)
        return ItemScores(
            {k: v[idx] for k, v in self.values.items()}, self.entity_counts[idx], self.bleu_stats[idx]
        )

    def aggregate(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Each metric for each row of `weights` ((B, n) item weights) as a (B,) array (NaN: no item)."""
        out: dict[str, np.ndarray] = {}
        for name, column in self.values.items():
            present = ~np.isnan(column)
            if not present.any():
                continue
            total = weights @ present
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = np.where(total > 0, (weights @ np.where(present, column, 0.0)) / total, np.nan)
        tp, n_pred, n_gold = (weights @ self.entity_counts).T
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(n_pred > 0, tp / n_pred, np.where(n_gold == 0, 1.0, 0.0))
            recall = np.where(n_gold > 0, tp / n_gold, 1.0)
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        out.update(entity_precision=precision, entity_recall=recall, entity_f1=f1)
        if self.bleu_stats.any():  # no statistics: no open item to score
            out["bleu"] = np.array([bleu_from_statistics(row) for row in weights @ self.bleu_stats])
        return out

    def point(self) -> dict[str, float]:
        """The metrics over all items (NaN-valued metrics left out)."""
        got = self.aggregate(np.ones((1, self.n)))
        return {k: float(v[0]) for k, v in got.items() if not np.isnan(v[0])}


def resample_weights(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap weight matrices (chunks of at most CHUNK rows of multinomial counts summing to n)."""
    rng = np.random.default_rng(seed)
    probabilities = np.full(n, 1.0 / n)
    for start in range(0, resamples, CHUNK):
        yield rng.multinomial(n, probabilities, size=min(CHUNK, resamples - start)).astype(np.float64)


def bootstrap_ci(
    scores: ItemScores, resamples: int, seed: int, level: float = 0.95
) -> dict[str, list[float]]:
    """Percentile bootstrap CI `[low, high]` of each metric (items resampled with replacement, seeded)."""
    if scores.n == 0:
        return {}
    draws: dict[str, list[np.ndarray]] = {}
    for weights in resample_weights(scores.n, resamples, seed):
        for name, values in scores.aggregate(weights).items():
            draws.setdefault(name, []).append(values)
    tail = (1 - level) / 2 * 100
    out: dict[str, list[float]] = {}
    for name, chunks in draws.items():
        values = np.concatenate(chunks)
        if np.isnan(values).all():
            continue
        low, high = np.nanpercentile(values, [tail, 100 - tail])
        out[name] = [float(low), float(high)]
    return out


def grouped(
    scores: ItemScores, groups: Sequence[str], resamples: int, seed: int
) -> dict[str, dict[str, float | int | list[float]]]:
    """`{group: {metric: value, metric + "_ci": [low, high], "n": k}}`, groups sorted by name."""
    index: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        index.setdefault(group, []).append(i)
    out: dict[str, dict[str, float | int | list[float]]] = {}
    for group in sorted(index):
        part = scores.subset(index[group])
        cis = bootstrap_ci(part, resamples, seed)
        row: dict[str, float | int | list[float]] = {"n": len(index[group])}
        for name, value in part.point().items():
            row[name] = value
            if name in cis:
                row[f"{name}_ci"] = cis[name]
        out[group] = row
    return out
