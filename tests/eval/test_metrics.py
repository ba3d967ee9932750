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
    ],
)
def test_answer_matches(prediction: str, reference: str, contains: bool, exact: bool) -> None:
    assert M.answer_matches(prediction, reference) is contains
    assert M.answer_matches(prediction, reference, exact=True) is exact


def test_answer_match_fraction() -> None:
    preds = [WELL, compose_response("o", "t", "pT2a"), "no tags", compose_response("o", "t", "negative")]
    answers = ["invasive ductal carcinoma", "pT2", "x", "Negative."]
    assert M.answer_match(preds, answers) == 0.5
    assert M.answer_match(preds, answers, exact=True) == 0.25


def test_length_mismatch_names_the_columns() -> None:
    with pytest.raises(ValueError, match=r"predictions.*references"):
        M.rouge_l(["a"], [])


def test_compute_metrics_and_breakdown() -> None:
    good = compose_response("carcinoma cells", "so carcinoma", "carcinoma")
    bad = "garbage"
    preds = [good, bad, good]
    refs = [good, good, good]
    answers = ["carcinoma", "carcinoma", "adenoma"]
    pred_ents = [{"carcinoma"}, set(), {"carcinoma"}]
    gold_ents = [{"carcinoma"}, {"carcinoma"}, {"adenoma"}]
    qtypes = ["diagnosis", "diagnosis", "subtype"]

    overall = M.compute_metrics(preds, refs, answers, pred_ents, gold_ents)
    assert set(overall) == set(M.METRIC_NAMES)
    assert overall["format_compliance"] == pytest.approx(2 / 3)
    assert overall["entity_precision"] == pytest.approx(1 / 2)
    assert overall["entity_recall"] == pytest.approx(1 / 3)
    assert overall["entity_f1"] == pytest.approx(0.4)
    assert overall["answer_match"] == pytest.approx(1 / 3)
    assert overall["rougeL"] == pytest.approx(2 / 3)

    by_type = M.metrics_by_question_type(qtypes, preds, refs, answers, pred_ents, gold_ents)
    assert list(by_type) == ["diagnosis", "subtype"]
    assert by_type["diagnosis"]["n_samples"] == 2.0
    assert by_type["diagnosis"]["format_compliance"] == 0.5
    assert by_type["diagnosis"]["answer_match"] == 0.5
    assert by_type["diagnosis"]["entity_recall"] == 0.5
    assert by_type["subtype"]["n_samples"] == 1.0
    assert by_type["subtype"]["answer_match"] == 0.0
    assert by_type["subtype"]["entity_f1"] == 0.0
    assert by_type["subtype"]["rougeL"] == 1.0
    assert by_type["subtype"]["bleu"] == pytest.approx(1.0)
