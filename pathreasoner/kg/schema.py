"""KG vocabulary: node types, relations (with inverses and informativeness), records, name normalisation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NODE_TYPES = (
    "diagnosis",
    "histologic_finding",
    "grade",
    "tnm_category",
    "staging_criterion",
    "anatomic_site",
    "ihc_marker",
    "margin_status",
    "invasion",
)


@dataclass(frozen=True, slots=True)
class Relation:
    """A relation name, the name read when an edge is walked backwards, and how informative it is in a path."""

    name: str
    inverse: str
    weight: float
    phrase: str
    inverse_phrase: str


_RELATIONS = (
    Relation("is_a", "has_subtype", 1.0, "is a type of", "has the subtype"),
    Relation("part_of", "has_part", 0.8, "is part of", "includes"),
    Relation("occurs_in", "site_of", 1.5, "arises in", "is a site of"),
    Relation("suggests", "suggested_by", 3.0, "suggests", "is suggested by"),
    Relation("characteristic_of", "has_characteristic", 3.2, "is characteristic of", "is characterised by"),
    Relation("positive_in", "expresses", 2.6, "is typically positive in", "typically expresses"),
    Relation("negative_in", "lacks", 2.2, "is typically negative in", "typically lacks"),
    Relation("biomarker_for", "has_biomarker", 1.8, "is a biomarker assessed in", "is assessed with"),
    Relation("defines", "defined_by", 3.0, "defines", "is defined by"),
    Relation("criterion_for", "has_criterion", 2.6, "is a criterion for", "has the criterion"),
    Relation("applies_to", "has_category", 1.0, "applies to", "is staged with"),
    Relation("grades", "graded_by", 2.0, "is a grade used for", "is graded with"),
    Relation("feature_of", "has_feature", 2.5, "is a feature of", "shows the feature"),
    Relation("component_of", "has_component", 2.0, "is a component of", "is composed of"),
    Relation("corresponds_to", "corresponds_from", 2.0, "corresponds to", "corresponds to"),
    Relation("precursor_of", "has_precursor", 2.0, "is a precursor of", "may arise from"),
    Relation("associated_with", "associated_with", 1.5, "is associated with", "is associated with"),
    Relation("negation_of", "negated_by", 0.5, "is the absence of", "is negated by"),
)
RELATIONS: dict[str, Relation] = {r.name: r for r in _RELATIONS}
_BY_INVERSE: dict[str, Relation] = {r.inverse: r for r in _RELATIONS}


def relation_weight(name: str) -> float:
    """Informativeness of a relation as walked in a path (forward or inverse name); unknown relations score 0.5."""
    rel = RELATIONS.get(name) or _BY_INVERSE.get(name)
    return rel.weight if rel else 0.5


def inverse_relation(name: str) -> str:
    """The name of a relation walked from its destination back to its source."""
    if name in RELATIONS:
        return RELATIONS[name].inverse
    if name in _BY_INVERSE:
        return _BY_INVERSE[name].name
    return f"inverse_{name}"


def relation_phrase(name: str) -> str:
    """Readable verb phrase for a relation name (forward or inverse)."""
    if name in RELATIONS:
        return RELATIONS[name].phrase
    if name in _BY_INVERSE:
        return _BY_INVERSE[name].inverse_phrase
    return name.replace("_", " ")


_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalise_name(text: str) -> str:
    """Lowercase, punctuation replaced by spaces, whitespace collapsed: the key used to merge nodes by name."""
    return _SPACE.sub(" ", _PUNCT.sub(" ", text.lower())).strip()


@dataclass(frozen=True, slots=True)
class Node:
    """One KG node; `xrefs` hold cross-references like ``ICDO:8070/3`` or ``ONCOTREE:LUAD``."""

    id: str
    name: str
    type: str
    synonyms: tuple[str, ...] = ()
    xrefs: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True, slots=True)
class Edge:
    """A directed, typed edge with a provenance note."""

    src: str
    relation: str
    dst: str
    source: str = ""


@dataclass(slots=True)
class SourceTables:
    """The nodes and edges read from one KG source."""

    name: str
    path: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
