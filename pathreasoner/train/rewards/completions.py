"""Completions reach reward functions as strings or as conversational message lists; read both."""

from __future__ import annotations

from typing import Any


def completion_text(completion: Any) -> str:
    """Text of a completion: a string, a message dict, or a list of messages (assistant turns joined)."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, list | tuple):
        return "".join(
            _content_text(m.get("content")) if isinstance(m, dict) else str(m)
            for m in completion
            if not isinstance(m, dict) or m.get("role", "assistant") == "assistant"
        )
    return str(completion)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text") or ""
        for part in content
        if isinstance(part, dict) and part.get("type", "text") == "text"
    )
