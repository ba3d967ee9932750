"""The built KG in memory: node lookup, typed neighbours, and bounded shortest-path search (networkx)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx

from pathreasoner.kg.build import SOURCE_SEP, read_tables
from pathreasoner.kg.schema import Node, inverse_relation, normalise_name, relation_weight
from pathreasoner.kg.search import all_shortest_paths

logger = logging.getLogger(__name__)


class KnowledgeGraph:
    """Nodes, a directed typed graph, and an undirected view used for path search."""

    def __init__(self, nodes: list[Node], edges: list[tuple[str, str, str]], version: str = "") -> None:
        self.version = version
        self.nodes: dict[str, Node] = {n.id: n for n in nodes}
        self.directed = nx.MultiDiGraph()
        self.directed.add_nodes_from(sorted(self.nodes))
        # one undirected edge per node pair: the most informative relation, remembering its direction
        self.undirected = nx.Graph()
        self.undirected.add_nodes_from(sorted(self.nodes))
        for src, rel, dst in sorted(edges):
            if src not in self.nodes or dst not in self.nodes:
                continue
            self.directed.add_edge(src, dst, key=rel, relation=rel)
            current = self.undirected.get_edge_data(src, dst)
            if current is None or relation_weight(rel) > relation_weight(current["relation"]):
                self.undirected.add_edge(src, dst, relation=rel, src=src)
        self._ids_by_name: dict[str, list[str]] = {}
        self._paths: dict[
            tuple[str, str, int, int], list[list[str]]
        ] = {}  # the graph never changes after load
        self._successors: dict[tuple[str, str | None], list[str]] = {}
        for node in sorted(self.nodes.values(), key=_priority):
            self._ids_by_name.setdefault(normalise_name(node.name), []).append(node.id)

    @classmethod
    def load(cls, kg_dir: Path) -> KnowledgeGraph:
        """Read nodes.parquet / edges.parquet / kg_version.txt written by build-kg."""
        node_frame, edge_frame, version = read_tables(Path(kg_dir))
        nodes = [
            Node(r.id, r.name, r.type, tuple(r.synonyms), tuple(r.xrefs), r.source)
            for r in node_frame.itertuples(index=False)
        ]
        edges = list(zip(edge_frame["src"], edge_frame["relation"], edge_frame["dst"], strict=True))
        kg = cls(nodes, edges, version)
        logger.debug("loaded KG %s: %d nodes, %d edges", version, len(nodes), len(edges))
        return kg

    # ---- lookup -------------------------------------------------------------------------
    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def name(self, node_id: str) -> str:
        return self.nodes[node_id].name

    def type(self, node_id: str) -> str:
        return self.nodes[node_id].type

    def id_for_name(self, name: str, type_: str | None = None) -> str | None:
        """The id of the node with this (normalised) name, preferring curated nodes; None when absent."""
        for node_id in self._ids_by_name.get(normalise_name(name), []):
            if type_ is None or self.nodes[node_id].type == type_:
                return node_id
        return None

    def iter_nodes(self, type_: str | None = None) -> Iterator[Node]:
        for node_id in sorted(self.nodes):
            node = self.nodes[node_id]
            if type_ is None or node.type == type_:
                yield node

    def successors(self, node_id: str, relation: str | None = None) -> list[str]:
        """Targets of out-edges of `node_id` (optionally with this relation), sorted (memoised)."""
        key = (node_id, relation)
        found = self._successors.get(key)
        if found is None:
            found = (
                sorted(
                    {
                        v
                        for _, v, k in self.directed.out_edges(node_id, keys=True)
                        if relation is None or k == relation
                    }
                )
                if node_id in self.directed
                else []
            )
            self._successors[key] = found
        return list(found)

    def predecessors(self, node_id: str, relation: str | None = None) -> list[str]:
        """Sources of in-edges of `node_id` (optionally with this relation), sorted."""
        if node_id not in self.directed:
            return []
        return sorted(
            {u for u, _, k in self.directed.in_edges(node_id, keys=True) if relation is None or k == relation}
        )

    def ancestors(self, node_id: str, relations: tuple[str, ...] = ("is_a", "part_of")) -> list[str]:
        """Breadth-first ancestors along the given relations (nearest first, without `node_id`)."""
        order: list[str] = []
        seen = {node_id}
        frontier = [node_id]
        while frontier:
            nxt: list[str] = []
            for current in frontier:
                for rel in relations:
                    for parent in self.successors(current, rel):
                        if parent not in seen:
                            seen.add(parent)
                            order.append(parent)
                            nxt.append(parent)
            frontier = nxt
        return order

    # ---- paths --------------------------------------------------------------------------
    def step(self, u: str, v: str) -> str:
        """The relation read when walking the undirected edge u → v (inverse name when walked backwards)."""
        data = self.undirected.get_edge_data(u, v)
        if data is None:
            raise KeyError(f"no edge between {u} and {v}")
        return data["relation"] if data["src"] == u else inverse_relation(data["relation"])

    def shortest_paths(self, src_id: str, dst_id: str, max_hops: int, cap: int) -> list[list[str]]:
        """Up to `cap` shortest paths (node ids) from src to dst in the undirected view, if ≤ `max_hops` edges
        (bidirectional BFS, see pathreasoner.kg.search); memoised, as reports share entity pairs."""
        key = (src_id, dst_id, max_hops, cap)
        found = self._paths.get(key)
        if found is None:
            found = all_shortest_paths(
                self.undirected.adj, src_id, dst_id, max_hops, cap, order=lambda n: self.nodes[n].name
            )
            self._paths[key] = found
        return [list(p) for p in found]

    def path_dict(self, path: list[str]) -> dict[str, list[str]]:
        """A path of ids as {"nodes": [names], "relations": [relations as walked]}."""
        return {
            "nodes": [self.nodes[n].name for n in path],
            "relations": [self.step(u, v) for u, v in itertools.pairwise(path)],
        }

    def degree(self, node_id: str) -> int:
        return int(self.undirected.degree(node_id)) if node_id in self.undirected else 0

    def stats(self) -> dict[str, Any]:
        return {
            "kg_version": self.version,
            "n_nodes": len(self.nodes),
            "n_edges": self.directed.number_of_edges(),
        }


def _priority(node: Node) -> tuple[int, str]:
    first = node.source.split(SOURCE_SEP)[0]
    return (0 if first == "curated" else 1 if first != "oncotree" else 2, node.id)
