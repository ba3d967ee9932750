"""Format reward: 1 when the text is exactly <observe>…</observe> <think>…</think> <answer>…</answer>."""

from __future__ import annotations

from typing import Any

from pathreasoner.response import is_well_formed
from pathreasoner.train.rewards.completions import completion_text


def format_score(text: str) -> float:
    """1.0 for a well-formed response (all three tags, in order, closed), else 0.0."""
    return 1.0 if is_well_formed(text) else 0.0


def format_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """TRL reward function: format_score of each completion (string or conversational)."""
    return [format_score(completion_text(c)) for c in completions]
