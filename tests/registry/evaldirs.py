"""Evaluation output dirs written directly (metrics.json + predictions.jsonl as evaluate writes them), so
gate tests choose each item's verdict."""

from __future__ import annotations

import json
from pathlib import Path


def write_eval_dir(
    root: Path,
    correct: list[bool | None],
    *,
    eval_set_hash: str | None = "set-a",
    format_compliance: float = 1.0,
    n_diagnoses: int = 6,
    ids: list[str] | None = None,
    **extra: float,
) -> Path:
    """An eval dir whose items `item-<i>` have the verdicts `correct` (None: not scorable); answer and diagnosis
    accuracy are the share correct, chance 1/n_diagnoses. eval_set_hash None: an eval dir from before the hash."""
    root.mkdir(parents=True, exist_ok=True)
    ids = ids or [f"item-{i:03d}" for i in range(len(correct))]
    scored = [c for c in correct if c is not None]
    accuracy = sum(scored) / len(scored) if scored else 0.0
    metrics: dict = {
        "split": "test",
        "n_samples": len(correct),
        "n_scored": len(scored),
        "answer_accuracy": accuracy,
        "diagnosis_accuracy": accuracy,
        "diagnosis_chance": 1.0 / n_diagnoses,
        "diagnosis_majority": 1.0 / n_diagnoses,
        "format_compliance": format_compliance,
        "entity_f1": 0.4,
        **extra,
    }
    if eval_set_hash is not None:
        metrics["eval_set_hash"] = eval_set_hash
    (root / "metrics.json").write_text(json.dumps(metrics))
    rows = [
        {
            "id": item,
            "question_type": "diagnosis",
            "organ": "breast",
            "prediction": "<answer>x</answer>",
            "reference": "x",
            "correct": verdict,
            "format_ok": True,
        }
        for item, verdict in zip(ids, correct, strict=True)
    ]
    (root / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def verdicts(n: int, n_correct: int) -> list[bool | None]:
    """n items, the first n_correct right."""
    return [i < n_correct for i in range(n)]
