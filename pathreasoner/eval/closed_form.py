"""Closed-form (multiple-choice) items: which option the `<answer>` span names, and whether it is right.

A record with `options` (option strings, in order) and `answer_index` (0-based) is closed-form. The
answer names an option by its exact text (first, so that numeric options are values), its letter ("B",
"(b)", "B. Adenoma", "Answer: B"), its 1-based number ("2", "option 2"), or by holding its normalised
text as whole tokens, not negated. An answer naming no option, several, or one that does not exist
names none (and is wrong).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pathreasoner.errors import DatasetError
from pathreasoner.eval.metrics import normalize_answer
from pathreasoner.samples.negation import is_negated

_LABEL = re.compile(
    r"^\s*(?:(?:the\s+)?(?:correct\s+)?(?:answer|option|choice)\s*(?:is)?\s*[:\-]?\s*)?"
    r"[(\[]?(?P<label>[A-Za-z]|\d{1,2})[)\]]?\s*(?:[.):,\-]|$)",
    re.I,
)


def is_closed_form(record: Mapping[str, Any]) -> bool:
    return record.get("options") is not None


def checked_options(record: Mapping[str, Any]) -> tuple[list[str], int]:
    """The record's options and answer index; DatasetError naming the item when they do not fit."""
    options, index = record.get("options"), record.get("answer_index")
    item = record.get("id")
    if not isinstance(options, list) or not options:
        raise DatasetError(f"item {item!r}: options must be a non-empty list of strings, got {options!r}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(options):
        raise DatasetError(
            f"item {item!r}: answer_index {index!r} is out of range for its {len(options)} options "
            f"(0..{len(options) - 1}); fix the benchmark file or its loader"
        )
    return [str(o) for o in options], index


def _label_index(label: str, n: int) -> int | None:
    if label.isdigit():
        index = int(label) - 1
    elif len(label) == 1 and label.isalpha():
        index = ord(label.upper()) - ord("A")
    else:
        return None
    return index if 0 <= index < n else None


def _text_index(answer: str, options: Sequence[str]) -> int | None:
    """The one option whose text the answer names (the longest when one option's text holds another's)."""
    got = normalize_answer(answer)
    padded = f" {got} "
    normed = [normalize_answer(o) for o in options]
    hits: list[int] = []
    for i, option in enumerate(normed):
        if not option:
            continue
        at = padded.find(f" {option} ")
        if at >= 0 and not is_negated(got, at, at + len(option)):
            hits.append(i)
    hits = [i for i in hits if not any(j != i and f" {normed[i]} " in f" {normed[j]} " for j in hits)]
    return hits[0] if len(hits) == 1 else None


def chosen_option(answer: str | None, options: Sequence[str]) -> int | None:
    """0-based index of the option `answer` names; None when it names none (or several)."""
    if not answer or not answer.strip():
        return None
    got = normalize_answer(answer)
    exact = [i for i, option in enumerate(options) if normalize_answer(option) == got]
    if len(exact) == 1:  # an option's own text first: numeric options ("2") are values, not numbers
        return exact[0]
    match = _LABEL.match(answer)
    if match:
        return _label_index(match.group("label"), len(options))
    return _text_index(answer, options)


def closed_form_correct(record: Mapping[str, Any], answer: str | None) -> bool:
    """Whether the `<answer>` span of a closed-form record names its `answer_index` option."""
    options, index = checked_options(record)
    return chosen_option(answer, options) == index
