"""The spans of a response the rewards read. An untagged text is read whole (a model that has not learnt
the format yet still gets entity/path signal); a tagged text without the span contributes nothing, so
entities written only in <answer> earn no reasoning credit."""

from __future__ import annotations

import re

from pathreasoner.response import parse_response

_ANY_TAG = re.compile(r"</?(?:observe|think|answer)>")


def reasoning_span(text: str) -> str:
    """The <observe> + <think> spans; the whole text when it has none of the format's tags; else ''."""
    parsed = parse_response(text)
    spans = [s for s in (parsed.observe, parsed.think) if s is not None]
    if spans:
        return "\n".join(spans)
    return "" if _ANY_TAG.search(text) else text


def think_span(text: str) -> str:
    """The <think> span; the whole text when it has none of the format's tags; else ''."""
    think = parse_response(text).think
    if think is not None:
        return think
    return "" if _ANY_TAG.search(text) else text
