"""The evaluate stage: scoring without a model, and a real run of the tiny checkpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from pathreasoner.errors import DatasetError
from pathreasoner.eval.evaluate import eval_set_hash, evaluate_checkpoint, select_split
from pathreasoner.eval.scoring import score_predictions
from pathreasoner.io_utils import read_jsonl
from pathreasoner.response import compose_response


class WordMatcher:
    """Stand-in for kg.lexicon.EntityMatcher: canonical names found as lower-case substrings."""

    def __init__(self, lexicon: dict[str, list[str]]) -> None:
        self.lexicon = lexicon

    def entities(self, text: str) -> set[str]:
        low = text.lower()
        return {name for name, syns in self.lexicon.items() if any(s.lower() in low for s in [name, *syns])}


def test_score_predictions(samples_dir: Path, lexicon: dict[str, list[str]]) -> None:
    records = read_jsonl(samples_dir / "test.jsonl")
    types = {name: "diagnosis" for name in lexicon}
    predictions = [
        records[0]["response"],  # perfect
        compose_response("vessels", "tumour in vessels", "LVI absent"),  # well formed, negated answer
        "no evidence of squamous cell carcinoma, no tags",  # malformed; a negated diagnosis
    ]
    out = score_predictions(records, predictions, WordMatcher(lexicon), types, resamples=200)
    m = out.metrics
    assert m["n_samples"] == 3.0 and m["n_scored"] == 2.0  # the lvi question has no diagnosis to score
    assert m["format_compliance"] == pytest.approx(2 / 3)
    assert m["answer_match"] == pytest.approx(1 / 3)  # "LVI absent" negates, no <answer> in the third
    assert out.correct == [True, None, True]  # WordMatcher has no mention spans: no negation check
    assert m["answer_accuracy"] == 1.0
    assert (m["entity_precision"], m["entity_recall"], m["entity_f1"]) == pytest.approx((1.0, 1.0, 1.0))
    assert out.pred_entities == [
        ["invasive ductal carcinoma"],
        ["lymphovascular invasion"],
        ["squamous cell carcinoma"],
    ]
    assert set(out.by_type) == {"diagnosis", "lvi"} and set(out.by_organ) == {"breast"}
    assert out.by_type["lvi"]["answer_match"] == 0.0 and out.by_type["diagnosis"]["n"] == 2
    assert (
        out.by_type["diagnosis"]["format_compliance_ci"][0]
        <= 0.5
        <= out.by_type["diagnosis"]["format_compliance_ci"][1]
    )
    assert out.ci["format_compliance"][0] <= m["format_compliance"] <= out.ci["format_compliance"][1]
    # answer spans against reference answers: exact 1.0; "LVI absent" 0.0; the untagged text (8 tokens) holds
    # the 3 reference tokens: P 3/8, R 1, F 6/11
    assert m["rougeL"] == pytest.approx((1.0 + 0.0 + 6 / 11) / 3)
    # the real EntityMatcher (a plain lexicon) sees the negation
    negated = score_predictions(records, predictions, lexicon, types, resamples=100)
    assert negated.correct == [True, None, False]


def test_score_predictions_closed_form_and_bad_input(samples_dir: Path) -> None:
    closed = {
        "id": "q1",
        "question_type": "closed:grade",
        "organ": "lung",
        "question": "Grade?",
        "answer": "Grade 2",
        "options": ["Grade 1", "Grade 2", "Grade 3"],
        "answer_index": 1,
    }
    answers = [compose_response("o", "t", "B"), compose_response("o", "t", "Grade 3")]
    out = score_predictions([closed, {**closed, "id": "q2"}], answers, WordMatcher({}), {}, resamples=100)
    assert out.correct == [True, False] and out.metrics["answer_accuracy"] == 0.5
    assert "rougeL" not in out.metrics and "bleu" not in out.metrics  # text metrics cover open items only
    with pytest.raises(DatasetError, match=r"item 'q3': answer_index 3 is out of range for its 3 options"):
        score_predictions([{**closed, "id": "q3", "answer_index": 3}], answers[:1], WordMatcher({}), {})
    records = read_jsonl(samples_dir / "test.jsonl")
    with pytest.raises(ValueError, match="3 records but 1 predictions"):
        score_predictions(records, ["x"], WordMatcher({}))
    with pytest.raises(DatasetError, match="no records"):
        score_predictions([], [], WordMatcher({}))


def test_a_missing_or_empty_split_is_an_error(samples_dir: Path) -> None:
    assert len(select_split(samples_dir, "test")) == 3
    (samples_dir / "test.jsonl").write_text("")
    with pytest.raises(DatasetError, match=r"split 'test' is empty: .*test.jsonl holds no records"):
        select_split(samples_dir, "test")
    (samples_dir / "test.jsonl").unlink()
    with pytest.raises(DatasetError, match=r"split 'test' is missing: .*point --samples at its output"):
        select_split(samples_dir, "test")


def test_eval_set_hash_changes_with_the_set(samples_dir: Path) -> None:
    records = read_jsonl(samples_dir / "test.jsonl")[:2]
    first = eval_set_hash(records, samples_dir)
    assert first == eval_set_hash(list(reversed(records)), samples_dir)  # order does not matter
    assert len(first) == 64
    assert eval_set_hash(records[:1], samples_dir) != first
    assert eval_set_hash([{**records[0], "answer": "other"}, records[1]], samples_dir) != first
    Image.new("RGB", (56, 48), (1, 2, 3)).save(samples_dir / "images" / "b.jpg", "JPEG")  # an image changes
    assert eval_set_hash(records, samples_dir) != first


def test_evaluate_checkpoint_writes_outputs(
    tiny_dir: Path, samples_dir: Path, tmp_path: Path, make_config: Callable
) -> None:
    cfg = make_config(
        tmp_path / "work",
        eval={"max_samples": 3, "max_new_tokens": 12, "batch_size": 2, "bootstrap_resamples": 200},
    )
    out = tmp_path / "eval"
    (samples_dir / "entity_types.json").write_text(json.dumps({"invasive ductal carcinoma": "diagnosis"}))
    champion = {
        "answer_accuracy": 0.25,
        "bleu": 0.5,
        "eval_set_hash": "another set",
        "by_type": {"diagnosis": {"answer_accuracy": 1.0}},
    }
    result = evaluate_checkpoint(tiny_dir, samples_dir, out, cfg, champion=champion)

    assert result.split == "test" and result.n_samples == 2
    assert [q["id"] for q in result.quarantine] == ["P3-diagnosis"]
    assert "missing.jpg" in result.quarantine[0]["reason"]
    assert result.line().startswith("evaluate: 2 samples (test) in ")
    assert result.to_dict()["n_samples"] == 2 and result.to_dict()["out_dir"] == str(out)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_samples"] == 2 and metrics["split"] == "test"
    kept = [r for r in read_jsonl(samples_dir / "test.jsonl") if r["id"] != "P3-diagnosis"]
    assert metrics["eval_set_hash"] == eval_set_hash(kept, samples_dir)
    for name in (
        "format_compliance",
        "entity_f1",
        "rouge1",
        "rouge2",
        "rougeL",
        "bleu",
        "bertscore_minilm_f1",
    ):
        assert 0.0 <= metrics[name] <= 1.0
    assert "judge_score" not in metrics  # no judge configured
    ci = json.loads((out / "metrics_ci.json").read_text())
    assert ci["format_compliance"][0] <= metrics["format_compliance"] <= ci["format_compliance"][1]
    rows = read_jsonl(out / "predictions.jsonl")
    assert [r["id"] for r in rows] == ["P1-diagnosis", "P2-lvi"]
    assert set(rows[0]) >= {
        "id",
        "question_type",
        "organ",
        "question",
        "prediction",
        "parsed",
        "reference",
        "correct",
        "format_ok",
        "gt_entities",
        "pred_entities",
        "grounding",
    }
    assert rows[0]["reference"] == "Invasive ductal carcinoma" and rows[1]["correct"] is None
    assert rows[0]["correct"] in (True, False) and metrics["n_scored"] == 1
    assert rows[0]["grounding"]["findings"] == ["cords of atypical cells"]
    assert set(rows[0]["parsed"]) == {"observe", "think", "answer", "well_formed"}
    assert rows[0]["prediction"]  # the tiny model generated something
    by_type = json.loads((out / "metrics_by_type.json").read_text())
    assert set(by_type) == {"diagnosis", "lvi"} and by_type["lvi"]["n"] == 1
    assert "format_compliance_ci" in by_type["lvi"]
    assert set(json.loads((out / "metrics_by_organ.json").read_text())) == {"breast"}
    report = (out / "report.md").read_text()
    assert "| format_compliance |" in report and "P3-diagnosis" in report
    assert "| bleu |" in report and "| 0.500 |" in report  # the champion's column
    assert "**a different evaluation set**" in report
    assert (
        "## Sample predictions (2)" in report and "**Grounding, findings:** cords of atypical cells" in report
    )
    for png in ("by_question_type.png", "radar.png"):
        with Image.open(out / png) as img:
            assert img.format == "PNG" and img.width > 100
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stage"] == "evaluate" and summary["n_samples"] == 2 and len(summary["quarantine"]) == 1
    assert summary["device"] == "cpu" and summary["hierarchy_match"] == "child"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_evaluate_checkpoint_needs_lexicon(
    tiny_dir: Path, samples_dir: Path, tmp_path: Path, make_config: Callable
) -> None:
    (samples_dir / "entity_lexicon.json").unlink()
    cfg = make_config(tmp_path / "work")
    with pytest.raises(DatasetError, match=r"entity_lexicon.json does not exist; build-samples"):
        evaluate_checkpoint(tiny_dir, samples_dir, tmp_path / "eval", cfg)
