"""Entity lexicon and matcher: one compiled Aho-Corasick automaton over names + synonyms.

Matching is case-insensitive, treats hyphens as spaces and collapses whitespace (so OCR line breaks
inside a term still match), checks word boundaries, and keeps the longest non-overlapping matches.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate
from operator import add
from typing import TYPE_CHECKING

import ahocorasick

from pathreasoner.kg.schema import normalise_name

if TYPE_CHECKING:
    from pathreasoner.kg.graph import KnowledgeGraph

_HYPHENS = str.maketrans({"-": " ", "‐": " ", "‑": " ", "–": " ", "—": " "})
_SPACES = re.compile(r"\s+")
# names that are too generic to count as entities in free text (OncoTree roots, one-word fillers)
STOP_NAMES = frozenset(
    {
        "other",
        "tissue",
        "mixed",
        "cancer",
        "tumor",
        "tumour",
        "neoplasm",
        "disease",
        "not applicable",
        "lymphoid",
        "myeloid",
    }
)
MIN_SURFACE_CHARS = 2
# short all-capital acronyms ("PR", "ER", "LVI", "STIC") only match in capitals: in lower case they are common words
# or OCR fragments ("pr esent")
_ACRONYM = re.compile(r"^[A-Z]{2,5}$")


@dataclass(frozen=True, slots=True)
class Mention:
    """A lexicon term found in text: character span in the original text, the text, and the entity."""

    start: int
    end: int
    surface: str
    canonical: str
    node_id: str | None = None


def fold(text: str) -> str:
    """The form both terms and text are matched in: lowercase, hyphens as spaces, whitespace collapsed."""
    return _SPACES.sub(" ", text.lower().translate(_HYPHENS)).strip()


_TOKEN = re.compile(r"\S+")


# a whitespace run that folding rewrites (a lone " " stays): a non-space whitespace character and the run it
# starts, or a space followed by more whitespace (the same runs as `\s{2,}|[^\S ]`, found without backtracking)
_CHANGED_SPACE = re.compile(r"([^\S ]\s*| \s+)")
_DASHES = tuple(map(chr, _HYPHENS))


def _fold_with_offsets(text: str) -> tuple[str, list[int], list[int]]:
    """Folded text plus segment tables mapping folded offsets back to the original text: a new segment
    starts after every whitespace run that folding shortened or rewrote (a trailing run starts none)."""
    lowered = text.lower()
    if len(lowered) != len(text):  # rare Unicode case changes length: lowercase per character instead
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    for dash in _DASHES:  # str.replace per dash present: translate() is slow on non-ASCII text
        if dash in lowered:
            lowered = lowered.replace(dash, " ")
    stripped = lowered.lstrip()
    if not stripped:
        return "", [], []
    begin = len(lowered) - len(stripped)
    parts = _CHANGED_SPACE.split(stripped)  # text, run, text, run, ..., text
    pieces = parts[0::2]
    runs = len(parts) // 2 - (not pieces[-1])
    # original offset where the text after each run starts; folded offset: the text before it plus one space per run
    seg_orig = list(accumulate(map(len, parts), initial=begin))[2 : 2 * runs + 1 : 2]
    seg_folded = list(map(add, accumulate(map(len, pieces[:runs]), initial=0), range(runs + 1)))
    return " ".join(pieces).rstrip(), seg_folded, [begin, *seg_orig]


def _to_orig(pos: int, seg_folded: list[int], seg_orig: list[int]) -> int:
    i = bisect.bisect_right(seg_folded, pos) - 1
    return seg_orig[i] + (pos - seg_folded[i])


class EntityMatcher:
    """Finds lexicon entities in text; `entities(text)` gives the set of canonical names."""

    def __init__(self, entries: Iterable[tuple[str, str, str | None]]) -> None:
        """`entries` = (surface, canonical, node_id); on a surface clash a term's own name beats a synonym."""
        table: dict[str, tuple[str, str | None, bool, str | None]] = {}
        for surface, canonical, node_id in entries:
            key = fold(surface)
            if len(key) < MIN_SURFACE_CHARS:
                continue
            is_name = key == fold(canonical)
            exact = surface.strip() if _ACRONYM.match(surface.strip()) else None
            current = table.get(key)
            if current is None or (is_name and not current[2]):
                table[key] = (canonical, node_id, is_name, exact)
        self._automaton = ahocorasick.Automaton()
        for key, (canonical, node_id, _, exact) in table.items():
            # (whether the term's first / last character is alphanumeric: only then can its start / end
            # fall inside a word)
            self._automaton.add_word(
                key, (len(key), canonical, node_id, exact, key[0].isalnum(), key[-1].isalnum())
            )
        self._size = len(table)
        self.canonical_names = frozenset(c for c, _, _, _ in table.values())
        if self._size:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return self._size

    @classmethod
    def from_lexicon(cls, lexicon: Mapping[str, Iterable[str]]) -> EntityMatcher:
        """From `{canonical name: [synonyms]}` (e.g. entity_lexicon.json); no KG needed."""
        entries: list[tuple[str, str, str | None]] = []
        for canonical, synonyms in lexicon.items():
            entries.append((canonical, canonical, None))
            entries.extend((s, canonical, None) for s in synonyms)
        return cls(entries)

    @classmethod
    def from_kg(cls, kg: KnowledgeGraph) -> EntityMatcher:
        """From every node name and synonym of a loaded KG (curated nodes win surface clashes)."""
        return cls(_kg_entries(kg))

    def find(self, text: str) -> list[Mention]:
        """Longest non-overlapping mentions with word boundaries, in text order."""
        if not self._size or not text:
            return []
        folded, seg_folded, seg_orig = _fold_with_offsets(text)
        candidates: list[tuple[int, int, str, str | None]] = []
        last = len(folded) - 1
        for end, (length, canonical, node_id, exact, alnum_first, alnum_last) in self._automaton.iter(folded):
            start = end - length + 1  # folded[start:end + 1] is the term itself
            if alnum_first and start > 0 and folded[start - 1].isalnum():
                continue
            if alnum_last and end < last and folded[end + 1].isalnum():
                continue
            if exact is not None:
                o_start = _to_orig(start, seg_folded, seg_orig)
                if text[o_start : o_start + len(exact)] != exact:
                    continue
            candidates.append((start, end + 1, canonical, node_id))
        candidates.sort(key=lambda c: (-(c[1] - c[0]), c[0]))
        taken: list[tuple[int, int]] = []
        chosen: list[tuple[int, int, str, str | None]] = []
        for start, end, canonical, node_id in candidates:
            i = bisect.bisect_left(taken, (start, end))
            if i > 0 and taken[i - 1][1] > start:
                continue
            if i < len(taken) and taken[i][0] < end:
                continue
            taken.insert(i, (start, end))
            chosen.append((start, end, canonical, node_id))
        mentions = []
        for start, end, canonical, node_id in sorted(chosen):
            o_start = _to_orig(start, seg_folded, seg_orig)
            o_end = _to_orig(end - 1, seg_folded, seg_orig) + 1
            mentions.append(Mention(o_start, o_end, text[o_start:o_end], canonical, node_id))
        return mentions

    def entities(self, text: str) -> set[str]:
        """Canonical names of every entity mentioned in `text`."""
        return {m.canonical for m in self.find(text)}


