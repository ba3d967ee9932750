"""`entity_ancestors.json`: the KG's is_a ancestors of the diagnoses a samples dir names.

build-samples writes it beside the split files: `{diagnosis name: [is_a ancestor names, nearest first]}` for
the lexicon's diagnoses (only ancestors that are themselves lexicon names); evaluation reads it
(`pathreasoner.eval.hierarchy`) to accept a more specific (or more general) predicted diagnosis.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pathreasoner.errors import DatasetError

if TYPE_CHECKING:
    from pathreasoner.kg.graph import KnowledgeGraph

ANCESTORS_FILE = "entity_ancestors.json"


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
