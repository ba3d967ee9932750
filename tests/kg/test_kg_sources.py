"""KG source loaders: the curated YAML, OBO (Disease Ontology) and OncoTree, and their error messages."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pathreasoner.errors import KGSourceError
from pathreasoner.kg.schema import NODE_TYPES, RELATIONS
from pathreasoner.kg.sources import load_curated, load_obo, load_oncotree
from pathreasoner.samples.organs import ORGANS  # every organ the extractor knows (33 TCGA projects)


def test_curated_kg_size_types_and_provenance() -> None:
    tables = load_curated()
    assert len(tables.nodes) >= 300 and len(tables.edges) >= 600
    assert {n.type for n in tables.nodes} <= set(NODE_TYPES)
    assert {e.relation for e in tables.edges} <= set(RELATIONS)
    assert all(e.source for e in tables.edges), "every curated edge carries a source note"
    counts = Counter(n.type for n in tables.nodes)
    for kind in (
        "diagnosis",
        "histologic_finding",
        "grade",
        "tnm_category",
        "anatomic_site",
        "ihc_marker",
        "margin_status",
        "invasion",
    ):
        assert counts[kind] >= 3, kind
    names = {n.name for n in tables.nodes}
    assert set(ORGANS) <= names


def test_curated_kg_holds_the_expected_pathology_facts() -> None:
    tables = load_curated()
    by_id = {n.id: n for n in tables.nodes}
    by_name = {n.name: n for n in tables.nodes}
    edges = {(by_id[e.src].name, e.relation, by_id[e.dst].name) for e in tables.edges}
    assert ("keratinization", "characteristic_of", "squamous cell carcinoma") in edges
    assert ("oral cavity squamous cell carcinoma", "occurs_in", "oral cavity") in edges
    assert ("tumor size greater than 2 cm up to 4 cm", "criterion_for", "pT2 (oral cavity)") in edges
    assert ("no regional lymph node metastasis", "defines", "pN0") in edges
    assert ("Gleason score 7 (3+4)", "corresponds_to", "ISUP grade group 2") in edges
    assert ("CK20", "positive_in", "colorectal adenocarcinoma") in edges
    assert ("lymphovascular invasion absent", "negation_of", "lymphovascular invasion present") in edges
    assert "ICDO:8070/3" in by_name["squamous cell carcinoma"].xrefs
    assert "ONCOTREE:LUAD" in by_name["lung adenocarcinoma"].xrefs
    assert "SCC" in by_name["squamous cell carcinoma"].synonyms
    # every organ has at least one diagnosis occurring in it or in one of its parts
    part_of = {(s, d) for s, r, d in edges if r == "part_of"}
    for organ in ORGANS:
        region = (
            {organ} | {s for s, d in part_of if d == organ} | {s for s, d in part_of if (d, organ) in part_of}
        )
        assert any(r == "occurs_in" and d in region for _, r, d in edges), organ


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("nodes: [\n  - {id: a", "not valid YAML"),
        ("nodes: []\n", "lists 'nodes' and 'edges'"),
        ("nodes:\n  - {id: a, name: A, type: organ}\nedges: []\n", "has type 'organ'"),
        (
            "nodes:\n  - {id: a, name: A, type: diagnosis}\n  - {id: a, name: B, type: diagnosis}\nedges: []\n",
            "used twice",
        ),
        (
            "nodes:\n  - {id: a, name: A-1, type: diagnosis}\n  - {id: b, name: a 1, type: diagnosis}\nedges: []\n",
            "normalises like",
        ),
        (
            "nodes:\n  - {id: a, name: A, type: diagnosis}\nedges:\n  - {src: a, relation: is_a, dst: z, source: x}\n",
            "unknown node 'z'",
        ),
        (
            "nodes:\n  - {id: a, name: A, type: diagnosis}\n  - {id: b, name: B, type: diagnosis}\nedges:\n  - {src: a, relation: likes, dst: b, source: x}\n",
            "unknown relation 'likes'",
        ),
        (
            "nodes:\n  - {id: a, name: A, type: diagnosis}\n  - {id: b, name: B, type: diagnosis}\nedges:\n  - {src: a, relation: is_a, dst: b}\n",
            "source note",
        ),
    ],
)
def test_malformed_curated_yaml_names_file_and_problem(tmp_path: Path, body: str, message: str) -> None:
    path = _write(tmp_path / "bad.yaml", body)
    with pytest.raises(KGSourceError, match=message) as info:
        load_curated(path)
    assert str(path) in str(info.value)


def test_missing_and_malformed_obo(tmp_path: Path) -> None:
    with pytest.raises(KGSourceError, match=r"does not exist; check kg\.obo_paths"):
        load_obo(tmp_path / "absent.obo")
    bad = _write(tmp_path / "bad.obo", "format-version: 1.2\n\n[Term]\nid: X:1\nname foo\n")
    with pytest.raises(KGSourceError, match="malformed") as info:
        load_obo(bad)
    assert str(bad) in str(info.value)
    empty = _write(tmp_path / "empty.obo", "format-version: 1.2\n")
    with pytest.raises(KGSourceError, match="no named"):
        load_obo(empty)


def test_small_obo_gives_synonyms_xrefs_and_is_a(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "mini.obo",
        "format-version: 1.2\nontology: mini\n\n[Term]\nid: M:1\nname: carcinoma\n\n"
        '[Term]\nid: M:2\nname: squamous cell carcinoma\nsynonym: "epidermoid carcinoma" EXACT []\n'
        'synonym: "squamous cancer" RELATED []\nxref: ICDO:8070/3\nis_a: M:1 ! carcinoma\n\n'
        "[Term]\nid: M:3\nname: old term\nis_obsolete: true\n",
    )
    tables = load_obo(path)
    nodes = {n.id: n for n in tables.nodes}
    assert tables.name == "mini" and set(nodes) == {"M:1", "M:2"}
    assert nodes["M:2"].synonyms == ("epidermoid carcinoma",)  # EXACT synonyms only
    assert set(nodes["M:2"].xrefs) == {"M:2", "ICDO:8070/3"}
    assert [(e.src, e.relation, e.dst) for e in tables.edges] == [("M:2", "is_a", "M:1")]


def test_oncotree_flat_and_level_formats(tmp_path: Path) -> None:
    flat = _write(
        tmp_path / "flat.txt",
        "Code\tColor\tName\tMainType\tUMLS\tNCI\tTissue\tParent\n"
        "TISSUE\t\tTissue\t\t\t\t\t\n"
        "LUNG\tGray\tLung\tLung Cancer\tC0024109\tC12468\tTissue\tTISSUE\n"
        "NSCLC\tGray\tNon-Small Cell Lung Cancer\tNSCLC\t\tC2926\tLung\tLUNG\n"
        "LUAD\tGray\tLung Adenocarcinoma\tNSCLC\tC0152013\tC3512\tLung\tNSCLC\n",
    )
    tables = load_oncotree(flat)
    nodes = {n.id: n for n in tables.nodes}
    assert nodes["ONCOTREE:LUNG"].type == "anatomic_site" and nodes["ONCOTREE:LUAD"].type == "diagnosis"
    assert "NCI:C3512" in nodes["ONCOTREE:LUAD"].xrefs
    edges = {(e.src, e.relation, e.dst) for e in tables.edges}
    assert ("ONCOTREE:LUAD", "is_a", "ONCOTREE:NSCLC") in edges
    assert ("ONCOTREE:LUAD", "occurs_in", "ONCOTREE:LUNG") in edges
    assert ("ONCOTREE:NSCLC", "occurs_in", "ONCOTREE:LUNG") in edges

    levels = _write(
        tmp_path / "levels.txt",
        "level_1\tlevel_2\tlevel_3\tmetamaintype\tmetanci\tmetaumls\n"
        "Lung (LUNG)\tNon-Small Cell Lung Cancer (NSCLC)\tLung Adenocarcinoma (LUAD)\tNSCLC\tC3512\tC0152013\n"
        "Lung (LUNG)\tNon-Small Cell Lung Cancer (NSCLC)\t\tNSCLC\tC2926\t\n",
    )
    tables = load_oncotree(levels)
    edges = {(e.src, e.relation, e.dst) for e in tables.edges}
    assert ("ONCOTREE:LUAD", "is_a", "ONCOTREE:NSCLC") in edges and (
        "ONCOTREE:LUAD",
        "occurs_in",
        "ONCOTREE:LUNG",
    ) in edges


def test_malformed_oncotree(tmp_path: Path) -> None:
    with pytest.raises(KGSourceError, match="does not exist"):
        load_oncotree(tmp_path / "none.txt")
    with pytest.raises(KGSourceError, match="expected Code/Name/Parent"):
        load_oncotree(_write(tmp_path / "cols.txt", "a\tb\n1\t2\n"))
    with pytest.raises(KGSourceError, match="is not 'Name \\(CODE\\)'"):
        load_oncotree(_write(tmp_path / "cells.txt", "level_1\tlevel_2\nLung (LUNG)\tno code here\n"))
    with pytest.raises(KGSourceError, match="unknown parent"):
        load_oncotree(
            _write(
                tmp_path / "parent.txt",
                "Code\tName\tTissue\tParent\nT\tTissue\t\t\nLUNG\tLung\tTissue\tT\nX\tThing\tLung\tNOPE\n",
            )
        )


@pytest.mark.shared_data
def test_real_disease_ontology_and_oncotree_load(shared_data: Path) -> None:
    do = load_obo(shared_data / "kg" / "disease-ontology" / "DO_cancer_slim.obo")
    assert do.name == "doid" and len(do.nodes) > 500 and len(do.edges) > 500
    scc = next(n for n in do.nodes if n.id == "DOID:1749")
    assert scc.name == "squamous cell carcinoma" and "ICDO:8070/3" in scc.xrefs
    onco = load_oncotree(shared_data / "kg" / "oncotree" / "oncotree_development.txt")
    assert len(onco.nodes) > 1000
    luad = next(n for n in onco.nodes if n.id == "ONCOTREE:LUAD")
    assert luad.name == "Lung Adenocarcinoma" and luad.type == "diagnosis"
