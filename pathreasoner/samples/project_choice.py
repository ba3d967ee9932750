"""Renal cell carcinoma type words: what decides {KIRC, KIRP, KICH} when the linked diagnosis is a generic
renal cell carcinoma ("Renal cell carcinoma, conventional (clear cell) type": the type is not a KG term
there). Histology, grade and site narrowing of the other projects is `tcga.candidate_projects`."""

from __future__ import annotations

import re

RENAL_PROJECTS = frozenset({"KIRC", "KIRP", "KICH"})
# "conventional" renal cell carcinoma is the WHO's older name of clear cell RCC
_RENAL_TYPE = re.compile(r"\b(?:(clear\s*-?\s*cell|conventional)|(papillary)|(chromophobe))\b", re.I)


def renal_types(text: str) -> set[str]:
    """The renal cell carcinoma projects whose histologic type words the text names."""
    found = set()
    for m in _RENAL_TYPE.finditer(text):
        found.add("KIRC" if m.group(1) else "KIRP" if m.group(2) else "KICH")
    return found


def narrow_by_renal_type(projects: frozenset[str], types: set[str]) -> tuple[frozenset[str], str] | None:
    """(the one renal project the type words name, the basis) when `projects` are the renal ones and the
    report names exactly one type; else None."""
    if projects == RENAL_PROJECTS and len(types) == 1:
        return frozenset(types), f"histologic type: {next(iter(types))}"
    return None
