"""Narrow a multi-project TCGA call with what the report itself states.

`projects_for` maps a diagnosis to the projects it is compatible with; when several remain, the report
usually decides:
- {GBM, LGG}: the CNS WHO grade (4: glioblastoma, GBM; 2-3: lower-grade glioma, LGG), or a named WHO
  grade 2-3 glioma (oligodendroglioma, oligoastrocytoma, diffuse or anaplastic astrocytoma);
- {COAD, READ}: the tumour site (rectum or rectosigmoid: READ; a part of the colon: COAD);
- {KIRC, KIRP, KICH}: the histologic type named beside a generic renal cell carcinoma.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_LOWER_GRADE_GLIOMA = re.compile(
    r"oligodendroglioma|oligoastrocytoma|diffuse astrocytoma|anaplastic astrocytoma|"
    r"low[- ]grade (?:glioma|astrocytoma)|pilocytic"
)
_GLIOBLASTOMA = re.compile(r"glioblastoma|gliosarcoma")
_RECTAL = re.compile(r"\brect")
_COLONIC = re.compile(r"colon|c(?:a)?ecum|flexure|appendi|ileoc(?:a)?ecal")
# "conventional" renal cell carcinoma is the WHO's older name of clear cell RCC
_RENAL_TYPE = re.compile(r"\b(?:(clear\s*-?\s*cell|conventional)|(papillary)|(chromophobe))\b", re.I)


def renal_types(text: str) -> set[str]:
    """The renal cell carcinoma projects whose histologic type words the text names."""
    found = set()
    for m in _RENAL_TYPE.finditer(text):
        found.add("KIRC" if m.group(1) else "KIRP" if m.group(2) else "KICH")
    return found


def narrow_projects(
    projects: frozenset[str],
    lineage: Iterable[str],
    grade: str | None,
    sites: list[str],
    renal: set[str],
) -> tuple[frozenset[str], str] | None:
    """(the one project the report's own statements leave, the basis) or None when they do not decide.

    `lineage`: the diagnosis and its is_a ancestors; `grade`: the KG grade name; `sites`: the tumour site
    first, then the sites the diagnosis sections name; `renal`: `renal_types` of the diagnosis sections."""
    names = " | ".join(n.lower() for n in lineage)
    if projects == {"GBM", "LGG"}:
        level = re.search(r"CNS WHO grade (\d)", grade or "")
        if level:
            return frozenset({"GBM" if level.group(1) == "4" else "LGG"}), "WHO grade"
        if _GLIOBLASTOMA.search(names):
            return frozenset({"GBM"}), "subtype"
        if _LOWER_GRADE_GLIOMA.search(names):
            return frozenset({"LGG"}), "subtype"
        return None
    if projects == {"COAD", "READ"}:
        for site in sites:
            lowered = site.lower()
            if _RECTAL.search(lowered):
                return frozenset({"READ"}), "site"
            if _COLONIC.search(lowered):
                return frozenset({"COAD"}), "site"
        return None
    if projects == {"KIRC", "KIRP", "KICH"} and len(renal) == 1:
        return frozenset(renal), "histologic type"
    return None
