"""The answer format used everywhere: `<observe>…</observe>\\n<think>…</think>\\n<answer>…</answer>`."""

from __future__ import annotations

import re
from dataclasses import dataclass

TAGS = ("observe", "think", "answer")
_NO_TAG = r"(?:(?!</?(?:observe|think|answer)>).)*"  # a span that holds no tag of the format
FORMAT_RE = re.compile(
    rf"^\s*<observe>(?P<observe>{_NO_TAG})</observe>\s*<think>(?P<think>{_NO_TAG})</think>"
    rf"\s*<answer>(?P<answer>{_NO_TAG})</answer>\s*$",
    re.DOTALL,
)
_TAG_RE = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL) for tag in TAGS}

SYSTEM_PROMPT = (
    "You are an expert pathologist. Look at the slide views, describe the key visual findings in "
    "<observe></observe>, reason step by step in <think></think>, and give a concise conclusion in "
    "<answer></answer>."
)


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    """A model response split into its three parts; `well_formed` means all three tags, in order."""

    text: str
    observe: str | None
    think: str | None
    answer: str | None
    well_formed: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "observe": self.observe,
            "think": self.think,
            "answer": self.answer,
            "well_formed": self.well_formed,
        }


def compose_response(observe: str, think: str, answer: str) -> str:
    """Write the three parts in the canonical format."""
    return f"<observe>{observe.strip()}</observe>\n<think>{think.strip()}</think>\n<answer>{answer.strip()}</answer>"


def is_well_formed(text: str) -> bool:
    """True when the text is exactly the three tags, in order, each closed (whitespace between allowed)."""
    return FORMAT_RE.match(text) is not None


def parse_response(text: str) -> ParsedResponse:
    """Split a response into observe/think/answer; tolerate malformed text (missing parts are None)."""
    match = FORMAT_RE.match(text)
    if match:
        return ParsedResponse(text, *(match.group(t).strip() for t in TAGS), well_formed=True)
    parts = {}
    for tag in TAGS:
        found = _TAG_RE[tag].search(text)
        parts[tag] = found.group(1).strip() if found else None
    return ParsedResponse(text, parts["observe"], parts["think"], parts["answer"], well_formed=False)


def reasoning_text(text: str) -> str:
    """The observe + think spans (where the entity reward looks); the whole text when neither tag exists."""
    parsed = parse_response(text)
    spans = [s for s in (parsed.observe, parsed.think) if s]
    return "\n".join(spans) if spans else text


def answer_text(text: str) -> str:
    """The answer span, or the whole text when there is no <answer> tag."""
    parsed = parse_response(text)
    return parsed.answer if parsed.answer is not None else text.strip()
