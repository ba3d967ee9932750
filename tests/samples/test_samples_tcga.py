"""TCGA project mapping of linked diagnoses, the fuzzy fallback for OCR-garbled diagnoses, unlinked
mentions, and agreement with the TCGA project labels on real shared reports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pathreasoner.errors import ReportError
from pathreasoner.samples.context import KGContext
from pathreasoner.samples.extract import extract_report
from pathreasoner.samples.reports import Report, load_reports
from pathreasoner.samples.tcga import projects_for


@pytest.mark.parametrize(
    ("diagnosis", "organ", "projects", "basis"),
    [
        ("clear cell renal cell carcinoma", "kidney", {"KIRC"}, "subtype"),
        ("papillary renal cell carcinoma", None, {"KIRP"}, "subtype"),
        ("chromophobe renal cell carcinoma", "kidney", {"KICH"}, "subtype"),
        ("renal cell carcinoma", "kidney", {"KIRC", "KIRP", "KICH"}, "subtype"),
        ("hepatocellular carcinoma", None, {"LIHC"}, "subtype"),
        ("intrahepatic cholangiocarcinoma", "liver", {"CHOL"}, "subtype"),
        ("glioblastoma", "brain", {"GBM"}, "subtype"),
        ("oligodendroglioma", "brain", {"GBM", "LGG"}, "subtype"),
        ("urothelial carcinoma", None, {"BLCA"}, "subtype"),
        ("prostate adenocarcinoma", None, {"PRAD"}, "subtype"),
        ("squamous cell carcinoma", "head and neck", {"HNSC"}, "organ"),
        ("squamous cell carcinoma", "cervix", {"CESC"}, "organ"),
        ("adenocarcinoma", "colorectum", {"COAD", "READ"}, "organ"),
        ("carcinoma", None, set(), "none"),
    ],
)
def test_projects_for(
    ctx: KGContext, diagnosis: str, organ: str | None, projects: set[str], basis: str
) -> None:
    call = projects_for(diagnosis, organ, ctx)
    assert (set(call.projects), call.basis) == (projects, basis)


def test_fuzzy_fallback_links_an_ocr_garbled_diagnosis(ctx: KGContext) -> None:
    text = (
        "Pathology Report for Tumor\nLocalisation : L temporal lobe\nDiagnosis :Anaplastic astrcytoma (WHO grade III)\n"
        "Name of Pathologist: illegible signature and more text here\n"
    )
    extraction = extract_report(Report("P-9", None, text, "garbled", "brain"), ctx)
    assert extraction.diagnosis_link == "fuzzy"
    assert extraction.primary == "anaplastic astrocytoma"
    # nothing close enough: still an error, nothing invented
    with pytest.raises(ReportError, match="no diagnosis found"):
        extract_report(
            Report("P-8", None, "Diagnosis: zzkq wwplm xxrt (WHO grade III)\n" * 3, "g", "brain"), ctx
        )


@pytest.mark.parametrize(
    ("line", "link"),
    [
        ("Hepatocei1u1ar carcin0ma, moderately differentiated.", "ocr-fuzzy"),  # digits read as letters
        ("HEPAT0CELLULAR CAR-\nCIN0MA.", "fuzzy"),
        ("Negative for hepat0ce11ular carcin0ma.", None),  # negated on its own line: nothing invented
        ("1tlP1'.T0CELLUI.AI .,'132CINC C +A.", None),  # beyond recognition: quarantined, not guessed
    ],
)
def test_ocr_fallbacks_link_garbled_diagnoses_and_nothing_else(
    ctx: KGContext, line: str, link: str | None
) -> None:
    report = Report("P-4", None, f"Pathology Report\nLIVER, RESECTION:\n{line}\n", "ocr", "liver")
    if link is None:
        with pytest.raises(ReportError, match="no diagnosis found"):
            extract_report(report, ctx)
        return
    extraction = extract_report(report, ctx)
    assert (extraction.diagnosis_link, extraction.primary) == (link, "hepatocellular carcinoma")


def test_specimen_section_diagnosis_and_summary_header(ctx: KGContext) -> None:
    text = (
        "SPECIMEN: Uterus, cervix: biopsy\n- invasive moderately differentiated squamous cell carcinoma\n"
        "GROSS DESCRIPTION: three fragments of tan tissue measuring up to 0.5 cm in aggregate.\n"
    )
    extraction = extract_report(Report("P-7", None, text, "spec", "cervix"), ctx)
    assert extraction.primary.endswith("squamous cell carcinoma") and extraction.organ == "cervix"
    summary = "MICROSCOPY\nSections show a poorly differentiated tumour.\nSUMMARY\nBladder; transitional cell carcinoma G3 pT2\n"
    assert extract_report(Report("P-6", None, summary, "sum", "bladder"), ctx).primary.endswith(
        "urothelial carcinoma"
    )


def test_unlinked_tumour_phrases_are_reported_not_invented(ctx: KGContext) -> None:
    text = (
        "FINAL DIAGNOSIS:\nColon, resection: adenocarcinoma, moderately differentiated.\n"
        "Also present: a small zorblacytoma of the serosa.\n"
    )
    extraction = extract_report(Report("P-5", None, text, "u", "colorectum"), ctx)
    assert extraction.unlinked == ["small zorblacytoma"]
    assert not any(
        "zorblacytoma" in e for e in [*extraction.finding_entities, *extraction.diagnosis_entities]
    )


@pytest.mark.shared_data
def test_linked_diagnosis_agrees_with_tcga_labels(shared_data: Path, ctx: KGContext) -> None:
    labels = dict(pd.read_csv(shared_data / "reports" / "tcga_patient_to_cancer_type.csv", dtype=str).values)
    reports, _ = load_reports(shared_data / "reports" / "tcga-ocr")
    subset = [r for i, r in enumerate(reports) if i % 15 == 0 and r.patient_id in labels]
    agree = 0
    for report in subset:
        try:
            extraction = extract_report(report, ctx)
        except ReportError:
            continue
        agree += labels[report.patient_id] in projects_for(extraction.primary, extraction.organ, ctx).projects
    assert len(subset) > 250
    assert agree / len(subset) >= 0.88, f"{agree}/{len(subset)}"


@pytest.mark.shared_data
def test_whole_chain_cli_on_real_reports_and_kg_sources(shared_data: Path, tmp_path: Path) -> None:
    """build-kg (curated + Disease Ontology + OncoTree + PathoML/TPO OWL) then build-samples on real TCGA
    OCR reports, through the CLI with one params file: every source in the KG, samples from every organ."""
    import json

    import yaml
    from typer.testing import CliRunner

    from pathreasoner.cli import app

    kg = shared_data / "kg"
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "project": {"work_dir": str(tmp_path / "work")},
                "kg": {
                    "obo_paths": [str(kg / "disease-ontology" / "DO_cancer_slim.obo")],
                    "oncotree_path": str(kg / "oncotree" / "oncotree_development.txt"),
                    "owl_paths": [str(p) for p in sorted((kg / "pathoml").glob("*.owl"))],
                },
                "samples": {"link_embedding": False},
            }
        )
    )
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("KIDNEY.csv", "LIVER.csv", "BLADDER.csv"):
        frame = pd.read_csv(shared_data / "reports" / "tcga-ocr" / name, dtype=str, keep_default_na=False)
        frame.head(25).to_csv(reports / name, index=False)
    runner = CliRunner()
    result = runner.invoke(app, ["build-kg", "--config", str(params)])
    assert result.exit_code == 0, result.output
    stats = runner.invoke(app, ["kg", "stats", "--config", str(params)])
    sources = json.loads(stats.output)
    assert sources["n_nodes"] > 2000, sources
    result = runner.invoke(app, ["build-samples", "--config", str(params), "--reports", str(reports)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "work" / "samples"
    card = json.loads((out / "card.json").read_text())
    assert set(card["records_by_organ"]) >= {"kidney", "liver", "bladder"}
    assert card["n_reports"] >= 60 and card["n_records"] > 300
    assert all(c["failed"] == 0 or c["passed"] > 10 * c["failed"] for c in card["checks"].values())
    nodes = pd.read_parquet(tmp_path / "work" / "kg" / "nodes.parquet")
    assert {"curated", "doid", "oncotree"} <= {s.split("+")[0].split(":")[0] for s in nodes["source"]}
