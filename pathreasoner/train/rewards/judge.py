"""Semantic reward, backend `judge`: an OpenAI-compatible LLM scores the answer against the reference, 0–1.

As in the paper (§3.4) the judge sees the candidate's <answer> span (the whole text when there is no tag)
and the reference answer, here with the question, under a pathology rubric (`data/judge_rubric.md`), at
temperature 0, answering {"score": s} (JSON schema). The reward function is async, so TRL runs it
alongside the other rewards; at most `reward.judge_concurrency` requests are in flight, each with
`reward.judge_timeout_s` and `reward.judge_max_retries`, and answers are cached on disk by request hash
(`pathreasoner.llm_client`). A call that still fails scores None — TRL skips it (nan-aware mean) — never
0: failures are counted, logged per batch and reported to TRL as the `judge_failed` metric.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from pathreasoner.config import RewardConfig
from pathreasoner.errors import ConfigError
from pathreasoner.llm_client import JSONChatClient, JSONRequest, LLMSettings, Messages
from pathreasoner.train.rewards.completions import completion_text
from pathreasoner.train.rewards.spans import answer_span

logger = logging.getLogger(__name__)

RUBRIC_PATH = Path(__file__).resolve().parent / "data" / "judge_rubric.md"
JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"score": {"type": "number", "minimum": 0, "maximum": 1}},
    "required": ["score"],
    "additionalProperties": False,
}


def _score_of(value: Any) -> float | None:
    """The judge's score clipped to [0, 1]; None when it is not a finite number."""
    score = value.get("score") if isinstance(value, dict) else None
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        return None
    return min(1.0, max(0.0, float(score)))


def judge_settings(cfg: Any, cache_dir: str | None) -> LLMSettings:
    """LLM client settings from a config section's `judge_*` fields (reward or eval)."""
    return LLMSettings(
        base_url=cfg.judge_base_url,
        model=cfg.judge_model,
        api_key=os.environ.get(cfg.judge_api_key_env, ""),
        timeout_s=cfg.judge_timeout_s,
        max_retries=cfg.judge_max_retries,
        backoff_s=0.5,
        max_concurrency=cfg.judge_concurrency,
        cache_dir=cache_dir,
    )


class LLMJudge:
    """Scores candidate answers against reference answers with an LLM; counts the calls that failed."""

    def __init__(self, settings: LLMSettings, rubric: str | None = None) -> None:
        self.client = JSONChatClient(settings)
        self.rubric = rubric if rubric is not None else RUBRIC_PATH.read_text(encoding="utf-8")
        self.failed = 0  # calls that gave no usable score (each scored None)
        self.scored = 0

    @classmethod
    def from_config(cls, cfg: RewardConfig, work_dir: Path | str | None = None) -> LLMJudge:
        """The judge of `reward.judge_*` (cache: judge_cache_dir, else <work_dir>/judge_cache)."""
        if not cfg.judge_base_url or not cfg.judge_model:
            raise ConfigError(
                "reward.semantic_backend=judge needs reward.judge_base_url and reward.judge_model; "
                "set them or use semantic_backend=embedding"
            )
        cache = cfg.judge_cache_dir or (str(Path(work_dir) / "judge_cache") if work_dir else None)
        settings = judge_settings(cfg, cache)
        return cls(settings)

    def messages(self, candidate: str, reference: str, question: str | None = None) -> Messages:
        user = (f"Question: {question.strip()}\n" if question else "") + (
            f"Reference answer: {reference.strip()}\nCandidate answer: {candidate.strip()}"
        )
        return [{"role": "system", "content": self.rubric}, {"role": "user", "content": user}]

    async def score(
        self,
        candidates: list[str],
        references: list[str | None],
        questions: list[str | None] | None = None,
    ) -> list[float | None]:
        """One score per candidate: None without a reference or when the call fails; 0.0 for an empty one."""
        questions = questions if questions is not None else [None] * len(candidates)
        out: list[float | None] = [None] * len(candidates)
        asked: list[int] = []
        requests: list[JSONRequest] = []
        for i, (candidate, reference, question) in enumerate(
            zip(candidates, references, questions, strict=True)
        ):
            if not reference or not reference.strip():
                continue
            if not candidate.strip():
                out[i] = 0.0
                continue
            asked.append(i)
            messages = self.messages(candidate, reference, question)
            requests.append(JSONRequest(messages, JUDGE_SCHEMA, "answer_score", f"completion {i}"))
        results = await self.client.acomplete_many(requests) if requests else []
        failures: list[str] = []
        for i, result in zip(asked, results, strict=True):
            score = None if isinstance(result, Exception) else _score_of(result)
            if score is None:
                failures.append(str(result) if isinstance(result, Exception) else f"no score in {result!r}")
            out[i] = score
        self.failed += len(failures)
        self.scored += len(asked) - len(failures)
        if failures:
            logger.warning(
                "semantic judge: %d of %d calls failed and were skipped (None, not 0); %d failed so far; last: %s",
                len(failures),
                len(asked),
                self.failed,
                failures[-1][:300],
            )
        return out


def make_judge_reward(judge: LLMJudge) -> Callable[..., Coroutine[Any, Any, list[float | None]]]:
    """Async TRL reward function `semantic_reward(completions, answer, question, **kwargs)` on `judge`."""

    async def semantic_reward(
        completions: list[Any],
        answer: list[str | None] | None = None,
        question: list[str | None] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        refs = list(answer) if answer is not None else [None] * len(completions)
        preds = [answer_span(completion_text(c)) for c in completions]
        failed_before = judge.failed
        scores = await judge.score(preds, refs, list(question) if question is not None else None)
        if log_metric is not None:
            log_metric("judge_failed", float(judge.failed - failed_before))
        return scores

    return semantic_reward
