"""`llm` backends: the OpenAI-compatible JSON chat client of `pathreasoner.llm_client` (JSON-schema-constrained
output, retries with exponential backoff, an on-disk cache keyed by the request hash) with a bounded thread
pool; plus the LLM report extractor and reasoning writer built on it.

A failure (endpoint down, HTTP error, invalid or off-schema JSON after all retries, a diagnosis the KG
cannot link) raises `LLMBackendError` (a ReportError) naming the item, so the caller quarantines it:
an LLM failure never becomes a silently wrong sample.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pathreasoner.errors import LLMError, ReportError
from pathreasoner.llm_client import JSONChatClient, LLMSettings
from pathreasoner.response import compose_response
from pathreasoner.samples.quality import has_leakage

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["LLMBackendError", "LLMClient", "LLMSettings", "llm_extract", "llm_response"]


class LLMBackendError(ReportError, LLMError):
    """The LLM endpoint failed or answered unusably for one item."""


EXTRACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "diagnosis": {"type": "string"},
        "findings": {"type": "array", "items": {"type": "string"}},
        "grade": {"type": ["string", "null"]},
        "pT": {"type": ["string", "null"]},
        "pN": {"type": ["string", "null"]},
        "margin": {"type": ["string", "null"], "enum": ["negative", "positive", None]},
        "lvi": {"type": ["string", "null"], "enum": ["present", "absent", None]},
    },
    "required": ["diagnosis", "findings", "grade", "pT", "pN", "margin", "lvi"],
    "additionalProperties": False,
}
REASONING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"observe": {"type": "string"}, "think": {"type": "string"}},
    "required": ["observe", "think"],
    "additionalProperties": False,
}


class LLMClient(JSONChatClient):
    """The shared JSON chat client (pathreasoner.llm_client); failures are LLMBackendError (quarantine)."""

    error = LLMBackendError

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R | Exception]:
        """`fn` over `items` with at most `max_concurrency` in flight; a failed item yields its exception."""

        def safe(item: T) -> R | Exception:
            try:
                return fn(item)
            except ReportError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=max(1, self.settings.max_concurrency)) as pool:
            return list(pool.map(safe, items))


def llm_extract(client: LLMClient, text: str, item: str, link: Callable[[str], str | None]) -> dict[str, Any]:
    """Diagnosis, findings and facts of a report by the LLM; the diagnosis must link to a KG entity."""
    messages = [
        {
            "role": "system",
            "content": "Extract from the pathology report only what it states. Use null when it is not stated.",
        },
        {"role": "user", "content": text},
    ]
    value = client.complete_json(messages, EXTRACTION_SCHEMA, "report_extraction", item)
    linked = link(str(value["diagnosis"]))
    if linked is None:
        raise LLMBackendError(
            f"{item}: the LLM diagnosis {value['diagnosis']!r} links to no KG entity; it is not used "
            "(add the wording as a synonym in the KG if it is valid)"
        )
    return {**value, "diagnosis_entity": linked}


def llm_response(
    client: LLMClient, question: str, findings: list[str], paths: list[str], answer: str, item: str
) -> str:
    """`<observe>…<think>…<answer>` where the LLM writes observe/think from findings and KG paths (it is
    not given the answer and must not refer to one); the answer is the report's."""
    messages = [
        {
            "role": "system",
            "content": "You are a pathologist. Describe the findings (observe) and reason step by step from them "
            "and the knowledge-graph paths (think). Do not assume or mention any given answer.",
        },
        {
            "role": "user",
            "content": f"Question: {question}\nFindings:\n- "
            + "\n- ".join(findings)
            + "\nKnowledge-graph paths:\n- "
            + "\n- ".join(paths),
        },
    ]
    value = client.complete_json(messages, REASONING_SCHEMA, "reasoning", item)
    observe, think = str(value["observe"]).strip(), str(value["think"]).strip()
    if not observe or not think:
        raise LLMBackendError(f"{item}: the LLM returned an empty observe/think; sample dropped")
    leak = has_leakage(f"{observe}\n{think}")
    if leak:
        raise LLMBackendError(
            f"{item}: the LLM reasoning contains the leakage phrase {leak!r}; sample dropped"
        )
    return compose_response(observe, think, answer)
