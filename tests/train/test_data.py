from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from pathreasoner.dataset import load_lexicon
from pathreasoner.errors import DatasetError
from pathreasoner.response import SYSTEM_PROMPT
from pathreasoner.train.data import (
    LoadedSplit,
    grpo_dataset,
    load_split,
    mix_trajectories,
    select_question_types,
    sft_dataset,
    sft_row,
)


def test_load_split_skips_records_without_images(samples_dir: Path) -> None:
    loaded = load_split(samples_dir, "train")
    assert len(loaded.records) == 6
    assert loaded.skipped == [{"id": "no-images", "reason": "no images"}]
    assert all(Path(p).is_absolute() and Path(p).is_file() for r in loaded.records for p in r["images"])


def test_missing_image_file_is_an_error_and_missing_split(samples_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "samples"
    shutil.copytree(samples_dir, copy)
    records = [json.loads(line) for line in (copy / "test.jsonl").read_text().splitlines()]
    (copy / records[0]["images"][1]).unlink()
    with pytest.raises(
        DatasetError, match=r"name image files that do not exist .*rerun build-samples"
    ) as err:
        load_split(copy, "test")
    assert records[0]["id"] in str(err.value)
    with pytest.raises(DatasetError, match="does not exist"):
        load_split(copy, "nope")
    (copy / "val.jsonl").write_text(json.dumps({"id": "x", "question": "q", "images": []}) + "\n")
    with pytest.raises(DatasetError, match="no usable records"):
        load_split(copy, "val")
    (copy / "entity_lexicon.json").unlink()
    with pytest.raises(DatasetError, match="entity_lexicon"):
        load_lexicon(copy)


def _variant(response: str, cut: int, **extra: object) -> dict:
    return {
        "id": f"s#t{cut}",
        "question": "q",
        "images": ["a.jpg"],
        "response": response,
        "response_prefix": response[:cut],
        "loss_spans": [[cut, len(response)]],
        **extra,
    }


def test_loss_spans_must_match_the_text() -> None:
    response = "<observe>o</observe>\n<think>step one. step two.</think>\n<answer>a</answer>"
    cut = response.index("step two")
    row = sft_row(_variant(response, cut))
    assistant = row["messages"][-1]
    assert assistant["prefix"] == response[:cut]
    assert assistant["content"][0]["text"] == response[cut:]  # only this part carries loss
    assert sft_row(_variant(response, 0))["messages"][-1]["content"][0]["text"] == response
    with pytest.raises(DatasetError, match=r"'s#t\d+': loss_spans \[\[3, 10\]\] do not match the text"):
        sft_row(_variant(response, cut, loss_spans=[[3, 10]]))
    with pytest.raises(DatasetError, match="response_prefix is not the start of response"):
        sft_row(_variant(response, cut, response_prefix="<observe>other"))


def test_full_trajectories_are_mixed_in_at_the_configured_ratio() -> None:
    rows = []
    for i in range(10):
        rows.append({"id": f"{i}#t0", "response_prefix": ""})
        rows += [{"id": f"{i}#t{k}", "response_prefix": "p" * k} for k in range(1, 5)]
    mixed = mix_trajectories(rows, 0.5, seed=0)
    full = [r for r in mixed if not r["response_prefix"]]
    assert len(full) == 10 and len(mixed) == 20  # all 10 full kept, 10 of the 40 variants
    assert mixed == [r for r in rows if r in mixed]  # input order kept
    assert mix_trajectories(rows, 0.5, seed=0) == mixed  # seeded
    assert len(mix_trajectories(rows, 0.1, seed=0)) == 50  # natural share (0.2) already above 0.1
    assert len(mix_trajectories(rows, 1.0, seed=0)) == 10
    assert mix_trajectories(rows, 0.0, seed=0) == rows


def test_sft_rows_are_conversational_with_images(samples_dir: Path) -> None:
    dataset = sft_dataset(samples_dir)
    row = dataset[0]
    record = load_split(samples_dir, "train").records[0]
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["system", "user", "assistant"]
    assert row["messages"][0]["content"][0]["text"] == SYSTEM_PROMPT
    user = row["messages"][1]["content"]
    assert [part["type"] for part in user] == ["image", "image", "text"]
    assert user[-1]["text"] == record["question"]
    assert row["messages"][2]["content"][0]["text"] == record["response"]
    assert len(row["images"]) == 2 and all(isinstance(img, Image.Image) for img in row["images"])


def test_grpo_rows_carry_reward_columns(samples_dir: Path) -> None:
    dataset = grpo_dataset(samples_dir)
    assert set(dataset.column_names) == {
        "prompt",
        "images",
        "gt_entities",
        "answer",
        "question",
        "question_type",
        "kg_paths",
    }
    row = dataset[0]
    record = load_split(samples_dir, "train").records[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["gt_entities"] == record["gt_entities"]
    assert row["answer"] == record["answer"]
    assert row["question_type"] == record["question_type"]
    assert len(row["images"]) == 2


def test_grpo_question_types_select_prompts() -> None:
    loaded = LoadedSplit(
        [{"id": str(i), "question_type": t} for i, t in enumerate(["diagnosis", "grade"] * 3)]
    )
    kept = select_question_types(loaded, ["diagnosis"])
    assert [r["id"] for r in kept.records] == ["0", "2", "4"]
    assert select_question_types(loaded, None) is loaded
    with pytest.raises(DatasetError, match=r"question_types=\['pT'\].*has \['diagnosis', 'grade'\]"):
        select_question_types(loaded, ["pT"])


def test_response_prefix_becomes_untrained_context(samples_dir: Path) -> None:
    record = load_split(samples_dir, "train").records[0]
    prefix = record["response"].split("<think>")[0]
    row = sft_row({**record, "response_prefix": prefix})
    assistant = row["messages"][-1]
    assert assistant["prefix"] == prefix
    assert prefix + assistant["content"][0]["text"] == record["response"]
