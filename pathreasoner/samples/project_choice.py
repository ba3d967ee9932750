"""Renal cell carcinoma type words: what decides {KIRC, KIRP, KICH} when the linked diagnosis is a generic
renal cell carcinoma ("Renal cell carcinoma, conventional (clear cell) type": the type is not a KG term
there). Histology, grade and site narrowing of the other projects is `tcga.candidate_projects`."""

from __future__ import annotations

import re

from pathreasoner.samples.mentions import Tagged

RENAL_PROJECTS = frozenset({"KIRC", "KIRP", "KICH"})
# "conventional" renal cell carcinoma is the WHO's older name of clear cell RCC
_RENAL_TYPE = re.compile(
    r"\b(?:(clear\s*-?\s*cell(?:type)?|conventional)|(papillary)|(chromophobe))\b", re.I
)  # ("clear celltype": OCR glued the words)


def renal_types(text: str) -> set[str]:
    """The renal cell carcinoma projects whose histologic type words the text names."""
    found = set()
    for m in _RENAL_TYPE.finditer(text):
        found.add("KIRC" if m.group(1) else "KIRP" if m.group(2) else "KICH")
    return found


# how far a type word may stand from the renal cell carcinoma it qualifies ("Clear cell (conventional) renal
# carcinoma", "Renal cell carcinoma, conventional (clear cell) type")
_BESIDE_CHARS = 40
_PHRASE_END = re.compile(r"\.(?=\s)|;|\n\s*\n")


def renal_types_beside(text: str, spans: list[tuple[int, int]]) -> set[str]:
    """The renal cell carcinoma projects whose type words stand beside the diagnosis at `spans` (within
    `_BESIDE_CHARS`, in its own phrase): a type named with the diagnosis outranks one named elsewhere in the
    report ("Tubular/papillary adenoma", "incidental papillary renal cortical neoplasms")."""
    found: set[str] = set()
    for start, end in spans:
        left, right = max(0, start - _BESIDE_CHARS), min(len(text), end + _BESIDE_CHARS)
        for m in _PHRASE_END.finditer(text, left, start):
            left = m.end()
        stop = _PHRASE_END.search(text, end, right)
        found |= renal_types(text[left : stop.start() if stop else right])
    return found


def renal_types_stated(text: str, tagged: list[Tagged], primary: str, fact_text: str) -> set[str]:
    """The RCC type words of a report, nearest the diagnosis first: beside its first statement, beside any
    of its mentions, then anywhere in the fact sections (the first of these that names one type)."""
    mentions = [t for t in tagged if t.canonical == primary and t.section != "history"]
    first = _first_statement(mentions)
    spans = [(t.mention.start, t.mention.end) for t in mentions]
    for types in (renal_types_beside(text, [first] if first else []), renal_types_beside(text, spans)):
        if len(types) == 1:
            return types
    return renal_types(fact_text)


def _first_statement(mentions: list[Tagged]) -> tuple[int, int] | None:
    """The span of the diagnosis's first mention (of `mentions`, in text order) in the most trusted section
    that names it (the final diagnosis before a checklist's option list or a comment's differential)."""
    for section in ("diagnosis", "synoptic", None):
        first = next((t for t in mentions if section is None or t.section == section), None)
        if first is not None:
            return first.mention.start, first.mention.end
    return None


def narrow_by_renal_type(projects: frozenset[str], types: set[str]) -> tuple[frozenset[str], str] | None:
    """(the one renal project the type words name, the basis) when `projects` are the renal ones and the
    report names exactly one type; else None."""
    if projects == RENAL_PROJECTS and len(types) == 1:
        return frozenset(types), f"histologic type: {next(iter(types))}"
    return None
