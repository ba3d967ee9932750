"""`extractions.jsonl`: one auditable line per report, what build-samples read from it (docs/contracts.md).

A used report's line holds the primary diagnosis (KG entity and id, the report's words and their character
span), the organ and where it came from, the candidate TCGA projects and their basis, the stated grade,
pT, pN, margin and LVI, and every tumour when the report describes several. A quarantined report's line
holds the reason (and its class, for counting).
"""

from __future__ import annotations

import re
from typing import Any

from pathreasoner.samples.context import KGContext
from pathreasoner.samples.extract import Extraction
from pathreasoner.samples.project_choice import narrow_by_renal_type
from pathreasoner.samples.reports import Report
from pathreasoner.samples.tcga import candidate_projects

EXTRACTIONS_FILE = "extractions.jsonl"

# quarantine reason classes, by the words their messages start with (after "report X (patient):")
_REASON_CLASSES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.I), name)
    for p, name in (
        (r"no diagnosis", "no diagnosis"),
        (r"two primar", "two primaries"),
        (r"unknown language|not english|script", "unknown language"),
        (r"without a text layer|no text layer", "PDF without text layer"),
        (r"unreadable PDF", "unreadable PDF"),
        (r"empty report", "empty text"),
        (r"too short", "text too short"),
        (r"garbled", "garbled text"),
        (r"not valid JSON|lacks", "malformed record"),
    )
)
_REPORT_PREFIX = re.compile(r"^report .*?\([^)]*\):\s*")


def reason_class(reason: str) -> str:
    """A short class for a quarantine reason ("no diagnosis", "garbled text", ...), for counting."""
    text = _REPORT_PREFIX.sub("", reason)
    for pattern, name in _REASON_CLASSES:
        if pattern.search(text):
            return name
    return text.split(";")[0].split("(")[0].strip()[:60] or "other"


def quarantined_record(
    item: str, reason: str, patient_id: str | None = None, organ: str | None = None
) -> dict[str, Any]:
    """The line of a report that gave no samples (`organ`: the file name's, when it gives one)."""
    return {
        "patient_id": patient_id,
        "source": item,
        "organ": organ,
        "status": "quarantined",
        "reason": reason,
        "reason_class": reason_class(reason),
    }


def report_projects(extraction: Extraction, ctx: KGContext) -> tuple[frozenset[str], str]:
    """The TCGA projects of the diagnosis, narrowed by the histology, grade and site the report states
    (`tcga.candidate_projects`), then by the renal cell carcinoma type words beside a generic RCC."""
    sites = [s for s in (extraction.site, *extraction.stated_sites) if s]
    projects, basis = candidate_projects(
        extraction.organ, extraction.primary, extraction.facts.get("grade"), sites, ctx
    )
    narrowed = narrow_by_renal_type(projects, extraction.renal_types)
    if narrowed:
        return narrowed[0], f"{basis}; {narrowed[1]}"
    return projects, basis


def extraction_record(report: Report, extraction: Extraction, ctx: KGContext) -> dict[str, Any]:
    """The line of a used report (see the module docstring and docs/contracts.md)."""
    projects, basis = report_projects(extraction, ctx)
    span = extraction.primary_span or {}
    stated = extraction.stated
    return {
        "patient_id": report.patient_id,
        "source": report.source,
        "status": "ok",
        "organ": extraction.organ,
        "organ_source": extraction.organ_source or None,
        "organ_span": list(extraction.organ_span) if extraction.organ_span else None,
        "organ_conflict": extraction.organ_conflict,
        "diagnosis": {
            "entity": extraction.primary,
            "kg_id": ctx.node_id(extraction.primary),
            "refined": extraction.refined,
            "display": extraction.diagnosis_display,
            "text": span.get("text"),
            "start": span.get("start"),
            "end": span.get("end"),
            "section": span.get("section"),
            "link": extraction.diagnosis_link,
        },
        "projects": sorted(projects),
        "projects_basis": basis,
        "grade": extraction.facts.get("grade"),
        "pT": extraction.facts.get("pT"),
        "pN": extraction.facts.get("pN"),
        "margin": extraction.facts.get("margin"),
        "lvi": extraction.facts.get("lvi"),
        "figo": extraction.facts.get("figo"),
        "size_cm": stated.size_cm if stated else None,
        "tumours": extraction.tumours,
    }
