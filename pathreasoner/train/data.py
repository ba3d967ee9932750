"""Samples dir (`<split>.jsonl` + images) → SFT rows (conversational `messages`) and GRPO rows (`prompt`).

Both use `pathreasoner.model.prompts.build_messages`, so training, evaluation and serving see the same
prompt. Images stay file paths in the Arrow table and are decoded lazily (`datasets.Image`).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from datasets import Dataset, Image, List, Value

from pathreasoner.errors import DatasetError
from pathreasoner.io_utils import read_jsonl
from pathreasoner.model.prompts import build_messages
from pathreasoner.train.rewards.columns import reward_columns

logger = logging.getLogger(__name__)

MISSING_IMAGE = "missing image"


@dataclass
class LoadedSplit:
    """Usable records of one split (image paths made absolute) and what was skipped, with reasons."""

    records: list[dict[str, Any]]
    skipped: list[dict[str, str]] = field(default_factory=list)


def load_split(samples_dir: Path | str, split: str, require_response: bool = True) -> LoadedSplit:
    """Read `<samples_dir>/<split>.jsonl`; skip (and log) text-only records and records without text.

    A record that names image files which do not exist is a broken dataset, not a text-only sample: that
    is an error before any compute is spent.
    """
    samples_dir = Path(samples_dir)
    path = samples_dir / f"{split}.jsonl"
    if not path.exists():
        raise DatasetError(
            f"samples split file {path} does not exist; run build-samples first or pass the samples dir "
            f"that holds {split}.jsonl"
        )
    try:
        raw = read_jsonl(path)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSONL ({exc}); rebuild the samples") from exc
    loaded = LoadedSplit(records=[])
    for index, record in enumerate(raw):
        reason = _problem(record, samples_dir, require_response)
        if reason:
            loaded.skipped.append({"id": str(record.get("id", f"line {index + 1}")), "reason": reason})
            continue
        loaded.records.append({**record, "images": [str(samples_dir / p) for p in record["images"]]})
    broken = [f"{b['id']} ({b['reason']})" for b in loaded.skipped if b["reason"].startswith(MISSING_IMAGE)]
    if broken:
        raise DatasetError(
            f"{path}: {len(broken)} record(s) name image files that do not exist (first: "
            f"{', '.join(broken[:3])}); the samples dir is incomplete: "
            "rerun build-samples, or copy the whole samples dir including images/"
        )
    if loaded.skipped:
        reasons: dict[str, int] = {}
        for item in loaded.skipped:
            reasons[item["reason"].split(":")[0]] = reasons.get(item["reason"].split(":")[0], 0) + 1
        logger.warning("%s: skipped %d of %d records (%s)", path, len(loaded.skipped), len(raw), reasons)
    if not loaded.records:
        raise DatasetError(
            f"{path} has no usable records ({len(raw)} read, {len(loaded.skipped)} skipped: "
            f"{loaded.skipped[:3]}); each record needs a question, images and a response"
        )
    return loaded


def _problem(record: dict[str, Any], samples_dir: Path, require_response: bool) -> str | None:
    if not isinstance(record.get("question"), str) or not record["question"].strip():
        return "no question"
    if require_response and (not isinstance(record.get("response"), str) or not record["response"].strip()):
        return "no response"
    images = record.get("images")
    if not images:
        return "no images"
    missing = [p for p in images if not (samples_dir / p).is_file()]
    if missing:
        return f"{MISSING_IMAGE}: {missing[0]}"
    return None


def sft_row(record: dict[str, Any]) -> dict[str, Any]:
    """Conversational SFT row; a `response_prefix` (trajectory masking) is shown but not trained."""
    response: str = record["response"]
    prefix = check_loss_spans(record)
    if prefix:
        messages = build_messages(record["images"], record["question"], response[len(prefix) :], prefix)
    else:
        messages = build_messages(record["images"], record["question"], response)
    return {"messages": messages, "images": list(record["images"])}


def check_loss_spans(record: dict[str, Any]) -> str:
    """The record's `response_prefix` after checking that it and `loss_spans` agree with the response.

    Loss falls on exactly one span: from the end of the given prefix to the end of the response (the
    chat template marks that span for training). Anything else is a DatasetError naming the record.
    """
    response: str = record["response"]
    prefix = record.get("response_prefix") or ""
    spans = record.get("loss_spans")
    problem = None
    if prefix and not response.startswith(prefix):
        problem = "response_prefix is not the start of response"
    elif spans is not None and [list(map(int, span)) for span in spans] != [[len(prefix), len(response)]]:
        problem = (
            f"loss_spans {spans} do not match the text: with a {len(prefix)}-character prefix the one trained "
            f"span is [[{len(prefix)}, {len(response)}]]"
        )
    if problem:
        raise DatasetError(
            f"SFT record {record.get('id')!r}: {problem}; rebuild sft_train.jsonl with build-samples "
            "(or fix the record's response_prefix / loss_spans)"
        )
    return prefix


def mix_trajectories(records: list[dict[str, Any]], full_ratio: float, seed: int) -> list[dict[str, Any]]:
    """Trajectory-masked SFT rows with full trajectories making up at least `full_ratio` of them.

    Full trajectories (no `response_prefix`) are all kept; prefix variants are subsampled (seeded) when
    they would push the full share below `full_ratio`. Order is the input order.
    """
    full = [r for r in records if not r.get("response_prefix")]
    partial = [i for i, r in enumerate(records) if r.get("response_prefix")]
    if not full or full_ratio <= 0:
        return list(records)
    keep_partial = round(len(full) * (1 - full_ratio) / full_ratio)
    if keep_partial >= len(partial):
        return list(records)
    kept = set(random.Random(seed).sample(partial, keep_partial))
    return [r for i, r in enumerate(records) if not r.get("response_prefix") or i in kept]


def select_question_types(loaded: LoadedSplit, question_types: Sequence[str] | None) -> LoadedSplit:
    """`loaded` restricted to records of `question_types` (None: all); DatasetError when none is left."""
    if question_types is None:
        return loaded
    kept = [r for r in loaded.records if r.get("question_type") in question_types]
    if not kept:
        present = sorted({str(r.get("question_type")) for r in loaded.records})
        raise DatasetError(
            f"no training record has a question type in grpo.question_types={list(question_types)} "
            f"(the split has {present}); name one of those, or set grpo.question_types to null"
        )
    return replace(loaded, records=kept)


def grpo_row(record: dict[str, Any]) -> dict[str, Any]:
    """GRPO row: conversational prompt, images, and the reward columns (gt_entities, answer, question,
    kg_paths as node-name lists: `rewards.reward_columns`)."""
    return {
        "prompt": build_messages(record["images"], record["question"]),
        "images": list(record["images"]),
        **reward_columns(record),
    }


def _with_images(rows: list[dict[str, Any]]) -> Dataset:
    dataset = Dataset.from_list(rows)
    return dataset.cast_column("images", List(Image()))


def sft_dataset(samples_dir: Path | str, split: str = "train", loaded: LoadedSplit | None = None) -> Dataset:
    """SFT dataset: `messages` + `images` (decoded to PIL on access); `loaded` reuses a load_split result."""
    loaded = loaded or load_split(samples_dir, split)
    return _with_images([sft_row(r) for r in loaded.records])


def grpo_dataset(samples_dir: Path | str, split: str = "train", loaded: LoadedSplit | None = None) -> Dataset:
    """GRPO dataset: `prompt` + `images` + the reward columns; `loaded` reuses a load_split result."""
    loaded = loaded or load_split(samples_dir, split, require_response=False)
    dataset = _with_images([grpo_row(r) for r in loaded.records])
    dataset = dataset.cast_column("answer", Value("string")).cast_column("question", Value("string"))
    return dataset.cast_column("kg_paths", List(List(Value("string"))))