def _is_abbreviation(surface: str) -> bool:
    stripped = surface.strip()
    return len(fold(stripped)) <= 4 or (stripped.upper() == stripped and len(stripped) <= 8)


def _usable(surface: str) -> bool:
    key = normalise_name(surface)
    return len(key) >= MIN_SURFACE_CHARS and key not in STOP_NAMES


def _is_subset_of_name(synonym: str, name: str) -> bool:
    """Whether the synonym's words are a strict subset of the name's words (less specific than the name)."""
    words, name_words = set(fold(synonym).split()), set(fold(name).split())
    return bool(words) and words < name_words


def _kg_entries(kg: KnowledgeGraph) -> list[tuple[str, str, str | None]]:
    """(surface, canonical, node_id) for usable names, then synonyms not already claimed, in source priority."""
    from pathreasoner.kg.graph import _priority

    nodes = [n for n in sorted(kg.nodes.values(), key=_priority) if _usable(n.name)]
    entries: list[tuple[str, str, str | None]] = [(n.name, n.name, n.id) for n in nodes]
    claimed = {fold(n.name) for n in nodes}
    for node in nodes:
        curated = node.source.split("+")[0] == "curated"
        for s in node.synonyms:
            key = fold(s)
            if not curated and _is_abbreviation(s):
                continue  # imported ontologies list abbreviations ("ALL", "RB") that collide with report words
            if not curated and _is_subset_of_name(s, node.name):
                continue  # "Metastatic" for "Metastatic Tumor Sample": a part never links the longer entity
            if _usable(s) and key not in claimed:
                claimed.add(key)
                entries.append((s, node.name, node.id))
    return entries


def entity_types(kg: KnowledgeGraph, lexicon: Mapping[str, object]) -> dict[str, str]:
    """`{canonical name: KG node type}` for the names of a lexicon (diagnosis, anatomic_site, ...)."""
    types: dict[str, str] = {}
    for name in lexicon:
        node_id = kg.id_for_name(name)
        if node_id is not None:
            types[name] = kg.type(node_id)
    return types


def lexicon_from_kg(kg: KnowledgeGraph) -> dict[str, list[str]]:
    """`{canonical name: [synonyms]}` for every usable node; a surface claimed twice goes to the first node.

    `EntityMatcher.from_lexicon(lexicon_from_kg(kg))` finds the same entities as `EntityMatcher.from_kg(kg)`.
    """
    lexicon: dict[str, list[str]] = {}
    for surface, canonical, _ in _kg_entries(kg):
        synonyms = lexicon.setdefault(canonical, [])
        if surface != canonical:
            synonyms.append(surface)
    return dict(sorted(lexicon.items()))
