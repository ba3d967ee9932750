"""Strict TCGA project calls read from a report: its grade, site and renal type words decide between projects."""

from __future__ import annotations

import pytest

from pathreasoner.samples.context import KGContext
from pathreasoner.samples.extract import Extraction, extract_report
from pathreasoner.samples.extractions import report_projects
from pathreasoner.samples.project_choice import RENAL_PROJECTS, narrow_by_renal_type, renal_types
from pathreasoner.samples.reports import Report


def test_renal_type_words() -> None:
    # KIDNEY.csv:row84 of the shared reports: the type on the next line, in its older name
    assert renal_types("1. Histologic type: Renal cell carcinoma, conventional (clear \ncell) type") == {
        "KIRC"
    }
    assert renal_types("papillary renal cell carcinoma, type 2") == {"KIRP"}
    assert narrow_by_renal_type(RENAL_PROJECTS, {"KIRC", "KIRP"}) is None
    assert narrow_by_renal_type(RENAL_PROJECTS, {"KICH"}) == ({"KICH"}, "histologic type: KICH")
    assert narrow_by_renal_type(frozenset({"LIHC", "CHOL"}), {"KICH"}) is None


def _extraction(text: str, organ: str, ctx: KGContext, patient: str = "TCGA-AA-0003") -> Extraction:
    return extract_report(Report(patient, None, text, "x.txt", organ), ctx)


def _projects(text: str, organ: str, ctx: KGContext) -> tuple[frozenset[str], str]:
    return report_projects(_extraction(text, organ, ctx), ctx)


def test_who_grade_in_the_report_decides_glioma(ctx: KGContext) -> None:
    text = (
        "FINAL DIAGNOSIS:\nBrain, left frontal lobe, resection: Diffuse glioma, CNS WHO grade 3.\n"
        "COMMENT: The tumour is moderately cellular with mitoses.\n"
    )
    projects, basis = _projects(text, "brain", ctx)
    assert projects == {"LGG"} and "grade" in basis


def test_renal_type_beside_a_generic_rcc_decides_kidney(ctx: KGContext) -> None:
    text = (
        "FINAL DIAGNOSIS:\nKidney, left, radical nephrectomy: Renal cell carcinoma, conventional (clear\n"
        "cell) type, 6.5 cm, Fuhrman nuclear grade 3. Margins negative.\n"
    )
    projects, basis = _projects(text, "kidney", ctx)
    assert projects == {"KIRC"} and "histologic type" in basis


def test_a_precursor_in_a_staged_checklist_stands_for_the_invasive_tumour(ctx: KGContext) -> None:
    """PROSTATE.csv TCGA-HC-7077: OCR lost the histologic type; the checklist names only 'High-grade PIN' and
    stages the tumour pT3a, so the diagnosis is the prostate adenocarcinoma HGPIN is the precursor of."""
    text = (
        "DIAGNOSIS:\nC~e, radical prostatectomy:\nTumor naracteristlcs:\n1. Histologic type&\\'W1Q~o1!i~'il>\n"
        "2. Gleason's Grade:\na. Primary pattern: 3 of 5.\n7. Lymphovascular space Invasion: Absent.\n"
        "9. High-grade PIN: Presenl\n2. pTNM Stage: pT3a NX MX\n"
    )
    extraction = _extraction(text, "prostate", ctx)
    assert (extraction.primary, extraction.diagnosis_link) == ("prostate adenocarcinoma", "staged")
    unstaged = _extraction(text.replace("pT3a", "pTX"), "prostate", ctx)
    assert unstaged.primary == "high-grade prostatic intraepithelial neoplasia"


def test_romance_spelling_of_oligoastrocytoma_and_its_who_grade(ctx: KGContext) -> None:
    """BRAIN.csv TCGA-TQ-A7RG (translated report): 'Oligoastrocitoma ,grade IIWHO'."""
    text = (
        "Conclusion :Low-grade glioma ,in this material. Diagnosis: Resection product of brain lesion in the left "
        "temporal region: -Oligoastrocitoma ,grade IIWHO (ICD-O 9382/3).\n"
    )
    extraction = _extraction(text, "brain", ctx)
    assert extraction.primary == "oligoastrocytoma"
    assert extraction.facts["grade"] == "CNS WHO grade 2"
    assert report_projects(extraction, ctx)[0] == {"LGG"}


@pytest.mark.parametrize(
    ("text", "projects"),
    [
        (  # KIDNEY.csv TCGA-AK-3450: a benign 'papillary' lesion named elsewhere
            "Final Diagnosis:  Right kidney:  Renal cell carcinoma, clear cell (conventional) type, Fuhrman "
            "nuclear  grade II/IV.  -The 4.0 em carcinoma is confined to renal parenchyma.  -Surgical resection "
            "margins are free of carcinoma.  Tubular/papillary adenoma.  Renal cortical cysts.\n",
            {"KIRC"},
        ),
        (  # KIDNEY.csv TCGA-B0-5706: a checklist after the diagnosis lists every type as an option
            "FINAL DIAGNOSIS:\nPART1, KIDNEY,LEFT, NEPHRECTOMY\nA. RENAL CELL CARCINOMA, CONVENTIONAL (CLEAR) "
            "CELL TYPE, FUHRMAN'S NUCLEAR GRADE IS ( II OF IV)\nB. RENAL CELL CARCINOMA GROWS IN ACINAR SOLID "
            "PATTERN.\nE. Type of malignant neoplasm: 1\n1. Renal cett carcinoma, clear cett type (InCludes "
            "non-papillary granular celt Ree)\n2. Renal cett carcinoma, chromophil cen type (papillary RCC, no "
            "clear cell component)\n3. Renal cell carcinoma. chromophobe cell type\n",
            {"KIRC"},
        ),
        (  # KIDNEY.csv TCGA-B8-A54F: OCR glued 'clear celltype'
            "DIAGNOSIS:\nHistologic tumor type/subtype: renal cell carcinoma, clear celltype Sarcomatoid "
            "features: no\n",
            {"KIRC"},
        ),
        # two types beside the diagnosis decide nothing
        (
            "FINAL DIAGNOSIS:\nKidney: Renal cell carcinoma with clear cell and papillary areas, 5 cm.\n",
            RENAL_PROJECTS,
        ),
    ],
)
def test_type_words_beside_the_diagnosis_decide_the_renal_project(
    ctx: KGContext, text: str, projects: frozenset[str]
) -> None:
    """The type named with the diagnosis's first statement outranks type words elsewhere in the report."""
    found, basis = _projects(text, "kidney", ctx)
    assert found == projects
    assert basis.endswith("histologic type: KIRC") == (projects == {"KIRC"})
