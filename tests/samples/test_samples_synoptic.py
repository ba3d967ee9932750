"""Rule parsers for grade, pT/pN, margins, LVI/PNI, size and depth."""

from __future__ import annotations

import pytest

from pathreasoner.samples.synoptic import (
    parse_doi_mm,
    parse_grade,
    parse_grade_group,
    parse_lvi,
    parse_margin,
    parse_pn,
    parse_pni,
    parse_pt,
    parse_size_cm,
)


@pytest.mark.parametrize(
    ("text", "organ", "grade"),
    [
        ("Histologic Grade: G2: Moderately differentiated", "head and neck", "moderately differentiated"),
        ("Squamous cell carcinoma, poorly differentiated.", None, "poorly differentiated"),
        ("Gleason score: 3 + 4 = 7 (grade group 2)", "prostate", "Gleason score 7 (3+4)"),
        ("Gleason Score 4+5=9", "prostate", "Gleason score 9"),
        ("Fuhrman nuclear grade: 3", "kidney", "Fuhrman/ISUP nuclear grade 3"),
        ("WHO/ISUP grade 2", "kidney", "Fuhrman/ISUP nuclear grade 2"),
        ("Glioblastoma, WHO grade IV", "brain", "CNS WHO grade 4"),
        ("Nottingham histologic grade: 2 (tubules 3, nuclei 2, mitoses 1)", "breast", "Nottingham grade 2"),
        ("Nottingham score 8/9", "breast", "Nottingham grade 3"),
        ("Invasive high-grade urothelial carcinoma", "bladder", "high grade"),
        ("No grade is stated here.", "colorectum", None),
    ],
)
def test_grade(text: str, organ: str | None, grade: str | None) -> None:
    assert parse_grade(text, organ) == grade


@pytest.mark.parametrize(
    ("text", "grade"),
    [
        (  # BRAIN.csv:row62 (shared TCGA OCR reports): OCR read 'III' as '111'; the grade IV is a differential
            "Diagnosis Brain ,right temporal ,excision: Mixed oligoastrocytoma ,anaplastic (WHO grade 111). "
            "Addendum Diagnosis Considering these features, the differential diagnosis includes a high-grade "
            "oligoastrocytoma in transition to glioblastoma with oligodendroglial component, WHO grade IV.",
            "CNS WHO grade 3",
        ),
        (  # BRAIN.csv:row211: grade IV only in what cannot be excluded and in what it would be
            "Nonetheless, it remains difficult to completely exc.lude_ a high-grade mixed oligoastrocytoma (WHO "
            "Grade IV highly anaplastic oligoastrocytoma) in which high-grade oligodendroglioma is the "
            "predominant morphological pattern. On the basis of the presence of necrosis, would be WHO Grade IV. "
            "Occi pital tumour :High grade glioma ,whic h on the basis of the .ind.ings to date, is favored to "
            "represent a naplast ic of i., godendrogl ic.)Ma (WHOGrade III) .",
            "CNS WHO grade 3",
        ),
        ("Diffuse astrocytoma, WHO grade ll.", "CNS WHO grade 2"),
        ("Glioblastoma (WHO grade 1V)", "CNS WHO grade 4"),
        # BRAIN.csv TCGA-DB-5276, TCGA-06-2569, TCGA-TQ-A7RG, TCGA-FG-A70Y: the system after the grade, a comma,
        # and a Roman numeral OCR split in two
        ("Grade 3 (of 4) oligoastrocytoma, astrocytic predominant (WHO, grade III).", "CNS WHO grade 3"),
        ("Malignant glioma, pleomorphic, superficial (WHO III).", "CNS WHO grade 3"),
        ("-Oligoastrocitoma ,grade IIWHO (ICD-O 9382/3).", "CNS WHO grade 2"),
        ("ra tumor, e.XC;^ 1<)tu 9iot a (WHO grade I I) , see comment.", "CNS WHO grade 2"),
    ],
)
def test_who_grade_read_through_ocr_numerals_and_not_from_hypotheses(text: str, grade: str) -> None:
    assert parse_grade(text, "brain") == grade


def test_grade_group() -> None:
    assert parse_grade_group("Gleason 3+4=7, Grade Group 2") == "ISUP grade group 2"


@pytest.mark.parametrize(
    ("text", "pt", "pn"),
    [
        (
            "Pathologic Staging (pTNM): pT3: Tumor more than 4 cm\npN2b: Metastasis in multiple nodes",
            "pT3",
            "pN2b",
        ),
        ("pT3N1bMX", "pT3", "pN1b"),
        ("ypT2 N0", "pT2", "pN0"),
        ("Primary tumor (pT): pTis", "pTis", None),
        ("stage pT1a(m) pN0(sn)", "pT1a", "pN0"),
        ("PT2 NX", "pT2", "pNX"),
        ("Clinical history: T2N2M0 squamous cell carcinoma", None, None),
    ],
)
def test_tnm(text: str, pt: str | None, pn: str | None) -> None:
    assert (parse_pt(text), parse_pn(text)) == (pt, pn)


@pytest.mark.parametrize(
    ("text", "margin"),
    [
        ("Margins: Margins uninvolved by invasive carcinoma", "negative"),
        (
            "Margins of resection, negative for tumour (> 0.5 cm). The closest margin is anterior at 0.6 cm.",
            "negative",
        ),
        (
            "Tumor diffusely involves deep margin of resection.\n-Medial and lateral margins free of tumor.",
            "positive",
        ),
        ("Margins: Involved by carcinoma (deep)", "positive"),
        ("The specimen was received in formalin.", None),
    ],
)
def test_margin(text: str, margin: str | None) -> None:
    assert parse_margin(text) == margin


@pytest.mark.parametrize(
    ("text", "lvi", "pni"),
    [
        (
            "c. No perineural invasion is identified. d. No lymphovascular invasion is identified.",
            "absent",
            "absent",
        ),
        ("Venous/lymphatic (large/Small Vessel) Absent\nPerineural Invasion: Present", "absent", "present"),
        ("Lymph-Vascular Invasion: Present", "present", None),
        ("No lymphovascular invasion identified", "absent", None),
        ("Angiolymphatic invasion: indeterminate", None, None),
    ],
)
def test_lvi_pni(text: str, lvi: str | None, pni: str | None) -> None:
    assert (parse_lvi(text), parse_pni(text)) == (lvi, pni)


def test_size_and_depth() -> None:
    assert parse_size_cm("Tumor size: 2.5 x 2.4 x 0.6 cm") == 2.5
    assert parse_size_cm("Maximum tumour dimension is 3.1 cm") == 3.1
    assert parse_size_cm("the tumor measures 28 mm") == 2.8
    assert parse_size_cm("Specimen: 5 cm") is None
    assert parse_doi_mm("depth of invasion: 6 mm") == 6.0
    assert parse_doi_mm("Depth of invasion 0.7 cm") == 7.0
