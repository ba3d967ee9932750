"""Readers of the public slide-level VQA benchmarks: MultiPathQA, WSI-VQA and SlideBench-VQA.

Each returns a `LoadedBenchmark` of `BenchmarkItem`s. A file with unknown or missing columns, an answer
option index out of range, or an unparsable options list is an error naming the column or the item.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from pathreasoner.benchmarks.items import (
    LETTERS,
    NUMBERS,
    BenchmarkItem,
    LoadedBenchmark,
    answer_index,
    check_columns,
    render_closed,
    unique_ids,
)
from pathreasoner.errors import DatasetError

MULTIPATHQA_REQUIRED = ("benchmark_name", "benchmark_id", "image_path", "answer", "options", "prompt")
MULTIPATHQA_OPTIONAL = ("image_exists", "patch_exists", "is_valid", "metric_type", "file_id")
WSI_VQA_REQUIRED = ("Id", "Question", "Answer")
WSI_VQA_OPTIONAL = ("Choice",)
SLIDEBENCH_REQUIRED = ("ID", "Slide", "Question", "A", "B", "Answer")
SLIDEBENCH_OPTIONAL = ("Tumor", "Broad Category", "Narrow Category", "C", "D")
ISUP_OPTIONS = (
    "ISUP grade 0 (no cancer)",
    "ISUP grade 1",
    "ISUP grade 2",
    "ISUP grade 3",
    "ISUP grade 4",
    "ISUP grade 5",
)
MULTIPATHQA_ORGANS = {"panda": "prostate"}  # gtex: the organ is the item's answer


def _read_csv(path: Path, name: str) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"{name} file {path} does not exist; pass the benchmark CSV with --file")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"{path} is not a readable {name} CSV ({exc}); pass the benchmark's CSV") from None


def _options_list(item_id: str, text: str) -> list[str]:
    """MultiPathQA `options`: a Python list literal (single quotes), read with ast.literal_eval."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, list | tuple) or not value or not all(isinstance(v, str | int) for v in value):
        raise DatasetError(
            f"item {item_id}: options {text[:80]!r} is not a list literal of option texts such as "
            "\"['A', 'B']\"; fix the options column of that row"
        )
    return [str(v) for v in value]


def load_multipathqa(path: Path) -> LoadedBenchmark:
    """MultiPathQA (GIANT): one row per slide question; `answer` is a 1-based option index (or the option's
    text); PANDA rows have no options and answer the ISUP grade 0-5, asked here as a closed question."""
    frame = _read_csv(path, "MultiPathQA")
    check_columns(frame.columns, MULTIPATHQA_REQUIRED, MULTIPATHQA_OPTIONAL, str(path), "MultiPathQA")
    items = []
    for row in frame.to_dict("records"):
        subset = row["benchmark_name"].strip()
        item_id = f"{subset}:{row['benchmark_id'].strip()}"
        slide_id = PurePosixPath(row["image_path"].strip()).stem
        if not slide_id:
            raise DatasetError(f"item {item_id}: image_path is empty; every MultiPathQA row names its slide")
        if row["options"].strip():
            options, labels = _options_list(item_id, row["options"]), NUMBERS
            index = answer_index(item_id, row["answer"], options, one_based_numbers=True)
        else:  # PANDA: the answer is the ISUP grade itself
            options, labels = list(ISUP_OPTIONS), LETTERS
            grade = row["answer"].strip()
            if not grade.isdigit() or not 0 <= int(grade) < len(options):
                raise DatasetError(
                    f"item {item_id}: answer {grade!r} is out of range for an options-less (ISUP grade) row; "
                    f"expected a grade 0..{len(options) - 1}"
                )
            index = int(grade)
        organ = options[index].lower() if subset == "gtex" else MULTIPATHQA_ORGANS.get(subset, "unknown")
        items.append(
            BenchmarkItem(
                id=item_id,
                slide_id=slide_id,
                question=render_closed(row["prompt"], options, labels),
                answer=options[index],
                question_type=f"closed:{subset}",
                organ=organ,
                options=tuple(options),
                answer_index=index,
            )
        )
    return LoadedBenchmark("multipathqa", str(path), unique_ids(items))


