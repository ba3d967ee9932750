"""Path search on the loaded KG."""

from __future__ import annotations

from pathreasoner.kg.graph import KnowledgeGraph


def test_known_finding_to_diagnosis_path(curated_kg: KnowledgeGraph) -> None:
    src = curated_kg.id_for_name("keratinization")
    dst = curated_kg.id_for_name("squamous cell carcinoma")
    paths = curated_kg.shortest_paths(src, dst, max_hops=4, cap=3)
    assert paths == [[src, dst]]
    assert curated_kg.path_dict(paths[0]) == {
        "nodes": ["keratinization", "squamous cell carcinoma"],
        "relations": ["characteristic_of"],
    }


def test_multi_hop_paths_read_relations_in_walking_direction(curated_kg: KnowledgeGraph) -> None:
    src = curated_kg.id_for_name("oral tongue")
    dst = curated_kg.id_for_name("oral cavity squamous cell carcinoma")
    paths = curated_kg.shortest_paths(src, dst, max_hops=4, cap=5)
    assert paths and all(len(p) == 3 for p in paths)
    as_dict = curated_kg.path_dict(paths[0])
    assert as_dict == {
        "nodes": ["oral tongue", "oral cavity", "oral cavity squamous cell carcinoma"],
        "relations": ["part_of", "site_of"],
    }


def test_hop_limit_and_cap(curated_kg: KnowledgeGraph) -> None:
    src = curated_kg.id_for_name("keratin pearls")
    dst = curated_kg.id_for_name("pT2 (oral cavity)")
    assert curated_kg.shortest_paths(src, dst, max_hops=1, cap=5) == []
    many = curated_kg.shortest_paths(src, dst, max_hops=6, cap=50)
    assert many and len({len(p) for p in many}) == 1  # all shortest, same length
    assert len(curated_kg.shortest_paths(src, dst, max_hops=6, cap=1)) == 1
    assert curated_kg.shortest_paths(src, src, max_hops=3, cap=3) == []


def test_lookups(curated_kg: KnowledgeGraph) -> None:
    scc = curated_kg.id_for_name("Squamous Cell Carcinoma")
    assert scc == "curated:scc" and curated_kg.type(scc) == "diagnosis"
    assert "curated:carcinoma" in curated_kg.ancestors(scc)
    assert curated_kg.id_for_name("lymph node", "diagnosis") is None
    assert "curated:keratinization" in curated_kg.predecessors(scc, "characteristic_of")
