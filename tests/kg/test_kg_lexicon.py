"""Entity lexicon and Aho-Corasick matcher."""

from __future__ import annotations

import json
import time

from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.kg.lexicon import EntityMatcher, lexicon_from_kg


def test_synonyms_case_and_longest_match(curated_kg: KnowledgeGraph) -> None:
    matcher = EntityMatcher.from_kg(curated_kg)
    text = (
        "Keratinizing SQUAMOUS CELL carcinoma with keratin pearls; Clear cell renal cell carcinoma elsewhere."
    )
    found = matcher.find(text)
    assert [(m.surface, m.canonical) for m in found] == [
        ("Keratinizing SQUAMOUS CELL carcinoma", "keratinizing squamous cell carcinoma"),
        ("keratin pearls", "keratin pearls"),
        ("Clear cell renal cell carcinoma", "clear cell renal cell carcinoma"),
    ]
    assert found[0].node_id == "curated:keratinizing_scc"
    assert text[found[1].start : found[1].end] == "keratin pearls"
    assert matcher.entities("ductal carcinoma in situ (DCIS) and an infiltrating ductal carcinoma") == {
        "ductal carcinoma in situ",
        "invasive ductal carcinoma",
    }


def test_ocr_breaks_hyphens_and_word_boundaries(curated_kg: KnowledgeGraph) -> None:
    matcher = EntityMatcher.from_kg(curated_kg)
    found = matcher.find("squamous cell\n  carcinoma, moderately-differentiated; lymph-vascular invasion")
    assert [m.canonical for m in found] == [
        "squamous cell carcinoma",
        "moderately differentiated",
        "lymphovascular invasion present",
    ]
    assert found[0].surface == "squamous cell\n  carcinoma"
    assert matcher.entities("nonkeratinization") == set()  # no match inside a word
    assert matcher.entities("prostatectomy") == set()


def test_short_acronyms_only_in_capitals(curated_kg: KnowledgeGraph) -> None:
    matcher = EntityMatcher.from_kg(curated_kg)
    assert matcher.entities("ER positive, PR negative") == {"estrogen receptor", "progesterone receptor"}
    assert matcher.entities("no extracapsular extension pr esent") == {"extranodal extension absent"}
    # four letters too: a form's "C stic Degeneration" (OCR for "Cystic") is not STIC (BLADDER.csv:row132)
    assert matcher.entities("Vascular InvasionC stic DegenerationClusterized") == set()
    assert matcher.entities("a focus of STIC") == {"serous tubal intraepithelial carcinoma"}


def test_from_lexicon_matches_from_kg(curated_kg: KnowledgeGraph) -> None:
    lexicon = lexicon_from_kg(curated_kg)
    assert lexicon["squamous cell carcinoma"][:2] == ["squamous carcinoma", "epidermoid carcinoma"]
    restored = json.loads(json.dumps(lexicon))
    from_lexicon = EntityMatcher.from_lexicon(restored)
    from_kg = EntityMatcher.from_kg(curated_kg)
    text = (
        "Sections show SCC with keratinization, intercellular bridges, no lymphovascular invasion, margins negative, "
        "pT2 pN0, CK7 negative, CK20 positive, Gleason score 3+4=7, clear cells, HCC and glioblastoma multiforme."
    )
    assert from_lexicon.entities(text) == from_kg.entities(text)
    assert {
        "lymphovascular invasion absent",
        "negative surgical margin",
        "Gleason score 7 (3+4)",
        "pT2",
        "pN0",
    } <= from_kg.entities(text)
    assert all(m.node_id is None for m in from_lexicon.find(text))
    assert EntityMatcher.from_lexicon({}).find("anything") == []


def test_matcher_is_fast(curated_kg: KnowledgeGraph) -> None:
    matcher = EntityMatcher.from_lexicon(lexicon_from_kg(curated_kg))
    text = "Squamous cell carcinoma with keratin pearls and perineural invasion. " * 60  # ~4k chars
    start = time.perf_counter()
    for _ in range(200):
        matcher.entities(text)
    per_text = (time.perf_counter() - start) / 200
    assert per_text < 0.02, f"{per_text * 1000:.1f} ms per 4k-char text"
