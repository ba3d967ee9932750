"""The optional `judge_score`: an OpenAI-compatible LLM grades each answer against the reference, 0–1.

Reuses the GRPO judge (`train.rewards.judge.LLMJudge`: JSON-schema answers, temperature 0, bounded
concurrency, retries, on-disk cache) with the evaluation rubric `judge_rubric.md` beside this module.
A call that still fails is skipped (NaN, left out of the mean) and counted as `judge_failed`; a judge
that answers none of the calls is an error (unreachable or misconfigured endpoint).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pathreasoner.config import EvalConfig
from pathreasoner.errors import LLMError

if TYPE_CHECKING:
    from pathreasoner.train.rewards.judge import LLMJudge

RUBRIC_PATH = Path(__file__).resolve().parent / "judge_rubric.md"


def eval_judge(cfg: EvalConfig, cache_dir: Path | str | None = None) -> LLMJudge | None:
    """The judge of `eval.judge_*`, or None when no judge is configured."""
    if not cfg.judge_base_url or not cfg.judge_model:
        return None
    from pathreasoner.train.rewards.judge import LLMJudge, judge_settings

    settings = judge_settings(cfg, str(cache_dir) if cache_dir else None)
    return LLMJudge(settings, rubric=RUBRIC_PATH.read_text(encoding="utf-8"))


def judge_scores(
    judge: LLMJudge, answers: Sequence[str], references: Sequence[str], questions: Sequence[str]
) -> tuple[np.ndarray, int]:
    """(per-item score, NaN where skipped; number of failed calls). LLMError when every call failed."""
    failed_before = judge.failed
    scores = asyncio.run(judge.score(list(answers), list(references), list(questions)))
    failed = judge.failed - failed_before
    asked = sum(1 for a, r in zip(answers, references, strict=True) if r and r.strip() and a.strip())
    if asked and failed == asked:
        raise LLMError(
            f"the evaluation judge at {judge.client.settings.base_url} (model {judge.client.settings.model!r}) "
            f"answered none of {asked} calls; check that it is running and eval.judge_base_url / "
            "eval.judge_model, or set them to null to evaluate without a judge"
        )
    return np.array([np.nan if s is None else s for s in scores], dtype=np.float64), failed
