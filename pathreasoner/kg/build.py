"""build-kg: merge the configured sources into one versioned node/edge table pair.

Nodes from different sources are merged when they share a cross-reference that is unique within each
source, then when their normalised names (and types) agree. A merge never joins two nodes of the same
source, so one ambiguous code cannot collapse a hierarchy. The first source wins the id and name
(curated, then OBO files in order, then OncoTree, OWL files, PrimeKG); synonyms and xrefs are unioned; `source` lists them all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from pathreasoner.config import KGConfig
from pathreasoner.errors import KGSourceError
from pathreasoner.io_utils import atomic_dir, atomic_write_json, atomic_write_text
from pathreasoner.kg.owl import load_owl
from pathreasoner.kg.primekg import load_primekg
from pathreasoner.kg.schema import Edge, Node, SourceTables, normalise_name
from pathreasoner.kg.sources import load_curated, load_obo, load_oncotree

logger = logging.getLogger(__name__)

NODE_COLUMNS = ["id", "name", "type", "synonyms", "xrefs", "source"]
EDGE_COLUMNS = ["src", "relation", "dst", "source"]
SOURCE_SEP = "+"


@dataclass(frozen=True, slots=True)
class KGSummary:
    """What build-kg produced."""

    out_dir: Path
    n_nodes: int
    n_edges: int
    kg_version: str
    nodes_by_type: dict[str, int] = field(default_factory=dict)
    nodes_by_source: dict[str, int] = field(default_factory=dict)
    merged_nodes: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        sources = ", ".join(f"{k} {v}" for k, v in sorted(self.nodes_by_source.items()))
        return (
            f"build-kg: {self.n_nodes} nodes, {self.n_edges} edges ({sources}; {self.merged_nodes} merged) "
            f"version {self.kg_version} in {self.seconds:.1f} s ({self.n_nodes / max(self.seconds, 1e-9):.0f} nodes/s)"
        )


def load_sources(cfg: KGConfig) -> list[SourceTables]:
    """Every source the config enables, in merge priority order; `s3://` sources are fetched first."""
    import tempfile

    from pathreasoner.wsi.s3_cache import fetch_object, is_s3_uri

    tables: list[SourceTables] = []
    with tempfile.TemporaryDirectory(prefix="kg-sources-") as tmp:

        def load(loader: Any, item: str) -> None:
            if not is_s3_uri(item):
                tables.append(loader(Path(item)))
                return
            try:
                local = fetch_object(item, Path(tmp) / str(len(tables)))
            except FileNotFoundError as exc:
                raise KGSourceError(f"KG source {exc}") from None
            tables.append(replace(loader(local), path=item))  # the summary names the URI, not the temp copy

        if cfg.curated:
            tables.append(load_curated())
        for item in cfg.obo_paths:
            load(load_obo, item)
        if cfg.oncotree_path:
            load(load_oncotree, cfg.oncotree_path)
        for item in cfg.owl_paths:
            load(load_owl, item)
        if cfg.primekg_path:
            load(load_primekg, cfg.primekg_path)
    if not tables:
        raise KGSourceError(
            "no KG sources are enabled; set kg.curated=true or give kg.obo_paths / kg.oncotree_path / "
            "kg.owl_paths / kg.primekg_path"
        )
    return tables


class _UnionFind:
    def __init__(self, n: int, sources: list[str], types: list[str]) -> None:
        self.parent = list(range(n))
        self.sources = [{s} for s in sources]
        self.types = types

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb or self.types[ra] != self.types[rb] or self.sources[ra] & self.sources[rb]:
            return False
        keep, drop = min(ra, rb), max(ra, rb)  # lower index = higher-priority source
        self.parent[drop] = keep
        self.sources[keep] |= self.sources[drop]
        return True


def merge_sources(tables: list[SourceTables]) -> tuple[list[Node], list[Edge], int]:
    """Merge nodes across sources (xrefs first, then normalised names); returns nodes, edges, merges done."""
    nodes: list[Node] = [n for t in tables for n in t.nodes]
    seen: dict[str, str] = {}
    for n in nodes:
        if n.id in seen:
            raise KGSourceError(
                f"node id {n.id!r} appears in sources {seen[n.id]!r} and {n.source!r}; ids must be unique"
            )
        seen[n.id] = n.source
    uf = _UnionFind(len(nodes), [n.source for n in nodes], [n.type for n in nodes])
    merges = 0
    for keyer in (_xref_keys, _name_keys):
        groups: dict[str, list[int]] = defaultdict(list)
        per_source: Counter[tuple[str, str]] = Counter()
        for i, n in enumerate(nodes):
            for key in keyer(n):
                groups[key].append(i)
                per_source[(n.source, key)] += 1
        for key in sorted(groups, key=_key_rank):
            members = [i for i in groups[key] if per_source[(nodes[i].source, key)] == 1]
            for other in members[1:]:
                merges += uf.union(members[0], other)
    members_of: dict[int, list[int]] = defaultdict(list)
    for i in range(len(nodes)):
        members_of[uf.find(i)].append(i)
    id_map: dict[str, str] = {}
    merged: list[Node] = []
    for root in sorted(members_of):
        group = [nodes[i] for i in members_of[root]]
        rep = group[0]
        for n in group:
            id_map[n.id] = rep.id
        rep_key = normalise_name(rep.name)
        synonyms: list[str] = []
        seen_syn = {rep_key}
        for n in group:
            for s in (*((n.name,) if n is not rep else ()), *n.synonyms):
                key = normalise_name(s)
                if key and key not in seen_syn:
                    seen_syn.add(key)
                    synonyms.append(s)
        xrefs = sorted({x for n in group for x in n.xrefs})
        source = SOURCE_SEP.join(dict.fromkeys(n.source for n in group))
        merged.append(Node(rep.id, rep.name, rep.type, tuple(synonyms), tuple(xrefs), source))
    edge_sources: dict[tuple[str, str, str], list[str]] = {}
    for t in tables:
        for e in t.edges:
            key = (id_map[e.src], e.relation, id_map[e.dst])
            if key[0] == key[2]:
                continue
            notes = edge_sources.setdefault(key, [])
            if e.source not in notes:
                notes.append(e.source)
    edges = [Edge(s, r, d, " | ".join(notes)) for (s, r, d), notes in edge_sources.items()]
    return merged, edges, merges


# identifier namespaces used to merge: the sources' own ids, which the curated KG links explicitly.
# ICD-O morphology codes are site-independent (8070/3 is SCC of any organ) and OncoTree often reuses a
# parent's NCI/UMLS code for a child type, so those codes are kept as xrefs but never merge nodes.
MERGE_NAMESPACES = ("DOID", "ONCOTREE")


def _xref_keys(node: Node) -> list[str]:
    return [x.upper() for x in node.xrefs if x.split(":", 1)[0].upper() in MERGE_NAMESPACES]


def _key_rank(key: str) -> tuple[int, str]:
    """Explicit links (DOID, OncoTree codes) are merged before shared NCI/UMLS codes."""
    namespace = key.split(":", 1)[0]
    return (
        MERGE_NAMESPACES.index(namespace) if namespace in MERGE_NAMESPACES else len(MERGE_NAMESPACES),
        key,
    )


def _name_keys(node: Node) -> list[str]:
    key = normalise_name(node.name)
    return [f"{node.type}|{key}"] if key else []


def tables_to_frames(nodes: list[Node], edges: list[Edge]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical (sorted) node and edge tables."""
    node_rows = sorted(
        (
            {
                "id": n.id,
                "name": n.name,
                "type": n.type,
                "synonyms": list(n.synonyms),
                "xrefs": list(n.xrefs),
                "source": n.source,
            }
            for n in nodes
        ),
        key=lambda r: r["id"],
    )
    edge_rows = sorted(
        ({"src": e.src, "relation": e.relation, "dst": e.dst, "source": e.source} for e in edges),
        key=lambda r: (r["src"], r["relation"], r["dst"]),
    )
    return pd.DataFrame(node_rows, columns=NODE_COLUMNS), pd.DataFrame(edge_rows, columns=EDGE_COLUMNS)


