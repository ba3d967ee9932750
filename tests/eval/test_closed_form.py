"""Closed-form items: the option named by the <answer> span (letter, 1-based number or text)."""

from __future__ import annotations

import pytest

from pathreasoner.errors import DatasetError
from pathreasoner.eval.closed_form import checked_options, chosen_option, closed_form_correct

OPTIONS = ["Adenocarcinoma", "Squamous cell carcinoma", "Small cell carcinoma", "Carcinoma"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("B", 1),
        ("(b)", 1),
        ("B. Squamous cell carcinoma", 1),
        ("Answer: C", 2),
        ("The answer is D.", 3),
        ("2", 1),
        ("option 3", 2),
        ("squamous cell carcinoma", 1),
        ("It is a small cell carcinoma of the lung", 2),  # "carcinoma" is inside the longer option text
        ("Carcinoma", 3),  # exact text of option D
        ("not adenocarcinoma but small cell carcinoma", 2),  # the negated option is not named
        ("E", None),  # no fifth option
        ("7", None),
        ("A tumour of glands", None),  # a sentence starting with "A" is not option A
        ("adenocarcinoma or squamous cell carcinoma", None),  # two options named
        ("", None),
        (None, None),
    ],
)
def test_chosen_option(answer: str | None, expected: int | None) -> None:
    assert chosen_option(answer, OPTIONS) == expected


def test_numeric_options_are_values() -> None:
    assert chosen_option("2", ["1", "2", "3"]) == 1
    assert chosen_option("3", ["0", "3", "5"]) == 1  # the option text "3", not the third option


def test_closed_form_correct_and_out_of_range() -> None:
    record = {"id": "q1", "options": OPTIONS, "answer_index": 1}
    assert closed_form_correct(record, "B") is True
    assert closed_form_correct(record, "Adenocarcinoma") is False
    assert closed_form_correct(record, "no idea") is False
    for bad in (4, -1, "1", None, True):
        with pytest.raises(DatasetError, match=r"item 'q1': answer_index .* out of range for its 4 options"):
            checked_options({"id": "q1", "options": OPTIONS, "answer_index": bad})
    with pytest.raises(DatasetError, match="item 'q2': options must be a non-empty list"):
        checked_options({"id": "q2", "options": [], "answer_index": 0})
