"""The tumour site and the report's main diagnosis on shared-report layouts: tumour-site fields, specimens that
span two sites, site-named subtypes the site contradicts, boilerplate and incidental primaries."""

from __future__ import annotations

import pytest

from pathreasoner.errors import ReportError
from pathreasoner.samples.boilerplate import in_boilerplate
from pathreasoner.samples.context import KGContext
from pathreasoner.samples.extract import extract_report
from pathreasoner.samples.extractions import extraction_record
from pathreasoner.samples.reports import Report
from pathreasoner.samples.tcga import candidate_projects


def _record(ctx: KGContext, text: str, organ: str = "colorectum", source: str = "CRC.csv") -> dict:
    report = Report("P-TS", None, text, source, organ)
    return extraction_record(report, extract_report(report, ctx), ctx)


def test_tumour_site_field_outranks_the_specimen_label(ctx: KGContext) -> None:
    """CRC.csv:row528: a 'colon segment' specimen whose checklist says "Tumor site: Rectum" (glued fields)."""
    text = (
        "Formatted Path Report 26 cm long colon segment. At the distance of 5 cm from one of surgical margin "
        "there is a circular, ulcerated, 9 cm long tumor.\n"
        "LARGE INTESTINE TISSUE CHECKLIST Specimen type:  Resection of rectumSpecimen size:  Not specified"
        "Tumor site:  RectumTumor size:  9 x 0 x 0 cmTumor features:  UlceratedHistologic type:  "
        "AdenocarcinomaHistologic grade:  Moderately differentiated\n"
    )
    record = _record(ctx, text)
    assert record["diagnosis"]["entity"] == "adenocarcinoma"
    assert record["projects"] == ["READ"]
    assert record["projects_basis"].endswith("site: rectum")


def test_tumour_located_in_the_sigmoid_decides_colon(ctx: KGContext) -> None:
    """CRC.csv:row325: "COLON, SIGMOID, RECTUM (RESECTION)" then "TUMOR IS LOCATED IN THE SIGMOID"."""
    text = (
        "FINAL DIAGNOSIS\nA. COLON, SIGMOID, RECTUM (RESECTION): INFILTRATING WELL DIFFERENTIATED "
        "ADENOCARCINOMA ARISING IN A TUBULOVILLOUS ADENOMA (4 CM)\n"
        "TUMOR IS LOCATED IN THE SIGMOID, AND EXTENDS THROUGH MUSCULARIS PROPRIA.\n"
    )
    assert _record(ctx, text)["projects"] == ["COAD"]


@pytest.mark.parametrize(
    "text",
    [
        # CRC.csv TCGA-AG-3896
        "Diagnosis relating to the clinical problem :  This material shows a n invasive  adeno carcinoma of the "
        "colon ( rectal  carcinoma G2) of moderate  differentiation with extensive  infiltration of the "
        "muscularis propria.\n",
        # CRC.csv TCGA-AG-3575
        "Resected colon and rectosigmoid colon show a rectal carcinoma characterized  histologically as a "
        "relatively poorly differentiated tumour, extending to within 3 cm of the aboral resection margin.\n",
    ],
)
def test_colon_used_for_the_large_bowel_gives_way_to_the_rectum_the_diagnosis_names(
    ctx: KGContext, text: str
) -> None:
    """'colon' as the whole large bowel does not contradict a diagnosis that names the rectum."""
    record = _record(ctx, text)
    assert record["diagnosis"]["entity"] == "rectal adenocarcinoma"
    assert record["projects"] == ["READ"]


def test_sigma_of_translated_reports_is_the_sigmoid_colon(ctx: KGContext) -> None:
    """CRC.csv TCGA-AA-3812 (translated from German): 'a resected sigma sample'."""
    text = (
        "Diagnosis\nThis concerns a resected sigma sample with a moderately differentiated adenocarcinoma "
        "infiltrating the subserosa (pT3).\n"
    )
    record = _record(ctx, text)
    assert record["projects"] == ["COAD"] and record["projects_basis"].endswith("site: sigmoid colon")


