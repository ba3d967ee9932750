"""Map a linked diagnosis (and its organ) to the TCGA project codes it is compatible with.

Used to measure extraction against the patients' TCGA project labels: a diagnosis that names a subtype
(clear cell RCC, cholangiocarcinoma, glioblastoma) maps to one project; a generic one (carcinoma of the
kidney) maps to every project of its organ. An unmappable diagnosis maps to the empty set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pathreasoner.samples.context import KGContext

ORGAN_PROJECTS: dict[str, frozenset[str]] = {
    "head and neck": frozenset({"HNSC"}),
    "colorectum": frozenset({"COAD", "READ"}),
    "kidney": frozenset({"KIRC", "KIRP", "KICH"}),
    "liver": frozenset({"LIHC", "CHOL"}),
    "pancreas": frozenset({"PAAD"}),
    "prostate": frozenset({"PRAD"}),
    "bladder": frozenset({"BLCA"}),
    "brain": frozenset({"GBM", "LGG"}),
    "ovary": frozenset({"OV"}),
    "cervix": frozenset({"CESC"}),
    "breast": frozenset({"BRCA"}),
    "lung": frozenset({"LUAD", "LUSC"}),
}

# (pattern on the diagnosis name or one of its is_a ancestors, projects); first match wins
SUBTYPE_PROJECTS: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = tuple(
    (re.compile(p), frozenset(codes))
    for p, codes in (
        (r"clear cell renal", {"KIRC"}),
        (r"papillary renal", {"KIRP"}),
        (r"chromophobe", {"KICH"}),
        (r"cholangiocarcinoma|bile duct", {"CHOL"}),
        (r"hepatocellular|fibrolamellar|hepatoblastoma", {"LIHC"}),
        (r"glioblastoma|gliosarcoma", {"GBM"}),
        (r"astrocytoma|oligodendroglioma|oligoastrocytoma|glioma", {"GBM", "LGG"}),
        (r"\bcolon\b", {"COAD"}),
        (r"\brect(al|um)\b", {"READ"}),
        (r"colorectal", {"COAD", "READ"}),
        (r"urothelial|bladder", {"BLCA"}),
        (r"prostat", {"PRAD"}),
        (r"pancrea", {"PAAD"}),
        (r"ovar|serous tubal|high-grade serous|low-grade serous", {"OV"}),
        (r"cervi", {"CESC"}),
        (r"breast|ductal carcinoma in situ|lobular carcinoma", {"BRCA"}),
        (r"lung adenocarcinoma", {"LUAD"}),
        (r"lung squamous", {"LUSC"}),
        (r"laryn|oral|tongue|pharyn|tonsil|head and neck", {"HNSC"}),
        (r"renal|kidney", {"KIRC", "KIRP", "KICH"}),
    )
)


@dataclass(frozen=True, slots=True)
class ProjectCall:
    """The TCGA projects a diagnosis is compatible with, and what decided it."""

    projects: frozenset[str]
    basis: str  # "subtype" (the diagnosis names it), "organ" (organ of the diagnosis) or "none"


def projects_for(diagnosis: str, organ: str | None, ctx: KGContext) -> ProjectCall:
    """TCGA projects compatible with a linked diagnosis; `organ` is used when the diagnosis is generic."""
    for name in (diagnosis, *ctx.ancestors(diagnosis, ("is_a",))):
        lowered = name.lower()
        for pattern, codes in SUBTYPE_PROJECTS:
            if pattern.search(lowered):
                return ProjectCall(codes, "subtype")
    where = ctx.organ_of_diagnosis(diagnosis) or organ
    if where in ORGAN_PROJECTS:
        return ProjectCall(ORGAN_PROJECTS[where], "organ")
    return ProjectCall(frozenset(), "none")
