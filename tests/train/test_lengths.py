"""Token lengths from image headers + chat text equal what the processor / SFT collator produce; the
length-grouped sampler uses them and pads less than random batches."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from transformers.trainer_pt_utils import LengthGroupedSampler

from pathreasoner.config import Config
from pathreasoner.model.factory import load_checkpoint
from pathreasoner.train.data import grpo_row, load_split
from pathreasoner.train.lengths import prompt_lengths, sft_lengths
from pathreasoner.train.sft import build_sft_trainer


def _with(cfg: Config, **sections: dict) -> Config:
    return cfg.model_copy(update={k: getattr(cfg, k).model_copy(update=v) for k, v in sections.items()})


def test_prompt_lengths_match_the_processor(samples_dir: Path, tiny_dir: Path) -> None:
    _, processor = load_checkpoint(tiny_dir)
    records = load_split(samples_dir, "train", require_response=False).records
    expected = []
    for record in records:
        row = grpo_row(record)
        text = processor.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        images = [Image.open(p).convert("RGB") for p in row["images"]]
        expected.append(processor(text=[text], images=images, return_tensors="pt")["input_ids"].shape[1])
    assert prompt_lengths(records, processor) == expected
    assert min(expected) > 2 * 16  # two views of >= 16 image tokens each, plus the text


def test_sft_length_column_matches_the_collator_and_groups_batches(
    samples_dir: Path, train_cfg: Config, tmp_path: Path
) -> None:
    cfg = _with(train_cfg, sft={"group_by_length": True})
    trainer, _, _ = build_sft_trainer(samples_dir, tmp_path, cfg)
    dataset = trainer.train_dataset
    batch = trainer.data_collator([dataset[i] for i in range(len(dataset))])
    assert dataset["length"] == batch["attention_mask"].sum(dim=1).tolist()
    records = load_split(samples_dir, "train").records
    assert sft_lengths(records, trainer.processing_class) == dataset["length"]
    assert isinstance(trainer._get_train_sampler(), LengthGroupedSampler)
    plain, _, _ = build_sft_trainer(samples_dir, tmp_path / "plain", train_cfg)
    assert "length" not in plain.train_dataset.column_names
    assert not isinstance(plain._get_train_sampler(), LengthGroupedSampler)


def test_sft_rows_longer_than_max_length_are_an_error(
    samples_dir: Path, train_cfg: Config, tmp_path: Path
) -> None:
    from pathreasoner.errors import DatasetError

    with pytest.raises(
        DatasetError, match=r"6 of 6 SFT rows are longer than sft\.max_length=64 tokens .*s000"
    ):
        build_sft_trainer(samples_dir, tmp_path, _with(train_cfg, sft={"max_length": 64}))
