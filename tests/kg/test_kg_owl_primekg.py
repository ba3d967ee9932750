"""OWL (rdflib) and PrimeKG kg.csv loaders, their errors, and their merge into build-kg with provenance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pathreasoner.config import KGConfig
from pathreasoner.errors import KGSourceError
from pathreasoner.kg.build import build_kg, kg_stats
from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.kg.owl import curie, load_owl
from pathreasoner.kg.primekg import load_primekg

OWL_TTL = """
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix obo: <http://purl.obolibrary.org/obo/> .
@prefix oio: <http://www.geneontology.org/formats/oboInOwl#> .
@prefix ex: <http://example.org/onto#> .

obo:NCIT_C2852 a owl:Class ; rdfs:label "Adenocarcinoma" ; oio:hasExactSynonym "Adenoca" .
obo:NCIT_C4349 a owl:Class ; rdfs:label "Colon Adenocarcinoma" ; rdfs:subClassOf obo:NCIT_C2852 ;
    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty ex:hasPattern ; owl:someValuesFrom obo:NCIT_C35929 ] .
obo:NCIT_C35929 a owl:Class ; rdfs:label "Glandular Pattern" .
obo:NCIT_C62411 a owl:Class ; rdfs:label "Fuhrman Nuclear Grade" .
obo:UBERON_0001155 a owl:Class ; rdfs:label "colon" .
ex:Utility a owl:Class .
ex:hasPattern rdfs:label "has pattern" .
"""


def test_owl_loader_nodes_types_synonyms_edges(tmp_path: Path) -> None:
    path = tmp_path / "tiny.ttl"
    path.write_text(OWL_TTL)
    tables = load_owl(path)
    nodes = {n.id: n for n in tables.nodes}
    assert set(nodes) == {"NCIT:C2852", "NCIT:C4349", "NCIT:C35929", "NCIT:C62411", "UBERON:0001155"}
    assert nodes["NCIT:C2852"].synonyms == ("Adenoca",)
    assert {k: n.type for k, n in nodes.items()} == {
        "NCIT:C2852": "diagnosis",
        "NCIT:C4349": "diagnosis",
        "NCIT:C35929": "histologic_finding",
        "NCIT:C62411": "grade",
        "UBERON:0001155": "anatomic_site",
    }
    assert {(e.src, e.relation, e.dst) for e in tables.edges} == {
        ("NCIT:C4349", "is_a", "NCIT:C2852"),
        ("NCIT:C4349", "associated_with", "NCIT:C35929"),
    }
    assert all(e.source.startswith("owl:tiny") for e in tables.edges)
    assert tables.name == "owl:tiny"


def test_curie() -> None:
    assert curie("http://purl.obolibrary.org/obo/NCIT_C35851") == "NCIT:C35851"
    assert curie("http://www.aipath.com/histo/TPO_0000008") == "TPO:0000008"
    assert curie("https://x.org/PathoML.owl#Diagnosis") == "PathoML:Diagnosis"


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("missing.owl", None, "does not exist"),
        (
            "broken.owl",
            "<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><oops",
            "cannot be parsed",
        ),
        ("empty.ttl", "@prefix ex: <http://e.org/> .\nex:a ex:b ex:c .\n", "no named owl:Class"),
    ],
)
def test_owl_errors_name_the_file(tmp_path: Path, name: str, body: str | None, message: str) -> None:
    path = tmp_path / name
    if body is not None:
        path.write_text(body)
    with pytest.raises(KGSourceError, match=message) as info:
        load_owl(path)
    assert name in str(info.value)


PRIMEKG_ROWS = [
    # relation, display_relation, x_index, x_id, x_type, x_name, x_source, y_index, y_id, y_type, y_name, y_source
    (
        "disease_phenotype_positive",
        "phenotype present",
        0,
        "5090",
        "disease",
        "adenocarcinoma",
        "MONDO",
        1,
        "0031492",
        "effect/phenotype",
        "Gland formation",
        "HPO",
    ),
    (
        "disease_phenotype_positive",
        "phenotype present",
        1,
        "0031492",
        "effect/phenotype",
        "Gland formation",
        "HPO",
        0,
        "5090",
        "disease",
        "adenocarcinoma",
        "MONDO",
    ),
    (
        "disease_protein",
        "associated with",
        0,
        "5090",
        "disease",
        "adenocarcinoma",
        "MONDO",
        2,
        "3880",
        "gene/protein",
        "KRT20",
        "NCBI",
    ),
    (
        "indication",
        "indication",
        3,
        "DB00544",
        "drug",
        "Fluorouracil",
        "DrugBank",
        0,
        "5090",
        "disease",
        "adenocarcinoma",
        "MONDO",
    ),
    (
        "anatomy_anatomy",
        "parent-child",
        4,
        "1155",
        "anatomy",
        "colon",
        "UBERON",
        5,
        "2113",
        "anatomy",
        "kidney",
        "UBERON",
    ),
]
PRIMEKG_COLUMNS = [
    "relation", "display_relation", "x_index", "x_id", "x_type", "x_name", "x_source",
    "y_index", "y_id", "y_type", "y_name", "y_source",
]  # fmt: skip


def write_primekg(path: Path) -> Path:
    pd.DataFrame(PRIMEKG_ROWS, columns=PRIMEKG_COLUMNS).to_csv(path, index=False)
    return path


def test_primekg_loader_types_dedup_and_orientation(tmp_path: Path) -> None:
    tables = load_primekg(write_primekg(tmp_path / "kg.csv"))
    assert {(n.id, n.type) for n in tables.nodes} == {
        ("MONDO:5090", "diagnosis"),
        ("HPO:0031492", "histologic_finding"),
        ("NCBI:3880", "ihc_marker"),
        ("UBERON:1155", "anatomic_site"),
        ("UBERON:2113", "anatomic_site"),
    }  # the drug row is skipped
    assert {(e.src, e.relation, e.dst) for e in tables.edges} == {
        ("HPO:0031492", "characteristic_of", "MONDO:5090"),  # both directions in the CSV, one kept
        ("NCBI:3880", "biomarker_for", "MONDO:5090"),
        ("UBERON:1155", "part_of", "UBERON:2113"),
    }
    assert all(e.source.startswith("PrimeKG ") for e in tables.edges)


def test_primekg_errors(tmp_path: Path) -> None:
    with pytest.raises(KGSourceError, match="does not exist"):
        load_primekg(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(KGSourceError, match=r"bad.csv lacks columns \['relation'"):
        load_primekg(bad)
    drugs = tmp_path / "drugs.csv"
    pd.DataFrame([PRIMEKG_ROWS[3]], columns=PRIMEKG_COLUMNS).to_csv(drugs, index=False)
    with pytest.raises(KGSourceError, match="holds no rows"):
        load_primekg(drugs)


def test_build_kg_merges_owl_and_primekg_with_provenance(tmp_path: Path) -> None:
    owl = tmp_path / "tiny.ttl"
    owl.write_text(OWL_TTL)
    cfg = KGConfig(owl_paths=[str(owl)], primekg_path=str(write_primekg(tmp_path / "kg.csv")))
    summary = build_kg(tmp_path / "kg", cfg)
    assert {"curated", "owl:tiny", "primekg"} <= set(summary.nodes_by_source)
    kg = KnowledgeGraph.load(tmp_path / "kg")
    node = kg.nodes[kg.id_for_name("adenocarcinoma", "diagnosis")]
    # the curated node absorbs the OWL and PrimeKG nodes of the same name and type
    assert node.id.startswith("curated:")
    assert node.source.split("+") == ["curated", "owl:tiny", "primekg"]
    assert "Adenoca" in node.synonyms
    stats = kg_stats(tmp_path / "kg")
    assert stats["nodes_by_source"]["primekg"] >= 4
    # the PrimeKG edge now hangs off the merged node
    finding = kg.id_for_name("Gland formation")
    assert node.id in kg.successors(finding, "characteristic_of")


def test_real_pathoml_owl_files_load_and_merge(shared_data: Path, tmp_path: Path) -> None:
    paths = sorted((shared_data / "kg" / "pathoml").glob("*.owl"))
    if not paths:
        pytest.skip("no PathoML OWL files in ../shared/data/kg/pathoml")
    tpo = load_owl(next(p for p in paths if p.stem.startswith("Tumor")))
    assert len(tpo.nodes) >= 100 and len(tpo.edges) >= 100
    names = {n.name for n in tpo.nodes}
    assert "Fuhrman Grade 1" in names
    summary = build_kg(tmp_path / "kg", KGConfig(owl_paths=[str(p) for p in paths]))
    assert any(s.startswith("owl:Tumor_Pathology") for s in summary.nodes_by_source)
