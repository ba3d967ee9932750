"""`llm` backends: an OpenAI-compatible chat-completions client with JSON-schema-constrained output,
retries with exponential backoff, an on-disk cache keyed by the request hash and bounded concurrency;
plus the LLM report extractor and reasoning writer built on it.

A failure (endpoint down, HTTP error, invalid or off-schema JSON after all retries, a diagnosis the KG
cannot link) raises `LLMBackendError` (a ReportError) naming the item, so the caller quarantines it:
an LLM failure never becomes a silently wrong sample.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pathreasoner.errors import ReportError
from pathreasoner.io_utils import atomic_write_json
from pathreasoner.response import compose_response
from pathreasoner.samples.quality import has_leakage

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class LLMBackendError(ReportError):
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


@dataclass(frozen=True, slots=True)
class LLMSettings:
    """Where and how to call the endpoint."""

    base_url: str  # e.g. http://127.0.0.1:8000/v1
    model: str
    api_key: str = ""
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    max_concurrency: int = 4
    cache_dir: str | None = None


def _missing_keys(value: Any, schema: dict[str, Any]) -> list[str]:
    if not isinstance(value, dict):
        return ["<object>"]
    return [k for k in schema.get("required", []) if k not in value]


class LLMClient:
    """Chat completions with `response_format: json_schema`; returns the parsed JSON object."""

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.cache_dir = Path(settings.cache_dir) if settings.cache_dir else None
        self.calls = 0  # HTTP requests made (cache hits excluded)

    def _request_body(
        self, messages: list[dict[str, str]], schema: dict[str, Any], name: str
    ) -> dict[str, Any]:
        return {
            "model": self.settings.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True},
            },
        }

    def complete_json(
        self, messages: list[dict[str, str]], schema: dict[str, Any], name: str, item: str
    ) -> dict[str, Any]:
        """The JSON object the model returns for `messages` (cached); LLMBackendError naming `item` on failure."""
        body = self._request_body(messages, schema, name)
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        cached = self.cache_dir / f"{key}.json" if self.cache_dir else None
        if cached is not None and cached.is_file():
            return json.loads(cached.read_text())
        last = "no attempt"
        for attempt in range(self.settings.max_retries + 1):
            if attempt:
                time.sleep(self.settings.backoff_s * 2 ** (attempt - 1))
            try:
                value = self._post(body)
            except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                logger.info("LLM call for %s failed (attempt %d): %s", item, attempt + 1, last)
                continue
            missing = _missing_keys(value, schema)
            if missing:
                last = f"answer lacks {missing}"
                continue
            if cached is not None:
                atomic_write_json(cached, value)
            return value
        raise LLMBackendError(
            f"LLM endpoint {self.settings.base_url} failed for {item} after {self.settings.max_retries + 1} "
            f"attempts ({last}); check llm endpoint/model settings or use the offline backends"
        )

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        request = urllib.request.Request(
            self.settings.base_url.rstrip("/") + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
            payload = json.loads(response.read().decode())
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"not a chat-completions response: {str(payload)[:120]}") from None
        return json.loads(content)  # ValueError (JSONDecodeError) when the model returned invalid JSON

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
