"""The dataset columns the rewards read, taken from one samples record (GRPO rows and score_all use it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pathreasoner.train.rewards.kg_path import path_node_lists


def reward_columns(record: Mapping[str, Any]) -> dict[str, Any]:
    """gt_entities (canonical names), answer, question and question_type (text), kg_paths (node names)."""
    return {
        "question_type": str(record.get("question_type") or ""),
        "gt_entities": [str(e) for e in record.get("gt_entities") or []],
        "answer": str(record.get("answer") or ""),
        "question": str(record.get("question") or ""),
        "kg_paths": path_node_lists(record.get("kg_paths")),
    }
