"""The demo's request choice and its console lines (the whole demo runs in tests/e2e and `make demo`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from pathreasoner.demo import pick_request, pick_samples, task_line
from pathreasoner.errors import ServingError
from pathreasoner.logging_setup import TaskEvent


def _write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _record(qtype: str, images: list[str] | None = None) -> dict:
    return {"id": f"S-1:{qtype}", "question_type": qtype, "question": f"q {qtype}?", "images": images or []}


def test_pick_samples_one_per_type_preferred_types_first(tmp_path: Path) -> None:
    _write(
        tmp_path / "test.jsonl", [_record("report", ["a.jpg"]), _record("pT", ["a.jpg"]), _record("grade")]
    )
    _write(tmp_path / "val.jsonl", [_record("diagnosis", ["b.jpg"])])
    # test has records with images, so val is not used; the one without images is never picked
    assert [r["question_type"] for r in pick_samples(tmp_path)] == ["pT", "report"]
    assert pick_request(tmp_path) == ([tmp_path / "a.jpg"], "q pT?")


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