def test_a_report_naming_colon_and_rectal_carcinoma_stays_undecided(ctx: KGContext) -> None:
    """CRC.csv TCGA-AA-3947: "colon carcinoma ... rectal adenocarcinoma" (a translated report contradicting
    itself): neither project is read from it."""
    text = (
        "Diagnosis:\nResected ileocolic section with an ulcerated colon carcinoma characterized histologically\n"
        "as a moderately differentiated, partly mucinous rectal adenocarcinoma, located 3 cm aborally to "
        "Bauhin's valve, encircling the intestinal wall at a length of 12 cm. Continuing infiltration to an "
        "angular colon section adhering to the tumor. In addition, colon mucous membrane with five sessile "
        "serrated\nadenomas.\nThe tumor stage is therefore: pT4 pN0 (0/22) L0, V0; G2 R0.\n"
    )
    assert _record(ctx, text)["projects"] == ["COAD", "READ"]


@pytest.mark.parametrize(
    "label",
    [
        "B.Rectum and sigmoid colon, excision: Adenocarcinoma, moderately differentiated",  # CRC row243
        "A. Sigmoid colon, upper rectum and adherent posterior bladder wall, resection: Adenocarcinoma",
        "D: Colon, distal sigmoid and rectum, lower anterior resection: Adenocarcinoma",  # CRC row328
    ],
)
def test_specimen_spanning_sigmoid_and_rectum_does_not_decide(ctx: KGContext, label: str) -> None:
    """A specimen of both the sigmoid and the rectum stands for the rectosigmoid junction: COAD or READ."""
    record = _record(ctx, f"DIAGNOSIS\n{label}, invasive into pericolic fat (pT3).\n")
    assert record["diagnosis"]["entity"] == "adenocarcinoma"
    assert record["projects"] == ["COAD", "READ"]


def test_rectosigmoidal_resection_is_the_rectosigmoid_junction(ctx: KGContext) -> None:
    """CRC.csv:row268: "Rectosigmoidal resection material includes foci of poorly differentiated
    adenocarcinoma of the colorectal type"."""
    text = (
        "Diagnosis:\nRectosigmoidal resection material includes foci of poorly differentiated adenocarcinoma "
        "of the colorectal type 3 cm from the aboral resection margin.\n"
    )
    record = _record(ctx, text)
    assert record["projects"] == ["COAD", "READ"]


def test_site_named_subtype_contradicted_by_the_tumour_site_keeps_both(ctx: KGContext) -> None:
    assert candidate_projects("colorectum", "rectal adenocarcinoma", site="sigmoid colon", ctx=ctx) == (
        frozenset({"COAD", "READ"}),
        "subtype: rectal adenocarcinoma; site: sigmoid colon (contradicts it)",
    )
    # a junction contradicts neither; a site that agrees changes nothing
    assert candidate_projects("colorectum", "rectal adenocarcinoma", site="rectosigmoid junction")[0] == {
        "READ"
    }
    assert candidate_projects("colorectum", "colon adenocarcinoma", site="colon")[0] == {"COAD"}


@pytest.mark.parametrize(
    "sentence",
    [
        # BRAIN.csv:row267, the example: one word between 'attractive' and 'target'
        "The epidermal growth factor receptor (EGFR) is an attractive molecular target in glioblastoma because "
        "it is amplified",
        "Cell culture and in vivo models of glioblastoma have demonstrated EGFRvIII as defining subgroups",
        "Approximately 40% to 45% of glioblastoma multiforme (GBM) tumors exhibit MGMT gene methylation",
        "Hegi M. et al. MGMT Gene Silencing and Benefit from Temozolomide in Glioblastoma",
        "Radiochemotherapy in Newly Diagnosed Glioblastoma Patients. J. Clinical Oncology 26; 13:2192-2197.",
        "the differential diagnosis includes a high-grade oligoastrocytoma in transition to glioblastoma",
    ],
)
def test_test_descriptions_and_references_are_boilerplate(sentence: str) -> None:
    at = sentence.lower().index("glioblastoma")
    assert in_boilerplate(sentence, at, at + len("glioblastoma"))


