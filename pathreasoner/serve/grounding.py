"""Link the entities of an answer to the KG the checkpoint was trained with, and flag ungrounded ones.

The checkpoint carries ``grounding.json`` (written at register time by `write_grounding_bundle`)::

    {"kg_version": "...", "data_version": "...",
     "entities": {"<canonical name>": {"id": "<KG node id>", "type": "...", "synonyms": [...]}},
     "edges": [["<src name>", "<relation>", "<dst name>"], ...]}   # KG edges among those entities

Every mention in observe, think and answer becomes ``{"name", "text", "section", "kg_id", "type",
"grounded", "reason"}``. ``grounded`` is false when the mention is not a KG entity, or when it
contradicts the KG path it is used in: a think clause ``A <relation phrase> B`` (the phrases the
training paths are written with, e.g. "is characteristic of", "has the subtype") asserts an edge the
KG does not have between A and B (in either direction, relation or its inverse).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pathreasoner.errors import ServingError
from pathreasoner.io_utils import atomic_write_json
from pathreasoner.kg.lexicon import EntityMatcher, Mention
from pathreasoner.kg.schema import RELATIONS, inverse_relation
from pathreasoner.response import ParsedResponse

BUNDLE_FILE = "grounding.json"
SECTIONS = ("observe", "think", "answer")
_CLAUSE_END = re.compile(r"[.;:\n]|, (?!which )")


def _phrases() -> list[tuple[str, str]]:
    """(verb phrase, relation name) for every forward and inverse phrase, longest first."""
    pairs: dict[str, str] = {}
    for rel in RELATIONS.values():
        pairs.setdefault(rel.phrase, rel.name)
        pairs.setdefault(rel.inverse_phrase, rel.inverse)
    return sorted(pairs.items(), key=lambda p: -len(p[0]))


PHRASES = _phrases()


@dataclass(frozen=True)
class Claim:
    """A relation the text asserts between two entities (canonical names)."""

    src: str
    relation: str
    dst: str


@dataclass
class GroundingKB:
    """The KG slice a checkpoint was trained with: entity ids/types and the edges among them."""

    entities: dict[str, dict[str, Any]]
    edges: set[tuple[str, str, str]]
    kg_version: str = "unknown"
    data_version: str = "unknown"
    matcher: EntityMatcher = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.matcher = EntityMatcher.from_lexicon(
            {name: info.get("synonyms", []) for name, info in self.entities.items()}
        )

    @classmethod
    def from_bundle(cls, bundle: Mapping[str, Any]) -> GroundingKB:
        edges = {(str(s), str(r), str(d)) for s, r, d in bundle.get("edges", [])}
        return cls(
            dict(bundle.get("entities", {})),
            edges,
            str(bundle.get("kg_version") or "unknown"),
            str(bundle.get("data_version") or "unknown"),
        )

    @classmethod
    def load(cls, checkpoint: Path) -> GroundingKB | None:
        """The bundle in `checkpoint`, or None when the checkpoint has none (answers carry no entities)."""
        path = Path(checkpoint) / BUNDLE_FILE
        if not path.exists():
            return None
        try:
            return cls.from_bundle(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise ServingError(
                f"{path} is not a valid grounding bundle ({exc}); re-register the model"
            ) from exc

    def has_edge(self, claim: Claim) -> bool:
        """True when the KG holds the claimed relation between the two entities, in either direction."""
        forward = (claim.src, claim.relation, claim.dst)
        backward = (claim.dst, inverse_relation(claim.relation), claim.src)
        return forward in self.edges or backward in self.edges

    def claims(self, text: str) -> list[Claim]:
        """`A <phrase> B[, which <phrase> C]` clauses of `text` between two recognised entities."""
        mentions = self.matcher.find(text)
        found: list[Claim] = []
        for left, right in itertools.pairwise(mentions):
            between = text[left.end : right.start]
            if _CLAUSE_END.search(between.replace(", which ", " ")):
                continue
            gap = " ".join(between.replace(", which ", " ").split()).lower()
            for phrase, relation in PHRASES:
                if gap == phrase or (gap.endswith(" " + phrase) and len(gap) <= len(phrase) + 12):
                    found.append(Claim(left.canonical, relation, right.canonical))
                    break
        return found

    def ground(self, parsed: ParsedResponse) -> list[dict[str, Any]]:
        """One record per entity mention in observe/think/answer, with its KG id and grounded flag."""
        records: list[dict[str, Any]] = []
        for section in SECTIONS:
            text = getattr(parsed, section) or ""
            contradicted: dict[str, str] = {}
            for claim in self.claims(text):
                if not self.has_edge(claim):
                    reason = f"the KG has no edge {claim.src} -{claim.relation}-> {claim.dst}"
                    contradicted.setdefault(claim.src, reason)
                    contradicted.setdefault(claim.dst, reason)
            seen: set[str] = set()
            for mention in self.matcher.find(text):
                if mention.canonical in seen:
                    continue
                seen.add(mention.canonical)
                records.append(self._record(mention, section, contradicted.get(mention.canonical)))
        return records

    def _record(self, mention: Mention, section: str, contradiction: str | None) -> dict[str, Any]:
        info = self.entities.get(mention.canonical, {})
        kg_id = info.get("id")
        if kg_id is None:
            reason: str | None = "not in the KG"
        else:
            reason = contradiction
        return {
            "name": mention.canonical,
            "text": mention.surface,
            "section": section,
            "kg_id": kg_id,
            "type": info.get("type"),
            "grounded": reason is None,
            "reason": reason,
        }


def bundle_from_kg(
    kg: Any, lexicon: Mapping[str, Iterable[str]], *, data_version: str = "unknown"
) -> dict[str, Any]:
    """A grounding bundle from a loaded KnowledgeGraph and the samples' entity lexicon."""
    entities: dict[str, dict[str, Any]] = {}
    for name, synonyms in sorted(lexicon.items()):
        node_id = kg.id_for_name(name)
        entities[name] = {
            "id": node_id,
            "type": kg.type(node_id) if node_id else None,
            "synonyms": sorted(synonyms),
        }
    name_of = {info["id"]: name for name, info in entities.items() if info["id"]}
    edges = sorted(
        [name_of[src], rel, name_of[dst]]
        for src, dst, rel in kg.directed.edges(keys=True)
        if src in name_of and dst in name_of
    )
    return {
        "kg_version": kg.version or "unknown",
        "data_version": data_version,
        "entities": entities,
        "edges": edges,
    }


