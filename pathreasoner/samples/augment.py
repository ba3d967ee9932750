"""Trajectory augmentation for SFT: a reasoning split into steps; variants give a prefix of the steps and
train only on the rest plus the answer (the full trajectory is variant 0).

Each variant keeps the whole `response`, adds `response_prefix` (shown to the model, never trained; see
pathreasoner.train.data.sft_row) and `loss_spans` = the character spans of `response` that carry loss.
"""

from __future__ import annotations

import re
from typing import Any

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
# a step ends at a numbered line break or at a sentence end inside <think>
_STEP_END = re.compile(r"\n(?=\d+\.\s)|(?<=\.)(?<!^\d\.)(?<!^\d\d\.)(?<!>\d\.)[ \t]+(?=[A-Z0-9])", re.M)


def step_boundaries(response: str) -> list[int]:
    """Offsets in `response` where a given prefix may end: after `<think>` (observation given), then after
    each reasoning step or sentence inside <think>; never inside the answer. [] when there is no <think>."""
    start = response.find(THINK_OPEN)
    end = response.find(THINK_CLOSE)
    if start < 0 or end < start:
        return []
    body_start = start + len(THINK_OPEN)
    bounds = [body_start]
    for m in _STEP_END.finditer(response, body_start, end):
        cut = m.end()
        if body_start < cut < end and cut not in bounds:
            bounds.append(cut)
    return bounds


def pick_boundaries(bounds: list[int], n: int) -> list[int]:
    """At most `n` boundaries, evenly spread and always including the first (deterministic)."""
    if n <= 0 or not bounds:
        return []
    if len(bounds) <= n:
        return list(bounds)
    step = (len(bounds) - 1) / max(n - 1, 1)
    return sorted({bounds[round(i * step)] for i in range(n)})


def trajectory_variants(record: dict[str, Any], n_variants: int) -> list[dict[str, Any]]:
    """The full trajectory plus up to `n_variants - 1` step-prefix variants of one sample record."""
    response: str = record["response"]
    full = {**record, "id": f"{record['id']}#t0", "variant": 0, "steps_given": 0, "response_prefix": ""}
    full["loss_spans"] = [[0, len(response)]]
    out = [full]
    for k, cut in enumerate(pick_boundaries(step_boundaries(response), n_variants - 1), start=1):
        variant = {**record, "id": f"{record['id']}#t{k}", "variant": k, "response_prefix": response[:cut]}
        variant["steps_given"] = k
        variant["loss_spans"] = [[cut, len(response)]]
        out.append(variant)
    return out


def augment(records: list[dict[str, Any]], n_variants: int) -> list[dict[str, Any]]:
    """Variants of every record (about `n_variants` each; fewer when the reasoning has fewer steps)."""
    return [v for r in records for v in trajectory_variants(r, n_variants)]