def test_a_checklist_template_label_is_boilerplate(ctx: KGContext) -> None:
    """KIDNEY.csv TCGA-BP-4177 and ~85 more: every checklist carries the label "Staging for renal cell
    carcinoma/oncocytoma:", which made a benign oncocytoma the diagnosis; and "carcinoma-" glued to the
    type word after it ("Renal cell carcinoma- Conventional") is no minus sign."""
    label = "Staging for renal cell carcinoma/oncocytoma:  pT1 Tumor <= 7.0 cm"
    at = label.index("oncocytoma")
    assert in_boilerplate(label, at, at + len("oncocytoma"))
    text = (
        "DIAGNOSIS:\n1. SP: Kidney, right, total nephrectomy\nTumor Type:\n"
        "Renal cell carcinoma- Conventional (clear cell) type\nFuhrman Nuclear Grade:\nNuclear grade III/IV\n"
        "Surgical Margins:\nFree of tumor\nStaging for renal cell carcinoma/oncocytoma:\n"
        "pT3a Tumor invades the adrenal gland or perinephric tissues but not beyond Gerota's fascia\n"
    )
    record = _record(ctx, text, organ="kidney", source="KIDNEY.csv")
    assert record["diagnosis"]["entity"] == "renal cell carcinoma"
    assert record["diagnosis"]["text"] == "Renal cell carcinoma"
    assert record["projects"] == ["KIRC"]
    # TCGA-BP-5200: OCR lost the tumour type line; the label alone (OCR-garbled) is no diagnosis
    lost = (
        "Specimens Submitted:\n1: Kidney, right, partial nephrectomy\nFuhrman Nuclear Grade:\n"
        "Nuclear grade IV/IV\nTumor Size:\nGreatest diameter Is 7.5 em.\n"
        "Siaging for renal cell carclnOJhaloncocytoma:\npT2 Tumor >7.0 em In greatest dimension\n"
    )
    with pytest.raises(ReportError, match="no diagnosis"):
        _record(ctx, lost, organ="kidney", source="KIDNEY.csv")


def test_boilerplate_cues_leave_the_diagnosis_line_alone() -> None:
    text = "DIAGNOSIS: Brain, right frontal, excision: Glioblastoma (WHO grade IV). Ki-67 index 30%."
    at = text.index("Glioblastoma")
    assert not in_boilerplate(text, at, at + len("Glioblastoma"))


