"""Grounding of hand-made answers against a hand-made KG slice, and malformed answers shaped empty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.kg.schema import Node
from pathreasoner.response import compose_response, parse_response
from pathreasoner.serve.answer import shape_prediction
from pathreasoner.serve.grounding import BUNDLE_FILE, GroundingKB, bundle_from_kg

LINEAGE = {"model_name": "pathreasoner", "request_id": "r1"}


def _kg() -> KnowledgeGraph:
    nodes = [
        Node("curated:kp", "keratin pearls", "histologic_finding", ("keratinization",), (), "curated"),
        Node("curated:scc", "squamous cell carcinoma", "diagnosis", ("SCC",), (), "curated"),
        Node("curated:kscc", "keratinizing squamous cell carcinoma", "diagnosis", (), (), "curated"),
        Node("curated:p63", "p63", "ihc_marker", (), (), "curated"),
        Node("curated:adeno", "adenocarcinoma", "diagnosis", (), (), "curated"),
    ]
    edges = [
        ("curated:kp", "characteristic_of", "curated:kscc"),
        ("curated:kscc", "is_a", "curated:scc"),
        ("curated:p63", "positive_in", "curated:scc"),
    ]
    return KnowledgeGraph(nodes, edges, version="kg-test-1")


LEXICON = {
    "keratin pearls": ["keratinization"],
    "squamous cell carcinoma": ["SCC"],
    "keratinizing squamous cell carcinoma": [],
    "p63": [],
    "adenocarcinoma": [],
    "tumour budding": [],  # in the samples' lexicon but not a node of this KG
}


@pytest.fixture(scope="module")
def kb() -> GroundingKB:
    return GroundingKB.from_bundle(bundle_from_kg(_kg(), LEXICON, data_version="md5-abc"))


def _by_section(records: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["section"], r["name"]): r for r in records}


def test_bundle_carries_ids_types_and_edges_among_lexicon_entities() -> None:
    bundle = bundle_from_kg(_kg(), LEXICON, data_version="md5-abc")
    assert bundle["kg_version"] == "kg-test-1" and bundle["data_version"] == "md5-abc"
    assert bundle["entities"]["p63"] == {"id": "curated:p63", "type": "ihc_marker", "synonyms": []}
    assert bundle["entities"]["tumour budding"]["id"] is None
    assert ["keratinizing squamous cell carcinoma", "is_a", "squamous cell carcinoma"] in bundle["edges"]
    assert len(bundle["edges"]) == 3


def test_a_faithful_answer_is_grounded_with_kg_ids(kb: GroundingKB) -> None:
    text = compose_response(
        "The section shows keratinization and p63 positive cells.",
        "Keratin pearls is characteristic of keratinizing squamous cell carcinoma, which is a type of "
        "squamous cell carcinoma. p63 is typically positive in squamous cell carcinoma.",
        "Keratinizing squamous cell carcinoma.",
    )
    records = kb.ground(parse_response(text))
    got = _by_section(records)
    assert got[("observe", "keratin pearls")]["text"] == "keratinization"
    assert got[("observe", "keratin pearls")]["kg_id"] == "curated:kp"
    assert got[("answer", "keratinizing squamous cell carcinoma")]["kg_id"] == "curated:kscc"
    assert {r["section"] for r in records} == {"observe", "think", "answer"}
    assert all(r["grounded"] and r["reason"] is None for r in records), records


def test_a_relation_the_kg_lacks_flags_both_entities_of_the_claim(kb: GroundingKB) -> None:
    text = compose_response(
        "Keratin pearls are seen.",
        "Keratin pearls is characteristic of adenocarcinoma. p63 is typically positive in squamous cell carcinoma.",
        "Adenocarcinoma.",
    )
    got = _by_section(kb.ground(parse_response(text)))
    for name in ("keratin pearls", "adenocarcinoma"):
        record = got[("think", name)]
        assert record["grounded"] is False
        assert "no edge keratin pearls -characteristic_of-> adenocarcinoma" in record["reason"]
    assert got[("think", "p63")]["grounded"] is True
    # the same entities outside the contradicting clause stay grounded
    assert got[("observe", "keratin pearls")]["grounded"] is True
    assert got[("answer", "adenocarcinoma")]["grounded"] is True


def test_the_inverse_phrase_of_a_kg_edge_is_not_a_contradiction(kb: GroundingKB) -> None:
    text = compose_response(
        "x", "Squamous cell carcinoma has the subtype keratinizing squamous cell carcinoma.", "SCC"
    )
    records = kb.ground(parse_response(text))
    assert [r["grounded"] for r in records if r["section"] == "think"] == [True, True]


def test_an_entity_missing_from_the_kg_is_ungrounded(kb: GroundingKB) -> None:
    text = compose_response("Marked tumour budding.", "Tumour budding suggests an aggressive tumour.", "SCC")
    got = _by_section(kb.ground(parse_response(text)))
    record = got[("observe", "tumour budding")]
    assert record["kg_id"] is None and record["grounded"] is False and record["reason"] == "not in the KG"


def test_a_malformed_generation_has_empty_fields_and_no_raw_tags(kb: GroundingKB) -> None:
    raw = "<observe>keratin pearls</observe><answer>SCC <think>unclosed"
    shaped = shape_prediction(raw, kb, LINEAGE)
    assert shaped["well_formed"] is False
    assert (shaped["observe"], shaped["think"], shaped["answer"]) == ("", "", "")
    assert shaped["entities"] == [] and shaped["text"] == raw and shaped["lineage"] == LINEAGE


def test_bundle_file_round_trip(tmp_path: Path) -> None:
    (tmp_path / BUNDLE_FILE).write_text(json.dumps(bundle_from_kg(_kg(), LEXICON)))
    loaded = GroundingKB.load(tmp_path)
    assert loaded is not None and loaded.kg_version == "kg-test-1"
    assert GroundingKB.load(tmp_path / "missing") is None


def test_write_bundle_from_the_built_kg_grounds_a_rendered_kg_path(tmp_path: Path) -> None:
    from pathreasoner.config import KGConfig
    from pathreasoner.kg.build import build_kg
    from pathreasoner.kg.lexicon import lexicon_from_kg
    from pathreasoner.kg.schema import relation_phrase
    from pathreasoner.serve.grounding import write_grounding_bundle

    build_kg(tmp_path / "kg", KGConfig())
    (tmp_path / "samples").mkdir()
    lexicon = lexicon_from_kg(KnowledgeGraph.load(tmp_path / "kg"))
    (tmp_path / "samples" / "entity_lexicon.json").write_text(json.dumps(lexicon))
    (tmp_path / "ckpt").mkdir()
    assert write_grounding_bundle(tmp_path / "ckpt", tmp_path / "samples", data_version="md5-x") is not None
    kb = GroundingKB.load(tmp_path / "ckpt")
    assert kb is not None and kb.kg_version != "unknown" and kb.data_version == "md5-x"
    src, rel, dst = next(e for e in sorted(kb.edges) if e[1] == "characteristic_of")
    assert kb.entities[src]["id"].startswith("curated:")
    think = f"{src} {relation_phrase(rel)} {dst}."
    records = kb.ground(parse_response(compose_response(src, think, dst)))
    assert records and all(r["grounded"] for r in records), records
    assert write_grounding_bundle(tmp_path / "ckpt", tmp_path / "nowhere") is None
    # a pipeline step sees the samples artifact only: the slice build-samples wrote into it is used
    pipeline_samples = tmp_path / "artifact" / "samples"
    pipeline_samples.mkdir(parents=True)
    (tmp_path / "ckpt" / "grounding.json").rename(pipeline_samples / "grounding.json")
    assert write_grounding_bundle(tmp_path / "ckpt", pipeline_samples, data_version="md5-y") is not None
    copied = GroundingKB.load(tmp_path / "ckpt")
    assert copied is not None and copied.data_version == "md5-y" and copied.edges == kb.edges


def test_ask_renders_entities_and_lineage(kb: GroundingKB) -> None:
    from pathreasoner.client import format_answer

    text = compose_response("x", "Keratin pearls is characteristic of adenocarcinoma.", "Adenocarcinoma.")
    rendered = format_answer(shape_prediction(text, kb, {"model_version": "3", "request_id": "r9"}))
    assert "entity [think] keratin pearls curated:kp: UNGROUNDED (the KG has no edge" in rendered
    assert "entity [answer] adenocarcinoma curated:adeno: grounded" in rendered
    assert "lineage: model_version=3, request_id=r9" in rendered
