"""The evaluate stage: scoring without a model, and a real run of the tiny checkpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from pathreasoner.errors import DatasetError
from pathreasoner.eval.evaluate import evaluate_checkpoint, evaluate_predictions, select_split
from pathreasoner.io_utils import read_jsonl
from pathreasoner.response import compose_response


class WordMatcher:
    """Stand-in for kg.lexicon.EntityMatcher: canonical names found as lower-case substrings."""

    def __init__(self, lexicon: dict[str, list[str]]) -> None:
        self.lexicon = lexicon

    def entities(self, text: str) -> set[str]:
        low = text.lower()
        return {name for name, syns in self.lexicon.items() if any(s.lower() in low for s in [name, *syns])}


def test_evaluate_predictions_scores(samples_dir: Path, lexicon: dict[str, list[str]]) -> None:
    records = read_jsonl(samples_dir / "test.jsonl")
    predictions = [
        records[0]["response"],  # perfect
        compose_response(
            "vessels", "tumour in vessels", "LVI absent"
        ),  # well formed, wrong answer, right entity
        "squamous cell carcinoma, no tags",  # malformed; entity found in the whole text
    ]
    out = evaluate_predictions(records, predictions, WordMatcher(lexicon))
    m = out["metrics"]
    assert m["n_samples"] == 3.0
    assert m["format_compliance"] == pytest.approx(2 / 3)
    assert m["answer_match"] == pytest.approx(1 / 3)
    assert (m["entity_precision"], m["entity_recall"], m["entity_f1"]) == pytest.approx((1.0, 1.0, 1.0))
    assert out["pred_entities"] == [
        ["invasive ductal carcinoma"],
        ["lymphovascular invasion"],
        ["squamous cell carcinoma"],
    ]
    assert set(out["by_question_type"]) == {"diagnosis", "lvi"}
    assert out["by_question_type"]["lvi"]["answer_match"] == 0.0
    assert out["by_question_type"]["diagnosis"]["n_samples"] == 2.0


def test_evaluate_predictions_rejects_mismatch(samples_dir: Path) -> None:
    records = read_jsonl(samples_dir / "test.jsonl")
    with pytest.raises(ValueError, match="3 records but 1 predictions"):
        evaluate_predictions(records, ["x"], WordMatcher({}))
    with pytest.raises(DatasetError, match="no records"):
        evaluate_predictions([], [], WordMatcher({}))


def test_select_split_falls_back(samples_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert select_split(samples_dir, "test")[0] == "test"
    (samples_dir / "test.jsonl").write_text("")
    split, records = select_split(samples_dir, "test")
    assert split == "val" and len(records) == 1
    assert "evaluating on 'val'" in caplog.text
    (samples_dir / "val.jsonl").unlink()
    with pytest.raises(DatasetError, match=r"test.jsonl: empty; val.jsonl: missing; train.jsonl: empty"):
        select_split(samples_dir, "test")


def test_evaluate_checkpoint_writes_outputs(
    tiny_dir: Path, samples_dir: Path, tmp_path: Path, make_config: Callable
) -> None:
    cfg = make_config(tmp_path / "work", eval={"max_samples": 3, "max_new_tokens": 12, "batch_size": 2})
    out = tmp_path / "eval"
    result = evaluate_checkpoint(tiny_dir, samples_dir, out, cfg)

    assert result.split == "test" and result.n_samples == 2
    assert [q["id"] for q in result.quarantine] == ["P3-diagnosis"]
    assert "missing.jpg" in result.quarantine[0]["reason"]
    assert result.line().startswith("evaluate: 2 samples (test) in ")
    assert result.to_dict()["n_samples"] == 2 and result.to_dict()["out_dir"] == str(out)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_samples"] == 2 and metrics["split"] == "test"
    for name in ("format_compliance", "entity_f1", "rougeL", "bleu", "answer_match"):
        assert 0.0 <= metrics[name] <= 1.0
    rows = read_jsonl(out / "predictions.jsonl")
    assert [r["id"] for r in rows] == ["P1-diagnosis", "P2-lvi"]
    assert set(rows[0]) >= {
        "id",
        "question_type",
        "question",
        "prediction",
        "parsed",
        "reference",
        "answer",
        "gt_entities",
        "pred_entities",
    }
    assert set(rows[0]["parsed"]) == {"observe", "think", "answer", "well_formed"}
    assert rows[0]["prediction"]  # the tiny model generated something
    by_type = json.loads((out / "metrics_by_type.json").read_text())
    assert set(by_type) == {"diagnosis", "lvi"}
    report = (out / "report.md").read_text()
    assert "| format_compliance |" in report and "P3-diagnosis" in report
    for png in ("by_question_type.png", "radar.png"):
        with Image.open(out / png) as img:
            assert img.format == "PNG" and img.width > 100
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stage"] == "evaluate" and summary["n_samples"] == 2 and len(summary["quarantine"]) == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_evaluate_checkpoint_needs_lexicon(
    tiny_dir: Path, samples_dir: Path, tmp_path: Path, make_config: Callable
) -> None:
    (samples_dir / "entity_lexicon.json").unlink()
    cfg = make_config(tmp_path / "work")
    with pytest.raises(DatasetError, match=r"entity_lexicon.json does not exist; build-samples"):
        evaluate_checkpoint(tiny_dir, samples_dir, tmp_path / "eval", cfg)


def test_evaluate_predictions_with_lexicon_dict(samples_dir: Path, lexicon: dict[str, list[str]]) -> None:
    """A plain {name: synonyms} lexicon goes through kg.lexicon.EntityMatcher (synonyms -> canonical names)."""
    records = read_jsonl(samples_dir / "test.jsonl")[:2]
    predictions = [
        compose_response("an IDC pattern", "cords of cells", "IDC"),  # synonym only
        compose_response("no vessels seen", "nothing", "LVI absent"),
    ]
    out = evaluate_predictions(records, predictions, lexicon)
    assert out["pred_entities"] == [["invasive ductal carcinoma"], ["lymphovascular invasion"]]
    assert out["metrics"]["entity_f1"] == 1.0
    assert out["metrics"]["format_compliance"] == 1.0
    assert out["metrics"]["answer_match"] == 0.0  # "IDC" does not contain "invasive ductal carcinoma"
