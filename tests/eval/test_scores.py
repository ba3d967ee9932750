"""Per-item scores -> metrics, seeded bootstrap CIs, and the MiniLM BERT-style F1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pathreasoner.eval.bertscore import batched_greedy_f1, bertscore_minilm_f1, greedy_f1
from pathreasoner.eval.metrics import bleu, bleu_statistics
from pathreasoner.eval.scores import ItemScores, bootstrap_ci, grouped


def _items(correct: list[float], n_entity: int = 0) -> ItemScores:
    n = len(correct)
    counts = np.tile([1.0, 2.0, 1.0], (n, 1)) if n_entity else np.zeros((n, 3))
    return ItemScores({"answer_accuracy": np.array(correct, dtype=float)}, counts, np.zeros((n, 10)))


def test_point_metrics_from_sums() -> None:
    preds, refs = ["the cat is on the mat", "a b"], ["the cat sat on the mat", "a b c"]
    items = ItemScores(
        {"answer_accuracy": np.array([1.0, np.nan]), "rougeL": np.array([0.5, 0.25])},
        np.array([[1.0, 2.0, 2.0], [1.0, 1.0, 3.0]]),
        bleu_statistics(preds, refs),
    )
    got = items.point()
    assert got["answer_accuracy"] == 1.0  # the NaN item is not scorable
    assert got["rougeL"] == pytest.approx(0.375)
    # micro entity scores: tp 2, predicted 3, gold 5
    assert (got["entity_precision"], got["entity_recall"]) == pytest.approx((2 / 3, 2 / 5))
    assert got["entity_f1"] == pytest.approx(2 * (2 / 3) * (2 / 5) / (2 / 3 + 2 / 5))
    assert got["bleu"] == pytest.approx(bleu(preds, refs))


def test_bootstrap_ci_is_seeded_and_sane() -> None:
    rng = np.random.default_rng(1)
    values = (rng.random(400) < 0.7).astype(float)
    items = _items(values.tolist())
    ci = bootstrap_ci(items, 1000, seed=7)
    low, high = ci["answer_accuracy"]
    point = values.mean()
    assert low < point < high
    # binomial standard error sqrt(p(1-p)/n) ~ 0.0229: the 95 % interval is about +-1.96 of it
    assert high - low == pytest.approx(2 * 1.96 * np.sqrt(point * (1 - point) / 400), rel=0.15)
    assert bootstrap_ci(items, 1000, seed=7) == ci  # seeded
    assert bootstrap_ci(items, 1000, seed=8) != ci
    small = bootstrap_ci(_items(values[:40].tolist()), 1000, seed=7)["answer_accuracy"]
    assert small[1] - small[0] > high - low  # fewer items, wider interval
    constant = bootstrap_ci(_items([1.0] * 30, n_entity=1), 200, seed=0)
    assert constant["answer_accuracy"] == [1.0, 1.0]
    assert constant["entity_precision"] == [0.5, 0.5]


def test_grouped_gives_value_ci_and_n() -> None:
    items = _items([1.0, 0.0, 1.0, 1.0, np.nan])
    out = grouped(items, ["b", "a", "a", "b", "b"], 200, seed=0)
    assert list(out) == ["a", "b"]
    assert out["a"]["n"] == 2 and out["a"]["answer_accuracy"] == 0.5
    assert (
        out["b"]["n"] == 3
        and out["b"]["answer_accuracy"] == 1.0
        and out["b"]["answer_accuracy_ci"] == [1.0, 1.0]
    )
    lo, hi = out["a"]["answer_accuracy_ci"]
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0


def test_greedy_f1_hand_values() -> None:
    e = torch.eye(3)
    # candidate tokens e0, e1; reference e0, e2: each side matches one of two tokens exactly, the other at 0
    assert greedy_f1(e[[0, 1]], e[[0, 2]]) == pytest.approx(0.5)
    # candidate e0 only vs reference e0, e1: precision 1, recall 0.5 -> F1 2/3
    assert greedy_f1(e[[0]], e[[0, 1]]) == pytest.approx(2 / 3)
    assert greedy_f1(e[[0]], e[:0]) == 0.0 and greedy_f1(e[:0], e[:0]) == 1.0
    got = batched_greedy_f1([e[[0, 1]], e[[0]], e[:0]], [e[[0, 2]], e[[0, 1]], e[[1]]])
    assert got.tolist() == pytest.approx([0.5, 2 / 3, 0.0])


def test_bertscore_minilm_on_text() -> None:
    preds = ["adenocarcinoma of the colon", "adenocarcinoma of the colon", "", "adenocarcinoma of the colon"]
    refs = ["adenocarcinoma of the colon", "colonic adenocarcinoma", "", "the weather is sunny today"]
    got = bertscore_minilm_f1(preds, refs)
    assert got[0] == pytest.approx(1.0, abs=1e-5) and got[2] == 1.0
    assert got[1] > got[3]  # a paraphrase scores above an unrelated sentence
    assert 0.0 < got[3] < 1.0
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        bertscore_minilm_f1(["a", "b"], ["a"])
