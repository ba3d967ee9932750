"""The three benchmark loaders on the shared files (and a SlideBench-VQA CSV in SlideChat's layout)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pandas as pd
import pytest

from pathreasoner.benchmarks import SlideManifest, count_slides, load_benchmark
from pathreasoner.errors import DatasetError
from tests.benchmarks.conftest import SLIDEBENCH_HEADER, SLIDEBENCH_ROWS, write_slidebench

MULTIPATHQA = "multipathqa/MultiPathQA_shared.csv"
WSI_VQA_VAL = "wsi-vqa/WsiVQA_val.json"
WSI_VQA_TRAIN = "wsi-vqa/WsiVQA_train.json"


@pytest.mark.shared_data
def test_multipathqa_items_follow_the_file(benchmarks_data: Path) -> None:
    raw = pd.read_csv(benchmarks_data / MULTIPATHQA, dtype=str, keep_default_na=False)
    loaded = load_benchmark("multipathqa", benchmarks_data / MULTIPATHQA)
    assert len(loaded.items) == len(raw) and not loaded.rejected
    assert loaded.by_type() == {f"closed:{k}": v for k, v in raw["benchmark_name"].value_counts().items()}
    by_id = {item.id: item for item in loaded.items}

    tcga = raw[raw.benchmark_name == "tcga"].iloc[0]  # answer: a 1-based index into the list literal
    item = by_id[f"tcga:{tcga.benchmark_id}"]
    options = ast.literal_eval(tcga.options)
    assert item.options == tuple(options) and item.answer_index == int(tcga.answer) - 1
    assert item.answer == options[int(tcga.answer) - 1]
    assert item.slide_id == Path(tcga.image_path).stem
    assert f"{len(options)}. {options[-1]}" in item.question and "JSON" not in item.question
    assert "{options}" not in item.question

    gtex = raw[raw.benchmark_name == "gtex"].iloc[0]  # answer: the option's text
    item = by_id[f"gtex:{gtex.benchmark_id}"]
    assert item.answer == gtex.answer and item.options[item.answer_index] == gtex.answer
    assert item.organ == gtex.answer.lower()

    panda = raw[raw.benchmark_name == "panda"].iloc[0]  # no options: the ISUP grade, asked as a choice
    item = by_id[f"panda:{panda.benchmark_id}"]
    assert (
        item.answer_index == int(panda.answer)
        and item.answer == f"ISUP grade {panda.answer}"[: len(item.answer)]
    )
    assert item.organ == "prostate" and "F. ISUP grade 5" in item.question


@pytest.mark.shared_data
def test_wsi_vqa_closed_items_have_choices(benchmarks_data: Path) -> None:
    raw = json.loads((benchmarks_data / WSI_VQA_VAL).read_text())
    loaded = load_benchmark("wsi-vqa", benchmarks_data / WSI_VQA_VAL)
    assert len(loaded.items) == len(raw) and not loaded.rejected
    assert loaded.by_type() == {
        "closed": sum(1 for r in raw if r.get("Choice")),
        "open": sum(1 for r in raw if not r.get("Choice")),
    }
    first_closed = next(i for i, r in enumerate(raw) if r.get("Choice"))
    item = loaded.items[first_closed]
    row = raw[first_closed]
    assert item.id == f"{row['Id']}:{first_closed}" and item.slide_id == row["Id"]
    assert item.options == tuple(row["Choice"]) and item.answer == row["Answer"]
    assert item.options[item.answer_index] == row["Answer"]
    assert "A. " in item.question and item.organ == "breast"
    first_open = next(i for i, r in enumerate(raw) if not r.get("Choice"))
    assert loaded.items[first_open].options is None
    assert loaded.items[first_open].answer == raw[first_open]["Answer"]


@pytest.mark.shared_data
def test_wsi_vqa_answers_outside_the_choices_are_listed_not_dropped(benchmarks_data: Path) -> None:
    raw = json.loads((benchmarks_data / WSI_VQA_TRAIN).read_text())
    loaded = load_benchmark("wsi-vqa", benchmarks_data / WSI_VQA_TRAIN)
    assert len(loaded.items) + len(loaded.rejected) == len(raw)
    rejected = {r["id"]: r["reason"] for r in loaded.rejected}
    assert rejected, "the train file holds generated answers such as 'the correct option is c(grade 3).'"
    for item_id, reason in rejected.items():
        row = raw[int(item_id.rsplit(":", 1)[1])]
        assert row["Answer"] not in row["Choice"] and item_id in reason and "neither" in reason
    # a trailing full stop is not a different answer
    kept = [i for i, r in enumerate(raw) if r.get("Choice") and r["Answer"].endswith(".")]
    assert any(f"{raw[i]['Id']}:{i}" not in rejected for i in kept)


def test_slidebench_csv_layout(slidebench_csv: Path) -> None:
    loaded = load_benchmark("slidebench", slidebench_csv)
    assert [i.id for i in loaded.items] == ["slidebench:1", "slidebench:2", "slidebench:3"]
    first = loaded.items[0]
    assert (first.answer, first.answer_index, first.options) == ("G3", 2, ("G1", "G2", "G3", "G4"))
    assert first.question_type == "closed:Diagnosis" and first.organ == "LUAD"
    assert first.extra == {"category": "Diagnosis/Grading"}
    assert "C. G3" in first.question and first.question.endswith("letter of the correct option.")
    assert loaded.by_type() == {"closed:Diagnosis": 2, "closed:Microscopy": 1}


@pytest.mark.shared_data
def test_missing_slides_are_counted(benchmarks_data: Path, real_slide_as) -> None:
    raw = json.loads((benchmarks_data / WSI_VQA_VAL).read_text())
    patient = raw[0]["Id"]
    slides = real_slide_as(f"{patient}-01Z-00-DX1")  # a patient-level id finds its slide by prefix
    counts = count_slides(
        load_benchmark("wsi-vqa", benchmarks_data / WSI_VQA_VAL), SlideManifest.from_source(slides)
    )
    expected = sum(1 for r in raw if r["Id"] == patient)
    assert (counts.with_slide, counts.missing_slide) == (expected, len(raw) - expected)
    assert {m["slide_id"] for m in counts.missing} == {r["Id"] for r in raw} - {patient}

    frame = pd.read_csv(benchmarks_data / MULTIPATHQA, dtype=str, keep_default_na=False)
    stem = Path(frame[frame.benchmark_name == "tcga"].image_path.iloc[0]).stem
    real_slide_as(stem)
    counts = count_slides(
        load_benchmark("multipathqa", benchmarks_data / MULTIPATHQA), SlideManifest.from_source(slides)
    )
    present = {p.stem for p in slides.iterdir()}  # this slide and the WSI-VQA one, which MultiPathQA also has
    expected = int(frame.image_path.map(lambda p: Path(p).stem in present).sum())
    assert expected >= 1
    assert counts.with_slide == expected and counts.missing_slide == len(frame) - expected


@pytest.mark.shared_data
def test_unknown_columns_name_them_and_the_expected_ones(tmp_path: Path, benchmarks_data: Path) -> None:
    frame = pd.read_csv(benchmarks_data / MULTIPATHQA, dtype=str, keep_default_na=False).head(3)
    frame.rename(columns={"prompt": "question_text"}).to_csv(tmp_path / "mpqa.csv", index=False)
    with pytest.raises(
        DatasetError, match=r"unknown columns \['question_text'\] and missing columns \['prompt'\]"
    ):
        load_benchmark("multipathqa", tmp_path / "mpqa.csv")

    header = [c if c != "Answer" else "Correct" for c in SLIDEBENCH_HEADER]
    write_slidebench(tmp_path / "sb.csv", SLIDEBENCH_ROWS, header)
    with pytest.raises(
        DatasetError, match=r"unknown columns \['Correct'\].*expected the columns \['ID', 'Slide'"
    ):
        load_benchmark("slidebench", tmp_path / "sb.csv")
    with pytest.raises(DatasetError, match=r"is not a MultiPathQA file: unknown columns .*'Slide'"):
        load_benchmark("multipathqa", tmp_path / "sb.csv")

    (tmp_path / "vqa.json").write_text(
        json.dumps([{"Id": "P1", "Question": "q?", "Answer": "a", "Options": []}])
    )
    with pytest.raises(DatasetError, match=r"unknown columns \['Options'\].*optional: \['Choice'\]"):
        load_benchmark("wsi-vqa", tmp_path / "vqa.json")


@pytest.mark.shared_data
def test_option_index_out_of_range_names_the_item(tmp_path: Path, benchmarks_data: Path) -> None:
    frame = pd.read_csv(benchmarks_data / MULTIPATHQA, dtype=str, keep_default_na=False)
    rows = frame[frame.benchmark_name == "tcga"].head(2).copy()
    n_options = len(ast.literal_eval(rows.options.iloc[1]))
    rows.iloc[1, rows.columns.get_loc("answer")] = str(n_options + 1)
    rows.to_csv(tmp_path / "mpqa.csv", index=False)
    bad_id = f"tcga:{rows.benchmark_id.iloc[1]}"
    with pytest.raises(DatasetError, match=rf"item {bad_id}: answer option {n_options + 1} is out of range"):
        load_benchmark("multipathqa", tmp_path / "mpqa.csv")

    rows = [list(r) for r in SLIDEBENCH_ROWS]
    rows[2][-1] = "E"
    write_slidebench(tmp_path / "sb.csv", rows)
    with pytest.raises(
        DatasetError, match=r"item slidebench:3: answer option E is out of range; it has 4 options"
    ):
        load_benchmark("slidebench", tmp_path / "sb.csv")

    panda = frame[frame.benchmark_name == "panda"].head(1).copy()
    panda.iloc[0, panda.columns.get_loc("answer")] = "6"
    panda.to_csv(tmp_path / "panda.csv", index=False)
    with pytest.raises(
        DatasetError, match=rf"item panda:{panda.benchmark_id.iloc[0]}: answer '6' is out of range"
    ):
        load_benchmark("multipathqa", tmp_path / "panda.csv")


@pytest.mark.shared_data
def test_options_must_be_a_list_literal(tmp_path: Path, benchmarks_data: Path) -> None:
    frame = pd.read_csv(benchmarks_data / MULTIPATHQA, dtype=str, keep_default_na=False)
    rows = frame[frame.benchmark_name == "gtex"].head(1).copy()
    rows.iloc[0, rows.columns.get_loc("options")] = "__import__('os').getcwd()"
    rows.to_csv(tmp_path / "mpqa.csv", index=False)
    with pytest.raises(
        DatasetError, match=rf"item gtex:{rows.benchmark_id.iloc[0]}: options .* is not a list literal"
    ):
        load_benchmark("multipathqa", tmp_path / "mpqa.csv")
