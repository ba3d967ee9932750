"""Diagnosis reward: whether a completion's <answer> names the reference's KG diagnosis.

For diagnosis questions only (None for the others): 1.0 when the answer links to exactly the reference's
KG diagnoses (site ignored, subtype not; `pathreasoner.eval.diagnosis`), else 0.0. It is the image-answerable
part of a demo response (immunohistochemistry, nodes and margins come from the report and cannot be
seen), so it gives GRPO a signal the slide supports. With weight 0 GRPO still logs it as the rollouts'
`diagnosis_accuracy`.
"""

from __future__ import annotations

from typing import Any

from pathreasoner.eval.diagnosis import DiagnosisChecker
from pathreasoner.response import answer_text
from pathreasoner.train.rewards.completions import completion_text


def make_diagnosis_reward(checker: DiagnosisChecker) -> Any:
    """The TRL reward function (`diagnosis_accuracy`) judging completions with `checker`."""

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
