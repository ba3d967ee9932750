"""One benchmark question in the platform's terms, and the checks every loader shares."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pathreasoner.errors import DatasetError

NUMBERS = "number"
LETTERS = "letter"
_JSON_LINE = re.compile(r"^.*\bJSON format\b.*$\n?", re.MULTILINE)
_FENCED = re.compile(r"```.*?```", re.DOTALL)


@dataclass(frozen=True)
class BenchmarkItem:
    """A question on one slide. Closed items have ``options`` and the 0-based ``answer_index``; ``answer``
    is the reference text (for closed items, the correct option's text)."""

    id: str
    slide_id: str
    question: str
    answer: str
    question_type: str
    organ: str = "unknown"
    options: tuple[str, ...] | None = None
    answer_index: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self, images: list[str], benchmark: str) -> dict[str, Any]:
        """The samples-dir record (data contract of `evaluate`): images relative to the samples dir."""
        row: dict[str, Any] = {
            "id": self.id,
            "slide_id": self.slide_id,
            "benchmark": benchmark,
            "question": self.question,
            "answer": self.answer,
            "question_type": self.question_type,
            "organ": self.organ,
            "images": images,
            "gt_entities": [],
        }
        if self.options is not None:
            row["options"] = list(self.options)
            row["answer_index"] = self.answer_index
        return {**row, **self.extra}


@dataclass(frozen=True)
class LoadedBenchmark:
    """A benchmark file read into items; ``rejected`` lists items left out with the reason ({id, reason})."""

    name: str
    file: str
    items: list[BenchmarkItem]
    rejected: list[dict[str, str]] = field(default_factory=list)

    def by_type(self) -> dict[str, int]:
        return dict(sorted(Counter(item.question_type for item in self.items).items()))


def check_columns(
    found: Iterable[str], required: Sequence[str], optional: Sequence[str], what: str, name: str
) -> None:
    """Unknown or missing columns of a benchmark file are an error naming them and the expected ones."""
    found = list(found)
    unknown = [c for c in found if c not in (*required, *optional)]
    missing = [c for c in required if c not in found]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown columns {unknown}")
        if missing:
            problems.append(f"missing columns {missing}")
        raise DatasetError(
            f"{what} is not a {name} file: {' and '.join(problems)}; expected the columns "
            f"{list(required)} (optional: {list(optional)}) — check that --benchmark names this file's benchmark"
        )


def answer_index(item_id: str, answer: str, options: Sequence[str], *, one_based_numbers: bool) -> int:
    """0-based index of the correct option: a 1-based number (when the benchmark uses them, checked first),
    the option's own text, or a letter A/B/…. Out of range or unknown: an error naming the item."""
    text = str(answer).strip()
    if one_based_numbers and re.fullmatch(r"\d+", text):
        index = int(text) - 1
        if not 0 <= index < len(options):
            raise DatasetError(
                f"item {item_id}: answer option {text} is out of range; it has {len(options)} options "
                f"(1..{len(options)}); fix the answer column of that row"
            )
        return index
    normal = [_normal(o) for o in options]
    if _normal(text) in normal:
        return normal.index(_normal(text))
    if not one_based_numbers and re.fullmatch(r"[A-Za-z]", text):
        index = string.ascii_uppercase.index(text.upper())
        if index >= len(options):
            raise DatasetError(
                f"item {item_id}: answer option {text} is out of range; it has {len(options)} options "
                f"(A..{string.ascii_uppercase[len(options) - 1]}); fix the answer column of that row"
            )
        return index
    raise DatasetError(
        f"item {item_id}: answer {text!r} is neither an option number/letter nor one of its options {list(options)}"
    )


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", str(text).strip().rstrip(".").strip().casefold())


def render_closed(question: str, options: Sequence[str], labels: str) -> str:
    """The question with its options listed (numbered 1.. or lettered A..) and how to answer.

    A ``{options}`` placeholder in the question is filled; instructions to answer in JSON (the benchmark
    authors' output format) are dropped: the model answers in its ``<answer>`` span.
    """
    marks = (
        [str(i + 1) for i in range(len(options))]
        if labels == NUMBERS
        else list(string.ascii_uppercase[: len(options)])
    )
    listing = "\n".join(f"{m}. {o}" for m, o in zip(marks, options, strict=True))
    text = _FENCED.sub("", _JSON_LINE.sub("", question)).replace("{{", "{").replace("}}", "}")
    if "{options}" in text:
        text = text.replace("{options}", listing)
    else:
        text = f"{text.rstrip()}\n\nOptions:\n{listing}"
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return f"{text}\n\nAnswer with the {labels} of the correct option."


def unique_ids(items: list[BenchmarkItem]) -> list[BenchmarkItem]:
    """Items whose id repeats get ``#2``, ``#3``… in file order (ids key predictions and the paired test)."""
    seen: Counter[str] = Counter()
    out = []
    for item in items:
        seen[item.id] += 1
        if seen[item.id] > 1:
            item = BenchmarkItem(**{**item.__dict__, "id": f"{item.id}#{seen[item.id]}"})
        out.append(item)
    return out
