"""Curated facts for every TCGA project: an anatomic-site node per organ, diagnoses with synonyms and
cross-references that exist in the sources they name, and no site-specific meaning on a generic term."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.kg.sources import load_curated
from pathreasoner.samples.organs import ORGANS

ICDO = re.compile(r"^ICDO:\d{4}/[0-3]$")


def test_every_organ_is_a_curated_anatomic_site(curated_kg: KnowledgeGraph) -> None:
    for organ in ORGANS:
        node_id = curated_kg.id_for_name(organ)
        assert node_id is not None and curated_kg.type(node_id) == "anatomic_site", organ


def test_curated_cross_references_are_well_formed_and_unique() -> None:
    tables = load_curated()
    codes: Counter[str] = Counter()
    for node in tables.nodes:
        for xref in node.xrefs:
            namespace = xref.split(":", 1)[0]
            assert namespace in {"ICDO", "DOID", "ONCOTREE"}, (node.id, xref)
            if namespace == "ICDO":
                assert ICDO.match(xref), (node.id, xref)
            if namespace == "ONCOTREE":
                codes[xref] += 1
    assert [code for code, n in codes.items() if n > 1] == []  # a code merges one node only


def test_generic_endometrioid_carcinoma_has_no_organ_and_site_forms_do(curated_kg: KnowledgeGraph) -> None:
    """'Endometrioid adenocarcinoma' was a synonym of the ovarian form (a uterine report came out as ovary):
    it is now the generic type, with an ovarian and an endometrial form below it."""
    generic = curated_kg.id_for_name("endometrioid carcinoma")
    owners = [
        n.name for n in curated_kg.iter_nodes("diagnosis") if "endometrioid adenocarcinoma" in n.synonyms
    ]
    assert owners == ["endometrioid carcinoma"]
    assert curated_kg.successors(generic, "occurs_in") == []
    children = {curated_kg.name(c) for c in curated_kg.predecessors(generic, "is_a")}
    assert {"endometrioid carcinoma of the ovary", "endometrial endometrioid adenocarcinoma"} <= children
    uterine = curated_kg.id_for_name("endometrial endometrioid adenocarcinoma")
    sites = {curated_kg.name(s) for s in curated_kg.successors(uterine, "occurs_in")}
    assert sites == {"endometrium", "uterus"}


@pytest.mark.shared_data
def test_curated_oncotree_codes_exist_in_oncotree(shared_data: Path) -> None:
    """Every OncoTree code the curated KG names is a real OncoTree code (checked against the shared copy)."""
    table = (shared_data / "kg" / "oncotree" / "oncotree_development.txt").read_text().splitlines()
    known = {line.split("\t", 1)[0] for line in table[1:] if line.strip()}
    curated = {x.split(":", 1)[1] for n in load_curated().nodes for x in n.xrefs if x.startswith("ONCOTREE:")}
    assert len(curated) > 100
    assert sorted(curated - known) == []
