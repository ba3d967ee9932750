"""Mentions that are never the diagnosis or never the entity: boilerplate test descriptions, and single
words or word subsets of a longer, more specific entity."""

from __future__ import annotations

from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.kg.lexicon import EntityMatcher, lexicon_from_kg
from pathreasoner.kg.schema import Node
from pathreasoner.samples.boilerplate import in_boilerplate
from pathreasoner.samples.context import KGContext
from pathreasoner.samples.extract import extract_report
from pathreasoner.samples.reports import Report

# the molecular-test addendum of BRAIN.csv:row62 (shared TCGA OCR reports), after an astrocytoma diagnosis
ASTROCYTOMA = (
    "FINAL DIAGNOSIS:\nBrain, left frontal lobe, resection: anaplastic astrocytoma, WHO grade III.\n"
    "ADDENDUM:\nPCR for EGFR variant III mutation: NEGATIVE.\nTEST DESCRIPTION: Epidermal growth factor "
    "receptor variant III (EGFRvIII) is an oncogenic, constitutively active mutant form of EGFR that is "
    "commonly expressed in glioblastoma. EGFRvIII is an attractive target in glioblastoma; targeted "
    "therapies are in clinical trials. Glioblastoma patients with EGFRvIII may benefit.\n"
)


def test_test_description_naming_a_disease_is_never_the_diagnosis(ctx: KGContext) -> None:
    extraction = extract_report(Report("TCGA-AA-0008", None, ASTROCYTOMA, "x.txt", "brain"), ctx)
    assert extraction.primary == "anaplastic astrocytoma"
    at = ASTROCYTOMA.index("attractive target in glioblastoma") + len("attractive target in ")
    assert in_boilerplate(ASTROCYTOMA, at, at + len("glioblastoma"))
    dx = ASTROCYTOMA.index("anaplastic astrocytoma")
    assert not in_boilerplate(ASTROCYTOMA, dx, dx + len("anaplastic astrocytoma"))


def test_single_word_never_links_a_longer_specific_entity() -> None:
    # the Tumor Pathology Ontology lists "Metastatic" and "Metastatic Sample" for "Metastatic Tumor Sample"
    kg = KnowledgeGraph(
        [
            Node(
                "NCIT:C156440",
                "Metastatic Tumor Sample",
                "histologic_finding",
                ("Metastatic", "Metastatic Sample", "Metastatic Tumour Specimen"),
                source="owl:Tumor_Pathology_Ontology_Simplified",
            ),
            Node(
                "curated:crc",
                "colorectal carcinoma",
                "diagnosis",
                ("carcinoma of the colon",),
                source="curated",
            ),
        ],
        [],
    )
    lexicon = lexicon_from_kg(kg)
    assert lexicon["Metastatic Tumor Sample"] == ["Metastatic Tumour Specimen"]
    found = {
        m.canonical for m in EntityMatcher.from_lexicon(lexicon).find("Metastatic carcinoma, 2/14 nodes.")
    }
    assert "Metastatic Tumor Sample" not in found


def test_central_necrosis_is_not_comedonecrosis(ctx: KGContext) -> None:
    found = {m.canonical for m in ctx.matcher.find("The tumour shows central necrosis and hemorrhage.")}
    assert "comedonecrosis" not in found
    assert "comedonecrosis" in {m.canonical for m in ctx.matcher.find("DCIS with comedo necrosis.")}
