"""The KG's is_a hierarchy of the diagnoses a samples dir names, and the parent/child match rule.

build-samples writes `entity_ancestors.json` beside the split files: `{diagnosis name: [is_a ancestor
names, nearest first]}` for the lexicon's diagnoses (only ancestors that are themselves lexicon names).
Evaluation reads it to accept a predicted diagnosis that is a more specific child of the reference's
(`eval.hierarchy_match: child`), or also a more general parent (`parent_or_child`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pathreasoner.kg.ancestors import ANCESTORS_FILE, diagnosis_ancestors, load_ancestors

__all__ = ["ANCESTORS_FILE", "RULES", "diagnoses_match", "diagnosis_ancestors", "load_ancestors", "related"]

HierarchyRule = Literal["exact", "child", "parent_or_child"]
RULES: tuple[str, ...] = ("exact", "child", "parent_or_child")


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
