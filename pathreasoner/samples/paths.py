"""MedReason-style KG path search from finding entities to diagnosis entities, ranked and pruned."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from pathreasoner.config import KGConfig
from pathreasoner.kg.graph import KnowledgeGraph
from pathreasoner.kg.schema import relation_weight

CANDIDATES_PER_PAIR = 50  # shortest paths enumerated per pair before ranking (MedReason samples 50)
HUB_DEGREE = 40  # intermediate nodes with more neighbours than this are generic hubs
HUB_PENALTY = 0.75


@dataclass(frozen=True, slots=True)
class ReasoningPath:
    """A KG path between a finding entity and a diagnosis entity, with its ranking score."""

    ids: tuple[str, ...]
    nodes: tuple[str, ...]
    relations: tuple[str, ...]
    score: float

    @property
    def hops(self) -> int:
        return len(self.relations)

    @property
    def source(self) -> str:
        return self.nodes[0]

    @property
    def target(self) -> str:
        return self.nodes[-1]

    def to_dict(self) -> dict[str, list[str]]:
        return {"nodes": list(self.nodes), "relations": list(self.relations)}

    def rank_key(self) -> tuple[int, float, tuple[str, ...]]:
        """Shorter first, then more informative relations, then names (deterministic)."""
        return (self.hops, -self.score, self.nodes)


def score_path(kg: KnowledgeGraph, ids: list[str], relations: list[str]) -> float:
    """Mean relation informativeness, minus a penalty per generic hub passed through."""
    mean = sum(relation_weight(r) for r in relations) / max(len(relations), 1)
    hubs = sum(1 for node in ids[1:-1] if kg.degree(node) > HUB_DEGREE)
    return mean - HUB_PENALTY * hubs


def find_reasoning_paths(
    kg: KnowledgeGraph, finding_entities: list[str], diagnosis_entities: list[str], cfg: KGConfig
) -> list[ReasoningPath]:
    """All shortest paths (≤ cfg.max_path_hops) per (finding, diagnosis) pair, best `cfg.max_paths_per_pair`
    kept per pair, the union ranked best first."""
    memo = _MEMO.setdefault(kg, ({}, {}))
    kept: list[ReasoningPath] = []
    for finding in dict.fromkeys(finding_entities):
        src = _node_id(kg, finding, memo[0])
        if src is None:
            continue
        for target in dict.fromkeys(diagnosis_entities):
            dst = _node_id(kg, target, memo[0])
            if dst is None or dst == src:
                continue
            kept.extend(_best_pair_paths(kg, src, dst, cfg.max_path_hops, cfg.max_paths_per_pair, memo[1]))
    return sorted(kept, key=ReasoningPath.rank_key)


# per KG: name -> node id, and (src, dst, hops, per pair) -> the pair's best paths (reports share entity
# pairs; the KG never changes after load and ReasoningPath is immutable)
_MEMO: weakref.WeakKeyDictionary[KnowledgeGraph, tuple[dict, dict]] = weakref.WeakKeyDictionary()


def _node_id(kg: KnowledgeGraph, name: str, ids: dict[str, str | None]) -> str | None:
    if name not in ids:
        ids[name] = kg.id_for_name(name)
    return ids[name]


def _best_pair_paths(
    kg: KnowledgeGraph, src: str, dst: str, hops: int, per_pair: int, memo: dict
) -> tuple[ReasoningPath, ...]:
    key = (src, dst, hops, per_pair)
    found = memo.get(key)
    if found is None:
        pair: list[ReasoningPath] = []
        for ids in kg.shortest_paths(src, dst, hops, CANDIDATES_PER_PAIR):
            as_dict = kg.path_dict(ids)
            pair.append(
                ReasoningPath(
                    tuple(ids),
                    tuple(as_dict["nodes"]),
                    tuple(as_dict["relations"]),
                    score_path(kg, ids, as_dict["relations"]),
                )
            )
        found = memo[key] = tuple(sorted(pair, key=ReasoningPath.rank_key)[:per_pair])
    return found


def select_paths(
    paths: list[ReasoningPath], targets: list[str], top_k: int, allowed: set[str] | None = None
) -> list[ReasoningPath]:
    """Top-k paths ending at one of `targets` (or starting there, for finding-side targets), each target's best
    path first; falls back to the overall best paths when none touch the targets. With `allowed`, paths whose
    intermediate nodes are not all in it (detours through unrelated diagnoses) are dropped."""
    if allowed is not None:
        paths = [p for p in paths if all(n in allowed for n in p.nodes[1:-1])]
    wanted = list(dict.fromkeys(targets))
    relevant = [p for p in paths if p.target in wanted or p.source in wanted]
    if not relevant:
        return paths[:top_k]
    chosen: list[ReasoningPath] = []
    for target in wanted:  # the best path for each target first, so every target is covered when possible
        best = next((p for p in relevant if target in (p.target, p.source) and p not in chosen), None)
        if best is not None and len(chosen) < top_k:
            chosen.append(best)
    chosen.extend(p for p in relevant if p not in chosen)
    return sorted(chosen[:top_k], key=ReasoningPath.rank_key)