def content_hash(nodes: pd.DataFrame, edges: pd.DataFrame) -> str:
    """sha256 of the canonical JSON of both tables, first 16 hex digits."""
    digest = hashlib.sha256()
    for frame in (nodes, edges):
        for record in frame.to_dict(orient="records"):
            clean = {k: list(v) if not isinstance(v, str) else v for k, v in record.items()}
            digest.update(json.dumps(clean, sort_keys=True, ensure_ascii=False).encode())
            digest.update(b"\n")
        digest.update(b"--\n")
    return digest.hexdigest()[:16]


def build_kg(out_dir: Path, cfg: KGConfig) -> KGSummary:
    """Merge the configured sources; write nodes.parquet, edges.parquet, kg_version.txt, summary.json."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    tables = load_sources(cfg)
    nodes, edges, merges = merge_sources(tables)
    node_frame, edge_frame = tables_to_frames(nodes, edges)
    version = content_hash(node_frame, edge_frame)
    by_type = dict(sorted(Counter(node_frame["type"]).items()))
    by_source = dict(
        sorted(Counter(s for src in node_frame["source"] for s in src.split(SOURCE_SEP)).items())
    )
    seconds = time.perf_counter() - start
    summary = KGSummary(
        out_dir, len(node_frame), len(edge_frame), version, by_type, by_source, merges, seconds
    )
    with atomic_dir(out_dir) as tmp:
        node_frame.to_parquet(tmp / "nodes.parquet", index=False)
        edge_frame.to_parquet(tmp / "edges.parquet", index=False)
        atomic_write_text(tmp / "kg_version.txt", version + "\n")
        atomic_write_json(
            tmp / "summary.json",
            {
                "kg_version": version,
                "n_nodes": summary.n_nodes,
                "n_edges": summary.n_edges,
                "merged_nodes": merges,
                "nodes_by_type": by_type,
                "nodes_by_source": by_source,
                "edges_by_relation": dict(sorted(Counter(edge_frame["relation"]).items())),
                "sources": [
                    {"name": t.name, "path": t.path, "nodes": len(t.nodes), "edges": len(t.edges)}
                    for t in tables
                ],
                "seconds": round(seconds, 3),
            },
        )
    logger.info(summary.line())
    return summary


def read_tables(kg_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """nodes, edges and kg_version of a built KG folder."""
    kg_dir = Path(kg_dir)
    paths = [kg_dir / "nodes.parquet", kg_dir / "edges.parquet", kg_dir / "kg_version.txt"]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise KGSourceError(
            f"KG folder {kg_dir} lacks {missing}; run `pathreasoner build-kg --out {kg_dir}` first"
        )
    return pd.read_parquet(paths[0]), pd.read_parquet(paths[1]), paths[2].read_text().strip()


def kg_stats(kg_dir: Path) -> dict[str, Any]:
    """Counts of a built KG: nodes by type and source, edges by relation."""
    nodes, edges, version = read_tables(kg_dir)
    return {
        "kg_version": version,
        "n_nodes": len(nodes),
        "n_edges": len(edges),
        "nodes_by_type": dict(sorted(Counter(nodes["type"]).items())),
        "nodes_by_source": dict(
            sorted(Counter(s for src in nodes["source"] for s in src.split(SOURCE_SEP)).items())
        ),
        "edges_by_relation": dict(sorted(Counter(edges["relation"]).items())),
    }
