"""Rules extraction on demo reports (table-driven against the generator's labels) and on edge cases."""

from __future__ import annotations

import pytest

from pathreasoner.errors import ReportError
from pathreasoner.samples.context import KGContext
from pathreasoner.samples.demo_reports import PROFILES, make_demo_cases
from pathreasoner.samples.extract import extract_report
from pathreasoner.samples.reports import Report

CASES = make_demo_cases(len(PROFILES) * 3, seed=0)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.patient_id}-{c.organ}" for c in CASES])
def test_demo_report_facts_match_labels(case, ctx: KGContext) -> None:
    report = Report(case.patient_id, case.slide_id, case.report_text, "reports.jsonl", case.organ)
    extraction = extract_report(report, ctx)
    labels = case.labels
    assert extraction.primary == labels["diagnosis"]
    assert extraction.organ == case.organ and extraction.site == labels["site"]
    assert extraction.facts["grade"] == labels["grade"]
    for key in ("pT", "pN", "margin", "lvi"):
        assert extraction.facts.get(key) == labels.get(key), key
    assert labels["grade"] in extraction.diagnosis_entities
    if "lvi" in labels:
        assert f"lymphovascular invasion {labels['lvi']}" in extraction.finding_entities
        assert f"perineural invasion {labels['pni']}" in extraction.finding_entities
        opposite = {"present": "absent", "absent": "present"}[labels["lvi"]]
        assert f"lymphovascular invasion {opposite}" not in extraction.finding_entities
        assert {"negative": "negative surgical margin", "positive": "positive surgical margin"}[
            labels["margin"]
        ] in extraction.finding_entities
        assert any(e.startswith(labels["pT"]) for e in extraction.diagnosis_entities)
    assert extraction.findings and all(len(f) <= 222 for f in extraction.findings)
    assert extraction.diagnosis.startswith(extraction.facts["diagnosis"])


def test_negated_findings_map_to_absent_nodes_or_are_dropped(ctx: KGContext) -> None:
    text = (
        "FINAL DIAGNOSIS:\nRight tongue, hemiglossectomy: squamous cell carcinoma, poorly differentiated, with "
        "keratinization. No lymphovascular invasion is identified. Perineural invasion: not identified. "
        "No tumor necrosis. No extracapsular extension.\nLymph nodes: 0/22 (pN0).\npT2\n"
    )
    extraction = extract_report(Report("P-1", None, text, "t"), ctx)
    assert (
        extraction.primary == "squamous cell carcinoma"
        and extraction.refined == "oral cavity squamous cell carcinoma"
    )
    assert extraction.organ == "head and neck" and extraction.site == "oral tongue"
    entities = set(extraction.finding_entities)
    assert {
        "keratinization",
        "lymphovascular invasion absent",
        "perineural invasion absent",
        "extranodal extension absent",
    } <= entities
    assert {"lymphovascular invasion present", "tumor necrosis"}.isdisjoint(entities)
    assert extraction.facts["lvi"] == "absent" and extraction.facts["pN"] == "pN0"
    assert (
        "pT2 (oral cavity)" in extraction.diagnosis_entities
        and "no regional lymph node metastasis" in entities
    )


def test_clinical_history_does_not_make_a_diagnosis(ctx: KGContext) -> None:
    text = (
        "CLINICAL HISTORY: rule out squamous cell carcinoma of the lung.\n"
        "FINAL DIAGNOSIS:\nLung, wedge biopsy: benign lung parenchyma with anthracotic pigment, negative for malignancy.\n"
    )
    with pytest.raises(ReportError, match="no diagnosis found"):
        extract_report(Report("P-2", None, text, "t"), ctx)


def test_subtype_and_ihc_polarity(ctx: KGContext) -> None:
    text = (
        "DIAGNOSIS:\nKidney, radical nephrectomy: renal cell carcinoma, clear cell type, WHO/ISUP nuclear grade 3.\n"
        "Tumor cells are positive for CA IX and PAX8, negative for CK7.\nPathologic stage: pT1b pNX\nTumor size: 5.2 cm\n"
    )
    extraction = extract_report(Report("P-3", None, text, "t", "kidney"), ctx)
    assert (
        extraction.primary == "clear cell renal cell carcinoma"
        and extraction.subtype_of == "renal cell carcinoma"
    )
    assert extraction.facts["subtype"] == "clear cell renal cell carcinoma"
    assert extraction.ihc == {"CA IX": "positive", "PAX8": "positive", "CK7": "negative"}
    assert extraction.facts["grade"] == "Fuhrman/ISUP nuclear grade 3"
    assert (
        "tumor size greater than 4 cm up to 7 cm" in extraction.finding_entities
    )  # consistent with pT1b (kidney)
    assert "pT1b (kidney)" in extraction.diagnosis_entities
