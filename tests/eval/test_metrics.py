"""Table-driven tests of the evaluation metrics with exact expected values."""

from __future__ import annotations

import pytest

from pathreasoner.eval import metrics as M
from pathreasoner.response import compose_response

WELL = compose_response("glands in sheets", "sheets mean carcinoma", "Invasive ductal carcinoma, grade 2.")


@pytest.mark.parametrize(
    ("predictions", "expected"),
    [
        ([], 0.0),
        ([WELL], 1.0),
        ([WELL, "no tags at all"], 0.5),
        (
            [
                WELL,
                "no tags",
                "<observe>a</observe><answer>c</answer>",
                "  <observe></observe> <think>x</think> <answer>y</answer>  ",
            ],
            0.5,
        ),
        (["<think>t</think><observe>o</observe><answer>a</answer>"], 0.0),  # wrong order
    ],
)
def test_format_compliance(predictions: list[str], expected: float) -> None:
    assert M.format_compliance(predictions) == expected


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        ([{"A", "B"}], [{"a", "C"}], (0.5, 0.5, 0.5, 1, 2, 2)),
        ([{"x"}, {"y", "z"}], [{"x", "w"}, {"q"}], (1 / 3, 1 / 3, 1 / 3, 1, 3, 3)),
        ([{"x", "y"}], [{"x", "y", "z", "w"}], (1.0, 0.5, 2 / 3, 2, 2, 4)),
        ([set()], [set()], (1.0, 1.0, 1.0, 0, 0, 0)),
        ([set()], [{"a"}], (0.0, 0.0, 0.0, 0, 0, 1)),
        ([{"a"}], [set()], (0.0, 1.0, 0.0, 0, 1, 0)),
        ([[" Carcinoma ", "carcinoma"]], [["CARCINOMA"]], (1.0, 1.0, 1.0, 1, 1, 1)),
    ],
)
def test_entity_scores(predicted: list, gold: list, expected: tuple) -> None:
    got = M.entity_scores(predicted, gold)
    assert (got.precision, got.recall, got.f1) == pytest.approx(expected[:3])
    assert (got.true_positives, got.n_predicted, got.n_gold) == expected[3:]


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        (compose_response("o", "t", "a"), "o\nt\na"),
        ("<observe>o</observe> tail <answer>a</answer>", "o\na"),
        ("free text about carcinoma", "free text about carcinoma"),
        ("<answer></answer>", ""),
    ],
)
def test_entity_text(prediction: str, expected: str) -> None:
    assert M.entity_text(prediction) == expected


@pytest.mark.parametrize(
    ("predictions", "references", "expected"),
    [
        ([], [], 0.0),
        (["the cat sat on the mat"], ["the cat on mat"], 0.8),  # LCS 4, P 4/6, R 4/4
        (["the cat sat on the mat", "a b c"], ["the cat on mat", "a b c"], 0.9),
        (["x y"], ["z w"], 0.0),
    ],
)
def test_rouge_l(predictions: list[str], references: list[str], expected: float) -> None:
    assert M.rouge_l(predictions, references) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("predictions", "references", "expected"),
    [
        ([], [], 0.0),
        (["the cat sat on the mat"], ["the cat sat on the mat"], 1.0),
        (["the cat is on the mat"], ["the cat sat on the mat"], 0.3799178428),
        (["completely different words here"], ["the cat sat on the mat"], 0.0),
    ],
)
def test_bleu(predictions: list[str], references: list[str], expected: float) -> None:
    assert M.bleu(predictions, references) == pytest.approx(expected, abs=1e-8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The tumour is pT2 (N0).", "tumour is pt2 n0"),
        ("  \uff27\uff52\uff41\uff44\uff45  \uff12 ", "grade 2"),  # full-width -> NFKC
        ("Invasive ductal carcinoma, NOS", "invasive ductal carcinoma nos"),
        ("An adenoma", "adenoma"),
        ("", ""),
        ("---", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert M.normalize_answer(text) == expected


@pytest.mark.parametrize(
    ("prediction", "reference", "contains", "exact"),
    [
        (WELL, "invasive ductal carcinoma", True, False),
        (WELL, "Invasive ductal carcinoma, grade 2", True, True),
        (compose_response("o", "t", "pT2a"), "pT2", False, False),  # token boundary
        (compose_response("o", "t", "The pT2"), "pt2", True, True),
        ("invasive ductal carcinoma", "invasive ductal carcinoma", False, False),  # no <answer> tag
        (WELL, "", False, False),
        (compose_response("o", "t", "lobular carcinoma"), "ductal carcinoma", False, False),
        # negation: a negated mention of the reference is not a match
        (compose_response("o", "t", "not adenoma"), "adenoma", False, False),
        (compose_response("o", "t", "No evidence of adenoma."), "adenoma", False, False),
        (
            compose_response("o", "t", "Negative for lymphovascular invasion"),
            "lymphovascular invasion",
            False,
            False,
        ),
        (compose_response("o", "t", "LVI absent"), "LVI", False, False),
        (compose_response("o", "t", "carcinoma, not adenoma"), "carcinoma", True, False),
        (compose_response("o", "t", "negative"), "Negative.", True, True),  # the reference itself negates
        (compose_response("o", "t", "no lymph node metastasis"), "No lymph node metastasis", True, True),
    ],
)
def test_answer_matches(prediction: str, reference: str, contains: bool, exact: bool) -> None:
    assert M.answer_matches(prediction, reference) is contains
    assert M.answer_matches(prediction, reference, exact=True) is exact


def test_entity_counts_per_item() -> None:
    got = M.entity_counts([{"A", "B"}, set(), ["x"]], [{"a", "C"}, {"d"}, []])
    assert got.tolist() == [[1, 2, 2], [0, 0, 1], [0, 1, 0]]


def test_rouge_per_pair_hand_values() -> None:
    # pred "the cat sat on the mat" vs ref "the cat on mat": unigrams 4 of 6 / 4 of 4 -> F 0.8;
    # bigrams: pred {the cat, cat sat, sat on, on the, the mat}, ref {the cat, cat on, on mat}: 1 common ->
    # P 1/5, R 1/3, F 0.25; LCS 4 -> 0.8
    got = M.rouge_per_pair(["the cat sat on the mat", "x y"], ["the cat on mat", "z w"])
    assert got["rouge1"].tolist() == pytest.approx([0.8, 0.0])
    assert got["rouge2"].tolist() == pytest.approx([0.25, 0.0])
    assert got["rougeL"].tolist() == pytest.approx([0.8, 0.0])


def test_bleu_statistics_sum_to_the_corpus_bleu() -> None:
    preds, refs = ["the cat is on the mat", "a b"], ["the cat sat on the mat", "a b c"]
    stats = M.bleu_statistics(preds, refs)
    # hyp len, ref len, matches 1..4, totals 1..4 of "the cat is on the mat" vs "the cat sat on the mat"
    assert stats[0].tolist() == [6, 6, 5, 3, 1, 0, 6, 5, 4, 3]
    assert M.bleu_from_statistics(stats.sum(0)) == pytest.approx(M.bleu(preds, refs))
    assert M.bleu_from_statistics(stats[:1].sum(0)) == pytest.approx(0.3799178428)
