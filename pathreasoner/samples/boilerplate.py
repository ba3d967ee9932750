"""Boilerplate, comments and test descriptions that name diseases as examples ("EGFR ... is an attractive
target in glioblastoma", "this assay detects mutations seen in colorectal carcinoma"): a diagnosis named in
such a sentence is never the report's diagnosis."""

from __future__ import annotations

import re

_CUES = re.compile(
    r"\b(?:attractive\s+target|therapeutic\s+target|targeted\s+(?:therapy|therapies|agents?)|"
    r"(?:is|are)\s+(?:\w+ly\s+)?(?:seen|found|amplified|mutated|overexpressed|expressed|reported|observed|"
    r"described|associated)\s+in|has\s+been\s+(?:reported|described|associated|shown)|have\s+been\s+"
    r"(?:reported|described|associated|shown)|may\s+be\s+seen|can\s+be\s+seen|such\s+as|e\.\s?g\.|"
    r"for\s+example|clinical\s+trials?|this\s+(?:test|assay)|the\s+assay|methodology|"
    r"laboratory[- ]developed|was\s+developed|not\s+been\s+(?:cleared|approved)|FDA|literature|studies\s+"
    r"(?:have|show|suggest))\b",
    re.I,
)
_BREAK = re.compile(r"\.(?=\s)|\n\s*\n|;")
MAX_REACH = 400


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence around [start, end): from the last break before it to the first break after it."""
    left = max(0, start - MAX_REACH)
    for m in _BREAK.finditer(text, left, start):
        left = m.end()
    m = _BREAK.search(text, end, min(len(text), end + MAX_REACH))
    return left, m.start() if m else min(len(text), end + MAX_REACH)


def in_boilerplate(text: str, start: int, end: int) -> bool:
    """Whether the mention at [start, end) sits in a sentence that describes a test or names diseases as
    examples rather than stating this report's findings."""
    left, right = sentence_bounds(text, start, end)
    return _CUES.search(text, left, right) is not None
