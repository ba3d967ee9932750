"""Several tumours in one report: the main one (largest, else listed first), each fact tied to its own tumour."""

from __future__ import annotations

import pytest

from pathreasoner.errors import ReportError
from pathreasoner.samples.context import KGContext
from pathreasoner.samples.extract import extract_report
from pathreasoner.samples.extractions import extraction_record
from pathreasoner.samples.reports import Report
from pathreasoner.samples.tumours import block_size_cm

KIDNEY = (
    "FINAL DIAGNOSIS:\nKidney, right, radical nephrectomy:\n"
    "1. Papillary renal cell carcinoma, Fuhrman nuclear grade 2, 1.0 cm, separate nodule in the lower pole.\n"
    "2. Renal cell carcinoma, clear cell type, Fuhrman nuclear grade 4, 5.8 cm in greatest dimension, "
    "confined to the kidney.\n3. Surgical margins negative. Lymphovascular invasion not identified.\n"
)


def test_main_tumour_is_the_largest_with_its_own_grade(ctx: KGContext) -> None:
    report = Report("TCGA-AA-0005", None, KIDNEY, "x.txt", "kidney")
    extraction = extract_report(report, ctx)
    assert extraction.primary == "clear cell renal cell carcinoma"
    assert extraction.facts["grade"] == "Fuhrman/ISUP nuclear grade 4"
    line = extraction_record(report, extraction, ctx)
    assert line["projects"] == ["KIRC"]
    tumours = {t["diagnosis"]: t for t in line["tumours"]}
    assert set(tumours) == {"clear cell renal cell carcinoma", "papillary renal cell carcinoma"}
    main = tumours["clear cell renal cell carcinoma"]
    minor = tumours["papillary renal cell carcinoma"]
    assert main["main"] and not minor["main"]
    assert (main["size_cm"], main["grade"]) == (5.8, "Fuhrman/ISUP nuclear grade 4")
    assert (minor["size_cm"], minor["grade"]) == (1.0, "Fuhrman/ISUP nuclear grade 2")
    assert KIDNEY[minor["start"] : minor["end"]].lower() == "papillary renal cell carcinoma"
    assert (
        line["diagnosis"]["text"]
        and KIDNEY[line["diagnosis"]["start"] : line["diagnosis"]["end"]] == (line["diagnosis"]["text"])
    )


def test_benign_tumour_and_precursor_never_become_the_main_tumour(ctx: KGContext) -> None:
    text = (
        "FINAL DIAGNOSIS:\nUterus and cervix, hysterectomy:\n"
        "A. Cervix: squamous cell carcinoma, poorly differentiated, 1.2 cm.\n"
        "B. Uterus: leiomyoma, 6.0 cm.\nC. Cervix: high-grade squamous intraepithelial lesion, 2.0 cm.\n"
    )
    extraction = extract_report(Report("TCGA-AA-0006", None, text, "x.txt", "cervix"), ctx)
    assert "squamous cell carcinoma" in extraction.primary and "leiomyoma" not in extraction.primary


def test_two_primaries_of_different_organs_without_sizes_are_quarantined(ctx: KGContext) -> None:
    text = (
        "FINAL DIAGNOSIS:\n1. Right colon, hemicolectomy: colon adenocarcinoma, moderately differentiated.\n"
        "2. Left kidney, partial nephrectomy: clear cell renal cell carcinoma, Fuhrman grade 2.\n"
    )
    with pytest.raises(ReportError, match="two primaries"):
        extract_report(Report("TCGA-AA-0007", None, text, "x.txt"), ctx)
    # with the organ known (file name or text), the tumour of that organ is the diagnosis
    extraction = extract_report(Report("TCGA-AA-0007", None, text, "KIDNEY.csv:row2", "kidney"), ctx)
    assert extraction.primary == "clear cell renal cell carcinoma"


def test_block_size_reads_mm_and_dimension_triples() -> None:
    assert block_size_cm("a 5.5 x 3.8 x 3.7 cm mass") == 5.5
    assert block_size_cm("nodule of 8 mm") == 0.8
    assert block_size_cm("no size stated") is None
