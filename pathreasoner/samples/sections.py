"""Split a surgical pathology report into sections (diagnosis, microscopic, gross, synoptic, ...).

Header lines are recognised by fuzzy matching (rapidfuzz) so that OCR noise such as "DIAGNOSlS" or
"Microscoplc Description" still opens the right section. Text before the first header is "preamble".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

SECTION_HEADERS: dict[str, tuple[str, ...]] = {
    "diagnosis": (
        "final diagnosis",
        "final diagnoses",
        "diagnosis",
        "diagnoses",
        "pathologic diagnosis",
        "pathological diagnosis",
        "final pathologic diagnosis",
        "surgical pathology diagnosis",
        "final surgical pathology diagnosis",
        "diagnostic summary",
        "diagnosis comment",
        "interpretation",
        "summary",
        "conclusion",
        "conclusions",
        "opinion",
        "report summary",
        "impression",
        "impressions",
        "pathologic impression",
    ),
    "microscopic": (
        "microscopic description",
        "microscopic",
        "microscopic examination",
        "microscopic findings",
        "histologic description",
        "microscopy",
        "histology",
    ),
    "gross": (
        "gross description",
        "gross",
        "macroscopic description",
        "gross examination",
        "macroscopic",
        "gross findings",
    ),
    "synoptic": (
        "synoptic data",
        "synoptic report",
        "synoptic",
        "cancer case summary",
        "cap checklist",
        "checklist",
        "surgical pathology cancer case summary",
        "tumor summary",
        "tumour summary",
        "pathologic staging",
        "synoptic report cap checklist",
        "cancer summary",
    ),
    "comment": ("comment", "comments", "note", "notes", "addendum", "additional findings"),
    "history": (
        "clinical history",
        "clinical information",
        "history",
        "clinical data",
        "clinical diagnosis",
        "clinical diagnosis history",  # "Clinical Diagnosis & History:"
        "clinical diagnosis and history",
        "preoperative diagnosis",
        "pre operative diagnosis",
        "postoperative diagnosis",
        "post operative diagnosis",
        "indication",
        "clinical indication",
        "reason for referral",
        "operative diagnosis",
    ),
    "specimen": (
        "specimen",
        "specimens",
        "specimens received",
        "specimen s received",
        "specimens submitted",
        "source of specimen",
        "specimen submitted",
        "received",
        "specimen procedure",
        "specimens procedures",
    ),
    "intraop": (
        "intraoperative consultation",
        "frozen section",
        "frozen section diagnosis",
        "intraoperative diagnosis",
        "frozen section consultation",
    ),
}
_CHOICES = {header: name for name, headers in SECTION_HEADERS.items() for header in headers}
_CHOICE_KEYS = list(_CHOICES)
_INSIDE_SYNOPTIC = frozenset({"specimen", "history", "comment"})
HEADER_SCORE = 88
MAX_HEADER_CHARS = 48
# a "site, procedure:" line ("Frontal tumor, left, biopsy:") heads the diagnosis of that specimen; it opens a
# diagnosis section where OCR lost the DIAGNOSIS header (after the clinical history or in the preamble)
_SPECIMEN_DX_LINE = re.compile(
    r"^[^:\n]{3,80},[^:\n]*\b(?:biops(?:y|ies)|excision|resection|[a-z]*ectomy|bx)[ \t.]*:[ \t]*\n?$", re.I
)
_HEADERLESS_DX_AFTER = frozenset({"history", "preamble"})
# a line that opens a gross description ("A.Received in formalin ...", "The specimen is received fresh"): a
# clinical history never holds one, so it ends a history section whose next header OCR garbled
_GROSS_OPENING = re.compile(
    r"^\s*(?:[A-Z1-9][.)]\s*)?(?:the\s+specimen\s+(?:is|was)\s+)?received\s+(?:in|fresh)", re.I
)
_NON_LETTERS = re.compile(r"[^a-z ]+")
# a report-status note after the header words ("Final Diagnosis (Verified)", "GROSS (continued)")
_TRAILING_NOTE = re.compile(r"\s*\((?:verified|continued)\)\s*$", re.I)


@dataclass(frozen=True, slots=True)
class Section:
    """A named span [start, end) of the report text."""

    name: str
    start: int
    end: int


def _header_of(line: str) -> tuple[str, int] | None:
    """(section name, offset where its content starts in the line) when the line opens a section."""
    stripped = line.strip()
    if not stripped:
        return None
    head, sep, _ = stripped.partition(":")
    candidate = head if sep else stripped
    if len(candidate) > MAX_HEADER_CHARS:
        return None
    name = _section_named(candidate, bool(sep))
    if name is None:
        return None
    offset = line.index(":") + 1 if sep else len(line)
    return name, offset


@lru_cache(maxsize=16384)
def _section_named(candidate: str, has_colon: bool) -> str | None:
    """The section a header candidate names (fuzzy, for OCR noise); short lines repeat across reports."""
    if "(" in candidate:
        candidate = _TRAILING_NOTE.sub("", candidate)
    words = _NON_LETTERS.sub(" ", candidate.lower()).split()  # (letters and spaces left: split() collapses)
    key = " ".join(words)
    if len(key) < 4 or (not has_colon and len(words) > 5):
        return None
    return _header_named(key)


def _reachable(length: int, other: int) -> bool:
    """Whether two strings of these lengths can reach HEADER_SCORE with fuzz.ratio (200 * LCS / total)."""
    return 200 * min(length, other) >= HEADER_SCORE * (length + other)


# per key length, the header spellings whose length lets fuzz.ratio reach HEADER_SCORE (in _CHOICE_KEYS
# order, so extractOne's best match and its tie-breaking are the same as over all of them)
_CHOICES_BY_LENGTH = {
    length: [c for c in _CHOICE_KEYS if _reachable(length, len(c))]
    for length in range(1, 4 * max(map(len, _CHOICE_KEYS)))
}


@lru_cache(maxsize=65536)
def _header_named(key: str) -> str | None:
    """The section a normalised header key names (candidates differing in digits share one key)."""
    choices = _CHOICES_BY_LENGTH.get(len(key), _CHOICE_KEYS)
    match = process.extractOne(key, choices, scorer=fuzz.ratio, score_cutoff=HEADER_SCORE)
    return None if match is None else _CHOICES[match[0]]


def split_sections(text: str) -> list[Section]:
    """Consecutive sections covering the whole text, in order (a name may repeat)."""
    sections: list[Section] = []
    current, start, pos = "preamble", 0, 0
    lines = text.split("\n")  # each line but the last keeps its newline; an empty last one is no line
    last = len(lines) - 1
    for i, raw in enumerate(lines):
        if i == last and not raw:
            break
        line = raw + "\n" if i < last else raw
        header = _header_of(line)
        if (
            header is None
            and current in _HEADERLESS_DX_AFTER
            and line.rstrip().endswith(":")
            and _SPECIMEN_DX_LINE.match(line)
        ):
            header = ("diagnosis", 0)
        if header is None and current == "history" and _GROSS_OPENING.match(line):
            header = ("gross", 0)
        if header is not None and current == "synoptic" and header[0] in _INSIDE_SYNOPTIC:
            header = None  # "Specimen:", "Received:" are checklist keys inside a synoptic block
        if header is not None:
            name, offset = header
            if pos > start or current != "preamble":
                sections.append(Section(current, start, pos))
            current, start = name, pos + offset
        pos += len(line)
    sections.append(Section(current, start, len(text)))
    return [s for s in sections if s.end > s.start]


def section_at(sections: list[Section], offset: int) -> str:
    """Name of the section holding a character offset."""
    for section in sections:
        if section.start <= offset < section.end:
            return section.name
    return "preamble"


def section_text(text: str, sections: list[Section], names: tuple[str, ...]) -> str:
    """The text of every section with one of these names, joined by newlines."""
    return "\n".join(text[s.start : s.end] for s in sections if s.name in names)
