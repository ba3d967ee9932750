"""report.md pieces: the radar's axes, the sample predictions picked, the champion column."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from pathreasoner.eval.report import pick_examples, radar_axes, render_report, write_all


def test_radar_axes_are_the_seeds() -> None:
    metrics = {
        "bleu": 0.1,
        "rouge1": 0.2,
        "rouge2": 0.3,
        "rougeL": 0.4,
        "bertscore_minilm_f1": 0.5,
        "format_compliance": 1.0,
    }
    by_type = {"diagnosis": {"answer_accuracy": 0.75, "n": 4}, "grade": {"n": 2}}
    axes = radar_axes(metrics, by_type)
    assert axes == {
        "bleu": 0.1,
        "rouge1": 0.2,
        "rouge2": 0.3,
        "rougeL": 0.4,
        "bertscore_minilm_f1": 0.5,
        "accuracy: diagnosis": 0.75,
    }
    assert "judge_score" in radar_axes({**metrics, "judge_score": 0.9}, {})


def test_examples_take_each_type_in_turn() -> None:
    rows = [{"id": f"d{i}", "question_type": "diagnosis"} for i in range(12)]
    rows += [{"id": f"g{i}", "question_type": "grade"} for i in range(2)]
    picked = [r["id"] for r in pick_examples(rows, 10)]
    assert picked == ["d0", "g0", "d1", "g1", "d2", "d3", "d4", "d5", "d6", "d7"]
    assert len(pick_examples(rows[:3], 10)) == 3


def test_report_beside_the_champion(tmp_path: Path) -> None:
    metrics = {
        "answer_accuracy": 0.5,
        "bleu": 0.2,
        "split": "test",
        "eval_set_hash": "abc",
        "n_samples": 4,
        "n_scored": 2,
    }
    ci = {"answer_accuracy": [0.0, 1.0], "bleu": [0.1, 0.3]}
    by_type = {"diagnosis": {"n": 2, "answer_accuracy": 0.5, "answer_accuracy_ci": [0.0, 1.0]}}
    example = {
        "id": "x1",
        "question_type": "closed:grade",
        "organ": "lung",
        "question": "Grade?",
        "options": ["G1", "G2"],
        "prediction": "<answer>B</answer>",
        "reference": "G2",
        "correct": True,
        "grounding": {"findings": ["solid sheets"], "kg_paths": []},
    }
    champion = {
        "answer_accuracy": 0.25,
        "eval_set_hash": "abc",
        "by_type": {"diagnosis": {"answer_accuracy": 0.4}},
    }
    text = render_report(
        checkpoint="ckpt",
        metrics=metrics,
        ci=ci,
        by_type=by_type,
        by_organ={},
        quarantine=[],
        examples=[example],
        champion=champion,
    )
    assert "| answer_accuracy | 0.500 | [0.000, 1.000] | 0.250 |" in text
    assert "| bleu | 0.200 | [0.100, 0.300] | – |" in text
    assert "champion: evaluated on the same evaluation set" in text
    assert "### `x1` (closed:grade, lung): correct" in text and "**Options:** (A) G1 (B) G2" in text
    assert "**Grounding, findings:** solid sheets" in text
    write_all(
        tmp_path,
        checkpoint="ckpt",
        metrics=metrics,
        ci=ci,
        by_type=by_type,
        by_organ={},
        quarantine=[],
        examples=[example],
        champion=champion,
    )
    for png in ("radar.png", "by_question_type.png"):
        with Image.open(tmp_path / png) as img:
            assert img.format == "PNG"
    assert (tmp_path / "report.md").read_text() == text
