"""NegEx-style assertion of mentions."""

from __future__ import annotations

import pytest

from pathreasoner.samples.negation import assess

CASES = [
    ("No lymphovascular invasion is identified.", "lymphovascular invasion", "negated"),
    ("Lymph-Vascular Invasion: Not identified", "Lymph-Vascular Invasion", "negated"),
    ("Lymphovascular invasion:\nNot identified", "Lymphovascular invasion", "negated"),
    ("Perineural invasion: Present", "Perineural invasion", "affirmed"),
    ("Perineural invasion is present.", "Perineural invasion", "affirmed"),
    ("LVI is not identified.", "LVI", "negated"),
    (
        "squamous cell carcinoma with no lymphovascular or perineural invasion",
        "perineural invasion",
        "negated",
    ),
    ("Submandibular gland, negative for malignancy.", "malignancy", "negated"),
    ("-Squamous cell carcinoma, poorly differentiated.", "Squamous cell carcinoma", "unknown"),
    ("CK20 positive, CK7 negative.", "CK20", "affirmed"),
    ("CK20 positive, CK7 negative.", "CK7", "negated"),
    ("Tumor cells are positive for CK7 and CDX2, negative for CK20.", "CDX2", "affirmed"),
    ("Tumor cells are positive for CK7 and CDX2, negative for CK20.", "CK20", "negated"),
    ("CK7+ and CK20-", "CK7", "affirmed"),
    ("CK7+ and CK20-", "CK20", "negated"),
    ("No tumor seen; perineural invasion present.", "perineural invasion", "affirmed"),
    ("Malignancy cannot be excluded.", "Malignancy", "unknown"),
    # shared TCGA reports: a bullet opening the next line is not a "-" sign (HEADnNECK.csv:row72)
    (
        "- Invasive moderately differentiated keratinizing squamous cell\ncarcinoma\n- p16 IHC pending",
        "keratinizing squamous cell\ncarcinoma",
        "unknown",
    ),
    # the next line's own field status is not the mention's (KIDNEY.csv:row322)
    (
        "Histologic tumor type/subtype: type I papillary renal cell\ncarcinoma\nSarcomatoid features: absent\n",
        "papillary renal cell\ncarcinoma",
        "unknown",
    ),
    # a line holding only a checklist answer ("NO") ends the clause (CERVIX.csv:row65)
    (
        "Bilateral Disease\nNO\nTumour Size (cm) 2.9\nHistology Squamous cell carcinoma, nonkeratinizing\n",
        "Squamous cell carcinoma, nonkeratinizing",
        "unknown",
    ),
    ("Lymphovascular invasion:\nabsent\n", "Lymphovascular invasion", "negated"),
    ("Negative for\nmalignancy.", "malignancy", "negated"),
    # a status that only confirms does not undo the 'no' before the mention
    ("3, 4. Colon, margins: -No carcinoma seen. Unremarkable mucosa.", "carcinoma", "negated"),
    ("No necrosis identified.", "necrosis", "negated"),
    # 'No.' abbreviating 'number' is no trigger (BRAIN.csv TCGA-DB-5276)
    (
        "Brain, left frontal No.1,2,3, biopsy: Grade 3 (of 4) oligoastrocytoma, astrocytic predominant.",
        "oligoastrocytoma",
        "unknown",
    ),
    # a mention opening a checklist field takes none of the previous field's words (PROSTATE.csv TCGA-HC-7078)
    ("Perineural space Invasion: Absent\nHigh grade PIN: Present\n", "High grade PIN", "affirmed"),
]


@pytest.mark.parametrize(("text", "mention", "expected"), CASES)
def test_assertion(text: str, mention: str, expected: str) -> None:
    start = text.index(mention)
    assert assess(text, start, start + len(mention)) == expected


def test_spaced_dash_before_a_word_separates_a_diagnosis_but_stays_a_marker_sign() -> None:
    """CERVIX.csv:row16 (shared TCGA OCR reports): "AMOUS CEL CARCIN(AA - SQQU" (OCR of "SQUAMOUS CELL
    CARCINOMA - SQUAMOUS ...") read the dash as a '-' sign and negated the only diagnosis of the report."""
    text = "DIAGNOSIS:\nUTERUS, RADICAL HYSTERECTOMY\nAMOUS CEL CARCINOMA - SQQU\nLYMPH NODE, OBTURATOR"
    start = text.index("CARCINOMA")
    assert assess(text, start, start + 9) == "negated"  # as a marker ("CK7 - ...") would be
    assert assess(text, start, start + 9, dash_before_word_is_sign=False) != "negated"
    marker = "CK7 - CK20 +"
    assert assess(marker, 0, 3, dash_before_word_is_sign=False) == "negated"  # no word after: still a sign


def test_no_data_in_the_next_table_column_is_no_negation() -> None:
    text = "Renal cell carcinoma no data 2 0 0 no no no"
    assert assess(text, 0, 20) != "negated"
    assert assess("Renal cell carcinoma: no", 0, 20) == "negated"
