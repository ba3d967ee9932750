from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from pathreasoner.dataset import load_lexicon
from pathreasoner.errors import DatasetError
from pathreasoner.response import SYSTEM_PROMPT
from pathreasoner.train.data import grpo_dataset, load_split, sft_dataset, sft_row


def test_load_split_skips_records_without_images(samples_dir: Path) -> None:
    loaded = load_split(samples_dir, "train")
    assert len(loaded.records) == 6
    assert loaded.skipped == [{"id": "no-images", "reason": "no images"}]
    assert all(Path(p).is_absolute() and Path(p).is_file() for r in loaded.records for p in r["images"])


def test_missing_image_file_and_missing_split(samples_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "samples"
    shutil.copytree(samples_dir, copy)
    records = [json.loads(line) for line in (copy / "test.jsonl").read_text().splitlines()]
    (copy / records[0]["images"][1]).unlink()
    loaded = load_split(copy, "test")
    assert len(loaded.records) == len(records) - 1
    assert loaded.skipped[0]["reason"].startswith("missing image: images/")
    with pytest.raises(DatasetError, match="does not exist"):
        load_split(copy, "nope")
    (copy / "val.jsonl").write_text(json.dumps({"id": "x", "question": "q", "images": []}) + "\n")
    with pytest.raises(DatasetError, match="no usable records"):
        load_split(copy, "val")
    (copy / "entity_lexicon.json").unlink()
    with pytest.raises(DatasetError, match="entity_lexicon"):
        load_lexicon(copy)


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
    assert set(dataset.column_names) == {"prompt", "images", "gt_entities", "answer"}
    row = dataset[0]
    record = load_split(samples_dir, "train").records[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["gt_entities"] == record["gt_entities"]
    assert row["answer"] == record["answer"]
    assert len(row["images"]) == 2


def test_response_prefix_becomes_untrained_context(samples_dir: Path) -> None:
    record = load_split(samples_dir, "train").records[0]
    prefix = record["response"].split("<think>")[0]
    row = sft_row({**record, "response_prefix": prefix})
    assistant = row["messages"][-1]
    assert assistant["prefix"] == prefix
    assert prefix + assistant["content"][0]["text"] == record["response"]
