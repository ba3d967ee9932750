"""The demo's request choice and its console lines (the whole demo runs in tests/e2e and `make demo`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from pathreasoner.demo import evaluation_line, pick_samples, task_line
from pathreasoner.errors import ServingError
from pathreasoner.logging_setup import TaskEvent


def _write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _record(qtype: str, images: list[str] | None = None, answer: str = "x", sid: str = "S-1") -> dict:
    return {
        "id": f"{sid}:{qtype}",
        "question_type": qtype,
        "question": f"q {qtype}?",
        "images": images or [],
        "answer": answer,
    }


def test_pick_samples_diagnoses_of_distinct_patients_first(tmp_path: Path) -> None:
    _write(
        tmp_path / "test.jsonl",
        [
            _record("report", ["a.jpg"]),
            _record("pT", ["a.jpg"]),
            _record("grade"),  # no images: never picked
            _record("diagnosis", ["a.jpg"], "Adenocarcinoma of the cecum", "S-1"),
            _record("diagnosis", ["b.jpg"], "Adenocarcinoma of the rectum", "S-2"),  # same diagnosis
            _record("diagnosis", ["c.jpg"], "Hepatocellular carcinoma of the liver", "S-3"),
        ],
    )
    _write(tmp_path / "val.jsonl", [_record("diagnosis", ["v.jpg"])])
    picked = pick_samples(tmp_path)
    assert [r["id"] for r in picked] == ["S-1:diagnosis", "S-3:diagnosis", "S-1:pT", "S-1:report"]
    assert [r["id"] for r in pick_samples(tmp_path, 3)] == ["S-1:diagnosis", "S-3:diagnosis", "S-1:pT"]


def test_pick_samples_falls_back_to_the_next_split_and_fails_clearly(tmp_path: Path) -> None:
    _write(tmp_path / "val.jsonl", [_record("diagnosis", ["b.jpg"]), _record("diagnosis", ["c.jpg"])])
    assert [r["images"] for r in pick_samples(tmp_path)] == [["b.jpg"]]
    with pytest.raises(ServingError, match="no sample with images"):
        pick_samples(tmp_path / "missing")


def test_task_lines_show_text_literally() -> None:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(task_line(TaskEvent("register", "SUCCESS", 6.8, "3")))
    console.print(task_line(TaskEvent("say-2", "SKIPPED", summary="upstream task(s) ['fail'] failed")))
    console.print(task_line(TaskEvent("fail", "FAILURE", 0.4, error="ValueError: [bold]boom[/]")))
    text = console.export_text()
    assert "✓ register          6.8 s  registered model version 3" in text
    assert "skipped: upstream task(s) ['fail'] failed" in text  # not taken for rich markup
    assert "✗ fail" in text and "ValueError: [bold]boom[/]" in text


def test_evaluation_line_reports_accuracy_against_chance(tmp_path: Path) -> None:
    assert evaluation_line(None) == "" and evaluation_line(tmp_path) == ""
    (tmp_path / "metrics.json").write_text(
        json.dumps(
            {
                "diagnosis_accuracy": 0.75,
                "diagnosis_items": 24.0,
                "diagnosis_chance": 0.05,
                "diagnosis_majority": 0.125,
                "format_compliance": 1.0,
            }
        )
    )
    line = evaluation_line(tmp_path)
    assert "0.75" in line and "24 held-out patients" in line and "chance 0.05 = 1/20" in line
    assert "CI" not in line
    (tmp_path / "metrics_ci.json").write_text(json.dumps({"diagnosis_accuracy": [0.54, 0.875]}))
    assert "0.75, 95 % CI 0.54-0.88 (chance" in evaluation_line(tmp_path)
