"""Metrics GRPO logs beside its rewards without training on them (weight 0 in reward_weights).

`diagnosis_accuracy`: for diagnosis questions, whether a completion's <answer> names the reference's
KG diagnosis (pathreasoner.eval.diagnosis); None for the other questions. TRL logs its mean per step as
`rewards/diagnosis_accuracy/mean`, so the curve shows the rollouts' accuracy from the SFT policy onwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pathreasoner.eval.diagnosis import DiagnosisChecker
from pathreasoner.response import answer_text
from pathreasoner.train.rewards.completions import completion_text


def make_diagnosis_monitor(samples_dir: Path) -> Any | None:
    """The monitor bound to a samples dir's lexicon and KG types; None when the dataset has no types."""
    checker = DiagnosisChecker.for_samples(samples_dir)
    if not checker.types:
        return None

    def diagnosis_accuracy(
        completions: list[Any],
        answer: list[str] | None = None,
        question_type: list[str] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        out: list[float | None] = []
        for i, completion in enumerate(completions):
            record = {
                "question_type": question_type[i] if question_type else "",
                "answer": answer[i] if answer else "",
            }
            right = checker.verdict(record, answer_text(completion_text(completion)))
            out.append(None if right is None else float(right))
        return out

    return diagnosis_accuracy
