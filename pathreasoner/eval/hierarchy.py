"""The KG's is_a hierarchy of the diagnoses a samples dir names, and the parent/child match rule.

build-samples writes `entity_ancestors.json` beside the split files: `{diagnosis name: [is_a ancestor
names, nearest first]}` for the lexicon's diagnoses (only ancestors that are themselves lexicon names).
Evaluation reads it to accept a predicted diagnosis that is a more specific child of the reference's
(`eval.hierarchy_match: child`), or also a more general parent (`parent_or_child`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pathreasoner.errors import DatasetError

if TYPE_CHECKING:
    from pathreasoner.kg.graph import KnowledgeGraph

ANCESTORS_FILE = "entity_ancestors.json"
HierarchyRule = Literal["exact", "child", "parent_or_child"]
RULES: tuple[str, ...] = ("exact", "child", "parent_or_child")


def diagnosis_ancestors(
    kg: KnowledgeGraph, lexicon: Iterable[str], types: Mapping[str, str]
) -> dict[str, list[str]]:
    """`{diagnosis name: [is_a ancestor names in the lexicon, nearest first]}` (names without one left out)."""
    names = set(lexicon)
    out: dict[str, list[str]] = {}
    for name in sorted(names):
        if types.get(name) != "diagnosis":
            continue
        node_id = kg.id_for_name(name)
        if node_id is None:
            continue
        parents = [kg.name(a) for a in kg.ancestors(node_id, ("is_a",))]
        kept = [p for p in dict.fromkeys(parents) if p in names and p != name]
        if kept:
            out[name] = kept
    return out


def load_ancestors(samples_dir: Path | str) -> dict[str, frozenset[str]]:
    """`entity_ancestors.json` of a samples dir as {name: ancestors}; empty when the file is absent."""
    path = Path(samples_dir) / ANCESTORS_FILE
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc}); rerun build-samples") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{path} must map diagnosis names to ancestor lists; rerun build-samples")
    return {str(k): frozenset(str(a) for a in v) for k, v in raw.items()}


def related(
    predicted: str, reference: str, ancestors: Mapping[str, frozenset[str]], rule: HierarchyRule
) -> bool:
    """Whether one predicted diagnosis counts for one reference diagnosis under `rule`."""
    if predicted == reference:
        return True
    if rule == "exact":
        return False
    if reference in ancestors.get(predicted, frozenset()):  # predicted is a more specific child
        return True
    return rule == "parent_or_child" and predicted in ancestors.get(reference, frozenset())


def diagnoses_match(
    predicted: frozenset[str],
    reference: frozenset[str],
    ancestors: Mapping[str, frozenset[str]],
    rule: HierarchyRule = "child",
) -> bool:
    """Every reference diagnosis is named (itself or a relative allowed by `rule`) and every predicted one
    stands for a reference diagnosis; nothing predicted is never a match."""
    if not predicted or not reference:
        return False
    covers = all(any(related(p, r, ancestors, rule) for p in predicted) for r in reference)
    explained = all(any(related(p, r, ancestors, rule) for r in reference) for p in predicted)
    return covers and explained
