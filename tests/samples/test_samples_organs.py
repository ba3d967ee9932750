"""The organ list (every TCGA project's tissue) and the organ a report's text names: primary-site labels,
specimen lines, and a text that contradicts the file name (the text wins, the conflict is recorded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathreasoner.samples.context import KGContext
from pathreasoner.samples.organs import ORGANS, organ_from_text, resolve_organ
from pathreasoner.samples.reports import load_reports, normalise_organ
from pathreasoner.samples.tcga import ORGAN_PROJECTS, TCGA_PROJECTS

ALL_PROJECTS = [
    "ACC",
    "BLCA",
    "BRCA",
    "CESC",
    "CHOL",
    "COAD",
    "DLBC",
    "ESCA",
    "GBM",
    "HNSC",
    "KICH",
    "KIRC",
    "KIRP",
    "LAML",
    "LGG",
    "LIHC",
    "LUAD",
    "LUSC",
    "MESO",
    "OV",
    "PAAD",
    "PCPG",
    "PRAD",
    "READ",
    "SARC",
    "SKCM",
    "STAD",
    "TGCT",
    "THCA",
    "THYM",
    "UCEC",
    "UCS",
    "UVM",
]


def test_every_tcga_project_has_an_organ_that_is_a_kg_site(ctx: KGContext) -> None:
    assert sorted(TCGA_PROJECTS) == ALL_PROJECTS
    assert set(ORGAN_PROJECTS) == set(ORGANS)
    for organ in ORGANS:
        assert ctx.type_of(organ) == "anatomic_site", organ
    for code in ALL_PROJECTS:  # a file or folder named after the project gives an organ that maps to it
        organ = normalise_organ(code)
        assert organ is not None and code in ORGAN_PROJECTS[organ], code


@pytest.mark.parametrize(
    ("text", "organ", "source"),
    [
        ("Patient: X\nSite of Primary: Uterus\nHistology: endometrioid\n", "uterus", "text:site_of_primary"),
        ("Tumor site: Hepatic flexure\nTumor size: 4 cm\n", "colorectum", "text:site_of_primary"),
        ("PRIMARY SITE: uterine cervix\n", "cervix", "text:site_of_primary"),
        ("Specimen: Right lung, upper lobe, lobectomy\nGross: ...\n", "lung", "text:specimen"),
        # the carrier organ (lymph nodes) yields to the organ the same specimen lines name
        ("Specimen(s): A. Left thyroid lobe\nB. Central lymph nodes\n", "thyroid gland", "text:specimen"),
        ("Specimen: Lymph node, left axilla, excision\n", "lymph node", "text:specimen"),
        (
            "A. LEFT KIDNEY, RADICAL NEPHRECTOMY:\n- Clear cell renal cell carcinoma\n",
            "kidney",
            "text:specimen_part",
        ),
        ("PROCEDURE: Right globe enucleation\n", "eye", "text:procedure"),
    ],
)
def test_organ_from_text(text: str, organ: str, source: str) -> None:
    call = organ_from_text(text)
    assert (call.organ, call.source) == (organ, source)
    start, end = call.span
    assert text[start:end].lower() in text.lower() and end > start


@pytest.mark.parametrize(
    "text",
    [
        # real layout (shared TCGA OVARIAN report): metastasis biopsies listed beside the main specimen
        "Specimen(s) Received: A: Retroperitoneal mass (FS), B: Liver biopsy (FS), C: Right ovary\n",
        "Specimen: Uterus, cervix, bilateral fallopian tubes and ovaries\n",
        # an operation that takes several organs names none of them
        "Procedure: Total abdominal hysterectomy with bilateral salpingo-oophorectomy\n",
        "Diagnosis: adenocarcinoma, see comment.\n",
    ],
)
def test_no_organ_when_the_text_does_not_decide(text: str) -> None:
    assert organ_from_text(text).organ is None


def test_text_that_contradicts_the_file_name_wins_and_the_conflict_is_recorded() -> None:
    text = "SURGICAL PATHOLOGY\nSite of Primary: Uterus\nFINAL DIAGNOSIS: Endometrioid adenocarcinoma, FIGO grade 1.\n"
    call = resolve_organ("ovary", text)
    assert (call.organ, call.file_organ, call.source) == ("uterus", "ovary", "text:site_of_primary")
    assert "'ovary'" in call.conflict and "'uterus'" in call.conflict and "Uterus" in call.conflict
    assert call.as_dict()["span"] == list(call.span)
    # agreement, a file name alone, a weak part heading or a carrier organ: the file name stands
    assert resolve_organ("uterus", text) == resolve_organ("uterus", text)
    assert (
        resolve_organ("uterus", text).conflict is None and resolve_organ("uterus", text).source == "file_name"
    )
    assert resolve_organ("kidney", "no organ words here at all\n").organ == "kidney"
    assert resolve_organ("kidney", "Specimen: Lymph nodes, para-aortic\n").organ == "kidney"
    assert resolve_organ("ovary", "A. TRANSVERSE COLON ADHESION, BIOPSY:\n- benign\n").organ == "ovary"
    # no file name: the text gives the organ
    assert resolve_organ(None, text).organ == "uterus"


@pytest.mark.shared_data
def test_text_organ_on_real_reports_rarely_contradicts_the_file(shared_data: Path) -> None:
    """On the shared TCGA OCR reports the text names the organ of its file in about a quarter of the
    reports and overrides the file name in a handful (second primaries, metastasis biopsies listed first)."""
    reports, _ = load_reports(shared_data / "reports" / "tcga-ocr")
    calls = [(r.organ, organ_from_text(r.text).organ) for r in reports]
    agree = sum(1 for file_organ, text_organ in calls if text_organ == file_organ)
    conflicts = sum(1 for r in reports if resolve_organ(r.organ, r.text).conflict)
    assert len(reports) > 4000
    assert agree > 1000, agree
    assert conflicts < 0.01 * len(reports), conflicts
