"""Format reward: 1 when the text is exactly <observe>…</observe> <think>…</think> <answer>…</answer>
with something in each span (an empty <think> is not reasoning), else 0."""

from __future__ import annotations

from typing import Any

from pathreasoner.train.rewards.completions import completion_text
from pathreasoner.train.rewards.spans import split_response


def format_score(text: str) -> float:
    """1.0 for a well-formed response (all three tags, in order, closed, none empty), else 0.0."""
    parsed = split_response(text)
    return 1.0 if parsed.well_formed and parsed.observe and parsed.think and parsed.answer else 0.0


def format_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """TRL reward function: format_score of each completion (string or conversational)."""
    return [format_score(completion_text(c)) for c in completions]
