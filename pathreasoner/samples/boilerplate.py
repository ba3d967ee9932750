"""Boilerplate, comments and test descriptions that name diseases as examples ("EGFR ... is an attractive
target in glioblastoma", "this assay detects mutations seen in colorectal carcinoma"): a diagnosis named in
such a sentence is never the report's diagnosis."""

from __future__ import annotations

import re

_CUES = re.compile(
    r"\b(?:(?:attractive|therapeutic|potential)\s+(?:\w+\s+)?target|targeted\s+(?:therapy|therapies|agents?)|"
    r"in\s+vivo|in\s+vitro|cell\s+cultures?|models?\s+of|akin\s+to|differential\s+diagnos[ie]s\s+(?:includes?|is|of)|differential\s+(?:would\s+|may\s+)?includes?|"
    r"(?:tumou?rs|cases|patients)\s+(?:exhibit|show|harbou?r|display|carry)|approximately\s+\d+\s*%|"
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
# a literature reference: "Hegi M. et al. MGMT Gene Silencing ... in Glioblastoma. N Engl J Med 352; 10:997-1003"
_CITED_BEFORE = re.compile(r"\bet\.?\s+al\b", re.I)
_CITED_AFTER = re.compile(r"\b\d{1,4}\s*[;(]\s*\d{1,4}\s*\)?\s*:\s*\d{1,5}\s*-\s*\d{1,5}\b")
CITATION_REACH = 100
# a checklist's template label that names the diseases it is for: "Staging for renal cell carcinoma/oncocytoma:"
# (OCR: "Siaging for")
_TEMPLATE_LABEL = re.compile(
    r"\b(?:s[a-z1|]?ag[il1|]ng|checklist|protocol|template)\s+(?:for|of)\b[^:\n]{0,80}:", re.I
)
TEMPLATE_REACH = 100


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence around [start, end): from the last break before it to the first break after it."""
    left = max(0, start - MAX_REACH)
    for m in _BREAK.finditer(text, left, start):
        left = m.end()
    m = _BREAK.search(text, end, min(len(text), end + MAX_REACH))
    return left, m.start() if m else min(len(text), end + MAX_REACH)


def in_boilerplate(text: str, start: int, end: int) -> bool:
    """Whether the mention at [start, end) sits in a sentence that describes a test or names diseases as
    examples rather than stating this report's findings, in a checklist's template label, or in a literature
    reference."""
    left, right = sentence_bounds(text, start, end)
    return (
        _CUES.search(text, left, right) is not None
        or _in_template_label(text, start, end)
        or _CITED_BEFORE.search(text, max(0, start - CITATION_REACH), start) is not None
        or _CITED_AFTER.search(text, end, end + CITATION_REACH) is not None
    )


def _in_template_label(text: str, start: int, end: int) -> bool:
    """Whether [start, end) overlaps a checklist template label on its line (a mention inside the label, or
    a whole OCR line holding one)."""
    reach = max(0, start - TEMPLATE_REACH)
    line_start = max(text.rfind("\n", reach, start) + 1, reach)
    return any(
        m.start() < end and m.end() > start
        for m in _TEMPLATE_LABEL.finditer(text, line_start, min(len(text), end + TEMPLATE_REACH))
    )
