"""build-kg: merging sources with provenance, versioned outputs, stats."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pathreasoner.config import KGConfig
from pathreasoner.errors import KGSourceError
from pathreasoner.kg.build import build_kg, kg_stats, merge_sources
from pathreasoner.kg.schema import Edge, Node, SourceTables


def test_curated_build_writes_versioned_tables(curated_kg_dir: Path) -> None:
    nodes = pd.read_parquet(curated_kg_dir / "nodes.parquet")
    edges = pd.read_parquet(curated_kg_dir / "edges.parquet")
    assert list(nodes.columns) == ["id", "name", "type", "synonyms", "xrefs", "source"]
    assert list(edges.columns) == ["src", "relation", "dst", "source"]
    assert len(nodes) >= 300 and len(edges) >= 600
    assert set(nodes["source"]) == {"curated"}
    version = (curated_kg_dir / "kg_version.txt").read_text().strip()
    assert len(version) == 16 and int(version, 16) >= 0
    summary = json.loads((curated_kg_dir / "summary.json").read_text())
    assert summary["kg_version"] == version and summary["n_nodes"] == len(nodes)
    assert summary["nodes_by_type"]["diagnosis"] >= 50
    stats = kg_stats(curated_kg_dir)
    assert stats["n_edges"] == len(edges) and stats["nodes_by_source"] == {"curated": len(nodes)}


def test_build_is_deterministic(tmp_path: Path, curated_kg_dir: Path) -> None:
    summary = build_kg(tmp_path / "again", KGConfig())
    assert summary.kg_version == (curated_kg_dir / "kg_version.txt").read_text().strip()
    assert "build-kg:" in summary.line() and "nodes/s" in summary.line()


def test_merge_by_xref_then_name_keeps_provenance() -> None:
    curated = SourceTables(
        "curated",
        "c.yaml",
        [
            Node(
                "curated:scc",
                "squamous cell carcinoma",
                "diagnosis",
                ("SCC",),
                ("DOID:1749", "ICDO:8070/3"),
                "curated",
            ),
            Node("curated:luad", "lung adenocarcinoma", "diagnosis", (), (), "curated"),
            Node("curated:lung", "lung", "anatomic_site", (), (), "curated"),
        ],
        [Edge("curated:luad", "occurs_in", "curated:lung", "note")],
    )
    doid = SourceTables(
        "doid",
        "d.obo",
        [
            Node(
                "DOID:1749",
                "squamous cell carcinoma (DO)",
                "diagnosis",
                ("epidermoid carcinoma",),
                ("DOID:1749", "ICDO:8070/3"),
                "doid",
            ),
            Node(
                "DOID:3907",
                "lung squamous cell carcinoma",
                "diagnosis",
                (),
                ("DOID:3907", "ICDO:8070/3"),
                "doid",
            ),
            Node("DOID:3910", "Lung Adenocarcinoma", "diagnosis", (), ("DOID:3910",), "doid"),
        ],
        [Edge("DOID:3907", "is_a", "DOID:1749", "doid is_a")],
    )
    nodes, edges, merges = merge_sources([curated, doid])
    by_id = {n.id: n for n in nodes}
    assert merges == 2 and set(by_id) == {"curated:scc", "curated:luad", "curated:lung", "DOID:3907"}
    scc = by_id["curated:scc"]
    assert (
        scc.source == "curated+doid"
        and "epidermoid carcinoma" in scc.synonyms
        and "squamous cell carcinoma (DO)" in scc.synonyms
    )
    assert by_id["curated:luad"].source == "curated+doid"  # merged by normalised name
    # the shared ICD-O morphology code does not merge lung SCC into SCC; its edge is remapped to the curated id
    assert by_id["DOID:3907"].source == "doid"
    assert Edge("DOID:3907", "is_a", "curated:scc", "doid is_a") in edges


def test_merge_never_joins_two_nodes_of_one_source() -> None:
    a = SourceTables("curated", "c", [Node("curated:a", "x", "diagnosis", (), ("DOID:1",), "curated")])
    b = SourceTables(
        "doid",
        "d",
        [
            Node("DOID:1", "x", "diagnosis", (), ("DOID:1",), "doid"),
            Node("DOID:2", "X.", "diagnosis", (), (), "doid"),
        ],
    )
    nodes, _, _ = merge_sources([a, b])
    assert sorted(n.id for n in nodes) == ["DOID:2", "curated:a"]


def test_no_sources_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KGSourceError, match="no KG sources are enabled"):
        build_kg(tmp_path / "kg", KGConfig(curated=False))
    with pytest.raises(KGSourceError, match="run `pathreasoner build-kg"):
        kg_stats(tmp_path / "missing")


def test_bad_source_leaves_no_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.obo"
    bad.write_text("format-version: 1.2\n\n[Term]\nid: X:1\nname oops\n")
    with pytest.raises(KGSourceError, match="malformed"):
        build_kg(tmp_path / "kg", KGConfig(obo_paths=[str(bad)]))
    assert not (tmp_path / "kg").exists()


@pytest.mark.shared_data
def test_real_sources_merge_with_curated(shared_data: Path, tmp_path: Path) -> None:
    cfg = KGConfig(
        obo_paths=[str(shared_data / "kg" / "disease-ontology" / "DO_cancer_slim.obo")],
        oncotree_path=str(shared_data / "kg" / "oncotree" / "oncotree_development.txt"),
    )
    summary = build_kg(tmp_path / "kg", cfg)
    assert summary.nodes_by_source.keys() == {"curated", "doid", "oncotree"} and summary.merged_nodes > 100
    nodes = pd.read_parquet(tmp_path / "kg" / "nodes.parquet").set_index("name")
    luad = nodes.loc["lung adenocarcinoma"]
    assert luad["source"] == "curated+doid+oncotree"
    assert {"DOID:3910", "ONCOTREE:LUAD"} <= set(luad["xrefs"]) and "Lung Adenocarcinoma" not in nodes.index
    assert nodes.loc["kidney", "source"] == "curated+oncotree"
    assert len(nodes) == summary.n_nodes
    edges = pd.read_parquet(tmp_path / "kg" / "edges.parquet")
    assert {"curated:luad", "ONCOTREE:LUNG"} & set(edges["src"]) and set(edges["src"]) | set(
        edges["dst"]
    ) <= set(nodes["id"])


def test_kg_sources_on_s3_build_the_same_kg_as_local_files(tmp_path: Path) -> None:
    """An OBO source given as s3:// (how a compiled pipeline names it) gives the same KG as the local file."""
    from tests.servers import moto_s3

    obo = tmp_path / "mini.obo"
    obo.write_text(
        "format-version: 1.2\nontology: doid\n\n"
        '[Term]\nid: DOID:1749\nname: squamous cell carcinoma\nsynonym: "epidermoid carcinoma" EXACT []\n\n'
        "[Term]\nid: DOID:3907\nname: lung squamous cell carcinoma\nis_a: DOID:1749 ! squamous cell carcinoma\n"
    )
    local = build_kg(tmp_path / "kg-local", KGConfig(obo_paths=[str(obo)]))
    with moto_s3() as s3, pytest.MonkeyPatch.context() as mp:
        for key, value in s3.env.items():
            mp.setenv(key, value)
        s3.client().create_bucket(Bucket="kg-sources")
        s3.client().upload_file(str(obo), "kg-sources", "mini.obo")
        remote = build_kg(tmp_path / "kg-s3", KGConfig(obo_paths=["s3://kg-sources/mini.obo"]))
        with pytest.raises(KGSourceError, match=r"s3://kg-sources/absent\.obo.*check the bucket and key"):
            build_kg(tmp_path / "kg-missing", KGConfig(obo_paths=["s3://kg-sources/absent.obo"]))
    assert remote.kg_version == local.kg_version and remote.n_nodes == local.n_nodes > 0
    summary = json.loads((tmp_path / "kg-s3" / "summary.json").read_text())
    assert "s3://kg-sources/mini.obo" in json.dumps(summary)
    assert not (tmp_path / "kg-missing").exists()  # nothing half-written