def write_grounding_bundle(
    checkpoint: Path, samples_dir: Path, kg_dir: Path | None = None, data_version: str = "unknown"
) -> Path | None:
    """Write `grounding.json` into `checkpoint` from the samples' lexicon and the KG (default
    `<samples_dir>/../kg`), else from the samples dir's own `grounding.json` (written by build-samples);
    None (nothing written) when neither is there."""
    from pathreasoner.dataset import load_lexicon
    from pathreasoner.kg.graph import KnowledgeGraph

    samples_dir = Path(samples_dir)
    kg_dir = Path(kg_dir) if kg_dir else samples_dir.parent / "kg"
    if (samples_dir / BUNDLE_FILE).exists() and not kg_dir.joinpath("nodes.parquet").exists():
        # the slice build-samples wrote (a pipeline step sees the samples artifact, not the KG)
        bundle = {
            **json.loads((samples_dir / BUNDLE_FILE).read_text(encoding="utf-8")),
            "data_version": data_version,
        }
    elif (samples_dir / "entity_lexicon.json").exists() and (kg_dir / "nodes.parquet").exists():
        bundle = bundle_from_kg(
            KnowledgeGraph.load(kg_dir), load_lexicon(samples_dir), data_version=data_version
        )
    else:
        return None
    out = Path(checkpoint) / BUNDLE_FILE
    atomic_write_json(out, bundle)
    return out
