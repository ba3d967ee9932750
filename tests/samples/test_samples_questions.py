"""Staging and grade questions for every organ whose report states them: AJCC pT/pN, FIGO (gynaecological),
CNS WHO grade, Gleason, Nottingham, FIGO and FNCLCC grades, each asked in its own system's words."""

from __future__ import annotations

import pytest

from pathreasoner.config import QUESTION_TYPES
from pathreasoner.samples.context import KGContext
from pathreasoner.samples.extract import extract_report
from pathreasoner.samples.extractions import extraction_record
from pathreasoner.samples.questions import build_questions
from pathreasoner.samples.reports import Report
from pathreasoner.samples.staging import parse_figo_stage
from pathreasoner.samples.writer import write_response

LUNG_SQUAMOUS = """FINAL DIAGNOSIS:
A. LUNG, RIGHT UPPER LOBE, LOBECTOMY:
- Squamous cell carcinoma, moderately differentiated, 3.5 cm.
- Bronchial margin: negative for carcinoma.
- Metastatic squamous cell carcinoma in 2 of 12 hilar lymph nodes.
Histologic grade: G2, moderately differentiated
Surgical margins: negative
Pathologic stage: pT2a pN1
"""


@pytest.mark.parametrize(
    ("organ", "text", "grade", "words"),
    [
        ("lung", LUNG_SQUAMOUS, "moderately differentiated", "grade"),
        (
            "uterus",
            "DIAGNOSIS: Uterus, hysterectomy: endometrioid adenocarcinoma, FIGO grade 3.\nMargins: negative\npT1b pN0\n",
            "FIGO grade 3",
            "FIGO grade",
        ),
        (
            "brain",
            "DIAGNOSIS: Brain, right temporal lobe, resection: glioblastoma, IDH-wildtype, CNS WHO grade 4.\n",
            "CNS WHO grade 4",
            "WHO grade",
        ),
        (
            "prostate",
            "DIAGNOSIS: Prostate, radical prostatectomy: acinar adenocarcinoma, Gleason score 4+3=7.\npT2 pN0\n",
            "Gleason score 7 (4+3)",
            "Gleason",
        ),
        (
            "breast",
            "DIAGNOSIS: Breast, left, mastectomy: invasive ductal carcinoma, Nottingham grade 2 (score 7).\n"
            "Margins: negative\npT2 pN1a\n",
            "Nottingham grade 2",
            "Nottingham",
        ),
        (
            "soft tissue",
            "DIAGNOSIS: Soft tissue, retroperitoneum, resection: dedifferentiated liposarcoma, FNCLCC grade 3.\n",
            "FNCLCC grade 3",
            "FNCLCC",
        ),
    ],
)
def test_grade_question_in_the_reports_own_system(
    ctx: KGContext, organ: str, text: str, grade: str, words: str
) -> None:
    extraction = extract_report(Report("P-G", None, text, "g", organ), ctx)
    questions = {q.question_type: q for q in build_questions(extraction, list(QUESTION_TYPES), "P-G")}
    assert questions["grade"].answer == grade and words in questions["grade"].question
    assert questions["grade"].targets == (grade,)


def test_lung_squamous_report_gets_grade_margin_and_node_questions(ctx: KGContext) -> None:
    extraction = extract_report(Report("P-L", None, LUNG_SQUAMOUS, "lung", "lung"), ctx)
    questions = {q.question_type: q for q in build_questions(extraction, list(QUESTION_TYPES), "P-L")}
    assert {"diagnosis", "grade", "pT", "pN", "margin"} <= set(questions)
    assert (questions["pT"].answer, questions["pN"].answer) == ("pT2a", "pN1")
    assert questions["margin"].answer.startswith("Margins negative")


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("FIGO stage: IA\n", "FIGO stage IA"),
        ("Stage (FIGO): IIIC1\n", "FIGO stage IIIC1"),
        ("pT1b pN0 (FIGO IB)\n", "FIGO stage IB"),
        ("FIGO (2009) stage IIIC2\n", "FIGO stage IIIC2"),
        ("Histologic grade: FIGO grade 2\n", None),  # a FIGO grade is not a stage
        ("AJCC stage IIB\n", None),
    ],
)
def test_figo_stage_reader(text: str, stage: str | None) -> None:
    assert parse_figo_stage(text) == stage


def test_figo_stage_question_only_when_the_report_states_it(ctx: KGContext) -> None:
    text = "DIAGNOSIS: Uterus: endometrioid adenocarcinoma, FIGO grade 1.\npT1a pN0\nFIGO stage: IA\n"
    extraction = extract_report(Report("P-F", None, text, "f", "uterus"), ctx)
    assert extraction.facts["figo"] == "FIGO stage IA"
    (question,) = build_questions(extraction, ["figo"], "P-F")
    assert question.answer == "FIGO stage IA" and "FIGO stage" in question.question
    response = write_response(extraction, question, [], ctx)
    assert "FIGO staging: The report stages the tumour as FIGO stage IA." in response
    assert response.endswith("<answer>FIGO stage IA</answer>")
    unstaged = text.replace("FIGO stage: IA\n", "")
    extraction = extract_report(Report("P-F", None, unstaged, "f", "uterus"), ctx)
    assert "figo" not in extraction.facts  # the FIGO grade is not a stage, and pT1a is never converted
    assert not any(q.question_type == "figo" for q in build_questions(extraction, ["figo"], "P-F"))


@pytest.mark.parametrize(
    ("organ", "text", "stage"),
    [
        (
            "ovary",
            "FINAL DIAGNOSIS: Right ovary: serous carcinoma, high grade.\n"
            "PATHOLOGIC STAGE: pT3c pN1 (FIGO IIIC)\n",
            "FIGO stage IIIC",
        ),
        (
            "cervix",
            "DIAGNOSIS: Cervix, radical hysterectomy: squamous cell carcinoma, moderately differentiated.\n"
            "Stage (FIGO): IB1\n",
            "FIGO stage IB1",
        ),
        ("colorectum", "DIAGNOSIS: Sigmoid colon: adenocarcinoma.\nFIGO stage: IA\n", None),
    ],
)
def test_extractor_fills_figo_for_gynaecological_organs_only(
    ctx: KGContext, organ: str, text: str, stage: str | None
) -> None:
    extraction = extract_report(Report("P-G", None, text, "f", organ), ctx)
    assert extraction.organ == organ
    assert extraction.facts.get("figo") == stage
    assert extraction_record(Report("P-G", None, text, "f", organ), extraction, ctx)["figo"] == stage
