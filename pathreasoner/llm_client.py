"""An OpenAI-compatible chat-completions client that returns JSON-schema-constrained objects.

One request format (`response_format: json_schema`, temperature 0), retries with exponential backoff,
an on-disk cache keyed by the request hash, and two transports: blocking (`complete_json`, urllib, for
thread pools) and async (`acomplete_many`, aiohttp, at most `max_concurrency` requests in flight). A
request that still fails after its retries raises `self.error` (an `LLMError`) naming the item.
Used by build-samples (`samples/llm.py`) and by the GRPO judge reward (`train/rewards/judge.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from pathreasoner.errors import LLMError, PathReasonerError
from pathreasoner.io_utils import atomic_write_json

logger = logging.getLogger(__name__)

Messages = list[dict[str, str]]


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


@dataclass(frozen=True, slots=True)
class JSONRequest:
    """One chat request: the messages, the JSON schema the answer must follow, and the item it is for."""

    messages: Messages
    schema: dict[str, Any]
    name: str
    item: str


def _missing_keys(value: Any, schema: dict[str, Any]) -> list[str]:
    if not isinstance(value, dict):
        return ["<object>"]
    return [k for k in schema.get("required", []) if k not in value]


def _content_json(payload: Any) -> Any:
    """The JSON object in a chat-completions response; ValueError when it is not one."""
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"not a chat-completions response: {str(payload)[:120]}") from None
    return json.loads(content)  # ValueError (JSONDecodeError) when the model returned invalid JSON


class JSONChatClient:
    """Chat completions with `response_format: json_schema`; returns the parsed JSON object."""

    error: type[PathReasonerError] = LLMError  # raised (with the item named) after the last retry

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.cache_dir = Path(settings.cache_dir) if settings.cache_dir else None
        self.calls = 0  # HTTP requests made (cache hits excluded)

    # ---- request, cache --------------------------------------------------------------------
    def _request_body(self, messages: Messages, schema: dict[str, Any], name: str) -> dict[str, Any]:
        return {
            "model": self.settings.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True},
            },
        }

    def _cache_path(self, body: dict[str, Any]) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return self.cache_dir / f"{key}.json"

    @staticmethod
    def _cached(path: Path | None) -> Any | None:
        if path is None or not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # a torn or foreign file: ask again

    def _failure(self, item: str, last: str) -> PathReasonerError:
        return self.error(
            f"LLM endpoint {self.settings.base_url} failed for {item} after {self.settings.max_retries + 1} "
            f"attempts ({last}); check the endpoint/model settings or use the offline backends"
        )

    def _headers(self) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}
        return {"Content-Type": "application/json"} | auth

    @property
    def _url(self) -> str:
        return self.settings.base_url.rstrip("/") + "/chat/completions"

    # ---- blocking ----------------------------------------------------------------------------
    def complete_json(
        self, messages: Messages, schema: dict[str, Any], name: str, item: str
    ) -> dict[str, Any]:
        """The JSON object the model returns for `messages` (cached); `self.error` naming `item` on failure."""
        body = self._request_body(messages, schema, name)
        cached_path = self._cache_path(body)
        cached = self._cached(cached_path)
        if cached is not None:
            return cached
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
            if cached_path is not None:
                atomic_write_json(cached_path, value)
            return value
        raise self._failure(item, last)

    def _post(self, body: dict[str, Any]) -> Any:
        self.calls += 1
        request = urllib.request.Request(
            self._url, data=json.dumps(body).encode(), headers=self._headers(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
            return _content_json(json.loads(response.read().decode()))

    # ---- async -------------------------------------------------------------------------------
    async def acomplete_many(
        self, requests: Sequence[JSONRequest]
    ) -> list[dict[str, Any] | PathReasonerError]:
        """Every request's JSON object, with at most `max_concurrency` HTTP requests in flight; a request
        that fails after its retries yields its `self.error` instead (the others still complete)."""
        limit = max(1, self.settings.max_concurrency)
        gate = asyncio.Semaphore(limit)
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        connector = aiohttp.TCPConnector(limit=limit)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:

            async def one(request: JSONRequest) -> dict[str, Any] | PathReasonerError:
                try:
                    return await self._acomplete(http, gate, request)
                except PathReasonerError as exc:
                    return exc

            return list(await asyncio.gather(*(one(r) for r in requests)))

    async def _acomplete(
        self, http: aiohttp.ClientSession, gate: asyncio.Semaphore, request: JSONRequest
    ) -> dict[str, Any]:
        body = self._request_body(request.messages, request.schema, request.name)
        cached_path = self._cache_path(body)
        cached = self._cached(cached_path)
        if cached is not None:
            return cached
        last = "no attempt"
        for attempt in range(self.settings.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.settings.backoff_s * 2 ** (attempt - 1))
            try:
                async with gate:
                    self.calls += 1
                    async with http.post(self._url, json=body, headers=self._headers()) as response:
                        response.raise_for_status()
                        payload = await response.json(content_type=None)
                value = _content_json(payload)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                logger.info("LLM call for %s failed (attempt %d): %s", request.item, attempt + 1, last)
                continue
            missing = _missing_keys(value, request.schema)
            if missing:
                last = f"answer lacks {missing}"
                continue
            if cached_path is not None:
                atomic_write_json(cached_path, value)
            return value
        raise self._failure(request.item, last)