@pytest.mark.parametrize(
    ("organ", "text", "entity", "projects"),
    [
        (  # BRAIN.csv:row159: the MGMT assay text and its references name glioblastoma five times
            "brain",
            'DIAGNOSIS: A. "BRAIN TISSUE, RIGHT FRONTAL" (CRANIOTOMY): DIFFUSE ASTROCYTOMA (WHO GRADE II).\n'
            "COMMENT: MGMT promoter methylation. This relationship has been shown for glioblastomas and "
            "alkylating agents. Approximately 40% to 45% of glioblastoma multiforme (GBM) tumors exhibit MGMT "
            "gene methylation. 2. Hegi M. et al. MGMT Gene Silencing and Benefit from Temozolomide in "
            "Glioblastoma. New England J Medicine 352; 10:997-1003. 2005.\n",
            "diffuse astrocytoma",
            ["LGG"],
        ),
        (  # BLADDER.csv:row35: an incidental prostate adenocarcinoma named more often than the bladder's tumour
            "bladder",
            "DIAGNOSIS:\nA. Bladder and prostate, radical cystoprostatectomy: Invasive high grade urothelial "
            "carcinoma, extending into perivesical fat.\nProstate: prostatic adenocarcinoma, Gleason score "
            "3+3=6, involving 5% of the gland; organ-confined prostate cancer.\nProstate: Tumor Type: "
            "Adenocarcinoma. Two incidental microscopic foci of adenocarcinoma in the right apex.\n",
            "urothelial carcinoma",
            ["BLCA"],
        ),
        (  # BLADDER.csv:row61: a uterine leiomyoma named three times beside the bladder carcinoma
            "bladder",
            "DIAGNOSIS:\nA. Bladder, cystectomy: INVASIVE HIGH GRADE UROTHELIAL CARCINOMA.\n"
            "B. Uterus, hysterectomy: LEIOMYOMA. Intramural leiomyoma, 2 cm. Subserosal leiomyoma.\n",
            "urothelial carcinoma",
            ["BLCA"],
        ),
        (  # BRAIN.csv:row578: "SITE NOT SPECIFIED" negates nothing; a past prostate cancer is named twice
            "brain",
            "PATHOLOGICAL DIAGNOSIS: A,B. BRAIN, SITE NOT SPECIFIED, EXCISIONAL BIOPSIES: GLIOBLASTOMA "
            "MULTIFORME.\nPre-Op Dx: large heterogenous brain tumor. Past history of prostate cancer, "
            "prostate cancer metastasis to be excluded.\n",
            "glioblastoma",
            ["GBM"],
        ),
        (  # OVARIAN.csv:row69: a named benign tumour never outranks a carcinoma, even a generic one
            "ovary",
            "DIAGNOSIS:  A. UTERUS, RIGHT AND LEFT FALLOPIAN TUBES AND OVARIES, SUPRACERVICAL HYSTERECTOMY WITH "
            "BILATERAL SALPINGO-OOPHORECTOMY:  High-grade miillerian carcinoma, serous type, with extensive "
            "necrosis. The uninvolved myometrium shows leiomyoma.\nB. UTERUS: leiomyoma, 2 cm; a second "
            "leiomyoma, subserosal.\n",
            "carcinoma",
            ["OV"],
        ),
        (  # LIVER.csv:row313: 'PTC' in a list of stains is no thyroid carcinoma of a liver report
            "liver",
            "(Verified)\nLiver. segmen t ec t omy\n,HEPATOCELL.L.-ILAR CARCINOMA\nTumor number: one\n"
            "Representative sections are embedded.\nHEE(6. MT(1). PTC(t), O-PAS(1.). lron(1).\n",
            "hepatocellular carcinoma",
            ["LIHC"],
        ),
        (  # LIVER.csv:row144: a combined tumour has both components
            "liver",
            "DIAGNOSIS:\nLiver, resection: Combined hepatocellular and\ncholangiocarcinoma, 6 cm.\n",
            "combined hepatocellular-cholangiocarcinoma",
            ["CHOL", "LIHC"],
        ),
    ],
)
def test_the_reports_own_diagnosis_wins(
    ctx: KGContext, organ: str, text: str, entity: str, projects: list[str]
) -> None:
    """Test descriptions, incidental primaries of another organ and benign tumours never outrank it."""
    record = _record(ctx, text, organ=organ, source=f"{organ.upper()}.csv")
    assert record["diagnosis"]["entity"] == entity
    assert record["projects"] == projects


def test_form_options_are_not_fuzzy_diagnoses(ctx: KGContext) -> None:
    """CERVIX.csv:row182: a blank checklist's option words ("Small Cell", "Otherwise Specified") once linked
    to a cervical diagnosis by the fuzzy fallback; a blank form states no diagnosis."""
    text = (
        "Clinical Case Report (For Collection of Cancerous Tissue)\nCellular Type\n"
        "Squamous Cell Large Cell Small Cell Spindle Cell Plasma Cell\n"
        "Otherwise Specified: V l 2.Cellular Differentiation: Well Moderately Poor\n"
    )
    report = Report("P-FORM", None, text, "CERVIX.csv", "cervix")
    with pytest.raises(ReportError, match="no diagnosis"):
        extract_report(report, ctx)
