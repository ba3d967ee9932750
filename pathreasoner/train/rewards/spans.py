"""The spans of a response the rewards read, found in one pass over its tags.

`split_response` gives the same spans and well-formedness as `pathreasoner.response.parse_response`
(`is_well_formed`: the three tags, in order, each closed, no tag inside a span, only whitespace around),
but checks the tag sequence instead of running the tag-excluding regex over every character: the GRPO
rewards read each completion several times per step. An untagged text is read whole (a model that has
not learnt the format yet still gets entity/path signal); a tagged text without the span contributes
nothing, so entities written only in <answer> earn no reasoning credit.
"""

from __future__ import annotations

import re

from pathreasoner.response import TAGS, ParsedResponse, parse_response

_TAG = re.compile(r"<(/?)(observe|think|answer)>")
_SEQUENCE = [(close, tag) for tag in TAGS for close in ("", "/")]


def split_response(text: str) -> ParsedResponse:
    """observe/think/answer (stripped) and whether the text is exactly the format; as parse_response."""
    tags = list(_TAG.finditer(text))
    if [(m.group(1), m.group(2)) for m in tags] == _SEQUENCE:
        gaps = (
            text[: tags[0].start()],
            text[tags[1].end() : tags[2].start()],
            text[tags[3].end() : tags[4].start()],
            text[tags[5].end() :],
        )
        if not any(g.strip() for g in gaps):
            spans = [text[tags[i].end() : tags[i + 1].start()].strip() for i in (0, 2, 4)]
            return ParsedResponse(text, *spans, well_formed=True)
    if not tags:
        return ParsedResponse(text, None, None, None, well_formed=False)
    return parse_response(text)


def reasoning_span(text: str) -> str:
    """The <observe> + <think> spans; the whole text when it has none of the format's tags; else ''."""
    parsed = split_response(text)
    spans = [s for s in (parsed.observe, parsed.think) if s is not None]
    if spans:
        return "\n".join(spans)
    return "" if _TAG.search(text) else text


def think_span(text: str) -> str:
    """The <think> span; the whole text when it has none of the format's tags; else ''."""
    think = split_response(text).think
    if think is not None:
        return think
    return "" if _TAG.search(text) else text


def answer_span(text: str) -> str:
    """The <answer> span, or the whole text (stripped) when there is none; as response.answer_text."""
    answer = split_response(text).answer
    return answer if answer is not None else text.strip()