def load_wsi_vqa(path: Path) -> LoadedBenchmark:
    """WSI-VQA (TCGA-BRCA, patient level): a JSON list of {Id, Question, Answer, Choice?}; items with a
    `Choice` list are closed. A closed item whose answer is not one of its choices is left out and
    listed in `rejected` (the authors' generator wrote some such answers, e.g. 'the correct option is b')."""
    if not path.is_file():
        raise DatasetError(f"WSI-VQA file {path} does not exist; pass the benchmark JSON with --file")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc}); pass a WSI-VQA JSON file") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DatasetError(f"{path} must hold a JSON list of question objects (WSI-VQA layout)")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    check_columns(keys, WSI_VQA_REQUIRED, WSI_VQA_OPTIONAL, str(path), "WSI-VQA")
    items, rejected = [], []
    for position, row in enumerate(rows):
        missing = [k for k in WSI_VQA_REQUIRED if k not in row]
        if missing:
            raise DatasetError(f"item {position} of {path} has no {missing}; every WSI-VQA item needs them")
        item_id = f"{row['Id']}:{position}"
        common: dict[str, Any] = {"id": item_id, "slide_id": str(row["Id"]), "organ": "breast"}
        choices = row.get("Choice") or []
        if not choices:
            items.append(
                BenchmarkItem(
                    question=str(row["Question"]),
                    answer=str(row["Answer"]),
                    question_type="open",
                    **common,
                )
            )
            continue
        options = [str(c) for c in choices]
        try:
            index = answer_index(item_id, row["Answer"], options, one_based_numbers=False)
        except DatasetError as exc:
            rejected.append({"id": item_id, "reason": str(exc)})
            continue
        items.append(
            BenchmarkItem(
                question=render_closed(str(row["Question"]), options, LETTERS),
                answer=options[index],
                question_type="closed",
                options=tuple(options),
                answer_index=index,
                **common,
            )
        )
    return LoadedBenchmark("wsi-vqa", str(path), items, rejected)


def load_slidebench(path: Path) -> LoadedBenchmark:
    """SlideBench-VQA (SlideChat) CSV: ID, Slide, Tumor, Broad Category, Narrow Category, Question, A-D,
    Answer (a letter). The question type is the broad category (Microscopy, Diagnosis, Clinical)."""
    frame = _read_csv(path, "SlideBench-VQA")
    check_columns(frame.columns, SLIDEBENCH_REQUIRED, SLIDEBENCH_OPTIONAL, str(path), "SlideBench-VQA")
    items = []
    for row in frame.to_dict("records"):
        item_id = f"slidebench:{row['ID'].strip()}"
        options = [row[k].strip() for k in "ABCD" if row.get(k, "").strip()]
        index = answer_index(item_id, row["Answer"], options, one_based_numbers=False)
        broad = row.get("Broad Category", "").strip() or "unknown"
        narrow = row.get("Narrow Category", "").strip()
        items.append(
            BenchmarkItem(
                id=item_id,
                slide_id=row["Slide"].strip(),
                question=render_closed(row["Question"], options, LETTERS),
                answer=options[index],
                question_type=f"closed:{broad}",
                organ=row.get("Tumor", "").strip() or "unknown",
                options=tuple(options),
                answer_index=index,
                extra={"category": f"{broad}/{narrow}" if narrow else broad},
            )
        )
    return LoadedBenchmark("slidebench", str(path), unique_ids(items))


LOADERS: dict[str, Callable[[Path], LoadedBenchmark]] = {
    "multipathqa": load_multipathqa,
    "wsi-vqa": load_wsi_vqa,
    "slidebench": load_slidebench,
}


def load_benchmark(name: str, path: Path | str) -> LoadedBenchmark:
    """Read `path` with the loader of benchmark `name` (one of LOADERS)."""
    key = name.strip().lower()
    if key not in LOADERS:
        raise DatasetError(f"unknown benchmark {name!r}; valid: {', '.join(LOADERS)}")
    loaded = LOADERS[key](Path(path))
    if not loaded.items:
        raise DatasetError(f"{path} holds no {key} items; pass a non-empty benchmark file")
    return loaded
