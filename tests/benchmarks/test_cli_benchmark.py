"""`pathreasoner benchmark load` and `pathreasoner evaluate --benchmark` (tiny model, one synthetic slide)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from pathreasoner.cli import app
from pathreasoner.io_utils import read_jsonl

runner = CliRunner()


def test_load_prints_one_json_line(slidebench_csv: Path, synthetic_benchmark_slide: Path) -> None:
    result = runner.invoke(
        app,
        ["benchmark", "load", "slidebench", str(slidebench_csv), "--slides", str(synthetic_benchmark_slide)],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert json.loads(result.stdout) == {
        "benchmark": "slidebench",
        "items": 3,
        "with_slide": 2,
        "missing_slide": 1,
        "by_type": {"closed:Diagnosis": 2, "closed:Microscopy": 1},
    }


def test_load_bad_file_exits_2_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "sb.csv").write_text("Slide,Question,Answer,Extra\nS1,q,A,x\n")
    result = runner.invoke(app, ["benchmark", "load", "slidebench", str(tmp_path / "sb.csv")])
    assert result.exit_code == 2
    text = " ".join(result.output.split())  # rich wraps the red line
    assert "unknown columns ['Extra']" in text and "missing columns ['ID', 'A', 'B']" in text


def test_evaluate_on_a_benchmark(
    tmp_path: Path,
    slidebench_csv: Path,
    synthetic_benchmark_slide: Path,
    tiny_dir: Path,
    make_config: Callable,
) -> None:
    work = tmp_path / "work"
    cfg = make_config(work, eval={"max_samples": 3, "max_new_tokens": 12, "batch_size": 2, "split": "val"})
    (tmp_path / "params.yaml").write_text(cfg.to_yaml())
    args = ["evaluate", "--benchmark", "slidebench", "--file", str(slidebench_csv)]
    args += ["--slides", str(synthetic_benchmark_slide), "--checkpoint", str(tiny_dir)]
    result = runner.invoke(app, [*args, "--config", str(tmp_path / "params.yaml")])
    assert result.exit_code == 0, result.output
    assert "benchmark slidebench: 2/3 items with a slide, 1 missing" in result.output

    samples = work / "benchmarks" / "slidebench" / "samples"
    summary = json.loads((samples / "benchmark.json").read_text())
    assert (summary["name"], summary["file"]) == ("slidebench", str(slidebench_csv))
    assert (summary["items"], summary["with_slide"], summary["missing_slide"]) == (3, 2, 1)
    assert summary["missing"] == [
        {
            "id": "slidebench:3",
            "slide_id": "TCGA-06-0169-01Z-00-DX1",
            "reason": "no slide for this id in --slides",
        }
    ]
    records = read_jsonl(samples / "test.jsonl")
    assert [r["id"] for r in records] == ["slidebench:1", "slidebench:2"]
    assert records[0]["images"] == records[1]["images"] != []  # one slide, tiled once
    for record in records:
        assert all((samples / rel).is_file() for rel in record["images"])
        assert record["answer"] == record["options"][record["answer_index"]]
    assert json.loads((samples / "entity_lexicon.json").read_text()) == {}

    evaluation = work / "benchmarks" / "slidebench" / "eval"
    metrics = json.loads((evaluation / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n_samples"] == 2  # the benchmark is the test split
    predictions = read_jsonl(evaluation / "predictions.jsonl")
    assert [p["id"] for p in predictions] == ["slidebench:1", "slidebench:2"]
    assert all(isinstance(p["correct"], bool) for p in predictions)  # closed items always get a verdict
    assert metrics["n_scored"] == 2
    assert json.loads((evaluation / "benchmark.json").read_text()) == summary
    assert metrics["answer_accuracy"] == sum(p["correct"] for p in predictions) / 2


def test_benchmark_options_go_together(tmp_path: Path, slidebench_csv: Path, make_config: Callable) -> None:
    (tmp_path / "params.yaml").write_text(make_config(tmp_path / "work").to_yaml())
    result = runner.invoke(
        app, ["evaluate", "--file", str(slidebench_csv), "--config", str(tmp_path / "params.yaml")]
    )
    assert result.exit_code == 2
    assert "--benchmark NAME and --file FILE go together" in " ".join(result.output.split())
