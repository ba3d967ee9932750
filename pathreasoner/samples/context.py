"""KG lookups used by report extraction: entity types, negation counterparts, organs, TNM nodes, criteria."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property

from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.kg.lexicon import EntityMatcher
from pathreasoner.kg.linking import EntityLinker, Link, LinkSettings
from pathreasoner.samples.organs import STAGING_ORGANS
from pathreasoner.samples.reports import ORGANS

# sites that are layers or neighbouring structures named by staging criteria, never "the tumour site"
STAGING_LAYERS = frozenset(
    {
        "mucosa",
        "lamina propria",
        "submucosa",
        "muscularis propria",
        "pericolorectal tissue",
        "visceral peritoneum",
        "renal sinus",
        "perinephric fat",
        "renal vein",
        "Gerota's fascia",
        "portal vein",
        "peripancreatic soft tissue",
        "periprostatic fat",
        "seminal vesicle",
        "bladder neck",
        "perivesical tissue",
        "visceral pleura",
        "main bronchus",
        "parametrium",
        "chest wall",
        "lymph node",
        "cervical lymph node",
        "axillary lymph node",
        "hilar lymph node",
        "mediastinal lymph node",
        "pelvic lymph node",
        "uterus",
        "myometrium",
        "spermatic cord",
        "vagina",
        "ureter",
        "duodenum",
        "adrenal gland",
        "omentum",
        "pelvic peritoneum",
    }
)
GENERIC_DIAGNOSES = frozenset({"carcinoma", "carcinoma in situ", "neoplasm", "malignant neoplasm", "cancer"})
_RANGE = re.compile(
    r"^(?:tumor size|depth of invasion)\s+(?:(?P<le>\d+(?:\.\d+)?)\s*(?P<u1>cm|mm) or less|greater than (?P<lo>\d+(?:\.\d+)?)\s*(?P<u2>cm|mm)"
    r"(?: up to (?P<hi>\d+(?:\.\d+)?)\s*(?:cm|mm))?)$"
)


@dataclass(frozen=True, slots=True)
class CriterionRange:
    """A size/depth staging criterion parsed from its curated name: value in (low, high]."""

    name: str
    quantity: str  # "size_cm" | "doi_mm"
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low < value <= self.high


@dataclass
class KGContext:
    """A loaded KG plus the lookups extraction needs (built once per build-samples run)."""

    kg: KnowledgeGraph
    link: LinkSettings = field(default_factory=LinkSettings)
    matcher: EntityMatcher = field(init=False)

    def __post_init__(self) -> None:
        self.matcher = EntityMatcher.from_kg(self.kg)
        self._terms_by_organ: dict[str, dict[str, str]] = {}
        self._ancestors: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self._links: dict[str, Link] = {}
        self._organ_of_dx: dict[str, str | None] = {}
        self._ids: dict[str, str | None] = {}
        self._refined: dict[tuple[str, tuple[str, ...]], str | None] = {}

    @classmethod
    def from_kg(cls, kg: KnowledgeGraph, link: LinkSettings | None = None) -> KGContext:
        return cls(kg, link or LinkSettings())

    @cached_property
    def linker(self) -> EntityLinker:
        """The exact → normalised → fuzzy → embedding linker over this KG."""
        return EntityLinker(self.kg, self.link)

    def link_phrase(self, phrase: str) -> Link:
        """The linking cascade for a diagnosis-like phrase (cached per phrase); a phrase containing a lexicon
        term counts as linked by it."""
        link = self._links.get(phrase)
        if link is None:
            covered = self.matcher.find(phrase)  # (part of) it is a lexicon term already: linked as that
            if covered:
                link = Link(phrase, covered[-1].canonical, covered[-1].node_id, "exact", 100.0)
            else:
                link = self.linker.link(phrase, ("diagnosis",))
            self._links[phrase] = link
        return link

    def diagnosis_terms(self, organ: str | None) -> dict[str, str]:
        """Lower-cased names/synonyms of the non-generic diagnoses occurring at `organ` (all when None) →
        canonical name; the vocabulary of the fuzzy fallback."""
        key = organ or ""
        if key not in self._terms_by_organ:
            terms: dict[str, str] = {}
            for node in self.kg.iter_nodes("diagnosis"):
                if node.name in GENERIC_DIAGNOSES or self.kg.id_for_name(node.name) != node.id:
                    continue
                if organ and self.organ_of_diagnosis(node.name) != organ:
                    continue
                for surface in (node.name, *node.synonyms):
                    terms.setdefault(surface.lower(), node.name)
            self._terms_by_organ[key] = terms
        return self._terms_by_organ[key]

    # ---- names ----------------------------------------------------------------------------
    def node_id(self, name: str) -> str | None:
        """The KG id of a name (memoised: extraction asks for the same few hundred names again and again)."""
        if name not in self._ids:
            self._ids[name] = self.kg.id_for_name(name)
        return self._ids[name]

    def has(self, name: str) -> bool:
        return self.node_id(name) is not None

    def type_of(self, name: str) -> str | None:
        node_id = self.node_id(name)
        return self.kg.type(node_id) if node_id else None

    def _names(self, ids: list[str]) -> list[str]:
        return [self.kg.name(i) for i in ids]

    @cached_property
    def negations(self) -> dict[str, str]:
        """Canonical name → its negation counterpart (both directions), from `negation_of` edges."""
        pairs: dict[str, str] = {}
        for node in self.kg.iter_nodes():
            for other in self.kg.successors(node.id, "negation_of"):
                pairs[node.name] = self.kg.name(other)
                pairs[self.kg.name(other)] = node.name
        return pairs

    # ---- hierarchy ------------------------------------------------------------------------
    def ancestors(self, name: str, relations: tuple[str, ...] = ("is_a", "part_of")) -> list[str]:
        """Names of the ancestors along `relations` (cached: the KG does not change)."""
        key = (name, relations)
        found = self._ancestors.get(key)
        if found is None:
            node_id = self.node_id(name)
            found = self._names(self.kg.ancestors(node_id, relations)) if node_id else []
            self._ancestors[key] = found
        return list(found)

    def organ_of_site(self, site: str) -> str | None:
        """The project organ a site belongs to (itself, or the nearest part_of/is_a ancestor); never a staging
        organ such as a lymph node, where tumours of every organ spread."""
        for candidate in (site, *self.ancestors(site)):
            if candidate in ORGANS and candidate not in STAGING_ORGANS:
                return candidate
        return None

    def organ_of_diagnosis(self, diagnosis: str) -> str | None:
        """The organ where a diagnosis occurs (its own occurs_in sites, then those of its is_a ancestors)."""
        if diagnosis not in self._organ_of_dx:
            self._organ_of_dx[diagnosis] = self._find_organ_of_diagnosis(diagnosis)
        return self._organ_of_dx[diagnosis]

    def _find_organ_of_diagnosis(self, diagnosis: str) -> str | None:
        for name in (diagnosis, *self.ancestors(diagnosis, ("is_a",))):
            node_id = self.node_id(name)
            if node_id is None:
                continue
            organs = {
                self.organ_of_site(s) for s in self._names(self.kg.successors(node_id, "occurs_in"))
            } - {None}
            if len(organs) == 1:
                return organs.pop()
        return None

    def parent_diagnosis(self, diagnosis: str) -> str | None:
        """The nearest non-generic curated is_a parent of a diagnosis (the 'family' of a subtype)."""
        node_id = self.node_id(diagnosis)
        if node_id is None:
            return None
        for parent in self.kg.successors(node_id, "is_a"):
            name = self.kg.name(parent)
            if (
                parent.startswith("curated:")
                and self.kg.type(parent) == "diagnosis"
                and name not in GENERIC_DIAGNOSES
            ):
                return name
        return None

    def depth(self, diagnosis: str) -> int:
        return len(self.ancestors(diagnosis, ("is_a",)))

    def sites_of(self, diagnosis: str) -> set[str]:
        """Sites where a diagnosis or any of its is_a ancestors occurs."""
        found: set[str] = set()
        for name in (diagnosis, *self.ancestors(diagnosis, ("is_a",))):
            node_id = self.node_id(name)
            if node_id:
                found.update(self._names(self.kg.successors(node_id, "occurs_in")))
        return found

    def refine(self, diagnosis: str, sites: list[str]) -> str | None:
        """A curated site-specific form of `diagnosis` (an is_a descendant occurring at a site more specific than
        the diagnosis's own sites) for the nearest of `sites`; histologic subtypes are never returned
        (memoised: reports repeat the same few diagnosis/site pairs)."""
        key = (diagnosis, tuple(sites))
        if key not in self._refined:
            self._refined[key] = self._refine(diagnosis, sites)
        return self._refined[key]

    def _refine(self, diagnosis: str, sites: list[str]) -> str | None:
        if diagnosis in GENERIC_DIAGNOSES:
            return None
        node_id = self.node_id(diagnosis)
        if node_id is None:
            return None
        own_sites = self.sites_of(diagnosis)
        descendants: list[str] = []
        frontier = [node_id]
        seen = {node_id}
        while frontier:
            nxt = []
            for current in frontier:
                for child in self.kg.predecessors(current, "is_a"):
                    if child not in seen and child.startswith("curated:"):
                        seen.add(child)
                        descendants.append(child)
                        nxt.append(child)
            frontier = nxt
        for site in sites:
            for site_name in (site, *self.ancestors(site)):
                if site_name in own_sites:
                    continue
                site_id = self.node_id(site_name)
                hits = [d for d in descendants if site_id in self.kg.successors(d, "occurs_in")]
                if hits:
                    return self.kg.name(min(hits, key=lambda d: (-self.depth(self.kg.name(d)), d)))
        return None

    # ---- staging --------------------------------------------------------------------------
    def tnm_node(self, category: str, sites: list[str]) -> str:
        """The organ-specific TNM node ("pT2 (oral cavity)") for the nearest site that has one, else generic."""
        for site in sites:
            for site_name in (site, *self.ancestors(site)):
                name = f"{category} ({site_name})"
                if self.has(name):
                    return name
        return category

    @cached_property
    def criterion_ranges(self) -> list[CriterionRange]:
        ranges = []
        for node in self.kg.iter_nodes("staging_criterion"):
            m = _RANGE.match(node.name)
            if not m:
                continue
            unit = m.group("u1") or m.group("u2")
            quantity = "size_cm" if unit == "cm" else "doi_mm"
            if m.group("le"):
                ranges.append(CriterionRange(node.name, quantity, 0.0, float(m.group("le"))))
            else:
                high = float(m.group("hi")) if m.group("hi") else math.inf
                ranges.append(CriterionRange(node.name, quantity, float(m.group("lo")), high))
        return ranges

    def criteria_for(self, quantity: str, value: float, tnm: str) -> list[str]:
        """Size/depth criteria containing `value` that define or are criteria for the TNM node `tnm`."""
        target = self.node_id(tnm)
        hits = []
        for crit in self.criterion_ranges:
            if crit.quantity == quantity and crit.contains(value):
                crit_id = self.node_id(crit.name)
                if crit_id and target in (
                    *self.kg.successors(crit_id, "defines"),
                    *self.kg.successors(crit_id, "criterion_for"),
                ):
                    hits.append(crit.name)
        return hits
